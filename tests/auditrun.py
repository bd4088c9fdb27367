"""One stored nightly run for the explain / audit / report tests, made once per backend per session.

`build_audit_run` makes it from the shared generated snapshot and stability model
(tests/nightly_inputs.py) and copies of the shipped rules/ and strategies/; tests get it from
the session fixtures `stored_run_sqlite` / `stored_run_postgresql`, or `run` (parametrised over
both), in tests/conftest.py. The run goes into its own SQLite file, or its own schema on the
session's PostgreSQL server. It is shared read-only: tests that tamper with rows work on a copy
(`copy_db`) and change it with `execute`; tests that edit packs copy `run.rules` first. The
session checks after every test that the shared run is unchanged (tests/shared.py).
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from nightly_inputs import RULES, STRATEGIES, NightInputs


# The keys of each fact in `rekindle explain --json` (the documented shape, issue 6).
EXPLAIN_FACT_KEYS = {"service", "segment", "segment_rules", "causes", "decision", "pack", "pack_sha256", "reason", "rules",
                     "exclusions", "requirements", "scores", "model_versions", "holdout", "arbitration", "strategy",
                     "channel", "message", "approval"}


@dataclass(frozen=True)
class AuditRun:
    inputs: NightInputs
    db_path: Path | None  # the SQLite file (None on PostgreSQL)
    rules: Path
    strategies: Path
    run_id: str
    examples: dict  # decision kind -> smallest msisdn with it
    db_url: str = ""
    backend: str = "sqlite"
    server: "PgServer | None" = None  # the PostgreSQL test server holding the run
    schema: str = ""  # ... in this schema of TEST_DATABASE
    out: Path | None = None  # the run's channel files
    result: object = None  # what run_night returned (engine.night.run.RunResult)


def build_audit_run(base: Path, inputs: NightInputs, backend: str = "sqlite", server=None) -> AuditRun:
    """Run a night of `inputs` into a new database of `backend` (PostgreSQL: schema `auditrun` of
    the session's server), with copies of the shipped content under `base`."""
    from pgserver import TEST_DATABASE
    from engine.outputs.reports.run_report import run_report
    from engine.night.run import RunOptions, run_night

    rules, strategies = base / "content" / "rules", base / "content" / "strategies"
    shutil.copytree(RULES, rules)
    shutil.copytree(STRATEGIES, strategies)
    db_path, schema = None, ""
    if backend == "sqlite":
        db_path = base / "audit.db"
        db_url = f"sqlite:///{db_path}"
    else:
        schema = "auditrun"
        db_url = server.create_schema(TEST_DATABASE, schema)
    options = RunOptions(data=inputs.data, as_of=inputs.as_of, db_url=db_url, out=base / "out",
                         rules_dir=rules, strategies_dir=strategies, models_dir=inputs.models)
    result = run_night(options)
    examples = run_report(result.run_id, options.db_url)["examples"]
    return AuditRun(inputs, db_path, rules, strategies, result.run_id, examples, db_url, backend, server, schema,
                    options.out, result)


def copy_db(run: AuditRun, target: Path) -> str:
    """A private copy of the run's database (for tampering); returns its URL.

    SQLite: a new file at `target`, made with the backup API so the WAL content comes along.
    PostgreSQL: a new schema named after `target`'s file stem, with a copy of every table.
    """
    if run.backend == "postgresql":
        from pgserver import TEST_DATABASE, next_schema

        return run.server.copy_schema(TEST_DATABASE, run.schema, next_schema(target.stem))
    source = sqlite3.connect(run.db_path)
    dest = sqlite3.connect(target)
    with dest:
        source.backup(dest)
    source.close()
    dest.close()
    return f"sqlite:///{target}"


def _raw(db_url: str):
    """A DB-API connection outside the engine's pool, and its placeholder mark."""
    if db_url.startswith("sqlite:///"):
        return sqlite3.connect(db_url.removeprefix("sqlite:///")), "?"
    from sqlalchemy import create_engine

    return create_engine(db_url).raw_connection(), "%s"


def execute(db_url: str, sql: str, params: tuple = ()) -> None:
    """Change the database behind the engine's back, as a tamperer with a SQL shell would
    (`?` placeholders on either backend)."""
    conn, mark = _raw(db_url)
    try:
        conn.cursor().execute(sql.replace("?", mark), params)
        conn.commit()
    finally:
        conn.close()


def query(db_url: str, sql: str, params: tuple = ()) -> list[dict]:
    """Read rows behind the engine's back (`?` placeholders), as dicts."""
    conn, mark = _raw(db_url)
    try:
        cursor = conn.cursor()
        cursor.execute(sql.replace("?", mark), params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        conn.close()
