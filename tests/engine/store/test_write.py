"""engine.store.write: trace rows kept as UTF-8 bytes read back as the stored text rows."""

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
