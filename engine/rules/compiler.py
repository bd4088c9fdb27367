"""Compile validated rule packs, segmentation and the contact policy into durable_rules data.

The output (`CompiledPack`) is plain data: identity (name, sha256 of the file, schema version),
priority, holdout, scope, and per rule its id, kind, reason/segment/strategy, the YAML condition
and the durable_rules condition. `engine.rules.rete` runs it; `to_json()` is the stored artefact.

How the engine is made to honour the plain reading of `engine.rules.conditions` (each point
measured on durable-rules 2.0.28, see /work/shared/NOTES-durable-rules.md):

- **Typed keys.** durable compares across types (`True == 1`, `"10" < 5`, `"3" == 3`). So each
  fact value goes under a key named by its type: `n_<field>` numbers, `s_<field>` text,
  `b_<field>` bools (as 1/0), `l_<field>` set members plus `c_<field>` set size. A constant
  only ever meets values of its own type, so cross-type comparisons are false as in Python.
  The prefixes also keep the engine's reserved names `id` and `sid` out of facts.
- **Missing values** fail every durable comparison, `$neq` included, so "not equal" compiles to
  `$neq OR $nex`, negated comparisons to `<flipped op> OR $nex`, and "not contains" to
  `missing OR empty OR all items differ` (`$iall` is false on an empty list).
- **A guard term** `{"rekindle": 1}` heads every rule: a rule (or `$or` branch) made only of
  `$nex` tests hangs the engine on assert.
- **No `$in`**: `in` is an `$or` of equalities, `not_in` an `$and` of "not equal".
- **Numbers** written with an exponent (`1e-05`, `1e+16`) make the engine fail (error 204), on
  rules and facts alike. Constants must be 0 or strictly between 1e-4 and 1e15 in size; facts
  outside that range are sent as the nearest in-range proxy (see `engine.rules.rete`), which keeps
  every comparison with an allowed constant unchanged.
- **Size limits**: a fact firing more than 64 rule matches in one ruleset fails the assert
  (error 303; each true `$or` branch is a match), and very wide rulesets hang. Packs are split
  into rulesets of at most 48 rules and at most 64 possible simultaneous matches.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.rules.conditions import NUMBER_OPS, field_tests, is_number

GUARD_KEY = "rekindle"
NUM, STR, BOOL, SET_ITEMS, SET_SIZE = "n_", "s_", "b_", "l_", "c_"
PRESENCE = (NUM, STR, BOOL, SET_SIZE)  # exactly one of these keys exists for a present value
NESTED = "o_"
MAX_RULES_PER_RULESET = 48
MAX_MATCHES_PER_RULESET = 64
SMALLEST_NUMBER = 1e-4  # exclusive; below this json writes an exponent
LARGEST_NUMBER = 1e15  # exclusive

_FLIP = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}
KINDS = ("segment", "exclude", "target", "require", "treat")


def engine_key(name: str, prefix: str) -> str:
    """The engine fact key of a field for one value type (`a.b` -> `o_a.<prefix>b`)."""
    *heads, last = name.split(".")
    return ".".join([NESTED + h for h in heads] + [prefix + last])


@dataclass(frozen=True)
class _Node:
    """A lowered condition: a durable leaf, or an and/or of nodes (exclusive: at most one true)."""

    op: str  # "leaf" | "and" | "or"
    leaf: dict | None = None
    children: tuple["_Node", ...] = ()
    exclusive: bool = False

    def durable(self) -> dict:
        if self.op == "leaf":
            return self.leaf
        if len(self.children) == 1:
            return self.children[0].durable()
        return {"$and" if self.op == "and" else "$or": [c.durable() for c in self.children]}

    def max_matches(self) -> int:
        """How many rule matches one fact can produce (durable fires once per true `$or` branch)."""
        if self.op == "leaf":
            return 1
        counts = [c.max_matches() for c in self.children]
        if self.op == "and":
            return math.prod(counts)
        return max(counts) if self.exclusive else sum(counts)


def _leaf(d: dict) -> _Node:
    return _Node("leaf", leaf=d)


def _and(nodes: list[_Node]) -> _Node:
    return _Node("and", children=tuple(nodes))


def _or(nodes: list[_Node], exclusive: bool = False) -> _Node:
    return _Node("or", children=tuple(nodes), exclusive=exclusive)


def _constant(name: str, op: str, value: Any) -> tuple[str, Any]:
    """(type prefix, engine value) of a constant; refuses values the engine cannot hold."""
    if isinstance(value, bool):
        return BOOL, int(value)
    if is_number(value):
        if not math.isfinite(value) or (value != 0 and not SMALLEST_NUMBER < abs(value) < LARGEST_NUMBER):
            raise ValueError(f"{name}: {op} {value!r}: numbers in conditions must be 0 or between "
                             f"{SMALLEST_NUMBER} and {LARGEST_NUMBER:.0f} in size")
        return NUM, value
    if isinstance(value, str):
        return STR, value
    raise ValueError(f"{name}: {op} {value!r}: a condition value must be a number, text or true/false")


def _eq(name: str, value: Any, negate: bool, op: str = "eq") -> _Node:
    prefix, v = _constant(name, op, value)
    key = engine_key(name, prefix)
    if not negate:
        return _leaf({key: v})
    return _or([_leaf({"$neq": {key: v}}), _leaf({"$nex": {key: 1}})], exclusive=True)


def _members(name: str, op: str, values: Any) -> list[Any]:
    if not isinstance(values, list) or not values:
        raise ValueError(f"{name}: {op} needs a non-empty list, got {values!r}")
    seen: dict[tuple[str, Any], Any] = {}
    for v in values:  # 3 and 3.0 are one value; true and 1 are two
        seen.setdefault(_constant(name, op, v), v)
    return list(seen.values())


def _test(name: str, op: str, value: Any, negate: bool) -> _Node:
    if op in ("eq", "ne"):
        return _eq(name, value, negate != (op == "ne"), op)
    if op in NUMBER_OPS:
        if not is_number(value):
            raise ValueError(f"{name}: {op} needs a number, got {value!r}")
        _constant(name, op, value)
        key = engine_key(name, NUM)
        if not negate:
            return _leaf({"$" + op: {key: value}})
        return _or([_leaf({"$" + _FLIP[op]: {key: value}}), _leaf({"$nex": {key: 1}})], exclusive=True)
    if op in ("in", "not_in"):
        values = _members(name, op, value)
        if negate == (op == "in"):  # none of the values
            return _and([_eq(name, v, True, op) for v in values])
        return _or([_eq(name, v, False, op) for v in values], exclusive=True)
    if op == "contains":
        if not isinstance(value, str):
            raise ValueError(f"{name}: contains needs text, got {value!r}")
        items, size = engine_key(name, SET_ITEMS), engine_key(name, SET_SIZE)
        if not negate:
            return _leaf({"$iany": {items: {"$i": value}}})
        return _or([_leaf({"$nex": {size: 1}}), _leaf({size: 0}),
                    _leaf({"$iall": {items: {"$neq": {"$i": value}}}})], exclusive=True)
    if op == "exists":
        if not isinstance(value, bool):
            raise ValueError(f"{name}: exists needs true or false, got {value!r}")
        keys = [engine_key(name, p) for p in PRESENCE]
        if value != negate:
            return _or([_leaf({"$ex": {k: 1}}) for k in keys], exclusive=True)
        return _and([_leaf({"$nex": {k: 1}}) for k in keys])
    raise ValueError(f"{name}: unknown operator {op!r}")


def lower(cond: Any, negate: bool = False) -> _Node:
    """A YAML condition as a lowered tree, with `not` pushed down to the comparisons."""
    if not isinstance(cond, dict) or len(cond) != 1:
        raise ValueError(f"a condition is a mapping with exactly one key, got {cond!r}")
    (key, body), = cond.items()
    if key in ("all", "any"):
        if not isinstance(body, list) or not body:
            raise ValueError(f"{key} needs a non-empty list of conditions, got {body!r}")
        parts = [lower(c, negate) for c in body]
        return _and(parts) if (key == "all") != negate else _or(parts)
    if key == "not":
        return lower(body, not negate)
    tests = field_tests(body)
    if not tests:
        raise ValueError(f"{key}: no operators")
    parts = [_test(key, op, value, negate) for op, value in tests]
    return _or(parts) if negate else _and(parts)


def compile_condition(cond: Any) -> tuple[dict, int]:
    """(durable_rules condition with the guard term, most matches one fact can produce)."""
    node = lower(cond)
    return {"$and": [{GUARD_KEY: 1}, node.durable()]}, node.max_matches()


@dataclass(frozen=True)
class CompiledRule:
    key: str  # unique in its pack: "<kind>.<index>"; the durable rule name
    id: str  # YAML rule id; the strategy for treat entries; the field for require
    kind: str  # segment | exclude | target | require | treat
    when: Any  # the YAML condition; None = always true (a treat entry without `when`)
    condition: dict | None  # durable_rules condition (JSON-able); None = always true
    max_matches: int = 0
    reason: str | None = None
    segment: str | None = None
    strategy: str | None = None


@dataclass(frozen=True)
class CompiledRuleset:
    name: str  # unique per pack content: kind, name, hash prefix, chunk number
    rules: tuple[CompiledRule, ...]

    def definition(self) -> dict:
        """The durable_rules ruleset definition without actions (a fresh dict on each call)."""
        return {r.key: {"all": [{"m": json.loads(json.dumps(r.condition))}]} for r in self.rules}


@dataclass(frozen=True)
class CompiledPack:
    kind: str  # pack | contact_policy | segments
    name: str
    sha256: str
    schema_version: str
    rules: tuple[CompiledRule, ...]
    rulesets: tuple[CompiledRuleset, ...]
    priority: int = 0
    holdout: float = 0.0
    scope: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)  # policy caps/capacities/holdout; segments default

    def of_kind(self, kind: str) -> tuple[CompiledRule, ...]:
        """The rules of one kind, in file order."""
        return tuple(r for r in self.rules if r.kind == kind)

    def to_json(self) -> str:
        """The compiled artefact as JSON (sorted keys, stable across runs)."""
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True, default=str, indent=1)


def _rule(kind: str, index: int, rule_id: str, when: Any, **extra: Any) -> CompiledRule:
    key = f"{kind}.{index}"
    if when is None:
        return CompiledRule(key, rule_id, kind, None, None, 0, **extra)
    try:
        condition, matches = compile_condition(when)
    except ValueError as error:
        raise ValueError(f"{kind} rule '{rule_id}': {error}") from None
    if matches > MAX_MATCHES_PER_RULESET:
        raise ValueError(f"{kind} rule '{rule_id}': one fact could match it {matches} times (more than "
                         f"{MAX_MATCHES_PER_RULESET}); split its `any` groups into separate rules")
    return CompiledRule(key, rule_id, kind, when, condition, matches, **extra)


def chunk(prefix: str, rules: list[CompiledRule]) -> tuple[CompiledRuleset, ...]:
    """Split rules with conditions into rulesets within the engine's limits, keeping order."""
    out: list[CompiledRuleset] = []
    current: list[CompiledRule] = []
    matches = 0
    for rule in (r for r in rules if r.condition is not None):
        if current and (len(current) == MAX_RULES_PER_RULESET or matches + rule.max_matches > MAX_MATCHES_PER_RULESET):
            out.append(CompiledRuleset(f"{prefix}_{len(out)}", tuple(current)))
            current, matches = [], 0
        current.append(rule)
        matches += rule.max_matches
    if current:
        out.append(CompiledRuleset(f"{prefix}_{len(out)}", tuple(current)))
    return tuple(out)


