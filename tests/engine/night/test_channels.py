"""The channel files written while a night's rows are sealed (ChannelFiles) are byte for byte
what `write_channel_files` writes from all rows at once; a row out of order is refused; a
discarded writer leaves no file."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.night.channels import CHANNELS, ChannelFiles, write_channel_files

TEXT = st.text(alphabet=st.sampled_from(list("ab,\"=+-@ \n\r西安'") + ["\u00e9"]), max_size=8)
ROW = st.fixed_dictionaries({
    "msisdn": st.sampled_from(["13800000001", "13800000002", "13900000003", "=1+1"]),
    "service": st.sampled_from(["read", "video", "wlan"]),
    "channel": st.sampled_from(CHANNELS),
    "strategy": TEXT, "message": TEXT, "city": TEXT, "account_manager": TEXT,
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, max_size=30, unique_by=lambda r: (r["msisdn"], r["service"])))
def test_streamed_files_equal_the_files_written_at_once(tmp_path_factory, rows):
    rows = sorted(rows, key=lambda r: (r["msisdn"], r["service"]))
    by_channel: dict[str, list[dict]] = {}
    for row in rows:
        by_channel.setdefault(row["channel"], []).append(row)
    whole = write_channel_files(tmp_path_factory.mktemp("whole"), by_channel)
    folder = tmp_path_factory.mktemp("streamed")
    files = ChannelFiles(folder)
    for row in rows:
        files.add(row["channel"], row)
    streamed = files.close()
    assert sorted(streamed) == sorted(whole) == sorted(CHANNELS)
    for channel in CHANNELS:
        assert streamed[channel].read_bytes() == whole[channel].read_bytes()
        assert stat.S_IMODE(os.stat(streamed[channel]).st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{c}.csv" for c in CHANNELS)  # no temporary left


def test_a_row_out_of_order_is_refused_and_discard_leaves_nothing(tmp_path):
    files = ChannelFiles(tmp_path)
    files.add("sms", {"msisdn": "13800000002", "service": "read", "strategy": "s", "message": "m"})
    with pytest.raises(RuntimeError, match="order"):
        files.add("sms", {"msisdn": "13800000001", "service": "read", "strategy": "s", "message": "m"})
    files.discard()
    assert list(tmp_path.iterdir()) == []
