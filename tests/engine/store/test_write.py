"""engine.store.write: trace rows kept as UTF-8 bytes; the run's traces and out-of-scope facts written in blocks."""

from __future__ import annotations

import pytest

from engine.store.write import TraceRows


def test_trace_rows_decode_payloads_by_index_and_by_batch():
    payloads = ['{"m":"尊敬的客户"}'.encode("utf-8"), b'{"m":"plain"}', '{"城市":"北京"}'.encode("utf-8")]
    links = [("0" * 64, "a" * 64), ("a" * 64, "b" * 64), ("b" * 64, "c" * 64)]
    rows = TraceRows("run-1", payloads, links)
    assert len(rows) == 3
    assert rows[0] == ("run-1", 0, '{"m":"尊敬的客户"}', "0" * 64, "a" * 64)
    assert rows[-1] == ("run-1", 2, '{"城市":"北京"}', "b" * 64, "c" * 64)
    assert rows[1:5] == [("run-1", 1, '{"m":"plain"}', "a" * 64, "b" * 64), rows[2]]
    assert list(rows) == rows[0:3]
    with pytest.raises(IndexError):
        rows[3]
    with pytest.raises(ValueError, match="2 payloads but 3"):
        TraceRows("run-1", payloads[:2], links)


def _run(n):
    from datetime import datetime, timezone

    from engine.base.jsonfile import canonical
    from engine.store.chain import seal

    run_id = "2026-11-15.blocks"
    decisions = [(run_id, seq, f"138{seq:08d}", "reading", "p", "treat", "r", "won", "s", "sms", f"消息 {seq}")
                 for seq in range(n)]
    payloads = [canonical({"n": seq, "text": "操心\u2028\\n"}) for seq in range(n)]
    links = seal(decisions, payloads)
    traces = [(run_id, seq, payloads[seq], *links[seq]) for seq in range(n)]
    run = dict(id=run_id, as_of="2026-11-15", started_at=datetime(2026, 11, 25, tzinfo=timezone.utc),
               chain_head=links[-1][1], chain_count=n, decisions=n)
    return run, decisions, traces


def test_blocks_span_the_writers_calls_and_read_back_byte_for_byte(db_url, tmp_path, monkeypatch):
    """The night hands its rows over in batches; blocks are filled across them, the last one partial."""
    from sqlalchemy import text

    from engine.store import blocks
    from engine.store.verify import verify_chain
    from engine.store.database import get_engine
    from engine.store.read import scope_rows, stored_traces
    from engine.store.write import RunWriter

    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(blocks, "TRACE_BLOCK", 4)
    monkeypatch.setattr(blocks, "OUT_OF_SCOPE_BLOCK", 2)
    run, decisions, traces = _run(13)
    outside = [(run["id"], "13900000002", "video", "active"), (run["id"], "13900000001", "reading", "活跃"),
               (run["id"], "13900000001", "music", "active")]
    with RunWriter(db_url) as writer:
        for start, end in ((0, 5), (5, 12), (12, 12), (12, 13)):
            writer.decisions_and_traces(decisions[start:end], traces[start:end])
        writer.finish(run, outside, {})
    with get_engine(db_url).connect() as conn:
        stored = conn.execute(text("SELECT block, first_seq, count FROM trace_block WHERE run_id = :r ORDER BY block"),
                              {"r": run["id"]}).all()
        assert [tuple(r) for r in stored] == [(0, 0, 4), (1, 4, 4), (2, 8, 4), (3, 12, 1)]
        assert [tuple(t) for t in stored_traces(conn, run["id"])] == [t[1:] for t in traces]
        assert list(scope_rows(conn, run["id"])) == sorted(r[1:] for r in outside)
        assert conn.execute(text("SELECT count(*) FROM out_of_scope_block WHERE run_id = :r"),
                            {"r": run["id"]}).scalar_one() == 2
    assert verify_chain(run["id"], db_url).ok


def test_traces_that_do_not_follow_on_the_chain_are_refused(db_url, tmp_path, monkeypatch):
    from sqlalchemy import text

    from engine.store.database import get_engine
    from engine.store.write import RunWriter

    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    run, decisions, traces = _run(3)
    for bad in ([traces[0], traces[2]],  # a gap
                [traces[0], traces[1][:3] + ("f" * 64, traces[1][4])]):  # prev_hash is not the hash before
        with pytest.raises(ValueError, match="does not follow on the chain"):
            with RunWriter(db_url) as writer:
                writer.decisions_and_traces(decisions[:len(bad)], bad)
    with pytest.raises(ValueError, match="given twice"):
        with RunWriter(db_url) as writer:
            writer.decisions_and_traces(decisions, traces)
            writer.finish(run, [(run["id"], "1", "reading", "a"), (run["id"], "1", "reading", "b")], {})
    with get_engine(db_url).connect() as conn:
        for table in ("decision", "trace_block", "out_of_scope_block", "run"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0


def test_one_subscribers_out_of_scope_rows_are_found_in_a_block_as_a_full_decode_finds_them():
    from engine.store import blocks

    rows = [("13800000001", "music", "a"), ("13800000001", "reading", "b"), ("138000000011", "music", "c"),
            ("13800000002", "video", "活跃")]
    blob = blocks.encode_scope(rows)
    for msisdn in ("13800000001", "138000000011", "13800000002", "1380000000", "3800000001"):
        assert blocks.scope_of(blob, 4, msisdn) == [r for r in blocks.decode_scope(blob, 4) if r[0] == msisdn]
    with pytest.raises(blocks.BlockCorrupt):
        blocks.scope_of(blob, 3, "13800000001")


def test_out_of_scope_rows_given_a_slice_at_a_time_fill_blocks_across_calls(db_url, tmp_path, monkeypatch):
    from engine.store import blocks
    from engine.store.database import get_engine
    from engine.store.read import scope_rows
    from engine.store.write import RunWriter

    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(blocks, "OUT_OF_SCOPE_BLOCK", 3)
    run, decisions, traces = _run(2)
    rows = [(run["id"], f"1390000000{i}", service, "active") for i in range(4) for service in ("music", "video")]
    with RunWriter(db_url) as writer:
        writer.decisions_and_traces(decisions, traces)
        writer.out_of_scope(list(reversed(rows[:3])))  # a slice, in any order within it
        writer.out_of_scope([])
        writer.out_of_scope(rows[3:7])
        writer.finish(run, rows[7:], {})
    with get_engine(db_url).connect() as conn:
        assert list(scope_rows(conn, run["id"])) == [r[1:] for r in rows]
    other = [("other-run", *r[1:]) for r in rows]
    with pytest.raises(ValueError, match="in \\(msisdn, service\\) order across calls"):
        with RunWriter(db_url) as writer:
            writer.out_of_scope(other[4:])
            writer.out_of_scope(other[:4])
