"""The hash chain over a run's traces: every stored decision is sealed, in order.

Record n of a run (seq = n, rows sorted by msisdn, service) is sealed by

    hash_n = sha256( prev_hash_n  +  record_bytes(decision row fields, trace payload) )

with prev_hash_0 = GENESIS and prev_hash_n = hash_(n-1). `record_bytes` is the canonical JSON
array of the decision row fields (DECISION_FIELDS order), a newline, and the canonical JSON
payload text exactly as stored. The run row keeps the head (last hash) and the count, so
changing, deleting, inserting or reordering any record — or dropping the tail — is detected
by `verify_chain`. docs/TRACE.md is the auditor's description of this.

How the records are stored (one row each, or compressed blocks: engine/store/blocks.py) does
not change the chain: it is computed over the payload texts and decision fields, and
`verify_chain` recomputes it from what it reads back (engine/store/read.py `stored_traces`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import text

from engine.base.jsonfile import canonical

GENESIS = "0" * 64
# Decision row fields covered by the hash, in this order.
DECISION_FIELDS = ("run_id", "seq", "msisdn", "service", "pack", "decision", "reason", "arbitration",
                   "strategy", "channel", "message")


def record_bytes(row: Sequence[Any], payload: str) -> bytes:
    """The bytes one chain link seals: the decision fields (DECISION_FIELDS order) and the payload."""
    return (canonical(list(row)) + "\n" + payload).encode("utf-8")


def link(prev_hash: str, row: Sequence[Any], payload: str) -> str:
    """hash_n from hash_(n-1) and record n."""
    return hashlib.sha256(prev_hash.encode("ascii") + record_bytes(row, payload)).hexdigest()


def seal(rows: Sequence[Sequence[Any]], payloads: Sequence[str], prev_hash: str = GENESIS) -> list[tuple[str, str]]:
    """(prev_hash, hash) for each record, continuing a chain from `prev_hash`."""
    out: list[tuple[str, str]] = []
    sha = hashlib.sha256
    for row, payload in zip(rows, payloads):
        digest = sha(prev_hash.encode("ascii") + record_bytes(row, payload)).hexdigest()
        out.append((prev_hash, digest))
        prev_hash = digest
    return out


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of `verify_chain`: ok, the first record that does not verify (None if ok), and why."""

    ok: bool
    first_bad_seq: int | None
    message: str
    count: int = 0


def verify_chain(run_id: str, db_url: str | None = None) -> VerifyResult:
    """Recompute the chain of `run_id` from the stored decisions and traces and compare.

    Detects a changed field or payload, a deleted, inserted or reordered record, and a
    truncated chain (head and count are kept on the run row).
    """
    from engine.store.blocks import BlockCorrupt
    from engine.store.database import get_engine
    from engine.store.read import stored_traces  # read.py imports this module

    engine = get_engine(db_url)
    columns = ", ".join(f"d.{f}" for f in DECISION_FIELDS)
    # Stream both cursors (PostgreSQL: server-side cursors; a client-side result would hold every
    # payload of the run in memory at once). SQLite reads lazily anyway and ignores the option.
    with engine.connect().execution_options(stream_results=True, max_row_buffer=5000) as conn:
        run = conn.execute(text("SELECT status, chain_head, chain_count FROM run WHERE id = :id"),
                           {"id": run_id}).first()
        if run is None:
            return VerifyResult(False, None, f"no run {run_id!r} in this database")
        if run.status != "succeeded":
            return VerifyResult(False, None, f"run {run_id} has status {run.status}: it stored no decisions")
        decisions = conn.execute(text(f"SELECT {columns} FROM decision d WHERE d.run_id = :id ORDER BY d.seq"),
                                 {"id": run_id})
        prev = GENESIS
        expected_seq = 0
        traces = stored_traces(conn, run_id)  # both storage formats (engine/store/read.py)
        while True:
            try:
                trace = next(traces, None)
            except BlockCorrupt as error:
                seq = getattr(error, "seq", expected_seq)
                return VerifyResult(False, seq, f"record seq {seq}: stored trace block is damaged ({error})",
                                    expected_seq)
            if trace is None:
                break
            seq, payload, prev_hash, stored_hash = trace
            decision = decisions.fetchone()
            where = f"record seq {expected_seq}"
            if seq != expected_seq:
                return VerifyResult(False, expected_seq, f"{where} is missing (next stored trace is seq {seq})",
                                    expected_seq)
            if decision is None or decision.seq != seq:
                return VerifyResult(False, expected_seq, f"{where}: its decision row is missing", expected_seq)
            if prev_hash != prev:
                return VerifyResult(False, expected_seq, f"{where}: prev_hash does not match the previous hash",
                                    expected_seq)
            digest = link(prev, tuple(decision), payload)
            if digest != stored_hash:
                return VerifyResult(False, expected_seq, f"{where}: content changed (hash mismatch)", expected_seq)
            prev = digest
            expected_seq += 1
        if decisions.fetchone() is not None:
            return VerifyResult(False, expected_seq, f"record seq {expected_seq}: decision without a trace",
                                expected_seq)
    if expected_seq != run.chain_count:
        return VerifyResult(False, expected_seq, f"chain has {expected_seq} records, the run row says {run.chain_count}",
                            expected_seq)
    if prev != (run.chain_head or GENESIS):
        return VerifyResult(False, max(expected_seq - 1, 0), "last hash differs from the head stored on the run row",
                            expected_seq)
    return VerifyResult(True, None, f"run {run_id}: {expected_seq} records verified", expected_seq)
