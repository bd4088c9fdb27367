"""Examples are tests: every file in examples/ is run here the way its README says to run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _files(pattern: str) -> list[Path]:
    return sorted(EXAMPLES.glob(pattern))


@pytest.mark.parametrize("path", _files("*matrix*.yaml"), ids=lambda p: p.name)
def test_ahp_matrix_example_is_consistent(path: Path) -> None:
    doc = json.loads(_run("models", "ahp", str(path), "--json"))
    assert doc["consistent"] is True
    assert abs(sum(doc["weights"].values()) - 1.0) < 1e-9


@pytest.mark.parametrize("path", _files("cases/*.yaml"), ids=lambda p: p.name)
def test_case_file_example_passes_against_shipped_packs(path: Path) -> None:
    _run("rules", "test", str(ROOT / "rules"), "--cases", str(path))


def test_warehouse_table_example_trains_and_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    table = EXAMPLES / "warehouse_churn.csv"
    _run("models", "train", "stability", "--table", str(table), "--label", "churn", "--id", "customer_id")
    out = tmp_path / "scores.csv"
    _run("models", "score", "stability", "--table", str(table), "--id", "customer_id", "--out", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,churn_risk,stability"
    assert len(lines) == 1 + 800


def test_every_example_file_is_run_by_this_module() -> None:
    covered = set(_files("*matrix*.yaml")) | set(_files("cases/*.yaml")) | {EXAMPLES / "warehouse_churn.csv"}
    documented = {EXAMPLES / "README.md"}
    every = {p for p in EXAMPLES.rglob("*") if p.is_file()}
    assert every - covered - documented == set(), "add a runner for the new example here"
