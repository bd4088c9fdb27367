"""Writing a run to the database: the run lock, and all rows of a run in one transaction.

Decision rows go in one per decision; traces and out-of-scope facts go in compressed blocks
(storage format 2, engine/store/blocks.py: `trace_block`, `out_of_scope_block`). Rows go in as tuples (engine/store/bulk.py: COPY on PostgreSQL, executemany on SQLite), in batches of
BATCH rows, all inside one transaction together with the `run` row: either the whole run is
there (status `succeeded`) or none of it is. After a failure only a `failed` run row is
written, in its own transaction, so operations can see that a run was attempted.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from engine.base.diagnostics import Refused
from engine.base.jsonfile import utc_now
from engine.base.vocabulary import FAILED, SUCCEEDED
from engine.store.blocks import ScopeBlocks, TraceBlocks
from engine.store.bulk import insert_rows
from engine.store.chain import DECISION_FIELDS
from engine.store.database import get_engine
from engine.store.signing import sign_run
from engine.store.tables import ModelVersion, Run, RunLock

BATCH = 50_000
LOCK_NAME = "nightly"


class RunRefused(Refused):
    """Another run holds the lock of this database (exit code 3, engine/base/exitcodes.py)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def acquire_lock(db_url: str | None, run_id: str) -> None:
    """Take the run lock of the database, or raise RunRefused naming who holds it.

    A lock left by a process of this host that no longer exists is stale and taken over; a lock
    held from another host cannot be checked and is respected.
    """
    engine = get_engine(db_url)
    host, pid = socket.gethostname(), os.getpid()
    for _attempt in range(3):
        try:
            with engine.begin() as conn:
                conn.execute(RunLock.__table__.insert(),
                             {"name": LOCK_NAME, "run_id": run_id, "pid": pid, "host": host, "acquired_at": utc_now()})
            return
        except IntegrityError:
            with engine.begin() as conn:
                held = conn.execute(text("SELECT run_id, pid, host, acquired_at FROM run_lock WHERE name = :name"),
                                    {"name": LOCK_NAME}).first()
                if held is None:
                    continue  # released meanwhile: try again
                if held.host == host and not _alive(held.pid):
                    conn.execute(text("DELETE FROM run_lock WHERE name = :name AND run_id = :run_id"),
                                 {"name": LOCK_NAME, "run_id": held.run_id})
                    continue  # stale lock of a dead process: take it over
                raise RunRefused(
                    f"another run ({held.run_id}, pid {held.pid} on {held.host}, since {held.acquired_at}) "
                    f"is using this database; wait for it to finish, or, if that process is gone on "
                    f"another host, delete its row from the run_lock table")
    raise RunRefused("could not take the run lock (it kept changing hands); try again")


def release_lock(db_url: str | None, run_id: str) -> None:
    """Release the lock if this run holds it."""
    with get_engine(db_url).begin() as conn:
        conn.execute(text("DELETE FROM run_lock WHERE name = :name AND run_id = :run_id"),
                     {"name": LOCK_NAME, "run_id": run_id})


@dataclass
class RunRows:
    """Everything one run stores, as plain tuples in table column order."""

    run: dict  # columns of the `run` table
    decisions: Sequence[tuple]  # DECISION_FIELDS order
    traces: Sequence[tuple]  # (run_id, seq, payload (text or its UTF-8 bytes), prev_hash, hash)
    out_of_scope: Sequence[tuple]  # (run_id, msisdn, service, segment)
    model_versions: dict[str, str]


class TraceRows(Sequence):
    """`trace` rows (run_id, seq, payload, prev_hash, hash) whose payloads are held as UTF-8 bytes
    and decoded only when a batch is written (a str holding any Chinese takes 2-4 bytes a character)."""

    def __init__(self, run_id: str, payloads: Sequence[bytes], links: Sequence[tuple[str, str]]):
        if len(payloads) != len(links):
            raise ValueError(f"{len(payloads)} payloads but {len(links)} chain links")
        self.run_id, self.payloads, self.links = run_id, payloads, links

    def __len__(self) -> int:
        return len(self.links)

    def _row(self, seq: int) -> tuple:
        prev, digest = self.links[seq]
        return (self.run_id, seq, self.payloads[seq].decode("utf-8"), prev, digest)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._row(seq) for seq in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._row(index)


