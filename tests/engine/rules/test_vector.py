"""Vectorised conditions and segmentation: ARCHITECTURE §4 semantics, and equal to the rule engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.rules.vector import NotVectorisable, condition_mask, segment_frame
from nightly_inputs import RULES, STRATEGIES


@pytest.fixture
def frame():
    return pd.DataFrame({
        "uses_m0": [0, 3, 5],
        "days_since_contact": [np.nan, 10.0, 40.0],
        "billing": ["monthly", "per_use", None],
        "bundled": [True, False, True],
        "on_list": ["", "dnd|red", "dual_sim"],
    })


@pytest.mark.parametrize("cond, expected", [
    ({"uses_m0": 0}, [True, False, False]),
    ({"uses_m0": {"gte": 3, "lt": 5}}, [False, True, False]),
    ({"days_since_contact": {"lt": 30}}, [False, True, False]),  # missing never matches a comparison
    ({"days_since_contact": {"ne": 10}}, [True, False, True]),  # ... except ne (missing is "not equal")
    ({"billing": {"not_in": ["monthly"]}}, [False, True, True]),
    ({"billing": {"in": ["monthly", "free"]}}, [True, False, False]),
    ({"days_since_contact": {"exists": False}}, [True, False, False]),
    ({"not": {"days_since_contact": {"lt": 30}}}, [True, False, True]),
    ({"bundled": True}, [True, False, True]),
    ({"on_list": {"contains": "red"}}, [False, True, False]),
    ({"any": [{"uses_m0": 5}, {"on_list": {"contains": "dnd"}}]}, [False, True, True]),
    ({"all": [{"bundled": True}, {"billing": "monthly"}]}, [True, False, False]),
    ({"bundled": 1}, [False, False, False]),  # types never coerce: true is not 1
    ({"bundled": {"ne": 1}}, [True, True, True]),
    ({"billing": {"gt": 3}}, [False, False, False]),  # ordering compares numbers only
    ({"uses_m0": {"in": ["0", 3]}}, [False, True, False]),
])
def test_condition_semantics(frame, cond, expected):
    assert condition_mask(frame, cond).tolist() == expected


def test_unknown_fields_are_not_vectorised(frame):
    with pytest.raises(NotVectorisable):
        condition_mask(frame, {"no_such_field": 1})


def test_first_matching_rule_gives_the_segment_every_match_gives_a_reason(frame):
    segments = {"default": "active", "segments": [
        {"rule": "r1", "segment": "a", "when": {"uses_m0": {"gte": 3}}, "reason": "x"},
        {"rule": "r2", "segment": "b", "when": {"bundled": True}, "reason": "w"},
    ]}
    out = segment_frame(frame, segments)
    assert out["segment"].tolist() == ["b", "a", "a"]
    assert out["reasons"].tolist() == ["w", "x", "w|x"]
    assert out["segment_rules"].tolist() == ["r2", "r1", "r1|r2"]


def test_vectorised_segmentation_equals_the_rule_engine(night_inputs):
    from engine.facts.build import build_facts, fact_records
    from engine.snapshot.loader import load_snapshot
    from engine.content.documents import load_content
    from engine.rules.decide import Decider

    inputs = night_inputs
    content, _ = load_content(RULES, STRATEGIES)
    facts = build_facts(load_snapshot(inputs.data), inputs.as_of)
    ours = segment_frame(facts, content.segments.data)
    decider = Decider(content)
    theirs = [decider.segment(record) for record in fact_records(facts)]
    assert ours["segment"].tolist() == [t[0] for t in theirs]
    assert ours["reasons"].tolist() == ["|".join(sorted(t[1])) for t in theirs]


def test_vectorised_scopes_equal_the_deciders_scope_masks(night_inputs):
    from engine.facts.build import build_facts
    from engine.snapshot.loader import load_snapshot
    from engine.content.documents import load_content
    from engine.rules.decide import scope_mask
    from engine.night.context import build_context
    from engine.night.prepare import scope_masks

    inputs = night_inputs
    content, _ = load_content(RULES, STRATEGIES)
    facts = build_facts(load_snapshot(inputs.data), inputs.as_of)
    facts = pd.concat([facts, segment_frame(facts, content.segments.data)[["segment", "reasons"]]], axis=1)
    ctx = build_context(content, "r", inputs.as_of, "2026-11")
    ours = scope_masks(facts, ctx.packs)
    for name, pack in ctx.packs.items():
        theirs = scope_mask(facts, pack.scope).to_numpy(dtype=bool)
        assert np.array_equal(ours[name], theirs), name
        assert theirs.any(), name  # the comparison means something: every pack holds some facts
