"""The only module that imports durable_rules: evaluate facts against compiled rulesets.

`RuleEngine(rulesets).fired(fact)` returns the set of (ruleset, rule key) that match one fact.
Usage rules measured on durable-rules 2.0.28 (/work/shared/NOTES-durable-rules.md):

- A `Host` whose `_run` does nothing: no dispatcher threads. The host compiles and registers
  the rulesets; facts are then driven through the native engine (`durable_rules_engine`)
  exactly as `Host.assert_fact`/`retract_fact` do, but each fire costs one small native call
  and a name lookup instead of the library's per-fire Python closure, state JSON round trip and
  JSON decoding of the whole fact (~20 µs per fire). Evaluation is synchronous and deterministic.
- Facts, not events (every matching rule fires), one at a time: `assert_fact` then
  `retract_fact`, so nothing accumulates (memory stays flat; no false "already observed").
- A fact matching no rule (native result 1, `MessageNotHandledException` in the library): no fire.
- The registered Python actions are never called (the library requires one per rule), so no
  action error can be swallowed.
- Ruleset names are made unique per process (a name cannot be registered twice), and the
  rules of several compiled rulesets share engine rulesets within the limits (fewer asserts).
- Only the fact keys some rule reads are sent, serialised once per fact (the library would
  serialise it twice per engine ruleset: assert and retract).
- Each rule is guarded by a key of its compiled ruleset (`g_<n>`); a fact carries only the keys
  of the rulesets asked for (`fired(..., only=...)`, e.g. the packs in scope), so other packs'
  rules never match and cost no fire.
- Not thread-safe: one RuleEngine per process (or per worker process); never share it.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any, Iterable

import durable_rules_engine as _native
from durable.engine import Host, MessageNotHandledException, MessageObservedException

from engine.rules.compiler import (BOOL, GUARD_KEY, LARGEST_NUMBER, MAX_MATCHES_PER_RULESET, MAX_RULES_PER_RULESET,
                                   NESTED, NUM, SET_ITEMS, SET_SIZE, SMALLEST_NUMBER, STR, CompiledRuleset)
from engine.rules.conditions import is_number, normalise_fact

RULESET_GUARD = "g_"  # engine key prefix of the per-ruleset guards (compiler prefixes: n_ s_ b_ l_ c_ o_)
_names = itertools.count()  # process-wide: ruleset names are registered once per process
# result codes of the native assert/retract (durable.engine.Ruleset._handle_result)
_NOT_HANDLED, _OBSERVED, _QUEUED = 1, 2, 3


def _rule_index(message: str) -> int:
    """The index of the fired rule from a native action record `{"r<index>":{"m":{...}}}`."""
    if message.startswith('{"r'):
        end = message.find('"', 3)
        name = message[3:end]
        if name.isdigit():
            return int(name)
    (name,) = json.loads(message)  # any other layout: read it properly
    return int(name[1:])


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


def _plan(name: str, prefix: str, keep: set[str] | None) -> tuple[tuple[str, ...], str] | None:
    """(nested engine keys, leaf key) where a field's value goes; None when no rule reads it."""
    *heads, last = name.split(".")
    if keep is not None and (NESTED + heads[0] if heads else prefix + last) not in keep:
        return None  # no rule reads it: a smaller fact is a faster json.dumps
    return tuple(NESTED + head for head in heads), prefix + last


def _put(out: dict, name: str, prefix: str, value: Any, keep: set[str] | None, plans: dict) -> None:
    plan = plans.get((name, prefix), plans)
    if plan is plans:
        plan = plans[(name, prefix)] = _plan(name, prefix, keep)
    if plan is None:
        return
    heads, last = plan
    for head in heads:
        out = out.setdefault(head, {})
    out[last] = value


_PREFIX = {bool: BOOL, str: STR, int: NUM, float: NUM}  # plain scalar type -> engine key prefix


def engine_fact(fact: dict, keep: set[str] | None = None, plans: dict | None = None) -> dict:
    """A normalised fact as the engine sees it: each value under its typed key (see compiler).

    `keep`: the top-level engine keys any loaded rule reads; other fields are left out.
    `plans`: a cache of where each (field, type) goes, valid for one `keep` (a RuleEngine keeps one).
    """
    plans = {} if plans is None else plans
    out: dict[str, Any] = {GUARD_KEY: 1}
    for name, value in fact.items():
        prefix = _PREFIX.get(type(value))
        if prefix is None:  # sets, numpy and other numbers: the general path
            _put_other(out, name, value, keep, plans)
            continue
        plan = plans.get((name, prefix), plans)
        if plan is plans:
            plan = plans[(name, prefix)] = _plan(name, prefix, keep)
        if plan is None:
            continue
        if prefix is NUM:
            if value != value:  # NaN matches nothing: leave it out
                continue
            value = _number(value)
        elif prefix is BOOL:
            value = int(value)
        heads, last = plan
        target = out
        for head in heads:
            target = target.setdefault(head, {})
        target[last] = value
    return out


