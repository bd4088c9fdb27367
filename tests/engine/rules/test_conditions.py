"""engine.rules.conditions: the plain reading of YAML conditions and the tested values."""

from __future__ import annotations

import pytest

from engine.rules.conditions import evaluate, normalise_fact, tested_values


@pytest.mark.parametrize("cond, fact, expected", [
    ({"a": {"gte": 3}}, {"a": 3}, True),
    ({"a": {"gte": 3}}, {}, False),
    ({"a": {"ne": 3}}, {}, True),  # missing is "not equal"
    ({"a": {"not_in": [1, 2]}}, {"a": None}, True),
    ({"a": {"in": [1, 2]}}, {"a": None}, False),
    ({"a": {"exists": False}}, {"a": float("nan")}, True),
    ({"a": {"exists": True}}, {"a": []}, True),  # an empty set is a value
    ({"not": {"a": {"gt": 2}}}, {}, True),
    ({"a": True}, {"a": 1}, False),  # no bool/number coercion
    ({"a": 1}, {"a": 1.0}, True),
    ({"a": {"lt": 5}}, {"a": "3"}, False),  # text is never a number
    ({"a": {"ne": "3"}}, {"a": 3}, True),
    ({"l": {"contains": "x"}}, {"l": ["y", "x"]}, True),
    ({"l": {"contains": "x"}}, {"l": "x"}, False),
    ({"a": {"gt": 1, "lt": 3}}, {"a": 2}, True),
    ({"a": {"gt": 1, "lt": 3}}, {"a": 3}, False),
    ({"all": [{"a": 1}, {"any": [{"b": 1}, {"c": 1}]}]}, {"a": 1, "c": 1}, True),
    ({"p.s": {"gt": 0.5}}, {"p": {"s": 0.6}}, True),
])
def test_plain_reading(cond, fact, expected):
    assert evaluate(cond, fact) is expected


def test_tested_values_name_every_field_with_its_value_or_none():
    cond = {"all": [{"a": {"gte": 3}}, {"not": {"b": 1}}, {"any": [{"a": 1}, {"p.s": {"exists": True}}]}]}
    assert tested_values(cond, {"a": 4, "p": {"s": 0.2}}) == {"a": 4, "b": None, "p.s": 0.2}
    assert tested_values(None, {"a": 1}) == {}


def test_normalise_fact():
    import numpy as np

    fact = normalise_fact({"uses_m1": 3.0, "arpu": 5, "on_list": {"red", "dnd", 3}, "x": np.int64(2),
                           "propensity": {"s": np.float64(0.5)}, "gone": None, "nan": float("nan")})
    assert fact == {"uses_m1": 3, "arpu": 5.0, "on_list": ["dnd", "red"], "x": 2, "propensity.s": 0.5}
    assert type(fact["uses_m1"]) is int and type(fact["arpu"]) is float and type(fact["x"]) is int


def test_bad_condition_is_refused():
    with pytest.raises(ValueError):
        evaluate({"a": 1, "b": 2}, {})
    with pytest.raises(ValueError):
        evaluate({"a": {"like": 1}}, {"a": 1})
