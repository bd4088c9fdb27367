"""Loading the feedback file 营销反馈 (docs/LOOP.md §2): what the channel systems report back.

`load_feedback(path, db_url)` reads one CSV or Parquet file with the fixed columns `msisdn`,
`run_id`, `service` (empty for subscriber-level treatments), `channel`, `event`
(`delivered|failed|responded|converted|opted_out`), `event_time` (ISO date or date-time) and
the optional `revenue` (float), and stores each event against the decision it belongs to.

- Validated like a snapshot (engine.snapshot.loader.load_table_file: DC codes, file:line:column,
  every problem at once); `event_time` is checked here (DC201). Any problem: nothing is written.
- Matched to a stored decision: the `treat` or `held_out` decision of that subscriber in that
  run, on that channel, for that service (an empty service matches the subscriber's decision
  on that channel, lowest seq first — retention is decided on the subscriber's GPRS fact). An
  event that matches no decision is *reported* (DC202, with its line), never silently dropped,
  and not stored.
- Idempotent: an event's key is the sha256 of its content, so the same file loaded twice (or
  two files repeating an event) adds nothing the second time.
- One transaction: all matched events of a file are stored together or not at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.snapshot.contract import CHANNEL_VALUES, ENUM, FLOAT, SERVICE_IDS, STRING, Column, Table
from engine.snapshot.loader import load_table_file
from engine.store.database import get_engine
from engine.store.tables import FEEDBACK_EVENTS, FeedbackEvent
from engine.store.write import utc_now

BAD_TIME = "DC201"
UNKNOWN_DECISION = "DC202"
MAX_REPORTED = 50

FEEDBACK_TABLE = Table("feedback", (
    Column("msisdn", STRING),
    Column("run_id", STRING),
    Column("service", ENUM, nullable=True, values=SERVICE_IDS),
    Column("channel", ENUM, values=CHANNEL_VALUES),
    Column("event", ENUM, values=FEEDBACK_EVENTS),
    Column("event_time", STRING),
    Column("revenue", FLOAT, nullable=True),
), doc="feedback file: one row per delivery/response/conversion/opt-out event")
_WITHOUT_REVENUE = Table("feedback", FEEDBACK_TABLE.columns[:-1])
# ISO date, or date-time with optional seconds, fraction and zone.
_ISO = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"


@dataclass
class FeedbackResult:
    """What one load did: rows read, events stored now, events already stored, unmatched events."""

    file: str
    rows: int
    stored: int
    already: int
    unknown: list[Diagnostic] = field(default_factory=list)
    unknown_count: int = 0


def event_key(run_id: str, msisdn: str, service: str, channel: str, event: str, event_time: str,
              revenue: float | None) -> str:
    """sha256 of an event's content: the identity that makes loading idempotent."""
    money = "" if revenue is None or (isinstance(revenue, float) and np.isnan(revenue)) else repr(round(float(revenue), 6))
    return hashlib.sha256("\x1f".join((run_id, msisdn, service, channel, event, event_time, money)).encode()).hexdigest()


def _read(path: Path):
    try:
        return load_table_file(path, FEEDBACK_TABLE)
    except DiagnosticError as error:
        only_revenue = error.diagnostics and all(d.code == "DC003" and d.path == "revenue" for d in error.diagnostics)
        if not only_revenue:
            raise
    return load_table_file(path, _WITHOUT_REVENUE)  # `revenue` is optional


def _times(loaded) -> pd.Series:
    """event_time checked (DC201) and turned into the event's date YYYY-MM-DD."""
    values = loaded.frame["event_time"].astype(str).str.strip()
    stamps = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=True) if len(values) else values
    shape = values.str.match(_ISO)
    bad = np.flatnonzero(~shape.to_numpy(dtype=bool) | pd.isna(stamps).to_numpy())
    if len(bad):
        raise DiagnosticError([Diagnostic(
            BAD_TIME, f"{values.iloc[row]!r} is not an ISO date or date-time", file=loaded.file,
            line=loaded.line(int(row)), column=loaded.column("event_time"), path="event_time",
            hint="write 2026-11-16 or 2026-11-16T09:30:00 (optionally with a zone, e.g. +08:00)")
            for row in bad[:MAX_REPORTED]])
    return values.str.slice(0, 10)


def _decisions(conn, run_ids: list[str]) -> pd.DataFrame:
    frames = []
    for run_id in run_ids:
        rows = conn.execute(text("SELECT d.run_id, d.seq, d.msisdn, d.service, d.channel FROM decision d "
                                 "JOIN run r ON r.id = d.run_id AND r.status = 'succeeded' "
                                 "WHERE d.run_id = :r AND d.decision IN ('treat', 'held_out') ORDER BY d.seq"),
                            {"r": run_id}).all()
        if rows:
            frames.append(pd.DataFrame(rows, columns=["run_id", "seq", "msisdn", "service", "channel"]))
    return (pd.concat(frames, ignore_index=True) if frames
            else pd.DataFrame(columns=["run_id", "seq", "msisdn", "service", "channel"]))


