"""`rekindle run` and `rekindle export` through the CLI, into SQLite and into PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timezone

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from cli.main import app
from engine.store.database import dispose_all, get_engine
from nightly_inputs import RULES, STRATEGIES

runner = CliRunner()


@pytest.fixture
def setup(tmp_path, monkeypatch, night_inputs, db_url):
    """Inputs, the test folder and a fresh database: conftest's db_url, SQLite and PostgreSQL."""
    inputs = night_inputs
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    # the run scores with the latest stability model under REKINDLE_HOME/models
    (tmp_path / "home").mkdir()
    os.symlink(inputs.models, tmp_path / "home" / "models")
    yield inputs, tmp_path, db_url
    dispose_all()


def run_args(inputs, db, *extra):
    return ["run", "--data", str(inputs.data), "--as-of", inputs.as_of.isoformat(), "--db", db,
            "--rules", str(RULES), "--strategies", str(STRATEGIES), *extra]


def test_run_prints_the_funnel_and_export_reproduces_the_channel_file(setup):
    inputs, tmp, db = setup
    result = runner.invoke(app, run_args(inputs, db, "--out", str(tmp / "lists")))
    assert result.exit_code == 0, result.output
    assert "Funnel per pack" in result.stdout and "retention" in result.stdout
    out = tmp / "calls.csv"
    exported = runner.invoke(app, ["export", "--run", "latest", "--channel", "outbound_call", "--out", str(out),
                                   "--db", db])
    assert exported.exit_code == 0, exported.output
    assert out.read_bytes() == (tmp / "lists" / "outbound_call.csv").read_bytes()
    printed = runner.invoke(app, ["export", "--channel", "account_manager", "--db", db])
    assert printed.exit_code == 0
    assert printed.stdout == (tmp / "lists" / "account_manager.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize("backend", ["sqlite"])  # where files go does not depend on the database: one night
def test_default_out_is_under_rekindle_home(setup):
    inputs, tmp, db = setup
    result = runner.invoke(app, run_args(inputs, db))
    assert result.exit_code == 0, result.output
    runs = list((tmp / "home" / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "sms.csv").is_file()


def test_invalid_snapshot_exits_1_with_diagnostics(setup):
    inputs, tmp, db = setup
    result = runner.invoke(app, ["run", "--data", str(tmp / "nowhere"), "--as-of", "2026-11-20", "--db", db,
                                 "--rules", str(RULES), "--strategies", str(STRATEGIES)])
    assert result.exit_code == 1
    assert "subscribers" in result.output and "Traceback" not in result.output


def test_a_concurrent_run_is_refused_with_exit_code_3(setup):
    inputs, tmp, db = setup
    holder = subprocess.Popen(["sleep", "60"])
    try:
        with get_engine(db).begin() as conn:
            conn.execute(text("INSERT INTO run_lock (name, run_id, pid, host, acquired_at) VALUES "
                              "('nightly', 'busy-run', :pid, :host, :at)"),
                         {"pid": holder.pid, "host": os.uname().nodename,
                          "at": datetime.now(timezone.utc).isoformat(" ")})
        result = runner.invoke(app, run_args(inputs, db))
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 3  # refused (engine/base/exitcodes.py); it was 2, the usage code, before
    assert "busy-run" in result.output


def test_export_of_an_unknown_channel_exits_1(setup):
    _inputs, _tmp, db = setup
    result = runner.invoke(app, ["export", "--channel", "fax", "--db", db])
    assert result.exit_code == 1 and "unknown channel" in result.output


def test_a_database_that_cannot_be_opened_exits_1_naming_it(tmp_path):
    for db in (f"postgresql://nobody@/rekindle?host={tmp_path}", "mysql://someone@somewhere/db"):
        result = runner.invoke(app, ["export", "--channel", "sms", "--db", db])
        assert result.exit_code == 1, result.output
        assert ("error[DB002] cannot open the database" in result.output or "error[DB001] unsupported database 'mysql'"
                in result.output) and "Traceback" not in result.output


def test_export_out_a_folder_is_a_clear_error_and_leaves_no_temp_file(run, tmp_path):
    """Issue 11: `export --out` given a folder: traceback plus a hidden `.DIR.<pid>.tmp` holding the full list."""
    folder = tmp_path / "exports"
    folder.mkdir()
    result = runner.invoke(app, ["export", "--run", run.run_id, "--channel", "sms", "--out", str(folder),
                                 "--db", run.db_url])
    assert result.exit_code == 1, result.output
    assert "error[RN202]" in result.stderr and "is a folder" in result.stderr and "Traceback" not in result.output
    assert list(folder.iterdir()) == [] and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_run_out_of_the_users_project_folder_is_refused(setup, monkeypatch):
    """Issue 11: `--out "$PWD"` deleted rules/, strategies/ and a notes file, exit 0."""
    inputs, tmp, db = setup
    project = tmp / "project"
    for name in ("rules", "strategies"):
        shutil.copytree(RULES if name == "rules" else STRATEGIES, project / name)
    (project / "notes.md").write_text("keep me\n", encoding="utf-8")
    before = sorted(str(p.relative_to(project)) for p in project.rglob("*"))
    monkeypatch.chdir(project)
    result = runner.invoke(app, run_args(inputs, db, "--out", str(project)))
    assert result.exit_code == 1, result.output
    assert "error[RN005]" in result.stderr and "nothing was changed" in result.stderr
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*")) == before
    assert not [p for p in tmp.iterdir() if p.name.startswith(".project")]
