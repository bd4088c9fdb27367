"""Semantic checks across content files, beyond what the JSON Schemas can say.

Every problem is a `Diagnostic` at the offending key's line. Codes are stable; add new ones at
the end of their block and never reuse a retired code.

=======  ========  ==============================================================================
code     severity  meaning
=======  ========  ==============================================================================
RP001    error     YAML syntax error (line and column from the parser)
RP002    error     duplicate key in a mapping (both lines named)
RP003    error     empty file, or a file that is not one of the content kinds
RP004    error     file or folder cannot be read / does not exist / is not UTF-8
RP005    error     file beyond the limits: > 1,000,000 characters, > 100,000 values after aliases, > 50 levels
RP010    error     unknown key (schema), with the closest known keys
RP011    error     missing required key (schema)
RP012    error     unknown field in a condition, scope, require or test fact
RP013    error     value of the wrong type (schema)
RP014    error     value not allowed: status, channel, segment, decision, id pattern... (schema)
RP015    error     value out of range or empty: holdout outside 0..1, negative cap, empty list (schema)
RP020    error     malformed condition (not exactly one key, not a mapping, no operator)
RP021    error     unknown operator
RP022    error     operator does not fit the field type (gt on text, contains on a non-set field)
RP023    error     comparison value of the wrong type for the field (text where a number is due)
RP024    error     in / not_in without a (non-empty) list, or a list where one value is due
RP025    error     unknown value for an enum field (segment, list, billing, service, tier, ...)
RP026    error     empty all / any
RP027    error     numeric contradiction on one field ({gte: 5, lt: 3}): the rule never matches
RP030    error     duplicate rule id within a file (or service id within the catalogue)
RP031    error     unreachable treat entry: an earlier entry has no `when`, or the same `when`
RP032    error     rule with the same condition as an earlier rule of the same section
RP034    error     pack / strategy id differs from the file name
RP035    warning   two packs share a priority (arbitration order between them is by name)
RP036    error     a pack compiles to more comparisons than durable_rules handles in one ruleset
RP037    error     the same pack / strategy / policy is defined in two files
RP040    error     unknown strategy (treat, expect.strategy) or unknown pack (expect.pack)
RP041    warning   no strategies folder found: strategy references not checked
ST001    error     strategy message template uses a field outside the allowed set, or bad syntax
ST002    error     strategy maintained_on is not a real date (YYYY-MM-DD)
ST003    error     strategy names an unknown service
=======  ========  ==============================================================================
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable

from engine.facts import fields as catalogue
from engine.base.diagnostics import WARNING, Diagnostic, did_you_mean
from engine.content.messages import template_problems
from engine.content.checks_conditions import ConditionChecker
from engine.content.checks_models import check_sensitivity, check_value_stability
from engine.content.document import Content, Document

DUPLICATE_ID = "RP030"
UNREACHABLE_TREAT = "RP031"
SAME_CONDITION = "RP032"
NAME_NOT_STEM = "RP034"
SHARED_PRIORITY = "RP035"
TOO_MANY_CONDITIONS = "RP036"
UNKNOWN_STRATEGY = "RP040"
BAD_TEMPLATE = "ST001"
BAD_DATE = "ST002"
UNKNOWN_SERVICE = "ST003"

# durable_rules hangs creating a ruleset with more than ~512 conditions at one level (#377);
# the compiler splits packs into rulesets of ~48 rules, and a pack beyond this is refused.
MAX_CONDITIONS_PER_PACK = 500


def _diag(doc: Document, code: str, path: str, message: str, hint: str = "", severity: str = "error") -> Diagnostic:
    line, column = doc.position(path)
    return Diagnostic(code, message, file=str(doc.path), line=line, column=column, path=path, hint=hint,
                      severity=severity)


def _items(doc: Document, key: str) -> list[tuple[str, dict]]:
    """(path, entry) for the mapping entries of a list at the top level."""
    data = doc.data if isinstance(doc.data, dict) else {}
    values = data.get(key)
    if not isinstance(values, list):
        return []
    return [(f"/{key}/{i}", item) for i, item in enumerate(values) if isinstance(item, dict)]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


class _Context:
    """What the checks of one document may resolve names against."""

    def __init__(self, content: Content):
        self.content = content
        services_doc = content.services.data if content.services and isinstance(content.services.data, dict) else {}
        listed = [s.get("service") for s in services_doc.get("services") or [] if isinstance(s, dict)]
        listed = tuple(s for s in listed if isinstance(s, str))
        self.services = listed or catalogue.FIELDS["service"].values
        self.strategies = frozenset(content.strategies) if content.strategies_known else None
        reasons = None
        if content.segments is not None:
            reasons = frozenset(item.get("reason") for _, item in _items(content.segments, "segments")
                                if isinstance(item.get("reason"), str))
        self.segment_reasons = reasons

    def checker(self, doc: Document) -> ConditionChecker:
        return ConditionChecker(doc, services=self.services, strategies=self.strategies,
                                segment_reasons=self.segment_reasons)

    def check_strategy_ref(self, doc: Document, name: Any, path: str, out: list[Diagnostic]) -> None:
        if self.strategies is None or not isinstance(name, str) or name in self.strategies:
            return
        hint = did_you_mean(name, self.strategies) or "add strategies/<name>.yaml or fix the name"
        out.append(_diag(doc, UNKNOWN_STRATEGY, path, f"unknown strategy '{name}'", hint))


def _check_rules(ctx: _Context, doc: Document, checker: ConditionChecker, sections: Iterable[str],
                 out: list[Diagnostic]) -> int:
    """Rule lists (exclude/target/segments): ids unique in the file, conditions, no duplicates."""
    ids: dict[str, int] = {}
    count = 0
    for section in sections:
        conditions: dict[str, str] = {}
        for path, rule in _items(doc, section):
            rule_id = rule.get("rule")
            if isinstance(rule_id, str):
                if rule_id in ids:
                    out.append(_diag(doc, DUPLICATE_ID, f"{path}/rule",
                                     f"duplicate rule id '{rule_id}' (first on line {ids[rule_id]})",
                                     "rule ids are recorded in every decision; make each unique"))
                else:
                    ids[rule_id] = doc.position(f"{path}/rule")[0] or 0
            if "when" not in rule:
                continue
            count += checker.check_condition(rule["when"], f"{path}/when")
            key = _canonical(rule["when"])
            if key in conditions:
                out.append(_diag(doc, SAME_CONDITION, f"{path}/when",
                                 f"rule '{rule_id}' has the same condition as rule '{conditions[key]}' in '{section}'",
                                 "it can never be the first match; remove it or change its condition"))
            else:
                conditions[key] = str(rule.get("rule"))
    return count


def _check_cases(ctx: _Context, doc: Document, checker: ConditionChecker, key: str, out: list[Diagnostic]) -> None:
    for path, case in _items(doc, key):
        if "given" in case:
            checker.check_given(case["given"], f"{path}/given")
        expect = case.get("expect")
        if not isinstance(expect, dict):
            continue
        ctx.check_strategy_ref(doc, expect.get("strategy"), f"{path}/expect/strategy", out)
        pack = expect.get("pack")
        known = set(ctx.content.packs) | ({doc.name} if doc.kind == "pack" else set())
        if isinstance(pack, str) and pack not in known and (doc.kind == "pack" or ctx.content.packs):
            out.append(_diag(doc, UNKNOWN_STRATEGY, f"{path}/expect/pack", f"unknown pack '{pack}'",
                             did_you_mean(pack, known)))


def check_pack(ctx: _Context, doc: Document) -> list[Diagnostic]:
    """One rule pack: conditions, rule ids, treat order and references, tests, size limit."""
    out: list[Diagnostic] = []
    data = doc.data if isinstance(doc.data, dict) else {}
    checker = ctx.checker(doc)
    if isinstance(data.get("pack"), str) and data["pack"] != doc.path.stem:
        out.append(_diag(doc, NAME_NOT_STEM, "/pack", f"pack '{data['pack']}' is in file '{doc.path.name}'",
                         f"rename the file to {data['pack']}.yaml or the pack to '{doc.path.stem}'"))
    if "scope" in data:
        checker.check_scope(data["scope"], "/scope")
    count = _check_rules(ctx, doc, checker, ("exclude", "target"), out)
    if "require" in data:
        count += checker.check_require(data["require"], "/require")
    unconditional: int | None = None
    earlier: dict[str, int] = {}  # canonical `when` -> line of the first treat entry with it
    for path, entry in _items(doc, "treat"):
        ctx.check_strategy_ref(doc, entry.get("strategy"), f"{path}/strategy", out)
        line = doc.position(path)[0] or 0
        when = _canonical(entry["when"]) if "when" in entry else None
        if unconditional is not None:
            out.append(_diag(doc, UNREACHABLE_TREAT, path,
                             f"treat entry '{entry.get('strategy')}' is never reached: the entry on line "
                             f"{unconditional} has no 'when' and always matches",
                             "move the unconditional entry last"))
        elif when is not None and when in earlier:
            out.append(_diag(doc, UNREACHABLE_TREAT, path,
                             f"treat entry '{entry.get('strategy')}' is never reached: the entry on line "
                             f"{earlier[when]} has the same 'when' and comes first",
                             "change its condition or remove it"))
        if when is not None:
            count += checker.check_condition(entry["when"], f"{path}/when")
            earlier.setdefault(when, line)
        elif unconditional is None:
            unconditional = line
    _check_cases(ctx, doc, checker, "tests", out)
    if count > MAX_CONDITIONS_PER_PACK:
        out.append(_diag(doc, TOO_MANY_CONDITIONS, "/pack",
                         f"pack '{doc.name}' compiles to {count} comparisons; at most {MAX_CONDITIONS_PER_PACK} are allowed",
                         "durable_rules hangs on very large rulesets; split the pack or use in: lists sparingly"))
    return out + checker.diagnostics


def check_strategy(ctx: _Context, doc: Document) -> list[Diagnostic]:
    """One strategy: id = file name, message template fields, a real date, known services."""
    out: list[Diagnostic] = []
    data = doc.data if isinstance(doc.data, dict) else {}
    if isinstance(data.get("strategy"), str) and data["strategy"] != doc.path.stem:
        out.append(_diag(doc, NAME_NOT_STEM, "/strategy", f"strategy '{data['strategy']}' is in file '{doc.path.name}'",
                         f"rename the file to {data['strategy']}.yaml or the strategy to '{doc.path.stem}'"))
    if isinstance(data.get("message"), str):
        for problem in template_problems(data["message"]):
            out.append(_diag(doc, BAD_TEMPLATE, "/message", f"message: {problem}"))
    if "maintained_on" in data:
        value = data["maintained_on"]
        if not isinstance(value, dt.date):
            try:
                dt.date.fromisoformat(str(value))
            except ValueError:
                out.append(_diag(doc, BAD_DATE, "/maintained_on",
                                 f"maintained_on '{value}' is not a real date", "write YYYY-MM-DD, e.g. 2026-11-01"))
    services = data.get("services")
    for index, service in enumerate(services if isinstance(services, list) else []):
        if isinstance(service, str) and service not in ctx.services:
            out.append(_diag(doc, UNKNOWN_SERVICE, f"/services/{index}", f"unknown service '{service}'",
                             did_you_mean(service, ctx.services) or f"known: {', '.join(ctx.services)}"))
    return out


def check_policy(ctx: _Context, doc: Document) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    checker = ctx.checker(doc)
    _check_rules(ctx, doc, checker, ("exclude",), out)
    return out + checker.diagnostics


def check_segments(ctx: _Context, doc: Document) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    checker = ctx.checker(doc)
    # Segment rules cannot test `segment`/`reasons` (they produce them) — the compiler's concern;
    # here their conditions get the same field and type checks as pack rules.
    checker.segment_reasons = None
    _check_rules(ctx, doc, checker, ("segments",), out)
    return out + checker.diagnostics


def check_services(ctx: _Context, doc: Document) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    first: dict[str, int] = {}
    for path, item in _items(doc, "services"):
        service = item.get("service")
        if not isinstance(service, str):
            continue
        if service in first:
            out.append(_diag(doc, DUPLICATE_ID, f"{path}/service",
                             f"service '{service}' is listed twice (first on line {first[service]})"))
        else:
            first[service] = doc.position(f"{path}/service")[0] or 0
    return out


def check_cases_file(ctx: _Context, doc: Document) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    checker = ctx.checker(doc)
    _check_cases(ctx, doc, checker, "cases", out)
    return out + checker.diagnostics


def check_priorities(content: Content) -> list[Diagnostic]:
    """Warn when packs share a priority: the arbitration order between them is then arbitrary."""
    out: list[Diagnostic] = []
    seen: dict[int, Document] = {}
    for name in sorted(content.packs):
        doc = content.packs[name]
        priority = doc.data.get("priority") if isinstance(doc.data, dict) else None
        if not isinstance(priority, int) or isinstance(priority, bool):
            continue
        if priority in seen:
            out.append(_diag(doc, SHARED_PRIORITY, "/priority",
                             f"priority {priority} is also used by pack '{seen[priority].name}' ({seen[priority].path})",
                             "give each pack its own priority", severity=WARNING))
        else:
            seen[priority] = doc
    return out


_BY_KIND = {"pack": check_pack, "strategy": check_strategy, "contact_policy": check_policy,
            "segments": check_segments, "services": check_services, "cases": check_cases_file,
            "sensitivity": check_sensitivity, "value_stability": check_value_stability}


def check_all(content: Content) -> list[Diagnostic]:
    """All semantic checks of every document in `content` (unsorted)."""
    ctx = _Context(content)
    out: list[Diagnostic] = []
    for doc in content.documents():
        out.extend(_BY_KIND[doc.kind](ctx, doc))
    return out + check_priorities(content)
