"""`rekindle rules validate` and `rekindle rules fields` through the real CLI app."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from engine.facts.fields import FIELDS

FIXTURES = Path(__file__).parents[1] / "engine" / "content" / "fixtures"
runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(FIXTURES / "rules", tmp_path / "rules")
    shutil.copytree(FIXTURES / "strategies", tmp_path / "strategies")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    return tmp_path


def test_valid_content_by_default_paths(project: Path):
    result = runner.invoke(app, ["rules", "validate"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "All 6 files valid."


def test_errors_are_listed_with_file_line_and_count(project: Path):
    pack = project / "rules" / "long_term_silent.yaml"
    pack.write_text(pack.read_text(encoding="utf-8").replace("months_silent: {gte", "months_silnt: {gte")
                    .replace("status: draft", "status: aproved"), encoding="utf-8")
    result = runner.invoke(app, ["rules", "validate", "rules/long_term_silent.yaml"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [
        "rules/long_term_silent.yaml:5:1: error[RP014] /status: status 'aproved' is not one of draft, review, "
        "approved (did you mean 'approved'?)",
        "rules/long_term_silent.yaml:18:12: error[RP012] /target/0/when/all/0/months_silnt: unknown field "
        "'months_silnt' (did you mean 'months_silent'?)",
        "Found 2 errors.",
    ]
    assert "Traceback" not in result.output


def test_json_format(project: Path):
    (project / "strategies" / "ltsilent_sms_tips.yaml").write_text(
        (project / "strategies" / "ltsilent_sms_tips.yaml").read_text(encoding="utf-8").replace("{hot_content}", "{hot}"),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["rules", "validate", "--format", "json"])
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert body["files"] == 6 and body["errors"] == 1
    assert body["diagnostics"][0]["code"] == "ST001" and body["diagnostics"][0]["path"] == "/message"


def test_strategies_option_resolves_references(project: Path):
    shutil.move(project / "strategies", project / "kb")
    result = runner.invoke(app, ["rules", "validate", "rules/long_term_silent.yaml"])
    assert result.exit_code == 0 and "warning[RP041]" in result.output
    result = runner.invoke(app, ["rules", "validate", "rules/long_term_silent.yaml", "--strategies", "kb"])
    assert result.exit_code == 0 and result.output.strip() == "All 1 file valid."


def test_missing_path_is_an_error(project: Path):
    result = runner.invoke(app, ["rules", "validate", "rules/nope.yaml"])
    assert result.exit_code == 1
    assert "rules/nope.yaml: error[RP004] no such file or folder" in result.output


def test_fields_table_and_json():
    result = runner.invoke(app, ["rules", "fields"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("months_silent", "on_list", "retention_group", "propensity.<strategy>"):
        assert name in result.output
    result = runner.invoke(app, ["rules", "fields", "--format", "json"])
    rows = {row["name"]: row for row in json.loads(result.output)["fields"]}
    assert set(FIELDS) <= set(rows)
    assert rows["on_list"]["values"] == list(FIELDS["on_list"].values)
    assert rows["on_list"]["operators"] == ["contains", "exists"]
    assert rows["months_silent"]["type"] == "int" and rows["months_silent"]["group"] == "usage"
