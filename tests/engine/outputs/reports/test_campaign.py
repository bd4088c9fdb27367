"""Campaign evaluation 营销评估: the interval, the rows, the HTML charts, and no silent pooling."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from auditrun import copy_db, execute, query
from engine.generator.feedback import simulate_feedback
from engine.loop.feedback import load_feedback
from engine.outputs.reports.campaign import COLUMNS, campaign_report, newcombe, to_csv, wilson
from engine.outputs.reports.campaign_view import to_html

SVG = "{http://www.w3.org/2000/svg}"


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, table II example: 56/70 vs 48/80 → 0.0524 to 0.3339
    d, low, high = newcombe(56, 70, 48, 80)
    assert (round(d, 4), round(low, 4), round(high, 4)) == (0.2, 0.0524, 0.3339)
    # a zero-count control still gives a real interval (Wald would give a point)
    d, low, high = newcombe(3, 40, 0, 5)
    assert low < 0 < d < high and low > -1
    assert all(math.isnan(v) for v in wilson(0, 0))  # no observations, no interval
    assert math.isnan(newcombe(1, 10, 0, 0)[0])


@pytest.fixture
def measured(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    feedback = tmp_path / "feedback.csv"
    simulate_feedback(run.inputs.data, run.run_id, feedback, db)
    load_feedback(feedback, db)
    return db


def test_rows_per_pack_strategy_channel_with_arms_from_the_decisions(run, measured):
    report = campaign_report(run.run_id, db_url=measured, strategies_dir=run.strategies)
    rows = report.rows
    assert list(rows.columns) == list(COLUMNS)
    def counts(sql: str) -> dict[str, int]:
        found = query(measured, "SELECT pack || '/' || strategy || '/' || channel AS arm, COUNT(*) AS n FROM decision "
                                f"WHERE run_id = ? AND {sql} GROUP BY pack, strategy, channel", (run.run_id,))
        return {r["arm"]: r["n"] for r in found}

    treated = counts("decision = 'treat'")
    control = counts("decision = 'held_out' AND reason = 'holdout'")
    packs = rows[rows["pack"] != "ALL"]
    keys = packs["pack"] + "/" + packs["strategy"] + "/" + packs["channel"]
    assert dict(zip(keys, packs["treated"])) == {k: treated.get(k, 0) for k in keys}
    assert dict(zip(keys, packs["control"])) == {k: control.get(k, 0) for k in keys}
    assert set(treated) <= set(keys)
    full = packs[(packs["treated"] > 0) & (packs["control"] > 0)].iloc[0]
    assert full.uplift_low <= full.uplift <= full.uplift_high
    assert full.uplift == pytest.approx(full.response_rate - full.control_response_rate)
    assert full.meets_target == (full.success_rate >= 0.2)
    programme = rows[rows["pack"] == "ALL"].iloc[0]
    assert programme.treated == sum(treated.values()) and "universal" in programme.note
    text = to_csv(report)
    assert text.splitlines()[0].startswith("pack,strategy,channel,period,pack_version,runs,treated")
    assert to_csv(campaign_report(run.run_id, db_url=measured, strategies_dir=run.strategies)) == text


def test_html_opens_as_xml_with_an_uplift_chart_and_a_funnel_per_row(run, measured):
    report = campaign_report(run.run_id, db_url=measured, strategies_dir=run.strategies)
    page = to_html(report)
    root = ET.fromstring(page.split("\n", 1)[1])  # the page is well-formed XHTML after its doctype
    svgs = root.findall(f".//{SVG}svg")
    uplift = [s for s in svgs if s.get("class") == "uplift"]
    funnels = [s for s in svgs if s.get("class") == "funnel"]
    assert len(uplift) == 1 and len(funnels) == len(report.rows)
    with_control = report.rows["uplift"].notna().sum()
    assert len(uplift[0].findall(f"{SVG}line[@class='ci']")) == with_control
    assert len(uplift[0].findall(f"{SVG}circle[@class='point']")) == with_control
    assert all(len(f.findall(f"{SVG}rect[@class='step']")) == 4 for f in funnels)
    assert "派单营销成功率" in page and "universal holdout" in page


def test_runs_of_another_period_or_pack_version_are_not_pooled(run, measured, tmp_path):
    # a second run a month later, with another pack version: same rows, other period and version
    (row,) = query(measured, "SELECT content_hashes FROM run WHERE id = ?", (run.run_id,))
    hashes = row["content_hashes"]
    start = hashes.index("pack/long_term_silent") + 24  # the first 12 digits of that pack's sha256
    other_hashes = hashes.replace(hashes[start:start + 12], "aaaaaaaaaaaa")
    assert other_hashes != hashes
    other = "2026-12-20.000000000000"
    columns = ("status, started_at, finished_at, data_dir, snapshot_fingerprint, model_versions, production, workers, "
               "funnel, facts, decisions, chain_head, chain_count, out_dir, error, rerun_of")
    execute(measured, f"INSERT INTO run (id, as_of, content_hashes, {columns}) SELECT ?, '2026-12-20', ?, {columns} "
            "FROM run WHERE id = ?", (other, other_hashes, run.run_id))
    columns = "seq, msisdn, service, pack, decision, reason, arbitration, strategy, channel, message"
    execute(measured, f"INSERT INTO decision (run_id, {columns}) SELECT ?, {columns} FROM decision WHERE run_id = ?",
            (other, run.run_id))
    report = campaign_report(None, date_from=run.inputs.as_of, date_to=None, db_url=measured,
                             strategies_dir=run.strategies)
    rows = report.rows[report.rows["pack"] == "long_term_silent"]
    assert set(rows["period"]) == {"2026-11", "2026-12"}
    assert rows.groupby(["strategy", "channel"]).size().max() == 2  # one row per period, never pooled
    assert all("not pooled" in n for n in rows["note"])
    assert any("long_term_silent" in n and "not pooled" in n for n in report.notes)
