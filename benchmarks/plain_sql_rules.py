"""The rule packs as SQL: a YAML condition becomes a SQL boolean expression (benchmarks/plain_sql.py).

The plain SQL night of issue 12's comparison reads the shipped YAML (rules/*.yaml) and
translates it here instead of copying its numbers by hand, so the benchmark keeps deciding
what the packs say when a planner changes a threshold. The translation follows the plain
reading of a condition (engine/rules/conditions.py, ARCHITECTURE §4):

- a missing value (SQL NULL) makes every comparison false, except `ne` / `not_in` (true) and
  `exists: false`; every leaf is therefore wrapped so it is never NULL, and `not` is a plain NOT;
- types never coerce: a constant of another kind than the field (a bool against a number, text
  against a number) never equals it, and ordering compares numbers only;
- SET fields (`on_list`, `preferences`, `reasons`, `causes`) are SQL lists: `contains` is
  `list_contains`, an empty list is a value.

`pack_outcome_sql` gives one SELECT per pack: scope → contact-policy and pack exclusions (first
hit's reason, policy first) → `no_target` → `require:<field>` → `no_strategy` → treat, with the
first treat entry whose `when` matches and whose strategy's `services` / `regions` limits allow
the fact (engine/rules/decide.py `_outcome`). No trace, no tested values, no audit.
"""

from __future__ import annotations

from typing import Any

from engine.facts.fields import BOOL, ENUM, FLOAT, INT, SET, STRING, lookup

_ORDER = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def literal(value: Any) -> str:
    """A SQL literal for a YAML scalar (text quoted with '' doubled; bools TRUE/FALSE)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise ValueError(f"not a scalar condition value: {value!r}")


def _kind(name: str) -> str:
    field = lookup(name)
    if field is None:
        raise ValueError(f"field {name!r} is not in the catalogue")
    return {INT: "n", FLOAT: "n", BOOL: "b", STRING: "s", ENUM: "s", SET: "set"}[field.type]


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "b"
    if isinstance(value, (int, float)):
        return "n"
    return "s" if isinstance(value, str) else "?"


def column(name: str) -> str:
    """The facts table's column for a field (quoted: `propensity.x` has a dot)."""
    return '"' + name.replace('"', '""') + '"'


def _leaf(name: str, op: str, arg: Any) -> str:
    col, kind = column(name), _kind(name)
    if kind == "set":
        if op == "contains":
            return f"coalesce(list_contains({col}, {literal(arg)}), FALSE)"
        if op == "exists":
            return f"({col} IS {'NOT ' if arg else ''}NULL)"
        raise ValueError(f"{op} on SET field {name}")
    if op == "exists":
        return f"({col} IS {'NOT ' if arg else ''}NULL)"
    if op in ("eq", "ne", "in", "not_in"):
        values = arg if op in ("in", "not_in") else [arg]
        same = [literal(v) for v in values if _value_kind(v) == kind]
        equal = f"coalesce({col} IN ({', '.join(same)}), FALSE)" if same else "FALSE"
        return equal if op in ("eq", "in") else f"(NOT {equal})"
    if op in _ORDER:
        if kind != "n" or _value_kind(arg) != "n":
            return "FALSE"
        return f"coalesce({col} {_ORDER[op]} {literal(arg)}, FALSE)"
    raise ValueError(f"operator {op}")


def condition_sql(cond: Any) -> str:
    """A SQL boolean (never NULL) for one condition (ARCHITECTURE §4 semantics)."""
    if not isinstance(cond, dict) or len(cond) != 1:
        raise ValueError(f"not a condition: {cond!r}")
    (key, arg), = cond.items()
    if key == "all":
        return "(" + " AND ".join(condition_sql(c) for c in arg) + ")"
    if key == "any":
        return "(" + " OR ".join(condition_sql(c) for c in arg) + ")"
    if key == "not":
        return f"(NOT {condition_sql(arg)})"
    ops = arg if isinstance(arg, dict) else {"eq": arg}
    return "(" + " AND ".join(_leaf(key, op, value) for op, value in ops.items()) + ")"


def scope_sql(scope: dict) -> str:
    """A pack's scope: field: scalar = eq, field: [list] = in; ANDed (engine/rules/decide.scope_mask)."""
    parts = [condition_sql({name: {"in": v} if isinstance(v, list) else {"eq": v}}) for name, v in scope.items()]
    return " AND ".join(parts) if parts else "TRUE"