def _put_other(out: dict, name: str, value: Any, keep: set[str] | None, plans: dict) -> None:
    if isinstance(value, bool):
        _put(out, name, BOOL, int(value), keep, plans)
    elif is_number(value):
        if not (isinstance(value, float) and math.isnan(value)):
            _put(out, name, NUM, _number(value), keep, plans)
    elif isinstance(value, str):
        _put(out, name, STR, value, keep, plans)
    elif isinstance(value, list):
        _put(out, name, SET_SIZE, len(value), keep, plans)
        if value:
            _put(out, name, SET_ITEMS, list(value), keep, plans)
    else:
        raise ValueError(f"fact field {name!r}: cannot send {type(value).__name__} to the rule engine")


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
        # per engine ruleset: (native handle, compiled ruleset names in it, [(compiled name, rule key)])
        self._groups: list[tuple[int, set[str], list[tuple[str, str]]]] = []
        self._keep: set[str] = {GUARD_KEY}
        self._plans: dict = {}  # engine_fact's cache for this engine's `keep`
        self.fires = 0  # rule fires inside the engine so far (`$or` double fires included): a cost measure
        # Each rule is guarded by a key of its compiled ruleset (`g_<n>`): a fact carries the keys
        # of the rulesets asked for (`only`), so rules of other packs never match, and never fire.
        self._guard: dict[str, str] = {}  # compiled ruleset name -> its guard key
        self._guards: dict[frozenset | None, dict[str, int]] = {}  # `only` -> guard keys to send
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
        for index, (name, rule) in enumerate(members):
            guard = self._guard.setdefault(name, f"{RULESET_GUARD}{len(self._guard)}")
            # a fresh copy: durable mutates what it is given
            condition = {"$and": [{guard: 1}, json.loads(json.dumps(rule.condition))]}
            definition[f"r{index}"] = {"all": [{"m": condition}], "run": self._action(index)}
            _keys_read(rule.condition, self._keep)
        self._host.set_rulesets({registered: definition})
        handle = self._host.get_ruleset(registered)._handle  # facts go to the native engine directly
        self._groups.append((handle, {name for name, _ in members}, [(name, r.key) for name, r in members]))

    @staticmethod
    def _action(index: int):
        """The Python action the library requires per rule; `fired` reads fires natively instead."""

        def run(c):  # durable needs a plain function of exactly one parameter
            return None

        return run

    def fired(self, fact: dict, normalised: bool = False, only: set[str] | None = None) -> set[tuple[str, str]]:
        """(compiled ruleset name, rule key) of every rule matching the fact; `$or` double fires collapse.

        `normalised`: the fact already went through `normalise_fact`. `only`: report (and run)
        just the rules of compiled rulesets with these names (e.g. the packs in scope).
        """
        message = engine_fact(fact if normalised else normalise_fact(fact), self._keep, self._plans)
        message.update(self._guard_keys(only))
        text = json.dumps(message, ensure_ascii=False)  # what the library would send, made once
        out: set[tuple[str, str]] = set()
        for handle, names, rules in self._groups:
            if only is not None and not (names & only):
                continue
            hits = self._assert_retract(handle, text)
            out.update(rules[i] for i in hits if only is None or rules[i][0] in only)
        return out

    def _guard_keys(self, only: set[str] | None) -> dict[str, int]:
        """The guard keys a fact carries so that the rules of these compiled rulesets (all: None) can fire."""
        key = None if only is None else frozenset(only)
        keys = self._guards.get(key)
        if keys is None:
            keys = self._guards[key] = {g: 1 for name, g in self._guard.items() if only is None or name in only}
        return keys

    def _assert_retract(self, handle: int, text: str) -> list[int]:
        """Indexes of the rules the fact fires in one engine ruleset (assert, drain, retract).

        Drives the native engine the way `durable.engine.Host.assert_fact`/`retract_fact` do,
        minus the per-fire Python closure and the JSON decoding of the whole fact per fire: only
        the fired rule's name is read from each action record.
        """
        hits: list[int] = []
        code, state = _native.assert_fact(handle, text)
        if code == _NOT_HANDLED:
            return hits
        if code == _OBSERVED:
            # An identical live fact: cannot happen while every fact is retracted at once,
            # except for a 32-bit hash collision (#376). Retract and try once more.
            self._drain(handle, self._checked(_native.retract_fact(handle, text), text), [])
            state = self._checked(_native.assert_fact(handle, text), text)
        else:
            state = 0 if code == _QUEUED else state
        self._drain(handle, state, hits)
        self._drain(handle, self._checked(_native.retract_fact(handle, text), text), hits)
        self.fires += len(hits)
        return hits

    @staticmethod
    def _checked(result: tuple, text: str) -> int:
        """The state handle of a native result, raising as `durable.engine.Ruleset._handle_result` does."""
        if result[0] == _NOT_HANDLED:
            raise MessageNotHandledException(text)
        if result[0] == _OBSERVED:
            raise MessageObservedException(text)
        return 0 if result[0] == _QUEUED else result[1]

    @staticmethod
    def _drain(handle: int, state_handle: int, hits: list[int]) -> None:
        """Run the pending actions of a state: record each fired rule's index ("r<index>")."""
        started = _native.start_action_for_state(handle, state_handle)
        if not started:
            return
        state, message = started
        while message:
            hits.append(_rule_index(message))
            _native.update_state(handle, state)  # as the library does after each action
            message = _native.complete_and_start_action(handle, state_handle)

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
