"""The compiler: small packs compile to the expected durable conditions, limits are enforced,
and — property test — the compiled rulesets run by durable_rules agree with the plain reading
(`engine.rules.conditions.evaluate`) on random conditions and random facts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.rules.rete import RuleEngine
from engine.rules.compiler import (GUARD_KEY, MAX_MATCHES_PER_RULESET, MAX_RULES_PER_RULESET, CompiledRule,
                                   chunk, compile_condition, compile_pack, compile_policy, compile_segments)
from engine.rules.conditions import evaluate, normalise_fact
from engine.content.documents import load_document

FIXTURES = Path(__file__).parent / "backend_fixtures"


def _doc(name: str):
    doc, diags = load_document(FIXTURES / "rules" / name)
    assert doc is not None and not [d for d in diags if d.severity == "error"], diags
    return doc


def _body(cond) -> dict:
    """The compiled condition without the guard term."""
    durable, _ = compile_condition(cond)
    assert durable["$and"][0] == {GUARD_KEY: 1}
    return durable["$and"][1]


# --- compiled shapes -------------------------------------------------------------------------

@pytest.mark.parametrize("cond, expected", [
    ({"months_silent": {"gte": 3}}, {"$gte": {"n_months_silent": 3}}),
    ({"has_data_spend": True}, {"b_has_data_spend": 1}),
    ({"service": "reading"}, {"s_service": "reading"}),
    ({"service": {"in": ["reading", "video"]}}, {"$or": [{"s_service": "reading"}, {"s_service": "video"}]}),
    ({"service": {"not_in": ["sms"]}}, {"$or": [{"$neq": {"s_service": "sms"}}, {"$nex": {"s_service": 1}}]}),
    ({"on_list": {"contains": "dnd"}}, {"$iany": {"l_on_list": {"$i": "dnd"}}}),
    ({"id": 3}, {"n_id": 3}),
    ({"sid": "x"}, {"s_sid": "x"}),
    ({"propensity.lts_sms": {"gt": 0.5}}, {"$gt": {"o_propensity.n_lts_sms": 0.5}}),
    ({"not": {"uses_m0": {"gt": 2}}}, {"$or": [{"$lte": {"n_uses_m0": 2}}, {"$nex": {"n_uses_m0": 1}}]}),
    ({"not": {"any": [{"a": 1}, {"b": {"ne": "x"}}]}},
     {"$and": [{"$or": [{"$neq": {"n_a": 1}}, {"$nex": {"n_a": 1}}]}, {"s_b": "x"}]}),
    ({"not": {"on_list": {"contains": "red"}}},
     {"$or": [{"$nex": {"c_on_list": 1}}, {"c_on_list": 0}, {"$iall": {"l_on_list": {"$neq": {"$i": "red"}}}}]}),
    ({"x": {"in": [3, 3.0, True]}}, {"$or": [{"n_x": 3}, {"b_x": 1}]}),
])
def test_condition_shapes(cond, expected):
    assert _body(cond) == expected


@pytest.mark.parametrize("cond", [
    {"x": {"gt": "3"}}, {"x": {"gt": True}}, {"x": {"in": []}}, {"x": {"contains": 3}},
    {"x": {"exists": "yes"}}, {"x": {"like": 3}}, {"all": []}, {"a": 1, "b": 2},
    {"x": {"lt": 1e-5}}, {"x": {"eq": 1e16}}, {"x": {"gt": float("nan")}}, {"x": [1, 2]},
])
def test_shapes_the_engine_cannot_hold_are_refused(cond):
    with pytest.raises(ValueError):
        compile_condition(cond)


def test_pack_compiles_with_identity_kinds_and_require_per_field():
    doc = _doc("small_pack.yaml")
    pack = compile_pack(doc)
    assert (pack.name, pack.sha256, pack.schema_version, pack.priority, pack.holdout) == (
        "small_pack", doc.sha256, "1", 30, 0.05)
    assert pack.scope == {"segment": "silent_long", "billing": ["monthly", "per_use"]}
    assert [(r.kind, r.id) for r in pack.rules] == [
        ("exclude", "used_this_month"), ("exclude", "dual_sim"), ("target", "silent_3m"),
        ("require", "sensitivity_pct"), ("require", "has_data_spend"),
        ("treat", "lts_am_coaching"), ("treat", "lts_sms_usage_tips")]
    require = pack.of_kind("require")
    assert [r.reason for r in require] == ["require:sensitivity_pct", "require:has_data_spend"]
    assert require[0].when == {"sensitivity_pct": {"gte": 80}}
    always = pack.of_kind("treat")[1]
    assert always.when is None and always.condition is None
    # the always-true treat entry is not sent to the engine
    assert [r.key for rs in pack.rulesets for r in rs.rules] == [r.key for r in pack.rules if r.condition]
    assert all(doc.sha256[:12] in rs.name for rs in pack.rulesets)
    artefact = json.loads(pack.to_json())
    assert artefact["rules"][0]["condition"] == {"$and": [{GUARD_KEY: 1}, {"$gte": {"n_uses_m0": 3}}]}


def test_segments_and_policy_compile():
    segments = compile_segments(_doc("segments.yaml"))
    assert segments.settings == {"default": "active"}
    assert [(r.id, r.segment, r.reason) for r in segments.rules][0] == ("new_order", "new", "ordered_recently")
    policy = compile_policy(_doc("contact_policy.yaml"))
    assert [r.reason for r in policy.rules] == ["do_not_disturb", "contacted_recently"]
    assert policy.settings["caps"] == {"per_run": 1, "per_30_days": 2}


def test_large_pack_is_split_into_rulesets_within_the_engine_limits(tmp_path):
    targets = [{"rule": f"t{i}", "when": {"uses_m1": {"gte": i}}, "reason": "r"} for i in range(130)]
    pack = {"pack": "big", "title": "t", "owner": "o", "status": "draft", "priority": 1,
            "target": targets, "treat": [{"strategy": "s"}]}
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(pack), encoding="utf-8")
    doc, _ = load_document(path)
    compiled = compile_pack(doc)
    sizes = [len(rs.rules) for rs in compiled.rulesets]
    assert sizes == [48, 48, 34] and len({rs.name for rs in compiled.rulesets}) == 3
    # every one of the 130 rules fires for uses_m1 = 200: the split keeps each ruleset under 64 matches
    with RuleEngine(compiled.rulesets) as engine:
        assert len(engine.fired({"uses_m1": 200})) == 130


def test_a_rule_that_could_match_more_than_64_times_is_refused(tmp_path):
    wide = {"any": [{f"uses_m{i % 4}": {"gte": i}} for i in range(65)]}
    pack = {"pack": "wide", "title": "t", "owner": "o", "status": "draft", "priority": 1,
            "target": [{"rule": "wide", "when": wide, "reason": "r"}], "treat": [{"strategy": "s"}]}
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump(pack), encoding="utf-8")
    doc, _ = load_document(path)
    with pytest.raises(ValueError, match="target rule 'wide'.*65 times"):
        compile_pack(doc)


def test_chunk_counts_possible_double_fires():
    cond = {"any": [{"a": {"gt": 0}}, {"b": {"gt": 0}}, {"c": {"gt": 0}}]}  # up to 3 matches per fact
    durable, matches = compile_condition(cond)
    assert matches == 3
    rules = [CompiledRule(f"target.{i}", f"t{i}", "target", cond, durable, matches) for i in range(30)]
    sets = chunk("x", rules)
    assert all(sum(r.max_matches for r in rs.rules) <= MAX_MATCHES_PER_RULESET for rs in sets)
    assert all(len(rs.rules) <= MAX_RULES_PER_RULESET for rs in sets)
    with RuleEngine(sets) as engine:
        assert len(engine.fired({"a": 1, "b": 1, "c": 1})) == 30


# --- property: durable_rules == the plain reading ------------------------------------------

FIELDS = ["a", "b", "id", "sid", "uses_m1", "arpu", "bundled", "on_list", "p.x"]
NUMBERS = st.one_of(st.integers(-4, 4), st.sampled_from([0.5, 2.5, -1.25, 3.0, 0.00015, 0.1 + 0.2, 0.3, 999999.75]))
SCALARS = st.one_of(NUMBERS, st.booleans(), st.sampled_from(["", "1", "3", "true", "a", "b", "操心", "$x"]))
FACT_VALUES = st.one_of(
    st.none(), SCALARS, st.just(float("nan")), st.just(float("inf")),
    st.sampled_from([1e-7, -3e-9, 1e20, 2 ** 60, 3.0000000000000004]),
    st.lists(st.sampled_from(["a", "b", "1", "dnd", "true", 1, True]), max_size=3),
)


def _test_body():
    ops = {
        "eq": SCALARS, "ne": SCALARS, "gt": NUMBERS, "gte": NUMBERS, "lt": NUMBERS, "lte": NUMBERS,
        "in": st.lists(SCALARS, min_size=1, max_size=3), "not_in": st.lists(SCALARS, min_size=1, max_size=3),
        "contains": st.sampled_from(["a", "1", "dnd", "true", ""]), "exists": st.booleans(),
    }
    one = st.sampled_from(sorted(ops)).flatmap(lambda op: ops[op].map(lambda v: (op, v)))
    return st.one_of(SCALARS, st.lists(one, min_size=1, max_size=2).map(dict))


LEAF = st.builds(lambda f, body: {f: body}, st.sampled_from(FIELDS), _test_body())
CONDITIONS = st.recursive(LEAF, lambda inner: st.one_of(
    st.builds(lambda c: {"not": c}, inner),
    st.lists(inner, min_size=1, max_size=3).map(lambda cs: {"all": cs}),
    st.lists(inner, min_size=1, max_size=3).map(lambda cs: {"any": cs}),
), max_leaves=6)


@st.composite
def FACTS(draw):
    fact = {}
    for name in draw(st.lists(st.sampled_from(FIELDS), unique=True)):
        value = draw(FACT_VALUES)
        if name == "p.x":
            fact["p"] = {"x": value}
        else:
            fact[name] = value
    return fact


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(conds=st.lists(CONDITIONS, min_size=1, max_size=6), facts=st.lists(FACTS(), min_size=1, max_size=6))
def test_durable_rules_agree_with_the_plain_reading(conds, facts):
    rules = []
    for i, cond in enumerate(conds):
        durable, matches = compile_condition(cond)
        assume(matches <= MAX_MATCHES_PER_RULESET)
        rules.append(CompiledRule(f"target.{i}", f"r{i}", "target", cond, durable, matches))
    rulesets = chunk("prop", rules)
    with RuleEngine(rulesets) as engine:
        for fact in facts:
            plain = normalise_fact(fact)
            expected = {r.key for r in rules if evaluate(r.when, plain)}
            assert {key for _, key in engine.fired(fact)} == expected, (fact, plain)
