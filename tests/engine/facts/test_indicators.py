"""The optional stability indicators as fact fields (engine/facts/indicators.py, issue 10 §3):
read from the subscribers columns, missing without them — so an old snapshot's facts (and the
records rules see) are what they were, and a pack can test them when they exist."""

from __future__ import annotations

import numpy as np

from engine.facts.build import build_facts, fact_records
from engine.facts.fields import FIELDS
from engine.facts.indicators import INDICATOR_FIELDS
from engine.rules.conditions import evaluate
from engine.snapshot.contract import SUBSCRIBER_OPTIONAL, TABLES
from engine.snapshot.loader import load_snapshot
from snapshots import HANDMADE, HANDMADE_AS_OF, SUBSCRIBERS, write_snapshot, write_table

CORE = [c for c in TABLES["subscribers"].column_names if c not in {o.name for o in SUBSCRIBER_OPTIONAL}]


def _facts(tmp_path, subscribers, columns=None):
    write_snapshot(tmp_path, {k: v for k, v in HANDMADE.items() if k != "subscribers"})
    write_table(tmp_path, "subscribers", subscribers, columns=columns)
    frame = build_facts(load_snapshot(tmp_path), HANDMADE_AS_OF)
    return frame, {(r["msisdn"], r["service"]): r for r in fact_records(frame)}


def test_every_indicator_is_a_documented_nullable_catalogue_field():
    for name in INDICATOR_FIELDS:
        field = FIELDS[name]
        assert field.nullable and field.group == "subscriber" and "missing" in field.doc


def test_indicator_fields_from_the_optional_columns(tmp_path):
    rows = [dict(SUBSCRIBERS[0], on_net_share="0.82", suspensions_6m="1", arrears_6m="2", payments_6m="6",
                 handset_brand="华为"),
            dict(SUBSCRIBERS[1], on_net_share="", suspensions_6m="0", arrears_6m="", payments_6m="0", handset_brand=""),
            dict(SUBSCRIBERS[2])]
    _frame, facts = _facts(tmp_path, rows)
    one = facts[("13800000001", "reading")]
    assert {k: one[k] for k in INDICATOR_FIELDS} == {"on_net_share": 0.82, "suspensions_6m": 1, "arrears_6m": 2,
                                                     "payments_6m": 6, "handset_brand": "华为"}
    assert isinstance(one["suspensions_6m"], int)  # INT fields are Python ints in the records
    two = facts[("13800000002", "video")]
    assert (two["suspensions_6m"], two["payments_6m"]) == (0, 0)
    assert not {"on_net_share", "arrears_6m", "handset_brand"} & set(two)  # empty cell: missing, not 0 or ""


def test_indicator_fields_are_missing_without_the_columns(tmp_path):
    frame, facts = _facts(tmp_path, SUBSCRIBERS, CORE)
    assert frame[list(INDICATOR_FIELDS[:4])].isna().all().all() and frame["handset_brand"].isna().all()
    for fact in facts.values():
        assert not set(INDICATOR_FIELDS) & set(fact)


def test_a_pack_condition_reads_them(tmp_path):
    rows = [dict(SUBSCRIBERS[0], arrears_6m="3", handset_brand="苹果"), dict(SUBSCRIBERS[1], arrears_6m="0"),
            dict(SUBSCRIBERS[2])]
    _frame, facts = _facts(tmp_path, rows)
    one, two = facts[("13800000001", "reading")], facts[("13800000002", "video")]
    assert evaluate({"arrears_6m": {"gte": 2}}, one) and not evaluate({"arrears_6m": {"gte": 2}}, two)
    assert evaluate({"handset_brand": {"in": ["苹果", "华为"]}}, one)
    assert not evaluate({"handset_brand": {"in": ["苹果"]}}, two)
    assert evaluate({"handset_brand": {"exists": False}}, two)
    assert np.isfinite(one["arrears_6m"])
