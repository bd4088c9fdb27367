"""Work orders 工单 for the people-driven channels (docs/LOOP.md §4).

A treated decision on `outbound_call` or `account_manager` is a work order, id
`<run_id>:<seq>`. Its states follow the operator's management loop:

    accepted 受理 ──► reviewed 审核 ──► handled 处理 (result code, note, who, when)

`accepted` is implicit: the order exists from the moment its run committed (who = `rekindle
run`, when = the run's finish time). Every later state is one appended `work_order_event` row,
never an update, so the history of an order is its rows in id order and the current state is
the last one. Transitions are strict (accepted → reviewed → handled, once each); a request
that repeats a record the order already has (same state, result, note, who, when — an
imported file loaded twice) is skipped, anything else out of order is an error.

A `handled` result feeds the feedback (营销反馈) through the same store as `feedback load`
(engine.loop.feedback.store_events), with the result code mapped to events by RESULT_EVENTS,
so the campaign report and the response model see call-centre outcomes like any channel's.

The call centre's return file (`rekindle orders import FILE`, CSV or Parquet) has the columns
`order_id`, `state` (`reviewed`|`handled`), `result_code` (empty unless handled), `note`,
`by`, `at` (ISO date or date-time); it is validated like a snapshot and applied in one
transaction, in file order (a file may review and then handle the same order), or not at all.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.loop.feedback import store_events
from engine.snapshot.contract import ENUM, STRING, Column, Table
from engine.snapshot.loader import load_table_file
from engine.store.database import get_engine
from engine.store.read import resolve_run
from engine.store.tables import WorkOrderEvent
from engine.store.write import utc_now

ORDER_CHANNELS = ("outbound_call", "account_manager")
ACCEPTED, REVIEWED, HANDLED = "accepted", "reviewed", "handled"
NEXT = {ACCEPTED: REVIEWED, REVIEWED: HANDLED}
# What a handled call tells the feedback: result code → events (docs/LOOP.md §4).
RESULT_EVENTS = {
    "accepted_offer": ("delivered", "responded", "converted"),  # 办理成功
    "interested": ("delivered", "responded"),  # 有意向
    "declined": ("delivered",),  # 拒绝
    "unreachable": ("failed",),  # 未接通
    "opted_out": ("delivered", "opted_out"),  # 要求免打扰
}
NO_ORDER = "WO001"
BAD_TRANSITION = "WO002"
BAD_RESULT = "WO003"
BAD_TIME = "WO004"
_ID = re.compile(r"^(?P<run>.+):(?P<seq>\d+)$")
_ISO = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"

ORDERS_FILE = Table("work_orders", (
    Column("order_id", STRING), Column("state", ENUM, values=(REVIEWED, HANDLED)),
    Column("result_code", ENUM, nullable=True, values=tuple(RESULT_EVENTS)),
    Column("note", STRING, nullable=True), Column("by", STRING), Column("at", STRING),
), doc="the call centre's return file")


def _orders(conn, run_id: str) -> pd.DataFrame:
    rows = conn.execute(text("SELECT run_id, seq, msisdn, service, pack, strategy, channel FROM decision "
                             "WHERE run_id = :r AND decision = 'treat' AND channel IN ('outbound_call', "
                             "'account_manager') ORDER BY seq"), {"r": run_id}).all()
    return pd.DataFrame(rows, columns=["run_id", "seq", "msisdn", "service", "pack", "strategy", "channel"])


def _history(conn, run_id: str) -> pd.DataFrame:
    rows = conn.execute(text("SELECT id, run_id, seq, state, result_code, note, actor, at FROM work_order_event "
                             "WHERE run_id = :r ORDER BY id"), {"r": run_id}).all()
    return pd.DataFrame(rows, columns=["id", "run_id", "seq", "state", "result_code", "note", "actor", "at"])


def list_orders(run: str | None = None, state: str | None = None, db_url: str | None = None) -> pd.DataFrame:
    """The work orders of a run (default: the latest) with their current state, seq order.

    Columns: order_id, msisdn, service, pack, strategy, channel, state, result_code, note, by, at.
    """
    info = resolve_run(run, db_url)
    with get_engine(db_url).connect() as conn:
        orders, history = _orders(conn, info.id), _history(conn, info.id)
    last = history.drop_duplicates("seq", keep="last").set_index("seq")
    at = last.reindex(orders["seq"])
    out = pd.DataFrame({
        "order_id": orders["run_id"] + ":" + orders["seq"].astype(str),
        **{c: orders[c] for c in ("msisdn", "service", "pack", "strategy", "channel")},
        "state": at["state"].fillna(ACCEPTED).to_numpy(),
        "result_code": at["result_code"].fillna("").to_numpy(),
        "note": at["note"].fillna("").to_numpy(),
        "by": at["actor"].fillna("rekindle run").to_numpy(),
        "at": at["at"].fillna(info.finished_at).to_numpy(),
    })
    return out[out["state"] == state].reset_index(drop=True) if state else out


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class _Book:
    """The orders touched by one request, their current states, and the rows to append."""

    def __init__(self, conn):
        self.conn = conn
        self.known: dict[str, dict[int, dict]] = {}  # run -> seq -> decision row
        self.state: dict[tuple[str, int], dict] = {}  # (run, seq) -> last record
        self.seen: dict[tuple[str, int], list[dict]] = {}  # (run, seq) -> every record so far
        self.rows: list[dict] = []
        self.events: list[dict] = []

    def _load(self, run_id: str) -> None:
        if run_id in self.known:
            return
        orders = _orders(self.conn, run_id)
        self.known[run_id] = {int(r.seq): r._asdict() for r in orders.itertuples(index=False)}
        for r in _history(self.conn, run_id).itertuples(index=False):
            record = {"state": r.state, "result_code": r.result_code, "note": r.note, "actor": r.actor, "at": r.at}
            self.state[(run_id, int(r.seq))] = record
            self.seen.setdefault((run_id, int(r.seq)), []).append(record)

    def apply(self, order_id: str, state: str, result_code: str, note: str, by: str, at: str,
              where: dict) -> bool:
        """Check one state change and queue it; False when it repeats a record of the order exactly."""
        match = _ID.match(order_id or "")
        if match:
            self._load(match["run"])
        order = self.known.get(match["run"], {}).get(int(match["seq"])) if match else None
        if order is None:
            raise DiagnosticError([Diagnostic(NO_ORDER, f"no work order {order_id!r}", **where,
                                              hint="an order id is <run id>:<seq>; see `rekindle orders list --run ID`")])
        key = (match["run"], int(match["seq"]))
        last = self.state.get(key, {"state": ACCEPTED})
        record = {"state": state, "result_code": result_code, "note": note, "actor": by, "at": at}
        if record in self.seen.get(key, []):
            return False
        if NEXT.get(last["state"]) != state:
            raise DiagnosticError([Diagnostic(
                BAD_TRANSITION, f"order {order_id} is {last['state']}: it cannot become {state}", **where,
                hint="orders go accepted 受理 → reviewed 审核 → handled 处理, once each")])
        if state == HANDLED and result_code not in RESULT_EVENTS:
            raise DiagnosticError([Diagnostic(BAD_RESULT, f"handled needs a result code, got {result_code!r}", **where,
                                              hint="one of: " + ", ".join(RESULT_EVENTS))])
        if state == REVIEWED and result_code:
            raise DiagnosticError([Diagnostic(BAD_RESULT, "a result code belongs to `handled`, not `reviewed`",
                                              **where, hint="leave result_code empty when reviewing")])
        self.state[key] = record
        self.seen.setdefault(key, []).append(record)
        self.rows.append({"run_id": key[0], "seq": key[1], **record})
        if state == HANDLED:
            for event in RESULT_EVENTS[result_code]:
                self.events.append({"run_id": key[0], "seq": key[1], "msisdn": order["msisdn"],
                                    "service": order["service"], "channel": order["channel"], "event": event,
                                    "event_time": at, "event_date": at[:10], "revenue": np.nan})
        return True

    def commit(self, source: str) -> None:
        now = utc_now()
        if self.rows:
            self.conn.execute(WorkOrderEvent.__table__.insert(),
                              [dict(r, source=source, recorded_at=now) for r in self.rows])
        if self.events:
            store_events(self.conn, pd.DataFrame(self.events), source=f"orders:{source}")


def _check_time(at: str, where: dict) -> str:
    at = (at or "").strip() or _now()
    if not re.match(_ISO, at):
        raise DiagnosticError([Diagnostic(BAD_TIME, f"{at!r} is not an ISO date or date-time", **where,
                                          hint="write 2026-11-16 or 2026-11-16T09:30:00")])
    return at


def change_state(order_id: str, state: str, by: str, note: str = "", result_code: str = "",
                 at: str | None = None, db_url: str | None = None) -> bool:
    """Review or handle one order from the CLI; False when it repeated the last record."""
    where = {"path": "order_id"}
    at = _check_time(at or "", {"path": "--at"})
    with get_engine(db_url).begin() as conn:
        book = _Book(conn)
        changed = book.apply(order_id, state, result_code or "", note or "", by, at, where)
        book.commit("cli")
    return changed


def import_orders(path: str | Path, db_url: str | None = None) -> tuple[int, int]:
    """Apply the call centre's return file (module docstring); (records appended, repeats skipped)."""
    loaded = load_table_file(path, ORDERS_FILE)
    frame = loaded.frame
    appended = skipped = 0
    with get_engine(db_url).begin() as conn:
        book = _Book(conn)
        for row, r in enumerate(frame.itertuples(index=False)):  # a call centre's day: thousands of rows
            where = {"file": loaded.file, "line": loaded.line(row), "column": loaded.column("order_id"),
                     "path": "order_id"}
            at = _check_time(r.at, dict(where, column=loaded.column("at"), path="at"))
            if book.apply(r.order_id, r.state, r.result_code or "", r.note or "", r.by, at, where):
                appended += 1
            else:
                skipped += 1
        book.commit(str(path))
    return appended, skipped
