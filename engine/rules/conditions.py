"""The plain reading of a YAML condition (ARCHITECTURE §4), in Python, without the rule engine.

This is the meaning the compiled durable_rules rulesets must reproduce (a hypothesis property
test holds the two together), and what the decision trace uses to show the values a fired rule
tested. Semantics, for every input type:

- A value is *missing* when its key is absent, or it is None or NaN. Every comparison on a
  missing value is false, except `ne`, `not_in` and `exists: false`, which are true.
- Types never coerce: a bool is not a number (`true != 1`), a string is never a number
  (`"10"` is not greater than 5), a set is never equal to a scalar. Ints and floats compare
  numerically (`3 == 3.0`). A comparison between values of different types is false
  (so `ne` and `not_in` are true). Ordering operators compare numbers only.
- `contains` is true when the value is a set (list) holding that string; an empty set is a
  value (`exists: true`), not a missing one.
- `not` negates this reading; a field with several operators ANDs them.

The meaning of each operator is written once, in `MEANING` and `relation`: a relation between a
present value and the YAML constant (`equal`, `member`, `order`, `contains`), possibly negated (a
negated operator is true on a missing value), or `exists`. `check_operator` reads it for one value;
`engine.rules.vector` reads the same two for a whole column of the fact frame (numpy applies
`relation` itself to a column of numbers or bools; any other column gets `check_operator` of each
of its distinct values). Property tests hold the column reading equal to this one
(tests/engine/rules/test_vector.py) and the compiled rulesets equal to it (test_compiler.py).

`normalise_fact` turns a fact as built by the fact stage (numpy scalars, nested
`{"propensity": {s: p}}`, sets as lists/tuples/sets) into the canonical plain dict both this
module and the engine read.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any, Iterator

import numpy as np

from engine.facts import fields as catalogue

GROUPS = ("all", "any", "not")
# operator -> (relation, negated): the one definition of every operator (module docstring)
MEANING: dict[str, tuple[str, bool]] = {
    "eq": ("equal", False), "ne": ("equal", True),
    "gt": ("order", False), "gte": ("order", False), "lt": ("order", False), "lte": ("order", False),
    "in": ("member", False), "not_in": ("member", True),
    "contains": ("contains", False),
    "exists": ("exists", False),
}
ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}  # work on numpy arrays too
NUMBER_OPS = tuple(ORDER)
OPERATORS = tuple(MEANING)
SET_TYPES = (list, tuple, set, frozenset)


def is_number(value: Any) -> bool:
    """A real number that is not a bool (numpy numbers included)."""
    kind = type(value)
    if kind is int or kind is float:  # the common case first: ABC checks are slow
        return True
    if kind is bool or kind is str:
        return False
    return isinstance(value, numbers.Real) and not isinstance(value, np.bool_)


def _is_numpy_bool(value: Any) -> bool:
    return isinstance(value, np.bool_)


def is_missing(value: Any) -> bool:
    """None, NaN and pandas' NA/NaT are missing values."""
    kind = type(value)
    if value is None:
        return True
    if kind is str or kind is bool or kind is int:
        return False
    if kind is float:
        return math.isnan(value)
    if is_number(value):
        try:
            return math.isnan(float(value))
        except (TypeError, ValueError):
            return False
    return kind.__name__ in ("NAType", "NaTType")


def kind_of(value: Any) -> str:
    """A present value's type tag: `b` bool, `n` number, `s` text, `l` set, `?` anything else."""
    kind = type(value)
    if kind is bool or isinstance(value, np.bool_):
        return "b"
    if kind is str:
        return "s"
    if is_number(value):
        return "n"
    if isinstance(value, SET_TYPES):
        return "l"
    return "?"


def same(a: Any, b: Any) -> bool:
    """Equality without coercion: bool only equals bool, numbers compare numerically."""
    kind = kind_of(a)
    return kind in "bns" and kind == kind_of(b) and bool(a == b)


def lookup(fact: dict, field: str) -> Any:
    """The value of `field` in a fact (None when missing); `a.b` also reads nested `{a: {b: ...}}`."""
    if field in fact:
        value = fact[field]
    elif "." in field:
        head, rest = field.split(".", 1)
        inner = fact.get(head)
        value = lookup(inner, rest) if isinstance(inner, dict) else None
    else:
        value = None
    return None if is_missing(value) else value


def relation(op: str, expected: Any, value: Any, kind: str) -> Any:
    """Whether the relation of `op` (MEANING, before negation) holds between the constant and a
    present value of type tag `kind` (`kind_of`). `value` may also be a numpy array of present
    values that all have that tag (numbers or bools): the answer is then a bool array, or False
    for every element (types never coerce)."""
    name = MEANING[op][0]
    if name == "equal":
        return value == expected if kind in "bns" and kind == kind_of(expected) else False
    if name == "member":
        hit: Any = False
        for item in expected:
            hit = hit | relation("eq", item, value, kind)
        return hit
    if name == "order":  # ordering compares numbers only
        return ORDER[op](value, expected) if kind == "n" and kind_of(expected) == "n" else False
    if name == "contains":  # one set at a time (a column of sets is read value by value)
        return kind == "l" and any(same(item, expected) for item in value)
    raise ValueError(f"operator {op!r} is not a relation")


