"""Vectorised conditions and segmentation: ARCHITECTURE §4 semantics, equal to the plain reading of each
fact (engine.rules.conditions, hypothesis) and to the rule engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.facts.build import fact_records
from engine.rules.conditions import OPERATORS, evaluate, normalise_fact
from engine.rules.vector import NotVectorisable, condition_mask, operator_mask, scope_mask, segment_frame
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
    assert out["segment_rules"].tolist() == [("r2",), ("r1",), ("r1", "r2")]


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
    assert ours["segment_rules"].tolist() == [tuple(t[2]) for t in theirs]
    assert decider.segment_frame(facts)["segment_rules"].tolist() == ours["segment_rules"].tolist()  # one form


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


# --- one reading: the column masks equal the plain reading of every fact, for every operator ---

# Cell pools per column kind: numbers, bools, texts (object and pandas' str), categories (one with
# categories no cell holds), objects of mixed types (True, 1 and 1.0 are one key to a hash table,
# never to the plain reading), nullable bools, and two SET fields of the catalogue ('|'-joined in
# the frame, lists in the facts; an empty cell is an empty set).
_COLUMNS = {
    "n_int": (st.integers(-2, 3), "int64"),
    "n_float": (st.sampled_from([0.0, 1.0, 2.5, -1.0, float("nan")]), "float64"),
    "flag": (st.booleans(), "bool"),
    "text": (st.sampled_from(["a", "b", "1", "", None]), object),
    "cat": (st.sampled_from(["monthly", "per_use", None]), "category"),
    "cat_wide": (st.sampled_from(["per_use", "monthly", None]), pd.CategoricalDtype(["free", "monthly", "per_use"])),
    "arrow_text": (st.sampled_from(["a", "b", "monthly", None]), "str"),
    "mixed": (st.sampled_from([True, False, 1, 0, 1.0, 2.5, "1", "a", None, float("nan")]), object),
    "maybe": (st.sampled_from([True, False, None]), "boolean"),
    "on_list": (st.sampled_from(["", "dnd", "dnd|red", "red", None]), object),
    "reasons": (st.sampled_from(["", "monthly", "monthly|silent_3_months", None]), object),
}
_CONSTANTS = st.sampled_from([0, 1, 1.0, 2.5, -1, True, False, "a", "1", "", "dnd", "red", "monthly"])


@st.composite
def _frames(draw):
    n = draw(st.integers(0, 12))
    return pd.DataFrame({name: pd.Series([draw(cells) for _ in range(n)], dtype=dtype)
                         for name, (cells, dtype) in _COLUMNS.items()})


def _one_test(op, const, items, flag):
    return {op: items if op in ("in", "not_in") else flag if op == "exists" else const}


# `field: scalar` (eq), one operator, or several ANDed
_FIELD_TESTS = st.one_of(
    _CONSTANTS,
    st.builds(_one_test, st.sampled_from(OPERATORS), _CONSTANTS, st.lists(_CONSTANTS, min_size=1, max_size=3),
              st.booleans()),
    st.builds(lambda a, b: {**a, **b}, *[st.builds(_one_test, st.sampled_from(OPERATORS), _CONSTANTS,
                                                   st.lists(_CONSTANTS, min_size=1, max_size=3), st.booleans())] * 2))
_LEAVES = st.builds(lambda name, test: {name: test}, st.sampled_from(sorted(_COLUMNS)), _FIELD_TESTS)
_CONDITIONS = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.builds(lambda subs: {"all": subs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda subs: {"any": subs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda sub: {"not": sub}, inner)), max_leaves=5)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(frame=_frames(), cond=_CONDITIONS)
def test_column_masks_equal_the_plain_reading_of_every_fact(frame, cond):
    facts = [normalise_fact(record) for record in fact_records(frame)]
    assert condition_mask(frame, cond).tolist() == [evaluate(cond, fact) for fact in facts], cond


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(frame=_frames(), op=st.sampled_from(OPERATORS), const=_CONSTANTS, items=st.lists(_CONSTANTS, min_size=1, max_size=3))
def test_every_operator_on_every_column_kind(frame, op, const, items):
    expected = items if op in ("in", "not_in") else const
    facts = [normalise_fact(record) for record in fact_records(frame)]
    for name in _COLUMNS:
        ours = operator_mask(frame[name], op, expected).tolist()
        assert ours == [evaluate({name: {op: expected}}, fact) for fact in facts], (name, op, expected)


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(frame=_frames(), picks=st.dictionaries(st.sampled_from(sorted(_COLUMNS) + ["absent"]),
                                               _CONSTANTS | st.lists(_CONSTANTS, min_size=1, max_size=3), max_size=3))
def test_scope_masks_equal_the_per_fact_scope_test(frame, picks):
    from engine.rules.decide import in_scope

    facts = [normalise_fact(record) for record in fact_records(frame)]
    assert scope_mask(frame, picks).tolist() == [in_scope(fact, picks) for fact in facts], picks
