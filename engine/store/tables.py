"""Tables of the nightly run: `run`, `decision`, `trace_block`, `out_of_scope_block`, `model_version`, `run_lock`.

Runs stored before storage format 2 hold their traces in `trace` (one row per decision) and their
out-of-scope facts in `out_of_scope` (one row each); those tables stay, are still read
(engine/store/read.py) and verified, and new runs no longer write them (engine/store/blocks.py).

The `approval` table lives in engine/store/approval.py. Decisions, traces and out-of-scope
rows are written in bulk (tuples through executemany, see engine/store/write.py), never as ORM
objects one by one; the classes here define the schema and serve readers (explain, report).
docs/TRACE.md describes the trace payload and the hash chain for auditors.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel

# Run status: a run row is written `succeeded` in the same transaction as its decisions;
# a run that failed leaves only a `failed` row (no decisions, traces or channel files).
# Decision words (SUCCEEDED, FAILED, TREAT, …) are defined once in engine.base.vocabulary.


class Run(SQLModel, table=True):
    """One nightly run: what it read, which content and models it used, and what it decided."""

    __tablename__ = "run"

    id: str = Field(primary_key=True)  # e.g. 2026-11-15.3f2a9c1b7d0e (as-of date + random part)
    as_of: str = Field(index=True)  # YYYY-MM-DD
    status: str = Field(index=True)  # SUCCEEDED | FAILED
    started_at: datetime
    finished_at: datetime | None = None
    data_dir: str = ""
    snapshot_fingerprint: str = ""  # sha256 over the snapshot files' names and bytes
    content_hashes: str = Field(default="{}", sa_column=Column(Text))  # JSON {"pack/x": sha256, ...}
    model_versions: str = Field(default="{}", sa_column=Column(Text))  # JSON {model: version}
    production: bool = False
    workers: int = 1
    funnel: str = Field(default="{}", sa_column=Column(Text))  # JSON funnel summary (engine/night/funnel.py)
    facts: int = 0  # facts built from the snapshot
    decisions: int = 0  # decision rows (= trace rows = chain length)
    chain_head: str = ""  # hash of the last trace of the chain
    chain_count: int = 0
    out_dir: str = ""  # where the channel files were written
    rerun_of: str = ""  # a rerun (`--rerun`): the succeeded run of the same as-of date it repeats
    error: str = Field(default="", sa_column=Column(Text))  # why a failed run failed
    # JSON {"engine": "local" | "spark", "spark_master": URL (spark only), "workers": n, "slice_size": n}:
    # how the night was run (engine/night/settings.py); "{}" on runs stored before the column
    # existed (engine/store/migrate.py adds it to older databases).
    settings: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))


class Decision(SQLModel, table=True):
    """The decision for one fact (subscriber, service) that entered at least one pack."""

    __tablename__ = "decision"
    # SQLite: WITHOUT ROWID, so the rows are stored in (run_id, seq) order in the primary key's
    # own b-tree instead of a rowid table plus a separate primary-key index (-39 B a decision,
    # docs/SCALE.md). Columns and queries are unchanged; databases made before keep their table.
    __table_args__ = (Index("ix_decision_run_msisdn", "run_id", "msisdn", "service"), {"sqlite_with_rowid": False})

    run_id: str = Field(primary_key=True)
    seq: int = Field(primary_key=True)  # position in the hash chain (sorted by msisdn, service)
    msisdn: str
    service: str
    pack: str  # the pack that made the decision
    decision: str  # one of DECISIONS
    reason: str  # target reason, exclusion reason, no_target, require:<field>, no_strategy, lost_*, holdout
    arbitration: str  # won | lost_priority | lost_cap | lost_capacity | held_out | "" (no candidate)
    strategy: str
    channel: str
    message: str = Field(sa_column=Column(Text))


class Trace(SQLModel, table=True):
    """The audit record of one decision as runs before storage format 2 stored it (one row each).

    New runs store their traces in `trace_block`; this table is kept so older runs still read
    and verify."""

    __tablename__ = "trace"

    run_id: str = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    payload: str = Field(sa_column=Column(Text))  # canonical JSON (docs/TRACE.md)
    prev_hash: str
    hash: str


class TraceBlock(SQLModel, table=True):
    """The traces of `count` consecutive decisions (seq first_seq ...), compressed together.

    Storage format 2 (engine/store/blocks.py, docs/TRACE.md): `payloads` is zlib of the canonical
    JSON payloads joined by newlines, `hashes` the chain hashes as raw 32-byte digests.
    """

    __tablename__ = "trace_block"
    __table_args__ = (Index("ix_trace_block_first_seq", "run_id", "first_seq", unique=True),)

    run_id: str = Field(primary_key=True)
    block: int = Field(primary_key=True)  # 0, 1, ... in seq order
    first_seq: int
    count: int
    hashes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    payloads: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class OutOfScopeBlock(SQLModel, table=True):
    """Out-of-scope facts (msisdn, service, segment) of a run, `count` at a time, compressed together.

    Storage format 2: `rows` is zlib of "msisdn\tservice\tsegment\n" lines in (msisdn, service)
    order; `first_msisdn`/`last_msisdn` let `explain` inflate only the block of one subscriber.
    """

    __tablename__ = "out_of_scope_block"
    __table_args__ = (Index("ix_out_of_scope_block_msisdn", "run_id", "first_msisdn"),)

    run_id: str = Field(primary_key=True)
    block: int = Field(primary_key=True)
    first_msisdn: str
    last_msisdn: str
    count: int
    rows: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class OutOfScope(SQLModel, table=True):
    """A fact in the scope of no pack, as runs before storage format 2 stored it (one row each)."""

    __tablename__ = "out_of_scope"

    run_id: str = Field(primary_key=True)
    msisdn: str = Field(primary_key=True)
    service: str = Field(primary_key=True)
    segment: str


class ModelVersion(SQLModel, table=True):
    """A model version some run used (the artefacts themselves live under REKINDLE_HOME/models)."""

    __tablename__ = "model_version"

    name: str = Field(primary_key=True)
    version: str = Field(primary_key=True)
    first_run_id: str
    recorded_at: datetime


class RunLock(SQLModel, table=True):
    """At most one nightly run per database at a time: the row names the process holding it."""

    __tablename__ = "run_lock"

    name: str = Field(primary_key=True)  # always "nightly"
    run_id: str
    pid: int
    host: str
    acquired_at: datetime


# -- the audit console (engine/console/) --------------------------------------------------------

class ConsoleUser(SQLModel, table=True):
    """A person who may log in to the audit console (`rekindle users add/remove/passwd`).

    `password_hash` is an argon2id hash string (salt and parameters inside it); the clear
    password is never stored. `role` is auditor, supervisor or planner (engine/console/access.py).
    """

    __tablename__ = "console_user"

    username: str = Field(primary_key=True)
    role: str
    password_hash: str
    created_at: datetime
    password_changed_at: datetime


class ConsoleSession(SQLModel, table=True):
    """A logged-in browser: the cookie holds a random token, this row only its sha256.

    A session ends at `expires_at` (absolute) or after `idle_seconds` without a request, at logout,
    and when its user is removed or their password changed.
    """

    __tablename__ = "console_session"

    token_sha256: str = Field(primary_key=True)
    username: str = Field(index=True)
    csrf_token: str  # the synchroniser token every form of this session carries
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


class ConsolePageView(SQLModel, table=True):
    """Who looked at which subscriber, when (append-only: never updated or deleted).

    Personal-data access must itself be auditable: every console page that shows one
    subscriber's decisions appends a row before the page is sent.
    """

    __tablename__ = "console_page_view"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    username: str = Field(index=True)
    role: str
    msisdn: str = Field(index=True)
    run_id: str = ""  # the run of the decision opened; "" for the timeline of every run
    service: str = ""
    path: str = ""  # the page requested


# -- The closed loop (docs/LOOP.md): feedback events and work-order state records ------------
# Both tables are append-only: a row is never updated or deleted, so the history of what the
# channel systems and the call centre reported stays auditable next to the decisions.

FEEDBACK_EVENTS = ("delivered", "failed", "responded", "converted", "opted_out")
ORDER_STATES = ("accepted", "reviewed", "handled")  # 受理 → 审核 → 处理


class FeedbackEvent(SQLModel, table=True):
    """One delivery/response/conversion/opt-out event 营销反馈 matched to a stored decision.

    `event_key` is the sha256 of the event's content (run, subscriber, service, channel, event,
    time, revenue), so loading the same file twice adds nothing.
    """

    __tablename__ = "feedback_event"
    __table_args__ = (Index("ix_feedback_run_seq", "run_id", "seq"), Index("ix_feedback_msisdn", "msisdn"))

    event_key: str = Field(primary_key=True)
    run_id: str
    seq: int  # the decision the event belongs to
    msisdn: str
    service: str  # as in the file ("" for subscriber-level treatments)
    channel: str
    event: str  # one of FEEDBACK_EVENTS
    event_time: str  # ISO date or date-time, as given
    event_date: str = Field(index=True)  # YYYY-MM-DD of event_time
    revenue: float | None = None
    source: str = ""  # the file (or `orders`) it came from
    loaded_at: datetime


class WorkOrderEvent(SQLModel, table=True):
    """One state record of a work order 工单 (an outbound_call / account_manager decision).

    The order is the treated decision (run_id, seq), `accepted` when its run committed; each
    later state (reviewed, handled) is a new row; the current state is the latest row.
    """

    __tablename__ = "work_order_event"
    __table_args__ = (Index("ix_work_order_run_seq", "run_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str
    seq: int
    state: str  # one of ORDER_STATES
    result_code: str = ""
    note: str = Field(default="", sa_column=Column(Text))
    actor: str  # who
    at: str  # when (ISO date-time, as given or now)
    source: str = ""  # `cli` or the imported file
    recorded_at: datetime
