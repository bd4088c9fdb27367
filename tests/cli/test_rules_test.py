"""`rekindle rules test` through the CLI, as a planner runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import rules as rules_cli
from cli import rules_cases
from cli.main import app

FIXTURES = Path(__file__).resolve().parents[1] / "engine" / "rules" / "backend_fixtures"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _setup(tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    # The lead registers the command in cli/rules.py; until then, register it here the same way.
    if not any(c.name == "test" for c in rules_cli.app.registered_commands):
        rules_cli.app.command("test")(rules_cases.test)


def test_passing_pack_tests_exit_0():
    result = runner.invoke(app, ["rules", "test", str(FIXTURES / "rules"), "--strategies", str(FIXTURES / "strategies")])
    assert result.exit_code == 0, result.output
    assert "2 passed, 0 failed (2 cases)." in result.output


def test_failing_case_exits_1_with_a_diff_and_json_lines():
    args = ["rules", "test", str(FIXTURES / "rules"), "--cases", str(FIXTURES / "cases" / "mixed.yaml"),
            "--strategies", str(FIXTURES / "strategies")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "FAIL" in result.output and "expected 'lts_am_coaching'" in result.output
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [r["passed"] for r in rows].count(False) == 1
    assert set(rows[0]) >= {"name", "passed", "decision", "pack", "reason", "strategy", "channel", "rules"}


def test_default_path_is_rules_in_the_current_folder(tmp_path, monkeypatch):
    import shutil

    shutil.copytree(FIXTURES / "rules", tmp_path / "rules")
    shutil.copytree(FIXTURES / "strategies", tmp_path / "strategies")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["rules", "test"])
    assert result.exit_code == 0, result.output
    assert "2 passed" in result.output