def match_decisions(conn, events: pd.DataFrame) -> np.ndarray:
    """The decision seq of each event (-1: no treated or held-out decision matches), vectorised."""
    known = _decisions(conn, sorted(set(events["run_id"])))
    seq = np.full(len(events), -1, dtype=np.int64)
    if not len(known) or not len(events):
        return seq
    service = events["service"].fillna("").astype(str)
    full = pd.MultiIndex.from_frame(known[["run_id", "msisdn", "service", "channel"]])
    at = full.get_indexer(pd.MultiIndex.from_arrays([events["run_id"], events["msisdn"], service, events["channel"]]))
    seq[at >= 0] = known["seq"].to_numpy()[at[at >= 0]]
    # empty service: the subscriber's decision on that channel, lowest seq first
    first = known.drop_duplicates(["run_id", "msisdn", "channel"], keep="first")
    loose = pd.MultiIndex.from_frame(first[["run_id", "msisdn", "channel"]])
    at2 = loose.get_indexer(pd.MultiIndex.from_arrays([events["run_id"], events["msisdn"], events["channel"]]))
    use = (service.to_numpy() == "") & (at2 >= 0)
    seq[use] = first["seq"].to_numpy()[at2[use]]
    return seq


def store_events(conn, events: pd.DataFrame, source: str) -> tuple[int, int]:
    """Insert matched events (columns run_id, seq, msisdn, service, channel, event, event_time,
    event_date, revenue) whose content key is new; returns (stored, already stored)."""
    if not len(events):
        return 0, 0
    keys = [event_key(r, m, s or "", c, e, t, v) for r, m, s, c, e, t, v in zip(
        events["run_id"], events["msisdn"], events["service"], events["channel"], events["event"],
        events["event_time"], events["revenue"])]
    frame = events.assign(event_key=keys).drop_duplicates("event_key")
    existing: set[str] = set()
    for start in range(0, len(frame), 500):
        chunk = list(frame["event_key"].iloc[start:start + 500])
        marks = ", ".join(f":k{i}" for i in range(len(chunk)))
        existing |= {r[0] for r in conn.execute(text(f"SELECT event_key FROM feedback_event WHERE event_key IN ({marks})"),
                                                 {f"k{i}": k for i, k in enumerate(chunk)})}
    new = frame[~frame["event_key"].isin(existing)]
    now = utc_now()
    rows = [{"event_key": k, "run_id": r, "seq": int(q), "msisdn": m, "service": s or "", "channel": c, "event": e,
             "event_time": t, "event_date": d, "revenue": (None if v is None or pd.isna(v) else float(v)),
             "source": source, "loaded_at": now}
            for k, r, q, m, s, c, e, t, d, v in zip(new["event_key"], new["run_id"], new["seq"], new["msisdn"],
                                                     new["service"], new["channel"], new["event"], new["event_time"],
                                                     new["event_date"], new["revenue"])]
    if rows:
        conn.execute(FeedbackEvent.__table__.insert(), rows)
    return len(rows), len(events) - len(rows)


def load_feedback(path: str | Path, db_url: str | None = None) -> FeedbackResult:
    """Validate, match and store one feedback file (module docstring); raise DiagnosticError
    (nothing written) when the file is invalid."""
    path = Path(path)
    loaded = _read(path)
    events = loaded.frame.copy()
    if "revenue" not in events.columns:
        events["revenue"] = np.nan
    events["event_time"] = events["event_time"].astype(str).str.strip()
    events["event_date"] = _times(loaded).to_numpy()
    events["service"] = events["service"].where(events["service"].notna(), None)
    with get_engine(db_url).begin() as conn:
        seq = match_decisions(conn, events)
        events["seq"] = seq
        missing = np.flatnonzero(seq < 0)
        stored, already = store_events(conn, events[seq >= 0], source=str(path))
    unknown = [Diagnostic(
        UNKNOWN_DECISION, f"no treated or held-out decision of {events['msisdn'].iloc[r]} "
        f"({events['service'].iloc[r] or 'any service'}, {events['channel'].iloc[r]}) in run {events['run_id'].iloc[r]}: "
        "event not loaded", file=loaded.file, line=loaded.line(int(r)), column=loaded.column("run_id"),
        path="run_id", severity="warning", hint="check the run id, number, service and channel against "
        "`rekindle export --run ID --channel CHANNEL`") for r in missing[:MAX_REPORTED]]
    return FeedbackResult(file=str(path), rows=len(events), stored=stored, already=already, unknown=unknown,
                          unknown_count=len(missing))
