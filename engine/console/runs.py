"""Runs 运行 in the console: the list, one run's page, and its chain verification on demand.

A run's page is `engine.outputs.reports.run_report.run_report` (funnel, decision counts,
example subscribers) plus the run row's content and model versions (`resolve_run`), with the
funnel drawn by engine/console/charts.py. Nothing is recomputed from decisions here.

Chain verification (`engine.outputs.audit.verify_run`) walks every record of the run, which
takes seconds on a large night, so it runs only when someone presses "verify", and the result
is kept in memory with the time it was computed and who asked (`VerifyCache`). The page says
how old the result is; pressing again re-verifies. The cache lives as long as the server
process: a restarted console shows "not verified yet".
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import text

from engine.console.charts import funnel_by_channel, funnel_by_pack, pack_channel_rows
from engine.outputs.audit import VerifyReport, verify_run
from engine.outputs.reports.run_report import run_report
from engine.store.database import get_engine
from engine.store.read import resolve_run
from engine.night.settings import settings_line

# Run ids are `<as-of date>.<hex>`; `latest` names the newest succeeded run.
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")


def valid_run_id(value: str) -> bool:
    """Is a run id from a URL well formed? (Checked before any lookup.)"""
    return bool(RUN_ID.match(value or ""))


@dataclass(frozen=True)
class RunRow:
    id: str
    as_of: str
    status: str
    started_at: str
    production: bool
    facts: int
    decisions: int


def list_runs(db_url: str | None = None, limit: int = 200) -> list[RunRow]:
    """The latest runs (any status), newest first."""
    with get_engine(db_url).connect() as conn:
        rows = conn.execute(text("SELECT id, as_of, status, started_at, production, facts, decisions FROM run "
                                 "ORDER BY started_at DESC, id DESC LIMIT :n"), {"n": int(limit)}).all()
    return [RunRow(r.id, str(r.as_of), r.status, str(r.started_at)[:19], bool(r.production), int(r.facts or 0),
                   int(r.decisions or 0)) for r in rows]


def run_page(run_id: str, db_url: str | None = None) -> dict:
    """Everything the run page shows. Raises DiagnosticError for an unknown or failed run."""
    info = resolve_run(run_id, db_url)
    report = run_report(info.id, db_url)
    funnel = report.get("funnel") or {}
    content = sorted(info.content_hashes.items())
    return {
        "info": info,
        "report": report,
        "charts": [funnel_by_pack(funnel), funnel_by_channel(funnel)],
        "pack_channels": pack_channel_rows(funnel),
        "out_of_scope": sorted((funnel.get("out_of_scope") or {}).items()),
        "content": [{"key": key, "kind": key.partition("/")[0], "name": key.partition("/")[2], "sha256": sha}
                    for key, sha in content],
        "models": sorted(info.model_versions.items()),
        "settings": settings_line(info.settings),  # how the night was run (engine, master, workers, slices)
    }


@dataclass(frozen=True)
class Verified:
    report: VerifyReport
    at: datetime
    by: str
    seconds: float


class VerifyCache:
    """Chain verification results per (database, run), with when and by whom they were computed."""

    def __init__(self) -> None:
        self._results: dict[tuple[str, str], Verified] = {}
        self._lock = threading.Lock()

    def get(self, db_url: str | None, run_id: str) -> Verified | None:
        with self._lock:
            return self._results.get((db_url or "", run_id))

    def verify(self, db_url: str | None, run_id: str, by: str) -> Verified:
        """Verify now and remember the result."""
        import time

        started = time.perf_counter()
        report = verify_run(run_id, db_url)
        result = Verified(report, datetime.now(timezone.utc), by, time.perf_counter() - started)
        with self._lock:
            self._results[(db_url or "", report.run_id)] = result
        return result
