"""`rekindle export --view`: the operator's silent / low-use / front-desk lists of a stored run (issue 10 §4)."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import tracestore
from auditrun import query
from cli.main import app
from engine.store import blocks
from engine.outputs.views import BASE_COLUMNS, FRONT_DESK_COLUMNS, USAGE_COLUMNS, export_view, view_frame

runner = CliRunner()


def _stored_segments(run) -> dict[tuple[str, str], str]:
    """Every fact's segment as the run stored it, read straight from the database (out-of-scope
    blocks decoded here, payloads through engine.store.read.stored_traces, not the views' reader)."""
    out = {(m, s): g for block in query(run.db_url, "SELECT count, rows FROM out_of_scope_block WHERE run_id = ?",
                                        (run.run_id,))
           for m, s, g in blocks.decode_scope(block["rows"], block["count"])}
    decided = query(run.db_url, "SELECT msisdn, service FROM decision WHERE run_id = ? ORDER BY seq", (run.run_id,))
    for r, payload in zip(decided, tracestore.stored_payloads(run.db_url, run.run_id), strict=True):
        out[(r["msisdn"], r["service"])] = json.loads(payload)["segment"]["segment"]
    return out


def test_silent_view_lists_exactly_the_runs_silent_facts(run, tmp_path):
    run_id, frame = view_frame(run.run_id, "silent", run.db_url)
    assert list(frame.columns) == list(BASE_COLUMNS)
    stored = _stored_segments(run)
    expected = sorted(k for k, seg in stored.items() if seg in ("silent_long", "silent_short"))
    assert list(zip(frame["msisdn"], frame["service"])) == expected and expected
    assert set(frame["type"]) == {"silent_long", "silent_short"}
    assert frame["ordered_on"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    # reasons are causes; bundled silent subscriptions name 套餐捆绑
    causes = {c for value in frame["reasons"] for c in value.split("|") if c}
    assert "bundle" in causes and causes <= {"bundle", "dual_sim", "card_farming", "handset_change", "os_change"}


def test_low_use_view_has_usage_volume_and_matches_the_snapshot(run, tmp_path):
    _run_id, frame = view_frame(run.run_id, "low-use", run.db_url)
    assert list(frame.columns) == list(BASE_COLUMNS + USAGE_COLUMNS)
    assert set(frame["type"]) <= {"low_monthly", "low_unpaid", "low_paid"} and len(frame)
    usage = pd.read_csv(run.inputs.data / "usage_monthly.csv", dtype={"msisdn": str})
    row = frame.iloc[len(frame) // 2]
    mine = usage[(usage.msisdn == row.msisdn) & (usage.service == row.service)].set_index("month")
    for k, month in ((1, "2026-10"), (2, "2026-09"), (3, "2026-08")):
        uses = int(mine["uses"].get(month, 0)) if month in mine.index else 0
        days = int(mine["active_days"].get(month, 0)) if month in mine.index else 0
        assert (row[f"uses_m{k}"], row[f"active_days_m{k}"]) == (uses, days)
    assert (frame[["uses_m1", "uses_m2", "uses_m3"]] < 3).all().all()  # low use: < 3 in each month


def test_csv_and_parquet_hold_the_same_rows_and_repeat_byte_for_byte(run, tmp_path):
    _id, p1, rows = export_view(run.run_id, "low-use", tmp_path / "low.parquet", run.db_url)
    _id, c1, rows_csv = export_view(run.run_id, "low-use", tmp_path / "low.csv", run.db_url)
    _id, c2, _ = export_view(run.run_id, "low-use", tmp_path / "again.csv", run.db_url)
    assert rows == rows_csv > 0 and c1.read_bytes() == c2.read_bytes()
    table = pq.read_table(p1)
    assert table.column_names == list(BASE_COLUMNS + USAGE_COLUMNS) and table.num_rows == rows
    with c1.open(encoding="utf-8") as handle:
        first = next(csv.reader(handle))
    assert first == list(BASE_COLUMNS + USAGE_COLUMNS)
    assert not list(tmp_path.glob(".*.tmp"))


def test_front_desk_view_has_every_fact_with_its_customer_type(run):
    _id, frame = view_frame(run.run_id, "front-desk", run.db_url)
    assert list(frame.columns) == list(FRONT_DESK_COLUMNS)
    stored = _stored_segments(run)
    assert len(frame) == len(stored)
    got = dict(zip(zip(frame["msisdn"], frame["service"]), frame["customer_type"]))
    assert got == stored
    assert set(frame.loc[frame.customer_type == "silent_long", "customer_type_zh"]) == {"包月长期沉默"}


def test_cli_view_and_its_errors(run, tmp_path, monkeypatch):
    out = tmp_path / "silent.csv"
    r = runner.invoke(app, ["export", "--run", run.run_id, "--view", "silent", "--out", str(out), "--db", run.db_url])
    assert r.exit_code == 0, r.output
    assert out.read_text(encoding="utf-8").splitlines()[0].replace('"', "") == ",".join(BASE_COLUMNS)
    r = runner.invoke(app, ["export", "--run", run.run_id, "--view", "silnet", "--out", str(out), "--db", run.db_url])
    assert r.exit_code == 1 and "silent" in r.output
    r = runner.invoke(app, ["export", "--run", run.run_id, "--view", "silent", "--out", str(tmp_path / "x.txt"),
                            "--db", run.db_url])
    assert r.exit_code == 1 and ".parquet" in r.output
    r = runner.invoke(app, ["export", "--run", run.run_id, "--view", "silent", "--db", run.db_url])
    assert r.exit_code == 2
