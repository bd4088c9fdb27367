"""One subscriber across runs 用户时间线: every decision of every succeeded run, oldest first.

The timeline lists, per run (by as-of date), each fact of the subscriber: the decision row
(decision, pack, reason, strategy, channel) or, for a fact no pack considered, its segment from
`out_of_scope`. Opening an entry shows `engine.outputs.explain.explain(run, msisdn, service)`
as it is — the console never re-derives the account.

The subscriber is looked up run by run through the (run_id, msisdn, service) index the decision
table already has, so the cost grows with the number of runs, not with the rows in the table.
`timeline_layout` lays the entries out for the inline SVG chart (x by date, one row per
service).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text

from engine.store.database import get_engine
from engine.store.read import out_of_scope_records

MSISDN = re.compile(r"^\+?[0-9]{5,20}$")
OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True)
class Entry:
    run_id: str
    as_of: str
    service: str
    decision: str
    pack: str
    reason: str
    strategy: str
    channel: str


def valid_msisdn(value: str) -> bool:
    """A subscriber number as typed: digits (an optional leading +), 5 to 20 of them."""
    return bool(MSISDN.match(value or ""))


def subscriber_timeline(msisdn: str, db_url: str | None = None) -> list[Entry]:
    """Every fact of `msisdn` in every succeeded run, ordered by (as-of, run started, service)."""
    engine = get_engine(db_url)
    entries: list[Entry] = []
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT id, as_of FROM run WHERE status = 'succeeded' "
                                 "ORDER BY as_of, started_at, id")).all()
        for run in runs:
            params = {"r": run.id, "m": msisdn}
            rows = conn.execute(text(
                "SELECT service, decision, pack, reason, strategy, channel FROM decision "
                "WHERE run_id = :r AND msisdn = :m ORDER BY service"), params).all()
            found = [Entry(run.id, str(run.as_of), r.service, r.decision, r.pack, r.reason, r.strategy or "",
                           r.channel or "") for r in rows]
            outside = out_of_scope_records(run.id, msisdn, db_url)
            found += [Entry(run.id, str(run.as_of), r["service"], OUT_OF_SCOPE, "", f"segment {r['segment']}", "", "")
                      for r in outside]
            entries += sorted(found, key=lambda e: e.service)
    return entries


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    entry: Entry


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    points: list[Point]
    services: list[tuple[str, float]]  # label and y of each row
    dates: list[tuple[str, float]]  # label and x of each run date


def timeline_layout(entries: list[Entry], *, width: int = 760, row: int = 34, left: int = 120,
                    right: int = 30, top: int = 24) -> Layout:
    """Positions for the SVG timeline: x proportional to the as-of date, one row per service."""
    services = sorted({e.service for e in entries})
    days = sorted({e.as_of for e in entries})
    ordinals = [date.fromisoformat(d).toordinal() for d in days]
    span = (max(ordinals) - min(ordinals)) if ordinals else 0
    inner = width - left - right

    def x_of(day: str) -> float:
        if span == 0:
            return left + inner / 2
        return left + inner * (date.fromisoformat(day).toordinal() - ordinals[0]) / span

    y_of = {s: top + row * i + row / 2 for i, s in enumerate(services)}
    # Several runs on one date: spread them a little so each point stays clickable.
    runs_on: dict[str, list[str]] = {}
    for e in entries:
        runs_on.setdefault(e.as_of, [])
        if e.run_id not in runs_on[e.as_of]:
            runs_on[e.as_of].append(e.run_id)
    points = []
    for e in entries:
        offset = runs_on[e.as_of].index(e.run_id) * 14
        points.append(Point(round(x_of(e.as_of) + offset, 1), y_of[e.service], e))
    height = top + row * max(len(services), 1) + 28
    return Layout(width, height, points, [(s, y_of[s]) for s in services], [(d, round(x_of(d), 1)) for d in days])
