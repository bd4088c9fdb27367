"""Channel files: header, extra fields per channel, sorting, byte-stable text, empty lists."""

from __future__ import annotations

import pytest

from engine.base.diagnostics import DiagnosticError
from engine.night.channels import CHANNELS, channel_csv, write_channel_files
from engine.outputs.export import check_channel


def test_outbound_call_file_has_city_and_is_sorted_by_msisdn_then_service():
    rows = [dict(msisdn="2", service="gprs", strategy="ret_call_loyalty", message="您好", city="xian"),
            dict(msisdn="1", service="video", strategy="s", message="a,b", city="baoji"),
            dict(msisdn="1", service="gprs", strategy="s", message='say "hi"', city="baoji")]
    assert channel_csv("outbound_call", rows) == (
        "msisdn,service,strategy,message,city\n"
        '1,gprs,s,"say ""hi""",baoji\n'
        '1,video,s,"a,b",baoji\n'
        "2,gprs,ret_call_loyalty,您好,xian\n")


def test_account_manager_file_names_the_manager():
    text = channel_csv("account_manager", [dict(msisdn="1", service="gprs", strategy="s", message="m",
                                                account_manager="Li Na", city="xian")])
    assert text.splitlines() == ["msisdn,service,strategy,message,account_manager", "1,gprs,s,m,Li Na"]


def test_every_channel_file_is_written_even_when_empty(tmp_path):
    paths = write_channel_files(tmp_path, {"sms": [dict(msisdn="1", service="sms", strategy="s", message="m")]})
    assert sorted(paths) == sorted(CHANNELS)
    assert (tmp_path / "mms.csv").read_text(encoding="utf-8") == "msisdn,service,strategy,message\n"
    assert (tmp_path / "sms.csv").read_bytes() == "msisdn,service,strategy,message\n1,sms,s,m\n".encode()


def test_unknown_channel_is_a_diagnostic_with_a_suggestion():
    with pytest.raises(DiagnosticError) as info:
        check_channel("outbound_calls")
    assert "outbound_call" in info.value.diagnostics[0].hint
