"""Rule-relevant signatures: decide each distinct one once in durable_rules, share the outcome.

The packs, the contact policy and the strategy limits read a few dozen fact fields, and only
compare them with constants written in the YAML (ARCHITECTURE §4: `eq`/`ne`/`in`/`not_in` with
constants, ordering with numeric constants, `contains` with a text constant, `exists`). So
what the rule engine decides for a fact depends only on, per field read:

- its type tag: missing, bool, number, text, set (types never coerce);
- a number: where it falls among the field's numeric constants (the index of the first
  constant not below it, and whether it equals that constant) — all order and equality
  relations with every constant follow from that;
- a text: the text itself when it is one of the field's text constants, else "some other text";
- a set: which of the field's constants it holds, and whether it is empty;
- a bool: its value.

`Signatures.key(fact, packs)` is that class tuple plus the packs to decide. Two facts with the
same key fire the same rules, so they get the same decision, reason, strategy, channel,
exclusions, fired rules and require results; only the values shown in the trace (`tested`
values and each requirement's `value`) are the fact's own, and `Decider.revalue` puts those
back from the fact. durable_rules still decides: one fact per key goes through it.
tests/engine/rules/test_signature.py holds the shared path equal to deciding every fact
(hypothesis, on the shipped rules).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Iterable

import numpy as np

from engine.rules.conditions import SET_TYPES, field_tests, is_number, lookup

MISSING = 0


def _constants(cond: Any, into: dict[str, list]) -> None:
    """Collect (field -> constants) from a YAML condition tree."""
    if not isinstance(cond, dict):
        return
    for key, body in cond.items():
        if key in ("all", "any"):
            for sub in body:
                _constants(sub, into)
        elif key == "not":
            _constants(body, into)
        else:
            bucket = into.setdefault(key, [])
            for _op, expected in field_tests(body):
                bucket.extend(expected if isinstance(expected, SET_TYPES) else [expected])


class Signatures:
    """The fields a Decider's rules read, with their constants, and the class key of a fact."""

    def __init__(self, conditions: Iterable[Any], scopes: Iterable[dict], limits: dict[str, list]):
        found: dict[str, list] = {}
        for cond in conditions:
            _constants(cond, found)
        for scope in scopes:
            for name, value in scope.items():
                found.setdefault(name, []).extend(value if isinstance(value, list) else [value])
        for name, values in limits.items():
            found.setdefault(name, []).extend(values)
        self.fields: tuple[str, ...] = tuple(sorted(found))
        self._numbers = {name: sorted({v for v in values if is_number(v)}) for name, values in found.items()}
        self._texts = {name: frozenset(v for v in values if isinstance(v, str)) for name, values in found.items()}

    def value_class(self, name: str, value: Any) -> Any:
        """The class of one (normalised) value of field `name` (see the module docstring)."""
        if value is None:
            return MISSING
        if value is True or value is False:
            return ("b", value)
        if is_number(value):
            numbers = self._numbers[name]
            at = bisect_left(numbers, value)
            return ("n", at, at < len(numbers) and numbers[at] == value)
        if isinstance(value, str):
            return ("s", value if value in self._texts[name] else None)
        if isinstance(value, SET_TYPES):
            texts = self._texts[name]
            return ("l", frozenset(v for v in value if v in texts), len(value) == 0)
        return ("?", type(value).__name__, repr(value))  # not a rule-testable type: never shared

    def number_codes(self, name: str, values: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """`value_class` of many numbers of field `name` at once, as int codes (0 = missing):
        rows get equal codes exactly when their classes are equal."""
        constants = np.asarray(self._numbers[name], dtype=np.float64)
        numbers = np.asarray(values, dtype=np.float64)
        at = np.searchsorted(constants, numbers, side="left")
        equal = (at < len(constants)) & (constants[np.minimum(at, max(len(constants) - 1, 0))] == numbers) \
            if len(constants) else np.zeros(len(numbers), dtype=bool)
        return np.where(missing, 0, 1 + 2 * at.astype(np.int64) + equal)

    def key(self, fact: dict, packs: Iterable[str] | None) -> tuple:
        """The fact's signature (fact normalised: `engine.rules.conditions.normalise_fact`)."""
        classes = tuple(self.value_class(name, lookup(fact, name)) for name in self.fields)
        return (None if packs is None else tuple(sorted(packs)), classes)
