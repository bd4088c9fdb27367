"""engine.rules.rete: the durable_rules host is synchronous, fires every matching rule once per fact,
keeps facts independent, and converts values so the engine cannot coerce types."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.rules.rete import RuleEngine, engine_fact
from engine.rules.compiler import CompiledRule, chunk, compile_condition
from engine.rules.conditions import normalise_fact


def _engine(*conds) -> RuleEngine:
    rules = []
    for i, cond in enumerate(conds):
        durable, matches = compile_condition(cond)
        rules.append(CompiledRule(f"target.{i}", f"r{i}", "target", cond, durable, matches))
    return RuleEngine(chunk("t", rules))


def _keys(engine: RuleEngine, fact: dict) -> set[str]:
    return {key for _, key in engine.fired(fact)}


def test_every_matching_rule_fires_and_no_match_is_not_an_error():
    with _engine({"a": {"gt": 1}}, {"a": {"gt": 2}}, {"b": "x"}) as engine:
        assert _keys(engine, {"a": 5}) == {"target.0", "target.1"}
        assert _keys(engine, {"a": 0}) == set()


def test_facts_are_independent_and_repeatable():
    with _engine({"a": 1}) as engine:
        # the same fact twice in a row would raise "already observed" if it were not retracted
        assert [_keys(engine, {"a": 1}) for _ in range(3)] == [{"target.0"}] * 3
        assert _keys(engine, {"a": 2}) == set()


def test_or_double_fires_are_deduplicated():
    with _engine({"any": [{"a": 1}, {"b": 1}, {"c": {"exists": True}}]}) as engine:
        assert engine.fired({"a": 1, "b": 1, "c": 1}) == {("t_0", "target.0")}


def test_actions_run_in_the_calling_thread_without_dispatcher_threads():
    before = threading.active_count()
    with _engine({"a": 1}) as engine:
        assert _keys(engine, {"a": 1}) == {"target.0"}
        assert threading.active_count() == before


def test_two_engines_with_the_same_rulesets_coexist():
    first, second = _engine({"a": 1}), _engine({"a": 1})
    try:
        assert _keys(first, {"a": 1}) == _keys(second, {"a": 1}) == {"target.0"}
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("cond, fact, fires", [
    ({"x": 1}, {"x": True}, False),  # durable alone says True == 1
    ({"x": True}, {"x": 1}, False),
    ({"x": {"lt": 5}}, {"x": "10"}, False),  # durable alone compares "10" < 5 as text
    ({"x": 3}, {"x": "3"}, False),
    ({"x": 3}, {"x": 3.0}, True),
    ({"x": {"gt": 0}}, {"x": 1e-7}, True),  # exponent notation breaks the engine: sent as a proxy
    ({"x": {"lt": 0.001}}, {"x": 1e-7}, True),
    ({"x": {"gt": 1000}}, {"x": 1e20}, True),
    ({"x": {"gt": 1000}}, {"x": float("inf")}, True),
    ({"x": {"exists": True}}, {"x": float("nan")}, False),
    ({"x": {"ne": 1}}, {"x": None}, True),
    ({"id": 7}, {"id": 7}, True),  # reserved engine names work as field names
    ({"sid": "s"}, {"sid": "s"}, True),
    ({"on_list": {"contains": "dnd"}}, {"on_list": np.array(["red", "dnd"], dtype=object)}, True),
    ({"propensity.s1": {"gte": 0.5}}, {"propensity": {"s1": np.float64(0.7)}}, True),
    ({"uses_m1": {"gte": 3}}, {"uses_m1": np.int64(3)}, True),
    ({"bundled": True}, {"bundled": np.bool_(True)}, True),
])
def test_values_are_converted_so_the_engine_cannot_coerce(cond, fact, fires):
    with _engine(cond) as engine:
        assert bool(_keys(engine, fact)) is fires


def test_engine_fact_uses_typed_keys():
    fact = normalise_fact({"id": 1, "s": "a", "b": False, "on_list": [], "propensity": {"p": 2e-9}, "m": None})
    assert engine_fact(fact) == {"rekindle": 1, "n_id": 1, "s_s": "a", "b_b": 0, "c_on_list": 0,
                                 "o_propensity": {"n_p": 0.0001}}


def test_unsupported_values_are_refused():
    import datetime

    with _engine({"a": 1}) as engine, pytest.raises(ValueError, match="'d'"):
        engine.fired({"d": datetime.date(2026, 1, 1)})


def test_only_runs_and_reports_the_named_rulesets():
    rules = {}
    for name in ("p1", "p2"):
        durable, matches = compile_condition({"a": 1})
        rules[name] = chunk(name, [CompiledRule("target.0", "t", "target", {"a": 1}, durable, matches)])
    with RuleEngine([*rules["p1"], *rules["p2"]]) as engine:
        assert engine.fired({"a": 1}) == {("p1_0", "target.0"), ("p2_0", "target.0")}
        assert engine.fired({"a": 1}, only={"p2_0"}) == {("p2_0", "target.0")}


def test_rules_of_rulesets_not_asked_for_do_not_even_fire():
    rules = {}
    for name in ("p1", "p2", "p3"):
        durable, matches = compile_condition({"a": 1})
        rules[name] = chunk(name, [CompiledRule("target.0", "t", "target", {"a": 1}, durable, matches)])
    with RuleEngine([r for name in ("p1", "p2", "p3") for r in rules[name]]) as engine:
        assert engine.fired({"a": 1}) == {("p1_0", "target.0"), ("p2_0", "target.0"), ("p3_0", "target.0")}
        assert engine.fires == 3
        assert engine.fired({"a": 1}, only={"p2_0"}) == {("p2_0", "target.0")}
        assert engine.fires == 4  # one fire: the guards kept p1's and p3's rules from matching
        assert engine.fired({"a": 1}, only=set()) == set() and engine.fires == 4
