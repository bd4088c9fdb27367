"""The hash chain of a run's traces detects a changed, deleted or reordered record, in both
storage formats (docs/TRACE.md): compressed blocks (format 2, what runs write) and one row per
trace (format 1, runs stored before it, which must still verify)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import text

import tracestore
from engine.base.jsonfile import canonical
from engine.store import blocks
from engine.store.chain import GENESIS, seal
from engine.store.verify import verify_chain
from engine.store.read import stored_traces
from engine.store.write import RunRows, store_run
from engine.store.database import get_engine

RUN = "2026-11-15.test"
N = 5


def _rows(n: int = N) -> RunRows:
    decisions = [(RUN, seq, f"138{seq:08d}", "reading", "long_term_silent", "treat", "silent_3_months", "won",
                  "lts_sms_usage_tips", "sms", f"尊敬的客户 {seq}") for seq in range(n)]
    payloads = [canonical({"msisdn": d[2], "service": d[3], "fired": ["silent_3m"], "n": d[1], "text": "操心\u2028"})
                for d in decisions]
    links = seal(decisions, payloads)
    traces = [(RUN, seq, payloads[seq], prev, h) for seq, (prev, h) in enumerate(links)]
    run = dict(id=RUN, as_of="2026-11-15", started_at=datetime(2026, 11, 25, tzinfo=timezone.utc), chain_head=links[-1][1],
               chain_count=len(links), decisions=len(links))
    return RunRows(run=run, decisions=decisions, traces=traces, out_of_scope=[], model_versions={"value": "v1"})


@pytest.fixture(params=["blocks", "format1"])
def stored(request, db_url, tmp_path, monkeypatch):
    """(db url, format): a stored five-record run, on SQLite and on PostgreSQL (the conftest's
    db_url), in blocks of two records (so records span blocks) or in the format-1 tables."""
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    if request.param == "blocks":
        monkeypatch.setattr(blocks, "TRACE_BLOCK", 2)
        store_run(db_url, _rows())
    else:
        tracestore.store_format1(db_url, _rows())
    return db_url, request.param


@pytest.fixture
def db(stored):
    return stored[0]


def execute(url, sql, **params):
    with get_engine(url).begin() as conn:
        conn.execute(text(sql), params)


def change_payload(stored, seq, old, new):
    url, form = stored
    if form == "blocks":
        tracestore.replace_payload(url, RUN, seq, lambda p: p.replace(old, new))
    else:
        execute(url, f"UPDATE trace SET payload = replace(payload, '{old}', '{new}') WHERE run_id = :r AND seq = :s",
                r=RUN, s=seq)


def delete_trace(stored, seq):
    url, form = stored
    if form == "blocks":
        tracestore.delete_trace(url, RUN, seq)
    else:
        execute(url, "DELETE FROM trace WHERE run_id = :r AND seq = :s", r=RUN, s=seq)


def test_an_untouched_run_verifies(db):
    result = verify_chain(RUN, db)
    assert result.ok and result.first_bad_seq is None and result.count == 5


def test_blocks_hold_the_payloads_byte_for_byte_and_the_chain_links(stored):
    url, form = stored
    rows = _rows()
    with get_engine(url).connect() as conn:
        assert [tuple(t) for t in stored_traces(conn, RUN)] == [tuple(t)[1:] for t in rows.traces]
        in_blocks = conn.execute(text("SELECT count(*) FROM trace_block WHERE run_id = :r"), {"r": RUN}).scalar_one()
        in_rows = conn.execute(text("SELECT count(*) FROM trace WHERE run_id = :r"), {"r": RUN}).scalar_one()
    assert (in_blocks, in_rows) == ((3, 0) if form == "blocks" else (0, 5))


def test_a_changed_decision_field_is_detected(db):
    execute(db, "UPDATE decision SET channel = 'mms' WHERE run_id = :r AND seq = 2", r=RUN)
    result = verify_chain(RUN, db)
    assert not result.ok and result.first_bad_seq == 2


def test_a_changed_payload_is_detected(stored):
    change_payload(stored, 3, "silent_3m", "other")
    result = verify_chain(RUN, stored[0])
    assert not result.ok and result.first_bad_seq == 3


def test_a_deleted_record_is_detected(stored):
    delete_trace(stored, 1)
    execute(stored[0], "DELETE FROM decision WHERE run_id = :r AND seq = 1", r=RUN)
    result = verify_chain(RUN, stored[0])
    assert not result.ok and result.first_bad_seq == 1


def test_a_deleted_tail_is_detected_by_the_count_on_the_run_row(stored):
    delete_trace(stored, 4)
    execute(stored[0], "DELETE FROM decision WHERE run_id = :r AND seq = 4", r=RUN)
    result = verify_chain(RUN, stored[0])
    assert not result.ok and result.first_bad_seq == 4


def test_reordered_records_are_detected(stored):
    # swap records 2 and 3 completely (decision rows and traces), as someone re-sorting the run would
    url, form = stored
    tables = ("decision",) if form == "blocks" else ("decision", "trace")
    for table in tables:
        execute(url, f"UPDATE {table} SET seq = 99 WHERE run_id = :r AND seq = 2", r=RUN)
        execute(url, f"UPDATE {table} SET seq = 2 WHERE run_id = :r AND seq = 3", r=RUN)
        execute(url, f"UPDATE {table} SET seq = 3 WHERE run_id = :r AND seq = 99", r=RUN)
    if form == "blocks":
        tracestore.swap_traces(url, RUN, 2)
    result = verify_chain(RUN, url)
    assert not result.ok and result.first_bad_seq == 2


def test_a_changed_stored_hash_is_detected(stored):
    url, form = stored
    if form == "blocks":
        tracestore.set_hash(url, RUN, 2, "ab" * 32)
    else:
        execute(url, "UPDATE trace SET hash = :h WHERE run_id = :r AND seq = 2", h="ab" * 32, r=RUN)
    result = verify_chain(RUN, url)
    assert not result.ok and result.first_bad_seq == 2


@pytest.fixture
def blocks_db(db_url, tmp_path, monkeypatch):
    """The five-record run in blocks of two only."""
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(blocks, "TRACE_BLOCK", 2)
    store_run(db_url, _rows())
    return db_url


@pytest.mark.parametrize("column", ["payloads", "hashes"])
def test_a_changed_byte_of_a_stored_block_is_detected(blocks_db, column):
    tracestore.flip_block_byte(blocks_db, RUN, 3, column)
    result = verify_chain(RUN, blocks_db)
    assert not result.ok and result.first_bad_seq in (2, 3)  # the block holds seqs 2 and 3


def test_a_block_that_does_not_match_its_count_is_detected(blocks_db):
    url = blocks_db
    execute(url, "UPDATE trace_block SET count = 1 WHERE run_id = :r AND first_seq = 2", r=RUN)
    result = verify_chain(RUN, url)
    assert not result.ok and result.first_bad_seq == 2 and "damaged" in result.message


def test_a_rehashed_forgery_is_caught_by_the_head_on_the_run_row(stored):
    # A forger who edits a record and recomputes every later hash still changes the head.
    url, form = stored
    payloads = tracestore.stored_payloads(url, RUN)
    with get_engine(url).begin() as conn:
        rows = conn.execute(text("SELECT run_id, seq, msisdn, service, pack, decision, reason, arbitration, strategy, "
                                 "channel, message FROM decision WHERE run_id = :r ORDER BY seq"), {"r": RUN}).all()
        rows = [tuple(r) for r in rows]
        rows[0] = rows[0][:5] + ("excluded",) + rows[0][6:]
        conn.execute(text("UPDATE decision SET decision = 'excluded' WHERE run_id = :r AND seq = 0"), {"r": RUN})
        links = seal(rows, payloads, GENESIS)
        if form == "format1":
            for seq, (prev, digest) in enumerate(links):
                conn.execute(text("UPDATE trace SET prev_hash = :p, hash = :h WHERE run_id = :r AND seq = :s"),
                             {"p": prev, "h": digest, "r": RUN, "s": seq})
    if form == "blocks":
        tracestore.rewrite_hashes(url, RUN, [digest for _prev, digest in links])
    result = verify_chain(RUN, url)
    assert not result.ok and "head" in result.message


def test_unknown_run(db):
    assert not verify_chain("nope", db).ok
