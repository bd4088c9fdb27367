"""Reading and tampering with stored traces and out-of-scope rows in either storage format
(docs/TRACE.md), behind the engine's back, as someone with write access to the database would.

Format 2 (what runs write now) keeps traces in compressed `trace_block` rows and out-of-scope
facts in `out_of_scope_block` rows: a tamperer decodes a block, alters it, re-encodes it and
writes it back (or alters the stored bytes directly). Format 1 (runs stored before) keeps one
`trace` / `out_of_scope` row each; `store_format1` writes a run that way, as the writer of
those releases did, so the readers and `audit verify` can be held to it.
"""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from engine.store import blocks
from engine.store.database import normalise_url


@contextmanager
def transaction(db_url: str):
    """One transaction on a connection of our own (not the engine's pool)."""
    engine = create_engine(normalise_url(db_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def stored_payloads(db_url: str, run_id: str) -> list[str]:
    """Every stored payload text of the run, seq order, whichever format."""
    from engine.store.read import stored_traces

    with transaction(db_url) as conn:
        return [payload for _seq, payload, _prev, _hash in stored_traces(conn, run_id)]


def _block_of(conn, run_id: str, seq: int):
    row = conn.execute(text("SELECT block, first_seq, count, hashes, payloads FROM trace_block WHERE run_id = :r "
                            "AND first_seq <= :s ORDER BY first_seq DESC LIMIT 1"), {"r": run_id, "s": seq}).first()
    assert row is not None and seq < row.first_seq + row.count, f"no trace block holds seq {seq}"
    return row


def edit_block(db_url: str, run_id: str, seq: int, change) -> None:
    """Decode the block holding `seq`, let `change(payloads, hashes, index)` alter its lists in
    place, re-encode and store it (count follows the lists)."""
    with transaction(db_url) as conn:
        row = _block_of(conn, run_id, seq)
        payloads = blocks.decode_payloads(row.payloads, row.count)
        hashes = blocks.decode_hashes(row.hashes, row.count)
        change(payloads, hashes, seq - row.first_seq)
        assert len(payloads) == len(hashes)
        conn.execute(text("UPDATE trace_block SET count = :c, payloads = :p, hashes = :h WHERE run_id = :r "
                          "AND block = :b"),
                     {"c": len(payloads), "p": blocks.encode_payloads(payloads), "h": blocks.encode_hashes(hashes),
                      "r": run_id, "b": row.block})


def replace_payload(db_url: str, run_id: str, seq: int, new) -> None:
    """Set the payload of record `seq` (a text, or a function of the old text)."""
    def change(payloads, _hashes, i):
        old = payloads[i]
        payloads[i] = new(old) if callable(new) else new
        assert payloads[i] != old, "the tampering changed nothing"
    edit_block(db_url, run_id, seq, change)


def delete_trace(db_url: str, run_id: str, seq: int) -> None:
    def change(payloads, hashes, i):
        del payloads[i], hashes[i]
    edit_block(db_url, run_id, seq, change)


def set_hash(db_url: str, run_id: str, seq: int, digest: str) -> None:
    def change(_payloads, hashes, i):
        hashes[i] = digest
    edit_block(db_url, run_id, seq, change)


def swap_traces(db_url: str, run_id: str, seq: int) -> None:
    """Swap the traces (payload and hash) of records seq and seq+1 (in one block or two)."""
    taken = {}

    def take(payloads, hashes, i):
        taken[len(taken)] = (payloads[i], hashes[i])

    edit_block(db_url, run_id, seq, take)
    edit_block(db_url, run_id, seq + 1, take)

    def put(which):
        def change(payloads, hashes, i):
            payloads[i], hashes[i] = taken[which]
        return change

    edit_block(db_url, run_id, seq, put(1))
    edit_block(db_url, run_id, seq + 1, put(0))


def flip_block_byte(db_url: str, run_id: str, seq: int, column: str = "payloads") -> None:
    """Change one byte of the stored (compressed) bytes of the block holding `seq`."""
    with transaction(db_url) as conn:
        row = _block_of(conn, run_id, seq)
        stored = bytearray(getattr(row, column))
        stored[len(stored) // 2] ^= 0x01
        conn.execute(text(f"UPDATE trace_block SET {column} = :v WHERE run_id = :r AND block = :b"),
                     {"v": bytes(stored), "r": run_id, "b": row.block})


def rewrite_hashes(db_url: str, run_id: str, hashes: list[str]) -> None:
    """Store these chain hashes (seq order) in the run's blocks, as a forger recomputing the chain would."""
    with transaction(db_url) as conn:
        for row in conn.execute(text("SELECT block, first_seq, count FROM trace_block WHERE run_id = :r"),
                                {"r": run_id}).all():
            part = hashes[row.first_seq:row.first_seq + row.count]
            conn.execute(text("UPDATE trace_block SET hashes = :h WHERE run_id = :r AND block = :b"),
                         {"h": blocks.encode_hashes(part), "r": run_id, "b": row.block})


def edit_scope(db_url: str, run_id: str, change) -> None:
    """Decode the run's first out-of-scope block, let `change(rows)` alter the list of
    (msisdn, service, segment) in place, re-encode and store it."""
    with transaction(db_url) as conn:
        row = conn.execute(text("SELECT block, count, rows FROM out_of_scope_block WHERE run_id = :r "
                                "ORDER BY block LIMIT 1"), {"r": run_id}).first()
        assert row is not None, "the run has no out-of-scope block"
        rows = blocks.decode_scope(row.rows, row.count)
        change(rows)
        conn.execute(text("UPDATE out_of_scope_block SET count = :c, rows = :v, first_msisdn = :f, "
                          "last_msisdn = :l WHERE run_id = :r AND block = :b"),
                     {"c": len(rows), "v": blocks.encode_scope(rows), "f": rows[0][0], "l": rows[-1][0],
                      "r": run_id, "b": row.block})


def to_format1(db_url: str, run_id: str) -> None:
    """Rewrite a stored run as a release before storage format 2 would have stored it: one
    `trace` and one `out_of_scope` row each, no blocks, sealed over those rows (the same
    payloads and chain; the seal is made again as that release made it)."""
    from engine.store.bulk import insert_rows
    from engine.store.read import scope_rows, stored_traces
    from engine.store.signing import sign_run

    with transaction(db_url) as conn:
        traces = [(run_id, *t) for t in stored_traces(conn, run_id)]
        outside = [(run_id, *r) for r in scope_rows(conn, run_id)]
        for table in ("trace_block", "out_of_scope_block", "run_seal"):
            conn.execute(text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": run_id})
        insert_rows(conn, "trace", ("run_id", "seq", "payload", "prev_hash", "hash"), traces)
        insert_rows(conn, "out_of_scope", ("run_id", "msisdn", "service", "segment"), outside)
        sign_run(conn, run_id)


def store_format1(db_url: str, rows) -> None:
    """Store a run (engine.store.write.RunRows) as releases before storage format 2 did: one
    `trace` row and one `out_of_scope` row each, sealed, in one transaction."""
    from engine.store.bulk import insert_rows
    from engine.store.chain import DECISION_FIELDS
    from engine.store.database import get_engine
    from engine.store.signing import sign_run
    from engine.store.tables import Run

    with get_engine(db_url).begin() as conn:
        insert_rows(conn, "decision", DECISION_FIELDS, list(rows.decisions))
        insert_rows(conn, "trace", ("run_id", "seq", "payload", "prev_hash", "hash"), list(rows.traces))
        conn.execute(Run.__table__.insert(), dict(rows.run, status="succeeded"))
        insert_rows(conn, "out_of_scope", ("run_id", "msisdn", "service", "segment"), list(rows.out_of_scope))
        sign_run(conn, rows.run["id"])
