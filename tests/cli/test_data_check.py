"""`rekindle data check` and `rekindle report silent-lowuse` through the real CLI."""

from __future__ import annotations

from typer.testing import CliRunner

from cli.main import app
from snapshots import HANDMADE, write_snapshot

runner = CliRunner()


def test_valid_snapshot_prints_table_sizes(handmade_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    result = runner.invoke(app, ["data", "check", str(handmade_dir)])
    assert result.exit_code == 0, result.output
    assert "usage_monthly" in result.output and "8" in result.output


def test_invalid_snapshot_prints_sorted_diagnostics_and_exits_1(tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    tables = {k: [dict(r) for r in v] for k, v in HANDMADE.items()}
    tables["subscriptions"][1]["billing"] = "yearly"
    tables["lists"][0]["since"] = "2026-02-30"
    write_snapshot(tmp_path / "snap", tables)
    result = runner.invoke(app, ["data", "check", str(tmp_path / "snap")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].endswith("lists.csv:2:3: error[DC022] since: '2026-02-30' is not a valid date YYYY-MM-DD "
                             "(write dates as YYYY-MM-DD, e.g. 2026-11-30)")
    assert "subscriptions.csv:3:3: error[DC021] billing: 'yearly'" in lines[1]
    assert lines[-1] == "Found 2 errors."
    assert "Traceback" not in result.output


def test_report_silent_lowuse_formats(handmade_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    base = ["report", "silent-lowuse", "--data", str(handmade_dir), "--as-of", "2026-11-15"]
    table = runner.invoke(app, base)
    assert table.exit_code == 0, table.output
    assert "活跃率" in table.output and "2026-08" in table.output
    csv = runner.invoke(app, [*base, "--format", "csv"])
    assert csv.output.splitlines()[0].startswith("month,city,brand,service,partial,subscribed")
    out = tmp_path / "r.html"
    html = runner.invoke(app, [*base, "--format", "html", "--out", str(out)])
    assert html.exit_code == 0 and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    bad = runner.invoke(app, ["report", "silent-lowuse", "--data", str(tmp_path / "nowhere"), "--as-of", "2026-11-15"])
    assert bad.exit_code == 1 and "error[DC000]" in bad.output and "does not exist" in bad.output
