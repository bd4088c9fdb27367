"""The only module that imports durable_rules: evaluate facts against compiled rulesets.

`RuleEngine(rulesets).fired(fact)` returns the set of (ruleset, rule key) that match one fact.
Usage rules measured on durable-rules 2.0.28 (/work/shared/NOTES-durable-rules.md):

- A `Host` whose `_run` does nothing: no dispatcher threads, every action runs inside the call
  that asserted the fact, so evaluation is synchronous and deterministic.
- Facts, not events (every matching rule fires), one at a time: `assert_fact` then
  `retract_fact`, so nothing accumulates (memory stays flat; no false "already observed").
- A fact matching no rule raises `MessageNotHandledException`: that just means no fire.
- Actions are tiny (append the rule key); an exception inside one would be swallowed by the
  library, so each is wrapped and the error re-raised after the call.
- Ruleset names are made unique per process (a name cannot be registered twice), and the
  rules of several compiled rulesets share engine rulesets within the limits (fewer asserts).
- Only the fact keys some rule reads are sent (the library serialises the fact twice per assert).
- Not thread-safe: one RuleEngine per process (or per worker process); never share it.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any, Iterable

from durable.engine import Host, MessageNotHandledException, MessageObservedException

from engine.rules.compiler import (BOOL, GUARD_KEY, LARGEST_NUMBER, MAX_MATCHES_PER_RULESET, MAX_RULES_PER_RULESET,
                                   NESTED, NUM, SET_ITEMS, SET_SIZE, SMALLEST_NUMBER, STR, CompiledRuleset)
from engine.rules.conditions import is_number, normalise_fact

_names = itertools.count()  # process-wide: ruleset names are registered once per process


class _QuietHost(Host):
    """A durable Host without its dispatcher timer threads (actions run in the caller)."""

    def _run(self) -> None:  # noqa: D401 - overrides the thread-starting loop
        return None


def _number(value: float | int) -> float | int:
    """A number the engine can parse: values written with an exponent become in-range proxies.

    Compiled constants are 0 or strictly between SMALLEST_NUMBER and LARGEST_NUMBER in size, so
    a tiny value compares with every constant exactly as ±SMALLEST_NUMBER does, and a huge one
    (or infinity) as ±LARGEST_NUMBER.
    """
    size = abs(value)
    if value == 0 or SMALLEST_NUMBER <= size < LARGEST_NUMBER:
        return value
    sign = 1 if value > 0 else -1
    return sign * (SMALLEST_NUMBER if size < SMALLEST_NUMBER else LARGEST_NUMBER)


def _put(out: dict, name: str, prefix: str, value: Any, keep: set[str] | None) -> None:
    *heads, last = name.split(".")
    if keep is not None and (NESTED + heads[0] if heads else prefix + last) not in keep:
        return  # no rule reads it: a smaller fact is a faster json.dumps inside the library
    for head in heads:
        out = out.setdefault(NESTED + head, {})
    out[prefix + last] = value


def engine_fact(fact: dict, keep: set[str] | None = None) -> dict:
    """A normalised fact as the engine sees it: each value under its typed key (see compiler).

    `keep`: the top-level engine keys any loaded rule reads; other fields are left out.
    """
    out: dict[str, Any] = {GUARD_KEY: 1}
    for name, value in fact.items():
        if isinstance(value, bool):
            _put(out, name, BOOL, int(value), keep)
        elif is_number(value):
            if not (isinstance(value, float) and math.isnan(value)):
                _put(out, name, NUM, _number(value), keep)
        elif isinstance(value, str):
            _put(out, name, STR, value, keep)
        elif isinstance(value, list):
            _put(out, name, SET_SIZE, len(value), keep)
            if value:
                _put(out, name, SET_ITEMS, list(value), keep)
        else:
            raise ValueError(f"fact field {name!r}: cannot send {type(value).__name__} to the rule engine")
    return out


def _keys_read(condition: Any, out: set[str]) -> set[str]:
    """The top-level fact keys a durable condition reads."""
    if isinstance(condition, dict):
        for key, value in condition.items():
            if key.startswith("$"):
                _keys_read(value, out)
            else:
                out.add(key.split(".", 1)[0])
                _keys_read(value, out)
    elif isinstance(condition, list):
        for item in condition:
            _keys_read(item, out)
    return out


class RuleEngine:
    """Compiled rulesets loaded into one durable_rules host; `fired(fact)` per fact.

    The rules of consecutive compiled rulesets are packed together into as few engine rulesets
    as the limits allow (48 rules, 64 possible matches): each engine ruleset costs an
    assert, a retract and two `json.dumps` of the fact per fact.
    """

    def __init__(self, rulesets: Iterable[CompiledRuleset]):
        self._host = _QuietHost()
        self._hits: list[int] = []
        self._errors: list[BaseException] = []
        # per engine ruleset: (registered name, compiled ruleset names in it, [(compiled name, rule key)])
        self._groups: list[tuple[str, set[str], list[tuple[str, str]]]] = []
        self._keep: set[str] = {GUARD_KEY}
        members: list[tuple[str, Any]] = []
        matches = 0
        for ruleset in rulesets:
            for rule in ruleset.rules:
                if members and (len(members) == MAX_RULES_PER_RULESET
                                or matches + rule.max_matches > MAX_MATCHES_PER_RULESET):
                    self._register(members)
                    members, matches = [], 0
                members.append((ruleset.name, rule))
                matches += rule.max_matches
        if members:
            self._register(members)

    def _register(self, members: list[tuple[str, Any]]) -> None:
        registered = f"rekindle_{next(_names)}"
        definition = {}
        for index, (_, rule) in enumerate(members):
            condition = json.loads(json.dumps(rule.condition))  # durable mutates what it is given
            definition[f"r{index}"] = {"all": [{"m": condition}], "run": self._action(index)}
            _keys_read(rule.condition, self._keep)
        self._host.set_rulesets({registered: definition})
        self._groups.append((registered, {name for name, _ in members}, [(name, r.key) for name, r in members]))

    def _action(self, index: int):
        hits, errors = self._hits, self._errors

        def run(c):  # durable needs a plain function of exactly one parameter
            try:
                hits.append(index)
            except BaseException as error:  # pragma: no cover - appending cannot fail in practice
                errors.append(error)

        return run

    def fired(self, fact: dict, normalised: bool = False, only: set[str] | None = None) -> set[tuple[str, str]]:
        """(compiled ruleset name, rule key) of every rule matching the fact; `$or` double fires collapse.

        `normalised`: the fact already went through `normalise_fact`. `only`: report (and run)
        just the rules of compiled rulesets with these names (e.g. the packs in scope).
        """
        message = engine_fact(fact if normalised else normalise_fact(fact), self._keep)
        out: set[tuple[str, str]] = set()
        for registered, names, rules in self._groups:
            if only is not None and not (names & only):
                continue
            self._hits.clear()
            try:
                self._host.assert_fact(registered, message)
            except MessageNotHandledException:
                continue
            except MessageObservedException:
                # An identical live fact: cannot happen while every fact is retracted at once,
                # except for a 32-bit hash collision (#376). Retract and try once more.
                self._host.retract_fact(registered, message)
                self._hits.clear()
                self._host.assert_fact(registered, message)
            self._host.retract_fact(registered, message)
            if self._errors:
                error = self._errors[0]
                self._errors.clear()
                raise RuntimeError(f"rule action failed in {registered}: {error}") from error
            out.update(rules[i] for i in self._hits if only is None or rules[i][0] in only)
        return out

    def close(self) -> None:
        """Release the native rulesets; the engine cannot be used afterwards."""
        import durable_rules_engine

        for ruleset in list(self._host._ruleset_list):
            try:
                durable_rules_engine.delete_ruleset(ruleset._handle)
            except Exception:  # noqa: BLE001 - best effort at shutdown
                pass
        self._host._ruleset_list.clear()
        self._host._ruleset_directory.clear()
        self._groups.clear()

    def __enter__(self) -> "RuleEngine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
