"""`verify_chain`: recompute a stored run's hash chain (engine/store/chain.py) and compare.

It reads the run's decision rows and its traces in either storage format (engine/store/read.py
`stored_traces`: compressed blocks or format-1 rows) and recomputes every hash from the payload
texts and decision fields, so how the records are stored does not change what is verified. A
trace block that does not decode is reported at its first record.
"""

from __future__ import annotations

from sqlalchemy import text

from engine.store.blocks import BlockCorrupt
from engine.store.chain import DECISION_FIELDS, GENESIS, VerifyResult, link
from engine.store.database import get_engine
from engine.store.read import stored_traces


def verify_chain(run_id: str, db_url: str | None = None) -> VerifyResult:
    """Recompute the chain of `run_id` from the stored decisions and traces and compare.

    Detects a changed field or payload, a deleted, inserted or reordered record, and a
    truncated chain (head and count are kept on the run row).
    """
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
