"""Storage format 2 (compressed blocks) against format 1 (one row per trace and out-of-scope fact):
a run stored before format 2 must still explain, verify, export and report the same, and a
tampered block must be caught. On the shared run (tests/auditrun.py), SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import tracestore
from auditrun import copy_db, query
from engine.outputs.audit import verify_run
from engine.outputs.explain import explain
from engine.outputs.export import export_text
from engine.outputs.reports.run_report import run_report
from engine.outputs.views import stored_segments
from engine.store.database import dispose_all, get_engine
from engine.store.read import decision_records, out_of_scope_records, scope_rows


@pytest.fixture
def both(run, tmp_path, monkeypatch):
    """(format-2 database, format-1 database): copies of the shared run, the second rewritten
    as a release before format 2 stored it (re-sealed into a private copy of the audit log, so
    the session's log keeps one seal per run)."""
    from engine.store import signing

    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    private_log = tmp_path / "audit-seals.log"
    private_log.write_bytes(signing.log_path().read_bytes())
    private_log.chmod(0o600)
    monkeypatch.setenv("REKINDLE_AUDIT_LOG", str(private_log))
    new, old = copy_db(run, tmp_path / "new.db"), copy_db(run, tmp_path / "old.db")
    tracestore.to_format1(old, run.run_id)
    yield new, old
    dispose_all()


def _counts(url, run_id):
    return {table: query(url, f"SELECT count(*) AS n FROM {table} WHERE run_id = ?", (run_id,))[0]["n"]
            for table in ("trace", "trace_block", "out_of_scope", "out_of_scope_block")}


def test_a_run_stored_before_blocks_still_explains_verifies_and_exports_the_same(run, both):
    new, old = both
    n = query(new, "SELECT count(*) AS n FROM decision WHERE run_id = ?", (run.run_id,))[0]["n"]
    assert _counts(new, run.run_id)["trace"] == 0 and _counts(new, run.run_id)["trace_block"] > 0
    assert _counts(old, run.run_id) == {"trace": n, "trace_block": 0, "out_of_scope": _counts(old, run.run_id)[
        "out_of_scope"], "out_of_scope_block": 0} and _counts(old, run.run_id)["out_of_scope"] > 0

    for url in (new, old):
        report = verify_run(run.run_id, url)
        assert report.ok and report.count == n, report.message
    for kind in ("treat", "excluded", "held_out", "lost", "not_selected", "out_of_scope"):
        msisdn = run.examples[kind]
        assert explain(run.run_id, msisdn, db_url=new) == explain(run.run_id, msisdn, db_url=old)
        assert out_of_scope_records(run.run_id, msisdn, new) == out_of_scope_records(run.run_id, msisdn, old)
    assert any(f["decision"] == "out_of_scope" for f in explain(run.run_id, run.examples["out_of_scope"],
                                                                db_url=old)["facts"])
    assert list(decision_records(run.run_id, new)) == list(decision_records(run.run_id, old))
    for channel in ("sms", "outbound_call"):
        assert export_text(run.run_id, channel, new)[1] == export_text(run.run_id, channel, old)[1]
    assert run_report(run.run_id, new) == run_report(run.run_id, old)
    assert list(stored_segments(run.run_id, None, new)) == list(stored_segments(run.run_id, None, old))


def test_out_of_scope_blocks_hold_every_fact_once_in_key_order(run):
    with get_engine(run.db_url).connect() as conn:
        rows = list(scope_rows(conn, run.run_id))
        decided = conn.execute(text("SELECT count(*) FROM decision WHERE run_id = :r"), {"r": run.run_id}).scalar_one()
        facts = conn.execute(text("SELECT facts FROM run WHERE id = :r"), {"r": run.run_id}).scalar_one()
    assert rows and rows == sorted(rows) and len({r[:2] for r in rows}) == len(rows)
    assert len(rows) + decided == facts  # every fact is decided or out of scope


def test_a_changed_byte_of_a_trace_block_or_a_changed_hash_is_caught(run, tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    seq = query(run.db_url, "SELECT MIN(seq) AS s FROM decision WHERE run_id = ? AND decision = 'treat'",
                (run.run_id,))[0]["s"]
    first = query(run.db_url, "SELECT MAX(first_seq) AS f FROM trace_block WHERE run_id = ? AND first_seq <= ?",
                  (run.run_id, seq))[0]["f"]
    flipped = copy_db(run, tmp_path / "flipped.db")
    tracestore.flip_block_byte(flipped, run.run_id, seq)
    report = verify_run(run.run_id, flipped)
    assert not report.ok and report.first_bad_seq == first and "damaged" in report.message
    rehashed = copy_db(run, tmp_path / "rehashed.db")
    tracestore.set_hash(rehashed, run.run_id, seq, "00" * 32)
    report = verify_run(run.run_id, rehashed)
    assert not report.ok and report.first_bad_seq == seq
    dispose_all()