def _data(doc: Any, kind: str) -> dict:
    if not isinstance(doc.data, dict):
        raise ValueError(f"{doc.path}: not a {kind} document")
    return doc.data


def _schema_version(kind: str) -> str:
    from engine.content.checks_schema import schema_version

    return schema_version(kind)


def _finish(doc: Any, kind: str, rules: list[CompiledRule], **extra: Any) -> CompiledPack:
    prefix = f"{kind}_{doc.name}_{doc.sha256[:12]}"
    return CompiledPack(kind=kind, name=doc.name, sha256=doc.sha256, schema_version=_schema_version(kind),
                        rules=tuple(rules), rulesets=chunk(prefix, rules), **extra)


def compile_pack(doc: Any) -> CompiledPack:
    """A validated rule pack document as a CompiledPack; ValueError on shapes it cannot compile."""
    data = _data(doc, "pack")
    rules: list[CompiledRule] = []
    for kind in ("exclude", "target"):
        for i, entry in enumerate(data.get(kind) or []):
            rules.append(_rule(kind, i, entry["rule"], entry["when"], reason=entry["reason"]))
    for i, (name, test) in enumerate((data.get("require") or {}).items()):
        rules.append(_rule("require", i, name, {name: test}, reason=f"require:{name}"))
    for i, entry in enumerate(data.get("treat") or []):
        rules.append(_rule("treat", i, entry["strategy"], entry.get("when"), strategy=entry["strategy"]))
    scope = data.get("scope") or {}
    for name, value in scope.items():
        for v in value if isinstance(value, list) else [value]:
            _constant(name, "scope", v)
    return _finish(doc, "pack", rules, priority=int(data["priority"]), holdout=float(data.get("holdout") or 0.0),
                   scope=dict(scope))


