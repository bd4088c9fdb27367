"""The silent/low-use report on the hand-made snapshot (tests/snapshots.py) plus two subscriptions,
counted by hand with the shipped segmentation (rules/segments.yaml), each month segmented as a
night on its last day would.

Active subscriptions: 1/reading (monthly, 2025-01), 1/gprs (per_use, 2024-01), 2/video (monthly,
ordered 2026-10-20), 2/fetion (free, 2020-01), and here 1/mailbox139 (monthly, 2025-01, never used)
and 1/newspaper (per_use, 2025-01, 1 use paid 1.0 in 2026-09).
Uses: reading Jul 3, Aug 5, Sep -, Oct 0, Nov 2; gprs Sep 4; video Nov 1; fetion none.

  month     subscribed active  silent_long  silent_short  low_paid   why
  2026-08   5          1       1 (mail)     0             0          video not ordered yet
  2026-09   5          2       1            1 (reading)   0          reading: Aug 5, Sep 0
  2026-10   6          0       1            0             1 (news)   video new; news: 1 paid use in M1
  2026-11*  6          2       1            0             1          partial: only with include_partial
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.outputs.reports import silent_lowuse, to_csv, to_html, totals
from engine.outputs.reports.silent_lowuse import load_segments
from engine.snapshot.loader import load_snapshot
from snapshots import HANDMADE, HANDMADE_AS_OF, SUB1, write_snapshot

SEGMENTS = load_segments(Path(__file__).resolve().parents[4] / "rules")


@pytest.fixture
def snapshot(tmp_path):
    tables = {k: [dict(r) for r in v] for k, v in HANDMADE.items()}
    tables["subscriptions"] += [
        dict(msisdn=SUB1, service="mailbox139", billing="monthly", status="active", ordered_on="2025-01-01", bundled="true"),
        dict(msisdn=SUB1, service="newspaper", billing="per_use", status="active", ordered_on="2025-01-01", bundled="false"),
    ]
    tables["usage_monthly"].append(dict(msisdn=SUB1, service="newspaper", month="2026-09", uses="1", active_days="1",
                                        traffic_mb="0.1", paid_amount="1.0"))
    return load_snapshot(write_snapshot(tmp_path, tables))


@pytest.fixture
def report(snapshot):
    return silent_lowuse(snapshot, HANDMADE_AS_OF, SEGMENTS)


COLUMNS = ["month", "subscribed", "active", "silent_long", "silent_short", "low_monthly", "low_unpaid", "low_paid",
           "silent", "low_use"]


def test_complete_months_only_by_default(report):
    by_month = totals(report, ["month"])
    assert by_month[COLUMNS].values.tolist() == [
        ["2026-08", 5, 1, 1, 0, 0, 0, 0, 1, 0],
        ["2026-09", 5, 2, 1, 1, 0, 0, 0, 2, 0],
        ["2026-10", 6, 0, 1, 0, 0, 0, 1, 1, 1],
    ]
    assert not by_month["partial"].any()
    assert by_month["active_rate"].tolist() == pytest.approx([1 / 5, 2 / 5, 0.0])
    assert by_month["silent_share"].tolist() == pytest.approx([1 / 5, 2 / 5, 1 / 6])
    assert by_month["low_use_share"].tolist() == pytest.approx([0, 0, 1 / 6])


def test_partial_month_only_on_request_and_labelled(snapshot):
    report = silent_lowuse(snapshot, HANDMADE_AS_OF, SEGMENTS, include_partial=True)
    by_month = totals(report, ["month"])
    last = by_month.iloc[-1]
    assert (last["month"], bool(last["partial"])) == ("2026-11", True)
    assert [last[c] for c in COLUMNS[1:]] == [6, 2, 1, 0, 0, 0, 1, 1, 1]
    assert not by_month["partial"].iloc[:-1].any()


def test_same_segmentation_as_a_night(snapshot):
    # the partial month is segmented exactly as a run on the as-of date: compare with the facts' segments
    from engine.facts.build import build_facts
    from engine.rules.vector import segment_frame

    facts = build_facts(snapshot, HANDMADE_AS_OF)
    run_segments = segment_frame(facts, SEGMENTS)["segment"].value_counts().to_dict()
    report = silent_lowuse(snapshot, HANDMADE_AS_OF, SEGMENTS, include_partial=True)
    partial = report[report["partial"]]
    for name in ("silent_long", "silent_short", "low_monthly", "low_unpaid", "low_paid"):
        assert partial[name].sum() == run_segments.get(name, 0), name


def test_breakdown_by_city_brand_service(report):
    oct_ = report[report["month"] == "2026-10"]
    got = {(r.city, r.brand, r.service): (r.subscribed, r.active, r.silent_long, r.low_paid) for r in oct_.itertuples()}
    assert got == {
        ("baoji", "mzone", "fetion"): (1, 0, 0, 0), ("baoji", "mzone", "video"): (1, 0, 0, 0),
        ("xian", "gotone", "gprs"): (1, 0, 0, 0), ("xian", "gotone", "reading"): (1, 0, 0, 0),
        ("xian", "gotone", "mailbox139"): (1, 0, 1, 0), ("xian", "gotone", "newspaper"): (1, 0, 0, 1),
    }
    assert len(report) == 5 + 5 + 6  # the suspended and cancelled services never appear


def test_csv_has_full_breakdown(report):
    lines = to_csv(report).splitlines()
    assert lines[0] == ("month,city,brand,service,partial,subscribed,active,silent_long,silent_short,low_monthly,"
                        "low_unpaid,low_paid,silent,low_use,silent_share,low_use_share,active_rate")
    assert "2026-09,xian,gotone,reading,False,1,0,0,1,0,0,0,1,0,1.0,0.0,0.0" in lines


def test_html_is_self_contained_with_svg_charts(snapshot):
    report = silent_lowuse(snapshot, HANDMADE_AS_OF, SEGMENTS, include_partial=True)
    page = to_html(report, HANDMADE_AS_OF)
    assert page.count("<svg") == 4 and "<script" not in page and not re.search(r"(src|href)=", page)
    assert "活跃率" in page and "沉默" in page and "低使用" in page
    assert "2026-11 (partial)" in page and "partial 不完整" in page



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
