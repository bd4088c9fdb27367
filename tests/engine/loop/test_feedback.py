"""Loading the feedback file 营销反馈: validated like a snapshot, matched, idempotent, CSV = Parquet."""

from __future__ import annotations

import pandas as pd
import pytest

from auditrun import copy_db, query
from engine.base.diagnostics import DiagnosticError
from engine.loop.feedback import load_feedback


def _decisions(run, kind: str, n: int) -> list[tuple]:
    rows = query(run.db_url, "SELECT seq, msisdn, service, channel FROM decision WHERE run_id = ? AND decision = ? "
                 "ORDER BY seq LIMIT ?", (run.run_id, kind, n))
    return [tuple(row.values()) for row in rows]


def _stored(db_url: str) -> list[tuple]:
    rows = query(db_url, "SELECT run_id, seq, msisdn, event, revenue FROM feedback_event ORDER BY event_key")
    return [tuple(row.values()) for row in rows]


def _events(run) -> pd.DataFrame:
    treated, held = _decisions(run, "treat", 3), _decisions(run, "held_out", 1)
    rows = []
    for seq, msisdn, service, channel in treated:
        rows.append((msisdn, run.run_id, service, channel, "delivered", "2026-11-21", None))
        rows.append((msisdn, run.run_id, service, channel, "responded", "2026-11-22T10:15:00+08:00", None))
    seq, msisdn, service, channel = treated[0]
    rows.append((msisdn, run.run_id, service, channel, "converted", "2026-11-23", 12.5))
    seq, msisdn, service, channel = held[0]
    rows.append((msisdn, run.run_id, service, channel, "responded", "2026-11-24", None))
    rows.append(("19999999999", run.run_id, "", "sms", "delivered", "2026-11-21", None))  # no such decision
    return pd.DataFrame(rows, columns=["msisdn", "run_id", "service", "channel", "event", "event_time", "revenue"])


def test_events_are_matched_stored_once_and_unknown_ones_reported_with_their_line(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    path = tmp_path / "feedback.csv"
    _events(run).to_csv(path, index=False)
    first = load_feedback(path, db)
    assert (first.rows, first.stored, first.already, first.unknown_count) == (9, 8, 0, 1)
    assert first.unknown[0].line == 10 and first.unknown[0].code == "DC202"
    assert "19999999999" in first.unknown[0].message
    stored = _stored(db)
    second = load_feedback(path, db)
    assert (second.stored, second.already) == (0, 8)
    assert _stored(db) == stored  # the same file twice changes nothing
    assert sorted(r[4] for r in stored if r[4] is not None) == [12.5]
    held_seq = _decisions(run, "held_out", 1)[0][0]
    assert any(r[1] == held_seq and r[3] == "responded" for r in stored)  # the control's response is kept


def test_parquet_and_csv_store_the_same_events(run, tmp_path):
    events = _events(run)
    csv_db, pq_db = copy_db(run, tmp_path / "a.db"), copy_db(run, tmp_path / "b.db")
    events.to_csv(tmp_path / "f.csv", index=False)
    events.assign(service=events["service"].replace("", None)).to_parquet(tmp_path / "f.parquet", index=False)
    load_feedback(tmp_path / "f.csv", csv_db)
    load_feedback(tmp_path / "f.parquet", pq_db)
    assert _stored(csv_db) == _stored(pq_db) and len(_stored(csv_db)) == 8


def test_revenue_column_is_optional(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    path = tmp_path / "feedback.csv"
    _events(run).drop(columns=["revenue"]).to_csv(path, index=False)
    assert load_feedback(path, db).stored == 8


def test_bad_rows_name_file_line_and_column_and_nothing_is_written(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    events = _events(run)
    events.loc[2, "event"] = "clicked"
    path = tmp_path / "feedback.csv"
    events.to_csv(path, index=False)
    with pytest.raises(DiagnosticError) as info:
        load_feedback(path, db)
    (diag,) = info.value.diagnostics
    assert (diag.line, diag.column, diag.path) == (4, 5, "event")
    assert "clicked" in diag.message and "responded" in diag.hint
    events = _events(run)
    events.loc[5, "event_time"] = "22/11/2026"
    events.to_csv(path, index=False)
    with pytest.raises(DiagnosticError) as info:
        load_feedback(path, db)
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.line, diag.column) == ("DC201", 7, 6)
    assert _stored(db) == []