def check_operator(op: str, expected: Any, value: Any) -> bool:
    """One `OP: VALUE` test against a fact value (None = missing)."""
    if op not in MEANING:
        raise ValueError(f"unknown operator {op!r}")
    name, negated = MEANING[op]
    present = value is not None
    if name == "exists":
        return present == bool(expected)
    hit = present and bool(relation(op, expected, value, kind_of(value)))
    return hit != negated


def field_tests(test: Any) -> list[tuple[str, Any]]:
    """The (operator, value) pairs of one field test; a scalar is shorthand for `eq`."""
    if isinstance(test, dict):
        return list(test.items())
    return [("eq", test)]


def evaluate(cond: dict, fact: dict) -> bool:
    """The plain reading of a YAML condition on a (normalised) fact."""
    if not isinstance(cond, dict) or len(cond) != 1:
        raise ValueError(f"a condition is a mapping with exactly one key, got {cond!r}")
    (key, body), = cond.items()
    if key == "all":
        return all(evaluate(c, fact) for c in body)
    if key == "any":
        return any(evaluate(c, fact) for c in body)
    if key == "not":
        return not evaluate(body, fact)
    value = lookup(fact, key)
    return all(check_operator(op, expected, value) for op, expected in field_tests(body))


def scope_condition(scope: dict) -> dict:
    """A pack's `scope` as a condition: `field: scalar` = eq, `field: [list]` = in, ANDed (an empty
    scope holds every fact). The one reading of a scope, per fact and per column."""
    return {"all": [{name: {"in": list(value)} if isinstance(value, list) else {"eq": value}}
                    for name, value in scope.items()]}


def fields_of(cond: dict) -> Iterator[str]:
    """Every field a condition tests, in order of appearance (with repeats)."""
    (key, body), = cond.items()
    if key in ("all", "any"):
        for c in body:
            yield from fields_of(c)
    elif key == "not":
        yield from fields_of(body)
    else:
        yield key


def tested_values(cond: dict | None, fact: dict) -> dict[str, Any]:
    """Field -> the fact's value (None when missing) for every field the condition tests."""
    if cond is None:
        return {}
    return {name: lookup(fact, name) for name in dict.fromkeys(fields_of(cond))}


tested_values.__test__ = False  # not a pytest test despite the name


def _plain(value: Any) -> Any:
    """numpy scalars to Python scalars; sets to sorted lists of their string members."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool:
        return value
    if isinstance(value, (*SET_TYPES, np.ndarray)):
        return sorted({str(v) for v in value if isinstance(v, str)})
    if _is_numpy_bool(value):
        return bool(value)
    if hasattr(value, "item") and is_number(value):
        return value.item()
    return value


_NUMERIC_FIELDS = {name: spec.type for name, spec in catalogue.FIELDS.items() if spec.type in catalogue.NUMERIC}


def _cast(name: str, value: Any) -> Any:
    """Catalogue casts that do not change meaning: integral floats in INT fields, ints in FLOAT fields."""
    kind = _NUMERIC_FIELDS.get(name)
    if kind is None and name.startswith(catalogue.PROPENSITY_PREFIX):
        kind = catalogue.FLOAT
    if kind is None or not is_number(value):
        return value
    if kind == catalogue.INT and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == catalogue.FLOAT and isinstance(value, int):
        return float(value)
    return value


_KINDS: dict[str, str | None] = {}  # field name -> catalogue numeric kind (None: no cast), memoised


def _numeric_kind(name: str) -> str | None:
    kind = _KINDS.get(name, _KINDS)
    if kind is _KINDS:
        kind = _NUMERIC_FIELDS.get(name)
        if kind is None and name.startswith(catalogue.PROPENSITY_PREFIX):
            kind = catalogue.FLOAT
        _KINDS[name] = kind
    return kind


def normalise_fact(fact: dict) -> dict:
    """The canonical fact: missing values dropped, plain Python scalars, sets as sorted string lists,
    `{"propensity": {s: p}}` flattened to `propensity.s` keys, catalogue casts applied.

    Values of types a condition cannot test (dates, mappings other than nested fields) are refused
    with a ValueError naming the field.
    """
    out: dict[str, Any] = {}
    for name, value in fact.items():
        # Fast paths for the plain values `engine.facts.build.fact_records` produces (the nightly run
        # normalises every fact); they give exactly what the general path below gives.
        kind = type(value)
        if type(name) is str:
            if kind is str or kind is bool:
                out[name] = value
                continue
            if kind is int or kind is float:
                if value != value:  # NaN: missing
                    continue
                cast = _numeric_kind(name)
                if cast == catalogue.INT and kind is float and value.is_integer():
                    value = int(value)
                elif cast == catalogue.FLOAT and kind is int:
                    value = float(value)
                out[name] = value
                continue
        if isinstance(value, dict):
            for sub, inner in normalise_fact(value).items():
                out[f"{name}.{sub}"] = _cast(f"{name}.{sub}", inner)
            continue
        if not isinstance(value, (*SET_TYPES, np.ndarray)) and is_missing(value):
            continue
        value = _plain(value)
        if not (isinstance(value, (str, bool, list)) or is_number(value)):
            raise ValueError(f"fact field {name!r} holds {type(value).__name__} {value!r}; "
                             "rules test only numbers, text, true/false and sets")
        out[str(name)] = _cast(str(name), value)
    return out
