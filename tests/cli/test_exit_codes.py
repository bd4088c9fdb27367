"""Issue 11 items 9 and 10, issue 9 item 7: one exit-code table, one clear line per problem on
stderr (a traceback only with --debug), no subscriber data, read-only databases still readable,
one `--db` option, `--json` wherever `--format json` exists."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine.outputs.audit as audit_module
from auditrun import copy_db
from cli.main import app
from engine.base import exitcodes
from engine.store.database import dispose_all
from nightly_inputs import RULES, STRATEGIES

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_holds_the_exit_code_table_of_the_module():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| (\d+) +\| ([^|]+?) +\|", readme, flags=re.M))
    assert {int(k) for k in table} == set(exitcodes.TABLE) == {0, 1, 2, 3, 4, 70}
    assert (exitcodes.OK, exitcodes.FINDINGS, exitcodes.USAGE, exitcodes.REFUSED, exitcodes.ENVIRONMENT,
            exitcodes.INTERNAL) == (0, 1, 2, 3, 4, 70)


def test_a_usage_error_exits_2():
    result = runner.invoke(app, ["audit", "verify", "--no-such-option"])
    assert result.exit_code == exitcodes.USAGE
    result = runner.invoke(app, ["report", "run", "--format", "pdf"])
    assert result.exit_code == exitcodes.USAGE


def test_an_internal_error_is_one_line_and_70_and_the_traceback_needs_debug(run, monkeypatch):
    def broken(run_id, db_url=None):
        raise ZeroDivisionError("13800000001 divided by zero")

    monkeypatch.setattr(audit_module, "verify_chain", broken)
    result = runner.invoke(app, ["audit", "verify", "--db", run.db_url])
    assert result.exit_code == exitcodes.INTERNAL
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "internal error (ZeroDivisionError)" in result.stderr and "--debug" in result.stderr
    assert "Traceback" not in result.output and "13800000001" not in result.output
    debug = runner.invoke(app, ["--debug", "audit", "verify", "--db", run.db_url])
    assert debug.exit_code == exitcodes.INTERNAL and "Traceback" in debug.stderr


def read_only_copy(run, tmp_path) -> str:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = copy_db(run, folder / "audit.db")
    (folder / "audit.db").chmod(0o444)
    folder.chmod(0o555)
    return db


# SQLite only: the subject is a read-only SQLite *file* (and its folder); PostgreSQL has no such thing.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_read_only_database_can_be_verified_and_explained(run, tmp_path):
    """Issue 11: `audit verify` and `explain` could not even read a read-only database."""
    db = read_only_copy(run, tmp_path)
    try:
        verify = runner.invoke(app, ["audit", "verify", "--run", run.run_id, "--db", db])
        assert verify.exit_code == 0, verify.output
        assert verify.stdout.startswith("OK: ")
        explain = runner.invoke(app, ["explain", run.examples["treat"], "--db", db, "--json"])
        assert explain.exit_code == 0, explain.output
        report = runner.invoke(app, ["report", "run", "--db", db, "--json"])
        assert report.exit_code == 0 and '"decisions_by_kind"' in report.stdout
        assert sorted(p.name for p in (tmp_path / "ro").iterdir()) == ["audit.db"]  # nothing written beside it
    finally:
        dispose_all()
        (tmp_path / "ro").chmod(0o755)


# SQLite only: the subject is a read-only SQLite *file* ("readonly database"); PostgreSQL has no such thing.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_running_into_a_read_only_database_is_an_environment_error(run, tmp_path, night_inputs):
    inputs = night_inputs
    db = read_only_copy(run, tmp_path)
    try:
        result = runner.invoke(app, ["run", "--data", str(inputs.data), "--as-of", "2026-12-01", "--db", db,
                                     "--rules", str(RULES), "--strategies", str(STRATEGIES), "--out",
                                     str(tmp_path / "lists")])
        assert result.exit_code == exitcodes.ENVIRONMENT, result.output
        assert "readonly database" in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.output and "[SQL" not in result.output
    finally:
        dispose_all()
        (tmp_path / "ro").chmod(0o755)


def test_disk_full_is_reported_as_disk_full_without_subscriber_data(tmp_path, night_inputs, monkeypatch):
    """Issue 11: "the disk-full message prints trace payloads with msisdns"; disk full exited 1."""
    import engine.store.write as run_store
    from sqlalchemy.exc import OperationalError

    def full(conn, table, columns, batch):  # what SQLite raises when the disk fills mid-write
        raise OperationalError(f"INSERT INTO {table} ...", [tuple(r) for r in batch[:3]],
                               sqlite3.OperationalError("database or disk is full"))

    inputs = night_inputs
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "models").symlink_to(inputs.models)  # the run scores with this stability model
    monkeypatch.setattr(run_store, "write_batch", full)
    db = f"sqlite:///{tmp_path / 'full.db'}"
    try:
        result = runner.invoke(app, ["run", "--data", str(inputs.data), "--as-of", inputs.as_of.isoformat(),
                                     "--db", db, "--rules", str(RULES), "--strategies", str(STRATEGIES)])
    finally:
        dispose_all()
    assert result.exit_code == exitcodes.ENVIRONMENT, result.output
    assert result.stderr.startswith("error: disk full") and len(result.stderr.strip().splitlines()) == 1
    assert not re.search(r"\d{7,}", result.output) and "payload" not in result.output


def test_classify_maps_enospc_and_permissions_to_4():
    import errno

    assert exitcodes.classify(OSError(errno.ENOSPC, "No space left on device", "/x/sms.csv"))[0] == 4
    assert "disk full" in exitcodes.classify(OSError(errno.ENOSPC, "No space left on device"))[1]
    assert exitcodes.classify(PermissionError(errno.EACCES, "Permission denied", "/x"))[0] == 4
    assert exitcodes.redact("seq 3 of 13800000001: x") == "seq 3 of #: x"


def test_an_error_that_says_it_is_the_environments_exits_4_with_its_line():
    class JobFailed(RuntimeError):  # as engine.spark.watchdog.SparkJobFailed when the JVM ended or stalled
        exit_code = exitcodes.ENVIRONMENT

    code, line = exitcodes.classify(JobFailed("the Spark job of the decide stage failed: JVM ended for 13800000001\nmore"))
    assert (code, line) == (4, "the Spark job of the decide stage failed: JVM ended for #")
    assert exitcodes.classify(RuntimeError("the Spark job failed"))[0] == 70  # without it: internal, as before


def _commands(group, prefix=()):
    import typer.main

    click_group = typer.main.get_command(group) if not hasattr(group, "commands") else group
    for name, command in sorted(click_group.commands.items()):
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_db_is_one_option_and_json_is_accepted_wherever_format_json_is():
    seen_db = set()
    for path, command in _commands(app):
        options = {opt: param for param in command.params for opt in getattr(param, "opts", [])}
        if "--db" in options:
            seen_db.add((options["--db"].help, options["--db"].default))
        fmt = options.get("--format")
        if fmt is not None and "json" in (fmt.help or ""):
            assert "--json" in options, f"rekindle {' '.join(path)} has --format json but no --json"
    assert len(seen_db) == 1, seen_db


def test_diagnostics_go_to_stderr(tmp_path):
    result = runner.invoke(app, ["data", "check", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "error[DC000]" in result.stderr and result.stdout == ""
