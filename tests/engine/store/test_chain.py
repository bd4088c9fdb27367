"""The hash chain of a run's traces detects a changed, deleted or reordered record."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from engine.base.jsonfile import canonical
from engine.store.chain import GENESIS, seal, verify_chain
from engine.store.write import RunRows, store_run
from engine.store.database import dispose_all, get_engine

RUN = "2026-11-15.test"


@pytest.fixture
def db(db_url, tmp_path, monkeypatch):
    """A stored five-record run, on SQLite and on PostgreSQL (the conftest's db_url)."""
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    url = db_url
    decisions = [(RUN, seq, f"1380000000{seq}", "reading", "long_term_silent", "treat", "silent_3_months", "won",
                  "lts_sms_usage_tips", "sms", f"尊敬的客户 {seq}") for seq in range(5)]
    payloads = [canonical({"msisdn": d[2], "service": d[3], "fired": ["silent_3m"], "n": d[1]}) for d in decisions]
    links = seal(decisions, payloads)
    traces = [(RUN, seq, payloads[seq], prev, h) for seq, (prev, h) in enumerate(links)]
    run = dict(id=RUN, as_of="2026-11-15", started_at=datetime(2026, 11, 25, tzinfo=timezone.utc), chain_head=links[-1][1],
               chain_count=len(links), decisions=len(links))
    store_run(url, RunRows(run=run, decisions=decisions, traces=traces, out_of_scope=[], model_versions={"value": "v1"}))
    yield url


def execute(url, sql, **params):
    with get_engine(url).begin() as conn:
        conn.execute(text(sql), params)


def test_an_untouched_run_verifies(db):
    result = verify_chain(RUN, db)
    assert result.ok and result.first_bad_seq is None and result.count == 5


def test_a_changed_decision_field_is_detected(db):
    execute(db, "UPDATE decision SET channel = 'mms' WHERE run_id = :r AND seq = 2", r=RUN)
    result = verify_chain(RUN, db)
    assert not result.ok and result.first_bad_seq == 2


def test_a_changed_payload_is_detected(db):
    execute(db, "UPDATE trace SET payload = replace(payload, 'silent_3m', 'other') WHERE run_id = :r AND seq = 3", r=RUN)
    result = verify_chain(RUN, db)
    assert not result.ok and result.first_bad_seq == 3


def test_a_deleted_record_is_detected(db):
    execute(db, "DELETE FROM trace WHERE run_id = :r AND seq = 1", r=RUN)
    execute(db, "DELETE FROM decision WHERE run_id = :r AND seq = 1", r=RUN)
    result = verify_chain(RUN, db)
    assert not result.ok and result.first_bad_seq == 1


def test_a_deleted_tail_is_detected_by_the_count_on_the_run_row(db):
    execute(db, "DELETE FROM trace WHERE run_id = :r AND seq = 4", r=RUN)
    execute(db, "DELETE FROM decision WHERE run_id = :r AND seq = 4", r=RUN)
    result = verify_chain(RUN, db)
    assert not result.ok and result.first_bad_seq == 4


def test_reordered_records_are_detected(db):
    # swap records 1 and 2 completely (both tables), as someone re-sorting the run would
    for table in ("trace", "decision"):
        execute(db, f"UPDATE {table} SET seq = 99 WHERE run_id = :r AND seq = 1", r=RUN)
        execute(db, f"UPDATE {table} SET seq = 1 WHERE run_id = :r AND seq = 2", r=RUN)
        execute(db, f"UPDATE {table} SET seq = 2 WHERE run_id = :r AND seq = 99", r=RUN)
    result = verify_chain(RUN, db)
    assert not result.ok and result.first_bad_seq == 1


def test_a_rehashed_forgery_is_caught_by_the_head_on_the_run_row(db):
    # A forger who edits a record and recomputes every later hash still changes the head.
    with get_engine(db).begin() as conn:
        rows = conn.execute(text("SELECT run_id, seq, msisdn, service, pack, decision, reason, arbitration, strategy, "
                                 "channel, message FROM decision WHERE run_id = :r ORDER BY seq"), {"r": RUN}).all()
        payloads = [p for (p,) in conn.execute(text("SELECT payload FROM trace WHERE run_id = :r ORDER BY seq"),
                                                 {"r": RUN})]
        rows = [tuple(r) for r in rows]
        rows[0] = rows[0][:5] + ("excluded",) + rows[0][6:]
        conn.execute(text("UPDATE decision SET decision = 'excluded' WHERE run_id = :r AND seq = 0"), {"r": RUN})
        for seq, (prev, digest) in enumerate(seal(rows, payloads, GENESIS)):
            conn.execute(text("UPDATE trace SET prev_hash = :p, hash = :h WHERE run_id = :r AND seq = :s"),
                         {"p": prev, "h": digest, "r": RUN, "s": seq})
    result = verify_chain(RUN, db)
    assert not result.ok


def test_unknown_run(db):
    assert not verify_chain("nope", db).ok
