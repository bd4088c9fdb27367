"""Deciding once per rule-relevant signature (Decider.decide_shared) equals deciding every fact.

Property test on the shipped rules/ and strategies/: facts drawn so that many share a signature
(values near the YAML's constants, missing values, other types) are decided one by one through
durable_rules (`decide`) and through the shared path; every outcome — decision, reason,
strategy, channel, fired rules, exclusions, tested values, requirements — must be equal.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.content.documents import load_content
from engine.facts.fields import NEUTRAL_DEFAULTS
from engine.rules.decide import Decider
from nightly_inputs import RULES, STRATEGIES


@pytest.fixture(scope="module")
def deciders():
    content, diags = load_content(RULES, STRATEGIES)
    assert not [d for d in diags if d.severity == "error"], diags
    one, shared = Decider(content), Decider(content)
    yield one, shared
    one.close()
    shared.close()


def _values_for(decider: Decider, name: str):
    sig = decider.signatures
    numbers = sig._numbers.get(name, [])
    texts = sorted(sig._texts.get(name, []))
    near = [n + d for n in numbers for d in (-1, -0.5, 0, 0.25, 1)] or [0, 1.5, 7]
    options = [st.none(), st.booleans(), st.sampled_from(near), st.integers(-5, 400),
               st.sampled_from(texts + ["other"]), st.lists(st.sampled_from(texts + ["x"]), max_size=3)]
    return st.one_of(*options)


@st.composite
def _facts(draw, decider: Decider):
    fact = dict(NEUTRAL_DEFAULTS, segment="active", reasons=[])
    pack = draw(st.sampled_from(decider.packs))  # start inside some pack's scope, or nothing is decided
    for name, value in pack.scope.items():
        fact[name] = draw(st.sampled_from(value)) if isinstance(value, list) else value
    names = decider.signatures.fields
    for name in draw(st.lists(st.sampled_from(names), max_size=5, unique=True)):
        value = draw(_values_for(decider, name))
        if value is None:
            fact.pop(name, None)
        else:
            fact[name] = value
    return fact


def test_signature_fields_cover_policy_packs_scopes_and_limits(deciders):
    one, _ = deciders
    fields = set(one.signatures.fields)
    assert {"service", "city"} <= fields  # strategy limits read them
    for pack in one.packs:
        assert set(pack.scope) <= fields


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_shared_decisions_equal_deciding_each_fact(deciders, data):
    one, shared = deciders
    base = data.draw(_facts(one))
    facts = [base]
    for _ in range(data.draw(st.integers(1, 10))):  # neighbours: one field changed, often to a close value
        name = data.draw(st.sampled_from(one.signatures.fields))
        value = data.draw(_values_for(one, name))
        facts.append({k: v for k, v in base.items() if k != name} if value is None else dict(base, **{name: value}))
    packs = data.draw(st.one_of(st.none(), st.lists(st.sampled_from([p.name for p in one.packs]), unique=True)))
    for fact in facts + facts[::-1]:  # repeats: the second time every signature is a memo hit
        expected = [o.to_dict() for o in one.decide(fact, packs)]
        got = [o.to_dict() for o in shared.decide_shared(fact, packs)]
        assert got == expected, fact
    assert shared._shared  # the memo was used


def test_facts_in_scope_are_decided_the_same_way(deciders):
    one, shared = deciders
    fact = dict(NEUTRAL_DEFAULTS, segment="silent_long", billing="monthly", bundled=True, reasons=[],
                months_silent=3, has_data_spend=True, sensitivity_pct=90.0)
    for uses in (3, 2.5, 3, 2.5, 3.0, 2):  # uses_m0 >= 3 excludes (long_term_silent): the boundary matters
        f = dict(fact, uses_m0=uses)
        assert [o.to_dict() for o in shared.decide_shared(f)] == [o.to_dict() for o in one.decide(f)]
