"""One stored nightly run for the explain / audit / report tests, made once per test session.

Uses the shared generated snapshot and stability model (tests/nightly_inputs.py) and copies of
the shipped rules/ and strategies/ (so tests may edit packs without touching the project's).
The run goes into its own SQLite file; tests that tamper with rows work on a copy
(`copy_db`), made with SQLite's backup API so the WAL content comes along.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from nightly_inputs import RULES, STRATEGIES, NightInputs, night_inputs


# The keys of each fact in `rekindle explain --json` (the documented shape, issue 6).
EXPLAIN_FACT_KEYS = {"service", "segment", "segment_rules", "causes", "decision", "pack", "pack_sha256", "reason", "rules",
                     "exclusions", "requirements", "scores", "model_versions", "holdout", "arbitration", "strategy",
                     "channel", "message", "approval"}


@dataclass(frozen=True)
class AuditRun:
    inputs: NightInputs
    db_path: Path
    rules: Path
    strategies: Path
    run_id: str
    examples: dict  # decision kind -> smallest msisdn with it

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db_path}"


_cache: dict[str, AuditRun] = {}


def audit_run(tmp_path_factory) -> AuditRun:
    """The shared run (made on first use)."""
    if "run" not in _cache:
        from engine.outputs.reports.run_report import run_report
        from engine.night.run import RunOptions, run_night

        inputs = night_inputs(tmp_path_factory)
        base = tmp_path_factory.mktemp("auditrun")
        rules, strategies = base / "content" / "rules", base / "content" / "strategies"
        shutil.copytree(RULES, rules)
        shutil.copytree(STRATEGIES, strategies)
        db_path = base / "audit.db"
        options = RunOptions(data=inputs.data, as_of=inputs.as_of, db_url=f"sqlite:///{db_path}", out=base / "out",
                             rules_dir=rules, strategies_dir=strategies, models_dir=inputs.models)
        result = run_night(options)
        examples = run_report(result.run_id, options.db_url)["examples"]
        _cache["run"] = AuditRun(inputs, db_path, rules, strategies, result.run_id, examples)
    return _cache["run"]


def copy_db(run: AuditRun, target: Path) -> str:
    """A private copy of the run's database (for tampering); returns its URL."""
    source = sqlite3.connect(run.db_path)
    dest = sqlite3.connect(target)
    with dest:
        source.backup(dest)
    source.close()
    dest.close()
    return f"sqlite:///{target}"


def execute(db_url: str, sql: str, params: tuple = ()) -> None:
    """Change the database behind the engine's back, as a tamperer with sqlite3 would."""
    path = db_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, params)
    conn.close()