def segment_sql(segments: dict) -> str:
    """CASE giving the segment: the first matching rule of rules/segments.yaml, else `default`."""
    whens = [f"WHEN {condition_sql(r['when'])} THEN {literal(r['segment'])}" for r in segments.get("segments") or []]
    return f"CASE {' '.join(whens)} ELSE {literal(segments.get('default', 'active'))} END"


def _allowed(strategy: dict) -> str:
    """The strategy's `services` / `regions` limits as SQL (absent or empty = no limit)."""
    parts = []
    if strategy.get("services"):
        parts.append(condition_sql({"service": {"in": list(strategy["services"])}}))
    if strategy.get("regions"):
        parts.append(condition_sql({"city": {"in": list(strategy["regions"])}}))
    return " AND ".join(parts) if parts else "TRUE"


def treat_entries(pack: dict, strategies: dict[str, dict]) -> list[tuple[str, str, str]]:
    """(strategy, channel, SQL: this entry matches and is allowed) per treat entry, in pack order."""
    out = []
    for entry in pack.get("treat") or []:
        strategy = strategies.get(entry["strategy"], {})
        when = condition_sql(entry["when"]) if entry.get("when") is not None else "TRUE"
        out.append((entry["strategy"], str(strategy.get("channel", "")), f"({when} AND {_allowed(strategy)})"))
    return out


def pack_outcome_sql(name: str, pack: dict, policy: dict, strategies: dict[str, dict],
                     limited: set[str], source: str = "facts") -> str:
    """One row per fact in the pack's scope: fact id, pack, priority, decision, reason, strategy,
    channel, `policy_hit`, and `fallback_strategy` / `fallback_channel` (the first matching
    entry on an unlimited channel other than the first entry's, for a full channel)."""
    exclusions = [(condition_sql(r["when"]), r["reason"]) for r in (policy.get("exclude") or [])]
    policy_hit = " OR ".join(c for c, _ in exclusions) or "FALSE"
    exclusions += [(condition_sql(r["when"]), r["reason"]) for r in (pack.get("exclude") or [])]
    targets = [(condition_sql(r["when"]), r["reason"]) for r in (pack.get("target") or [])]
    requires = [(condition_sql({field: ops}), field) for field, ops in (pack.get("require") or {}).items()]
    treats = treat_entries(pack, strategies)
    any_target = " OR ".join(c for c, _ in targets) or "FALSE"
    any_treat = " OR ".join(c for _, _, c in treats) or "FALSE"
    decision = ["CASE"] + [f"WHEN {c} THEN 'excluded'" for c, _ in exclusions]
    reason = ["CASE"] + [f"WHEN {c} THEN {literal(r)}" for c, r in exclusions]
    decision.append(f"WHEN NOT ({any_target}) THEN 'not_selected'")
    reason.append(f"WHEN NOT ({any_target}) THEN 'no_target'")
    for c, field in requires:
        decision.append(f"WHEN NOT {c} THEN 'not_selected'")
        reason.append(f"WHEN NOT {c} THEN {literal('require:' + field)}")
    decision.append(f"WHEN NOT ({any_treat}) THEN 'not_selected' ELSE 'treat' END")
    first_target = " ".join(f"WHEN {c} THEN {literal(r)}" for c, r in targets)
    reason.append(f"WHEN NOT ({any_treat}) THEN 'no_strategy' ELSE CASE {first_target} END END")
    strategy = "CASE " + " ".join(f"WHEN {c} THEN {literal(s)}" for s, _, c in treats) + " END" if treats else "NULL"
    channel = "CASE " + " ".join(f"WHEN {c} THEN {literal(ch)}" for _, ch, c in treats) + " END" if treats else "NULL"
    free = [(s, ch, c) for s, ch, c in treats if ch not in limited]
    fallback_s = "CASE " + " ".join(f"WHEN {c} THEN {literal(s)}" for s, _, c in free) + " END" if free else "NULL"
    fallback_c = "CASE " + " ".join(f"WHEN {c} THEN {literal(ch)}" for _, ch, c in free) + " END" if free else "NULL"
    if not pack.get("fallback", True):
        fallback_s = fallback_c = "NULL"
    return (f"SELECT fid, {literal(name)} AS pack, {int(pack.get('priority', 0))} AS priority, "
            f"{' '.join(decision)} AS decision, {' '.join(reason)} AS reason, "
            f"{strategy} AS strategy, {channel} AS channel, ({policy_hit}) AS policy_hit, "
            f"{fallback_s} AS fallback_strategy, {fallback_c} AS fallback_channel "
            f"FROM {source} WHERE {scope_sql(pack.get('scope') or {})}")