def write_batch(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert rows (tuples): COPY on PostgreSQL, executemany on SQLite (engine/store/bulk.py).
    Tests patch this to inject failures."""
    insert_rows(conn, table, columns, rows)


def _write_all(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    for start in range(0, len(rows), BATCH):
        write_batch(conn, table, columns, rows[start:start + BATCH])


TRACE_COLUMNS = ("run_id", "seq", "payload", "prev_hash", "hash")  # the traces the writer is given
TRACE_BLOCK_COLUMNS = ("run_id", "block", "first_seq", "count", "hashes", "payloads")
OUT_OF_SCOPE_COLUMNS = ("run_id", "msisdn", "service", "segment")  # the out-of-scope rows the writer is given
OUT_OF_SCOPE_BLOCK_COLUMNS = ("run_id", "block", "first_msisdn", "last_msisdn", "count", "rows")
SQLITE_CACHE_KIB = 65_536  # page cache of the run's own connection while it writes (default: 2 MB)


class RunWriter:
    """One run's rows written as they are produced, inside one transaction.

    `with RunWriter(db_url) as writer:` opens the transaction; `decisions_and_traces` may be
    called any number of times (a batch at a time: the run streams its rows, no full list is
    held; traces are gathered into compressed blocks, which may span calls); `finish` writes the
    last trace block, the run row (status `succeeded`), the out-of-scope blocks and the model
    versions; leaving the block without an exception commits, with one rolls everything back.
    Until the commit no other connection sees any of it (a killed process leaves nothing).
    """

    def __init__(self, db_url: str | None):
        self.engine = get_engine(db_url)
        self._begin = None
        self.conn: Connection | None = None
        self._blocks: TraceBlocks | None = None
        self._scope: ScopeBlocks | None = None
        self._block_no, self._next_seq = 0, 0  # ready blocks given to `sealed_blocks` so far

    def __enter__(self) -> "RunWriter":
        self._begin = self.engine.begin()
        self.conn = self._begin.__enter__()
        if self.conn.dialect.name == "sqlite":  # this connection only; reset when it goes back to the pool
            self.conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        return self

    def decisions_and_traces(self, decisions: Sequence[tuple], traces: Sequence[tuple]) -> None:
        """Decision rows (DECISION_FIELDS order) and their traces (TRACE_COLUMNS order), seq order."""
        _write_all(self.conn, "decision", DECISION_FIELDS, decisions)
        if len(traces):
            if self._blocks is None:
                self._blocks = TraceBlocks(traces[0][0])
            _write_all(self.conn, "trace_block", TRACE_BLOCK_COLUMNS, self._blocks.add(traces))

    def sealed_blocks(self, decisions: Sequence[tuple], blocks: Sequence[tuple]) -> None:
        """Decision rows (DECISION_FIELDS order) and their traces as ready blocks, seq order: a
        night's workers compress the payloads (engine/night/slicerun.py) and the parent, which
        hashed them, gives (first_seq, count, hashes, payloads) per block. The blocks are numbered
        here; each must start where the one before ended (a block may hold fewer than
        TRACE_BLOCK records: a slice's last one). Not mixed with `decisions_and_traces`."""
        if self._blocks is not None:
            raise ValueError("a run's traces come either as rows or as ready blocks, not both")
        _write_all(self.conn, "decision", DECISION_FIELDS, decisions)
        rows = []
        for first_seq, count, hashes, payloads in blocks:
            if first_seq != self._next_seq or count < 1:
                raise ValueError(f"trace block at seq {first_seq} (count {count}) does not follow on seq {self._next_seq}")
            run_id = decisions[0][0] if decisions else None
            rows.append((run_id, self._block_no, first_seq, count, hashes, payloads))
            self._block_no, self._next_seq = self._block_no + 1, first_seq + count
        _write_all(self.conn, "trace_block", TRACE_BLOCK_COLUMNS, rows)

    def out_of_scope(self, rows: Sequence[tuple]) -> None:
        """(run_id, msisdn, service, segment) rows of facts in no pack's scope, any number of calls,
        each call's rows after the previous call's in (msisdn, service) order (blocks span calls)."""
        if len(rows):
            if self._scope is None:
                self._scope = ScopeBlocks(rows[0][0])
            _write_all(self.conn, "out_of_scope_block", OUT_OF_SCOPE_BLOCK_COLUMNS, self._scope.add(rows))

    def finish(self, run: dict, out_of_scope: Sequence[tuple], model_versions: dict[str, str]) -> None:
        """The last blocks, the run row (succeeded), `out_of_scope` rows not given to `out_of_scope`
        yet (after those, in key order), the model versions and the signed seal."""
        for buffer in (self._blocks, self._scope):
            if buffer is not None and buffer.run_id != run["id"]:
                raise ValueError(f"rows of run {buffer.run_id} given to run {run['id']}")
        if self._blocks is not None:
            _write_all(self.conn, "trace_block", TRACE_BLOCK_COLUMNS, self._blocks.rest())
        run = dict(run, status=SUCCEEDED)
        self.conn.execute(Run.__table__.insert(), run)
        self.out_of_scope(out_of_scope)
        if self._scope is not None:
            _write_all(self.conn, "out_of_scope_block", OUT_OF_SCOPE_BLOCK_COLUMNS, self._scope.rest())
        _record_models(self.conn, run["id"], model_versions)
        sign_run(self.conn, run["id"])  # the signed seal, in the same transaction (engine/store/signing.py)

    def __exit__(self, *exc) -> None:
        try:
            if self.conn is not None and self.conn.dialect.name == "sqlite":
                try:
                    self.conn.exec_driver_sql("PRAGMA cache_size = -2000")
                except Exception:  # the transaction's own outcome matters more than the pragma
                    pass
        finally:
            self._begin.__exit__(*exc)


def store_run(db_url: str | None, rows: RunRows) -> None:
    """Write a run and all its rows in one transaction (nothing is kept if anything fails)."""
    with RunWriter(db_url) as writer:
        writer.decisions_and_traces(rows.decisions, rows.traces)
        writer.finish(rows.run, rows.out_of_scope, rows.model_versions)


def _record_models(conn: Connection, run_id: str, versions: dict[str, str]) -> None:
    known = {(r.name, r.version) for r in conn.execute(text("SELECT name, version FROM model_version"))}
    new = [(name, version, run_id, utc_now()) for name, version in sorted(versions.items())
           if (name, version) not in known]
    if new:
        conn.execute(ModelVersion.__table__.insert(),
                     [dict(name=n, version=v, first_run_id=r, recorded_at=a) for n, v, r, a in new])


def store_failed(db_url: str | None, run: dict, error: str) -> None:
    """Record that a run was attempted and failed (no decisions, traces or files)."""
    row = dict(run, status=FAILED, error=error[:4000], finished_at=utc_now())
    with get_engine(db_url).begin() as conn:
        conn.execute(Run.__table__.insert(), row)

