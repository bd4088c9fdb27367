"""Calling-circle fact fields (engine/facts/circle.py): from the optional subscribers columns,
missing without them — so the retention pack's circle rules never match an old snapshot."""

from __future__ import annotations

import numpy as np

from engine.facts.build import build_facts, fact_records
from engine.snapshot.contract import SUBSCRIBER_OPTIONAL, TABLES
from engine.snapshot.loader import load_snapshot
from snapshots import HANDMADE, HANDMADE_AS_OF, SUBSCRIBERS, write_snapshot, write_table

CORE = [c for c in TABLES["subscribers"].column_names if c not in {o.name for o in SUBSCRIBER_OPTIONAL}]


def _facts(tmp_path, subscribers, columns=None):
    write_snapshot(tmp_path, {k: v for k, v in HANDMADE.items() if k != "subscribers"})
    write_table(tmp_path, "subscribers", subscribers, columns=columns)
    frame = build_facts(load_snapshot(tmp_path), HANDMADE_AS_OF)
    return {(r["msisdn"], r["service"]): r for r in fact_records(frame)}


def test_circle_fields_from_the_optional_columns(tmp_path):
    rows = [dict(SUBSCRIBERS[0], circle_size="10", circle_size_6m_ago="16", calls_monthly="125"),
            dict(SUBSCRIBERS[1], circle_size="0", circle_size_6m_ago="0", calls_monthly="3"), dict(SUBSCRIBERS[2])]
    facts = _facts(tmp_path, rows)
    one = facts[("13800000001", "reading")]
    assert (one["circle_size"], one["circle_trend"], one["calls_per_contact"]) == (10, 0.625, 12.5)
    two = facts[("13800000002", "video")]
    assert two["circle_size"] == 0 and "circle_trend" not in two and "calls_per_contact" not in two


def test_circle_fields_are_missing_without_the_columns(tmp_path):
    facts = _facts(tmp_path, SUBSCRIBERS, CORE)
    for fact in facts.values():
        assert not {"circle_size", "circle_trend", "calls_per_contact"} & set(fact)
