"""explain: the account of a subscriber's decisions, read back from a real stored run."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from auditrun import EXPLAIN_FACT_KEYS as FACT_KEYS
from engine.store.read import subscriber_records
from engine.base.diagnostics import DiagnosticError
from engine.outputs.explain import NOT_IN_SCOPE, explain, render



def text_of(doc) -> str:
    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    console.print(render(doc))
    return console.export_text()


def test_a_treated_subscriber_is_explained_with_rules_values_strategy_and_versions(run):
    msisdn = run.examples["treat"]
    doc = explain("latest", msisdn, db_url=run.db_url)
    assert doc["run"] == run.run_id and doc["msisdn"] == msisdn and doc["as_of"] == run.inputs.as_of.isoformat()
    treated = [f for f in doc["facts"] if f["decision"] == "treat"]
    assert treated
    fact = treated[0]
    assert FACT_KEYS <= fact.keys()
    stored = next(r for r in subscriber_records(run.run_id, msisdn, run.db_url) if r["service"] == fact["service"])
    assert (fact["pack"], fact["strategy"], fact["channel"], fact["message"]) == (
        stored["pack"], stored["strategy"], stored["channel"], stored["message"])
    assert len(fact["pack_sha256"]) == 64
    assert fact["rules"] and all(r["rule"] and r["tested"] for r in fact["rules"])  # the values each rule tested
    assert fact["arbitration"]["outcome"] == "won"
    assert fact["model_versions"].keys() >= {"sensitivity", "stability", "value"}
    assert "sensitivity_pct" in fact["scores"]
    assert fact["approval"]["pack"]["approved"] is False  # no approval recorded in this database
    text = text_of(doc)
    assert "TREAT 触达" in text and fact["strategy"] in text and fact["pack"] in text
    assert json.dumps(doc, ensure_ascii=False)


def test_an_excluded_subscriber_names_the_exclusion_and_the_values(run):
    doc = explain(run.run_id, run.examples["excluded"], db_url=run.db_url)
    fact = next(f for f in doc["facts"] if f["decision"] == "excluded")
    assert fact["reason"] and any(e["reason"] == fact["reason"] for e in fact["exclusions"])
    hit = next(e for e in fact["exclusions"] if e["reason"] == fact["reason"])
    assert hit["rule"] and hit["tested"]
    assert "EXCLUDED 排除" in text_of(doc) and fact["reason"] in text_of(doc)


def test_a_held_out_subscriber_says_which_control_group(run):
    doc = explain(run.run_id, run.examples["held_out"], db_url=run.db_url)
    fact = next(f for f in doc["facts"] if f["decision"] == "held_out")
    assert fact["holdout"]["held_out"] is True and fact["holdout"]["group"] in ("pack", "universal")
    assert fact["strategy"] and fact["channel"]  # what would have been sent
    assert "对照组" in text_of(doc)


def test_a_subscriber_no_pack_considered_is_not_in_scope_with_the_segment(run):
    msisdn = run.examples["out_of_scope"]
    doc = explain(run.run_id, msisdn, db_url=run.db_url)
    assert doc["facts"] and all(f["decision"] == "out_of_scope" for f in doc["facts"])
    assert all(f["reason"] == NOT_IN_SCOPE and f["segment"] for f in doc["facts"])
    assert NOT_IN_SCOPE in text_of(doc)


def test_service_filter_and_unknown_subscriber(run):
    msisdn = run.examples["treat"]
    every = explain(run.run_id, msisdn, db_url=run.db_url)["facts"]
    one = explain(run.run_id, msisdn, service=every[0]["service"], db_url=run.db_url)["facts"]
    assert [f["service"] for f in one] == [every[0]["service"]]
    with pytest.raises(DiagnosticError, match="no fact for service 'nosuch'"):
        explain(run.run_id, msisdn, service="nosuch", db_url=run.db_url)
    with pytest.raises(DiagnosticError, match="not in run"):
        explain(run.run_id, "19999999999", db_url=run.db_url)


def test_a_subscriber_who_lost_arbitration_is_told_who_won(run):
    doc = explain(run.run_id, run.examples["lost"], db_url=run.db_url)
    fact = next(f for f in doc["facts"] if f["decision"] == "lost")
    lost = fact["arbitration"]["lost"]
    assert lost and lost[0]["outcome"] == fact["reason"] and lost[0]["why"]
    if fact["reason"] == "lost_priority":  # the contact went to another of this subscriber's candidates
        assert lost[0]["beaten_by"]["msisdn"] == doc["msisdn"]
    assert "仲裁落选" in text_of(doc)
