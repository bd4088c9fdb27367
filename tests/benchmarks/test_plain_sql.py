"""benchmarks/plain_sql.py (issue 12's comparison) still runs and still decides what the engine decides.

The plain SQL night translates rules/*.yaml into SQL; when a pack, the field catalogue or the
arbitration changes and the translation falls behind, these tests fail instead of the benchmark
quietly comparing the engine with a different night. They use the session's shared stored run
(tests/auditrun.py: the 3k generated snapshot decided by the engine into SQLite), so the cost
is the plain night itself (DuckDB, a second) and reading the run's scores back from its traces.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from plain_sql import compare, run_plain, stored_scores  # noqa: E402
from plain_sql_rules import condition_sql  # noqa: E402


@pytest.fixture(scope="module")
def plain(stored_run_sqlite, tmp_path_factory):
    run = stored_run_sqlite
    folder = tmp_path_factory.mktemp("plainsql")
    scores, decisions = folder / "scores.parquet", folder / "decisions.parquet"
    assert stored_scores(f"sqlite:///{run.db_path}", run.run_id, scores) > 0  # the run's own scores, from its traces
    report = run_plain(run.inputs.data, scores, decisions, rules=run.rules, strategies=run.strategies,
                       as_of=run.inputs.as_of)
    return report, compare(decisions, run.db_path, run.run_id)


def test_the_plain_sql_night_builds_the_same_facts_and_decides_the_same_rows(plain, stored_run_sqlite):
    report, agreement = plain
    result = stored_run_sqlite.result
    assert report["counts"]["facts"] == result.facts
    assert agreement["rows_either"] == agreement["rows_both"] == result.decisions
    # every decision class has the engine's count (treat, excluded, not_selected, held_out, lost)
    assert {d: c["plain"] for d, c in agreement["by_decision"].items()} == \
        {d: c["engine"] for d, c in agreement["by_decision"].items()}
    assert set(agreement["by_decision"]) >= {"treat", "excluded", "not_selected", "held_out"}
    # on this snapshot no channel capacity binds, so even the documented arbitration shortcut agrees
    assert agreement["same_decision_pack_strategy"] == result.decisions, agreement["differences"]
    assert agreement["same_decision_pack_reason"] == result.decisions, agreement["differences"]


def test_conditions_translate_with_the_missing_value_rules():
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("CREATE TABLE facts AS SELECT * FROM (VALUES (1, NULL::BIGINT, ['dnd']), (2, 3::BIGINT, []::VARCHAR[]),"
                " (3, 40::BIGINT, ['red'])) AS t(fid, days_since_contact, on_list)")

    def hits(cond: dict) -> list[int]:
        return [r[0] for r in con.execute(f"SELECT fid FROM facts WHERE {condition_sql(cond)} ORDER BY fid").fetchall()]

    assert hits({"days_since_contact": {"lt": 30}}) == [2]  # missing never matches a comparison
    assert hits({"days_since_contact": {"ne": 3}}) == [1, 3]  # ... but is "not equal"
    assert hits({"not": {"days_since_contact": {"lt": 30}}}) == [1, 3]
    assert hits({"days_since_contact": {"exists": False}}) == [1]
    assert hits({"days_since_contact": {"eq": True}}) == []  # a bool never equals a number
    assert hits({"days_since_contact": {"not_in": [3, 40]}}) == [1]
    assert hits({"on_list": {"contains": "dnd"}}) == [1]
    assert hits({"any": [{"on_list": {"contains": "red"}}, {"days_since_contact": {"gte": 3, "lt": 4}}]}) == [2, 3]
