"""Reading the Decider's per-pack outcome (as stored in a trace) into the shape `explain` shows.

A trace's `packs[]` entries carry what engine.rules.decide reported for each pack that considered
the fact (`PackOutcome`: `fired` rule ids by kind, `exclusions` hit, `tested` values per fired
rule, `require` results). This module reads them into plain lists:

    rules:        [{rule, reason, tested: {field: value}}]
    exclusions:   [{rule, reason, source ("contact_policy" or the pack), tested}]
    requirements: [{field, test: {op: threshold}, value, met}]
"""

from __future__ import annotations

from typing import Any, Iterable

from engine.facts.fields import SCORE_COLUMNS

# The model each score field comes from (for "score vs threshold, model version").
SCORE_MODEL = {"sensitivity": "sensitivity", "sensitivity_pct": "sensitivity", "data_sensitive": "sensitivity",
               "churn_risk": "stability",
               "stability": "stability", "value": "value", "value_tier": "value", "retention_group": "retention"}
OP_TEXT = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "in": "in", "not_in": "not in",
           "contains": "contains", "exists": "exists"}


def _values(entry: dict, source: str, kind: str | None, rule: str) -> dict:
    """The values a fired rule tested, from the outcome's `tested` list."""
    for item in entry.get("tested") or []:
        if item.get("source") == source and item.get("rule") == rule and (kind is None or item.get("kind") == kind):
            return dict(item.get("values") or {})
    return {}


def pack_view(entry: dict, fact: dict) -> dict:
    """One stored pack outcome (engine.rules.decide.PackOutcome as the run stored it) as
    {pack, sha256, priority, decision, reason, strategy, channel, rules, exclusions, requirements}."""
    pack = str(entry.get("pack") or "")
    targets = (entry.get("fired") or {}).get("target") or []
    rules = [{"rule": rule, "reason": "", "tested": _values(entry, pack, "target", rule)} for rule in targets]
    first_reason = entry.get("reason") if entry.get("decision") == "treat" else ""
    if rules and first_reason:
        rules[0]["reason"] = first_reason  # the outcome's reason is the first target rule's
    exclusions = [{"rule": hit.get("rule", ""), "reason": hit.get("reason", ""), "source": hit.get("source", pack),
                   "tested": _values(entry, hit.get("source", pack), None, hit.get("rule", ""))}
                  for hit in entry.get("exclusions") or []]
    requirements = [{"field": req.get("field", ""), "test": dict(req.get("threshold") or {}),
                     "value": req.get("value", fact.get(req.get("field", ""))), "met": req.get("passed")}
                    for req in entry.get("require") or []]
    return {"pack": pack, "sha256": str(entry.get("hash") or entry.get("sha256") or ""),
            "priority": entry.get("priority"), "decision": str(entry.get("decision") or ""),
            "reason": str(entry.get("reason") or ""), "strategy": entry.get("strategy") or "",
            "channel": entry.get("channel") or "", "rules": rules, "exclusions": exclusions,
            "requirements": requirements}


def requirement_view(req: dict, models: dict) -> dict:
    """A requirement with the model (and version) that produced the score it tests."""
    model = SCORE_MODEL.get(req["field"])
    if model is None and req["field"].startswith("propensity."):
        model = "response"
    return dict(req, model=model, model_version=models.get(model) if model else None)


def scores_of(fact: dict) -> dict:
    """The fact's scores (SPEC §3), including `propensity` per strategy when present."""
    scores = {name: fact[name] for name in SCORE_COLUMNS if name in fact}
    if fact.get("propensity"):
        scores["propensity"] = dict(fact["propensity"])
    return scores


def test_text(test: dict) -> str:
    """{gte: 80} → '≥ 80'."""
    return ", ".join(f"{OP_TEXT.get(op, op)} {value}" for op, value in test.items())


def values_text(tested: dict) -> str:
    """{months_silent: 4, has_data_spend: true} → 'months_silent=4, has_data_spend=true'."""
    def show(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(show(x) for x in v) + "]"
        return "missing" if v is None else str(v)
    return ", ".join(f"{k}={show(v)}" for k, v in tested.items())


def rule_lines(items: Iterable[dict]) -> list[str]:
    """'rule (reason): field=value, …' per rule."""
    lines = []
    for item in items:
        reason = f" → {item['reason']}" if item.get("reason") and item["reason"] != item["rule"] else ""
        values = values_text(item.get("tested") or {})
        lines.append(f"{item['rule']}{reason}" + (f" [{values}]" if values else ""))
    return lines