def compile_segments(doc: Any) -> CompiledPack:
    """The segmentation document (ordered rules, first match gives `segment`)."""
    data = _data(doc, "segments")
    rules = [_rule("segment", i, e["rule"], e["when"], reason=e["reason"], segment=e["segment"])
             for i, e in enumerate(data.get("segments") or [])]
    return _finish(doc, "segments", rules, settings={"default": data.get("default")})


def compile_policy(doc: Any) -> CompiledPack:
    """The contact policy: its exclusions as rules, caps/capacities/holdout as settings."""
    data = _data(doc, "contact_policy")
    rules = [_rule("exclude", i, e["rule"], e["when"], reason=e["reason"])
             for i, e in enumerate(data.get("exclude") or [])]
    settings = {k: data[k] for k in ("caps", "capacities", "holdout") if k in data}
    return _finish(doc, "contact_policy", rules, settings=settings)


ARTEFACT_FORMAT = "rekindle.compiled/1"


@dataclass(frozen=True)
class CompiledSet:
    """Everything a Decider runs — segmentation, contact policy, packs — compiled once.

    The compile-once artefact (issue 9): a run compiles its content once in the parent and its
    forked workers use this object (no YAML is recompiled per worker); `rekindle rules compile`
    writes `to_json()` and prints `sha256`. `from_json` loads it back (plain data, no code).
    """

    segments: CompiledPack | None
    policy: CompiledPack | None
    packs: tuple[CompiledPack, ...]

    def to_json(self) -> str:
        body = {"format": ARTEFACT_FORMAT, "segments": asdict(self.segments) if self.segments else None,
                "policy": asdict(self.policy) if self.policy else None, "packs": [asdict(p) for p in self.packs]}
        return json.dumps(body, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":"))

    @property
    def sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    @classmethod
    def from_json(cls, text: str) -> "CompiledSet":
        body = json.loads(text)
        if body.get("format") != ARTEFACT_FORMAT:
            raise ValueError(f"not a compiled rule set of format {ARTEFACT_FORMAT}: {body.get('format')!r}")
        return cls(_pack_from(body["segments"]), _pack_from(body["policy"]),
                   tuple(_pack_from(p) for p in body["packs"]))


def _pack_from(data: dict | None) -> CompiledPack | None:
    if data is None:
        return None
    rules = lambda items: tuple(CompiledRule(**r) for r in items)  # noqa: E731
    return CompiledPack(**dict(data, rules=rules(data["rules"]),
                               rulesets=tuple(CompiledRuleset(rs["name"], rules(rs["rules"])) for rs in data["rulesets"])))


def compile_set(content: Any) -> CompiledSet:
    """Compile loaded, checked content (engine.content.documents.load_content) once."""
    return CompiledSet(compile_segments(content.segments) if content.segments else None,
                       compile_policy(content.policy) if content.policy else None,
                       tuple(sorted((compile_pack(d) for d in content.packs.values()), key=lambda p: (p.priority, p.name))))
