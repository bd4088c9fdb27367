"""Issue 14 item 1: the run row records how the night was run (engine, Spark master, workers,
slice size) in `run.settings`, under the signed seal; `report` and `audit verify` show it; a
database made before the column existed gains it and its sealed runs still verify."""

from __future__ import annotations

import hashlib
import json

from typer.testing import CliRunner

from auditrun import copy_db, execute, query
from cli.main import app
from engine.night.settings import run_settings, settings_line
from engine.night.run import RunOptions
from engine.console.runs import run_page
from engine.outputs.audit import verify_run
from engine.outputs.reports.run_report import run_report
from engine.store import signing
from engine.store.database import dispose_all, get_engine
from engine.store.read import resolve_run

runner = CliRunner()
LOCAL = {"engine": "local", "workers": 1, "slice_size": 12_500}


def test_a_local_run_records_its_engine_and_report_verify_and_the_console_show_it(run):
    assert resolve_run(run.run_id, run.db_url).settings == LOCAL
    report = run_report(run.run_id, run.db_url)
    assert report["settings"] == LOCAL
    shown = runner.invoke(app, ["report", "run", "--run", run.run_id, "--db", run.db_url])
    assert shown.exit_code == 0, shown.output
    assert "Run settings 运行设置: engine local, 1 worker, slices of 12,500 subscribers" in shown.output
    page = run_page(run.run_id, run.db_url)
    assert page["settings"] == "engine local, 1 worker, slices of 12,500 subscribers"
    verified = runner.invoke(app, ["audit", "verify", "--run", run.run_id, "--db", run.db_url])
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.startswith("OK: ") and len(verified.stdout.splitlines()) == 1  # the verdict alone
    assert verified.stderr.strip() == "Run settings 运行设置: engine local, 1 worker, slices of 12,500 subscribers"


def test_the_spark_settings_name_the_master():
    options = RunOptions(data=".", as_of=None, engine="spark", spark_master="yarn", workers=4, slice_size=20_000)
    assert run_settings(options) == {"engine": "spark", "spark_master": "yarn", "workers": 4, "slice_size": 20_000}
    assert settings_line(run_settings(options)) == "engine spark (master yarn), 4 workers, slices of 20,000 subscribers"
    assert "spark_master" not in run_settings(RunOptions(data=".", as_of=None, spark_master="yarn"))


def test_the_settings_are_under_the_seal(run, tmp_path):
    spark = json.dumps({"engine": "spark", "slice_size": 50_000, "spark_master": "yarn", "workers": 1})
    for i, value in enumerate((spark, "{}")):
        db = copy_db(run, tmp_path / f"settings{i}.db")
        execute(db, "UPDATE run SET settings = ? WHERE id = ?", (value, run.run_id))
        report = verify_run(run.run_id, db)
        assert not report.ok and "run row fields changed" in report.message, (value, report.message)


def _as_an_older_rekindle_sealed_it(db: str, run_id: str) -> None:
    """Drop run.settings and seal the run as Rekindle did before the column existed."""
    execute(db, "ALTER TABLE run DROP COLUMN settings")
    row = query(db, f"SELECT {', '.join(signing.SEALED_FIELDS)} FROM run WHERE id = ?", (run_id,))[0]
    values = [signing._text(row[name]) for name in signing.SEALED_FIELDS]
    fields = hashlib.sha256(json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=str)
                            .encode("utf-8")).hexdigest()
    scope = query(db, "SELECT scope_digest FROM run_seal WHERE run_id = ?", (run_id,))[0]["scope_digest"]
    key = signing.load_key()
    signature = signing._signature(key, run_id, fields, scope)
    execute(db, "UPDATE run_seal SET fields_digest = ?, signature = ? WHERE run_id = ?", (fields, signature, run_id))
    signing.append_log({"event": "seal", "run_id": run_id, "fields_digest": fields, "scope_digest": scope,
                        "signature": signature, "key_id": signing.key_id(key)})


def test_an_older_database_gains_the_column_and_its_runs_still_verify(run, tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_AUDIT_LOG", str(tmp_path / "audit-seals.log"))  # not the session's shared log
    db = copy_db(run, tmp_path / "older.db")
    _as_an_older_rekindle_sealed_it(db, run.run_id)
    assert "settings" not in query(db, "SELECT * FROM run")[0]
    # Read before anything opened its schema (the read side's sqlite3 engine, engine/store/lite.py).
    assert resolve_run(run.run_id, db).settings == {}
    dispose_all()
    get_engine(db)  # opening the schema adds the column (engine/store/migrate.py)
    assert query(db, "SELECT settings FROM run WHERE id = ?", (run.run_id,)) == [{"settings": "{}"}]
    report = verify_run(run.run_id, db)
    assert report.ok, report.message
    assert report.settings_text() == ("Run settings 运行设置: engine not recorded "
                                      "(a run stored before runs recorded their settings)")
    get_engine(db)  # a second opening adds nothing
    dispose_all()
    assert verify_run(run.run_id, db).ok
