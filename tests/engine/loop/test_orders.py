"""Work orders 工单: accepted → reviewed → handled, append-only, CLI-driven or imported; results feed back."""

from __future__ import annotations

import pandas as pd
import pytest

from auditrun import copy_db, query
from engine.base.diagnostics import DiagnosticError
from engine.loop.orders import change_state, import_orders, list_orders


def _rows(db_url: str, sql: str) -> list[tuple]:
    return [tuple(row.values()) for row in query(db_url, sql)]


def test_orders_are_the_runs_people_channel_decisions_and_start_accepted(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    orders = list_orders(run.run_id, db_url=db)
    expected = _rows(db, f"SELECT COUNT(*) FROM decision WHERE run_id = '{run.run_id}' AND decision = 'treat' "
                         "AND channel IN ('outbound_call', 'account_manager')")[0][0]
    assert len(orders) == expected > 0
    assert set(orders["state"]) == {"accepted"} and set(orders["channel"]) <= {"outbound_call", "account_manager"}


def test_review_then_handle_appends_records_and_feeds_the_feedback(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    order = list_orders(run.run_id, db_url=db).iloc[0]
    with pytest.raises(DiagnosticError) as info:
        change_state(order.order_id, "handled", "王强", result_code="accepted_offer", db_url=db)
    assert info.value.diagnostics[0].code == "WO002"  # not reviewed yet
    assert change_state(order.order_id, "reviewed", "李娜", at="2026-11-21T09:00:00", db_url=db)
    assert change_state(order.order_id, "handled", "王强", note="已办理", result_code="accepted_offer",
                        at="2026-11-21T15:30:00", db_url=db)
    history = _rows(db, "SELECT state, actor, result_code FROM work_order_event ORDER BY id")
    assert history == [("reviewed", "李娜", ""), ("handled", "王强", "accepted_offer")]
    events = _rows(db, "SELECT event, msisdn FROM feedback_event ORDER BY event")
    assert [e for e, _ in events] == ["converted", "delivered", "responded"] and {m for _, m in events} == {order.msisdn}
    now = list_orders(run.run_id, db_url=db).set_index("order_id").loc[order.order_id]
    assert (now.state, now.result_code, now.by) == ("handled", "accepted_offer", "王强")
    with pytest.raises(DiagnosticError):
        change_state(order.order_id, "reviewed", "李娜", db_url=db)  # no way back


def test_the_call_centre_file_is_applied_whole_and_a_second_load_changes_nothing(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    ids = list(list_orders(run.run_id, db_url=db)["order_id"][:2])
    rows = [(ids[0], "reviewed", "", "", "李娜", "2026-11-21"), (ids[0], "handled", "unreachable", "关机", "王强", "2026-11-22"),
            (ids[1], "reviewed", "", "", "李娜", "2026-11-21")]
    path = tmp_path / "callcentre.csv"
    pd.DataFrame(rows, columns=["order_id", "state", "result_code", "note", "by", "at"]).to_csv(path, index=False)
    assert import_orders(path, db) == (3, 0)
    assert import_orders(path, db) == (0, 3)
    assert _rows(db, "SELECT event FROM feedback_event") == [("failed",)]
    bad = rows + [(ids[1], "handled", "maybe", "", "王强", "2026-11-22")]
    pd.DataFrame(bad, columns=["order_id", "state", "result_code", "note", "by", "at"]).to_csv(path, index=False)
    with pytest.raises(DiagnosticError) as info:
        import_orders(path, db)
    assert (info.value.diagnostics[0].line, info.value.diagnostics[0].path) == (5, "result_code")
    unknown = [("nope:1", "reviewed", "", "", "李娜", "2026-11-21")]
    pd.DataFrame(unknown, columns=["order_id", "state", "result_code", "note", "by", "at"]).to_csv(path, index=False)
    with pytest.raises(DiagnosticError) as info:
        import_orders(path, db)
    assert (info.value.diagnostics[0].code, info.value.diagnostics[0].line) == ("WO001", 2)
    assert len(_rows(db, "SELECT * FROM work_order_event")) == 3  # the failed files added nothing
