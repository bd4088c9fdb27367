"""The silent/low-use report on the hand-made snapshot (tests/snapshots.py), counted by hand.

Active subscriptions: 1/reading (ordered 2025-01), 1/gprs (2024-01), 2/video (2026-10-20),
2/fetion (2020-01). Uses: reading M3 5, M2 -, M1 0, M0 2; gprs M2 4; video M0 1; fetion none.
"""

from __future__ import annotations

import re

import pytest

from engine.snapshot.loader import load_snapshot
from engine.outputs.reports import silent_lowuse, to_csv, to_html, totals
from snapshots import HANDMADE_AS_OF


@pytest.fixture
def report(handmade_dir):
    return silent_lowuse(load_snapshot(handmade_dir), HANDMADE_AS_OF)


def test_totals_by_month(report):
    by_month = totals(report, ["month"])
    rows = by_month[["month", "subscribed", "active", "silent", "low_use"]].values.tolist()
    assert rows == [
        ["2026-08", 3, 1, 2, 0],  # video not yet ordered; reading 5 uses is active, not low
        ["2026-09", 3, 1, 2, 0],  # reading has no row (0 uses), gprs 4 uses
        ["2026-10", 4, 0, 4, 0],  # video ordered 2026-10-20 counts from its month
        ["2026-11", 4, 2, 2, 2],  # reading 2 and video 1 use: active and low-use
    ]
    assert by_month["active_rate"].tolist() == pytest.approx([1 / 3, 1 / 3, 0.0, 0.5])
    assert by_month["silent_share"].tolist() == pytest.approx([2 / 3, 2 / 3, 1.0, 0.5])
    assert by_month["low_use_share"].tolist() == pytest.approx([0, 0, 0, 0.5])


def test_breakdown_by_city_brand_service(report):
    m0 = report[report["month"] == "2026-11"]
    got = {(r.city, r.brand, r.service): (r.subscribed, r.active, r.silent, r.low_use) for r in m0.itertuples()}
    assert got == {
        ("baoji", "mzone", "fetion"): (1, 0, 1, 0), ("baoji", "mzone", "video"): (1, 1, 0, 1),
        ("xian", "gotone", "gprs"): (1, 0, 1, 0), ("xian", "gotone", "reading"): (1, 1, 0, 1),
    }
    assert len(report) == 3 + 3 + 4 + 4  # the suspended and cancelled services never appear


def test_csv_has_full_breakdown(report):
    lines = to_csv(report).splitlines()
    assert lines[0] == "month,city,brand,service,subscribed,active,silent,low_use,silent_share,low_use_share,active_rate"
    assert "2026-08,xian,gotone,reading,1,1,0,0,0.0,0.0,1.0" in lines


def test_html_is_self_contained_with_svg_charts(report):
    page = to_html(report, HANDMADE_AS_OF)
    assert page.count("<svg") == 4 and "<script" not in page and not re.search(r"(src|href)=", page)
    assert "活跃率" in page and "沉默" in page and "低使用" in page
    assert ">50.0%<" in page  # the M0 activity rate


def test_the_cli_report_names_no_subscriber_and_writes_a_private_file(handmade_dir, tmp_path):
    # `report silent-lowuse` is by city, brand and service: no msisdn appears, so it needs no --mask.
    import os
    import stat

    from typer.testing import CliRunner

    from cli.main import app
    from snapshots import SUBSCRIBERS

    old = os.umask(0)
    try:
        for fmt in ("csv", "html", "table"):
            out = tmp_path / f"report.{fmt}"
            result = CliRunner().invoke(app, ["report", "silent-lowuse", "--data", str(handmade_dir), "--as-of",
                                              "2026-11-15", "--format", fmt, "--out", str(out)])
            assert result.exit_code == 0, result.output
            text = out.read_text(encoding="utf-8")
            assert not any(s["msisdn"] in text for s in SUBSCRIBERS)
            assert stat.S_IMODE(out.stat().st_mode) == 0o600
    finally:
        os.umask(old)
