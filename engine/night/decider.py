"""The run's view of the rule engine: the Decider's pack outcomes as plain, JSON-safe dicts.

`engine.rules.decide.Decider` (built per worker process) evaluates the contact policy and the
packs on one fact. A run keeps only the packs whose scope holds the fact (`out_of_scope`
outcomes are dropped: the run counts those facts by segment instead) and needs from each
outcome: pack, decision, reason, the ordered treat options (strategy, channel) for fallback, and
the details an auditor reads (rules fired with tested values, exclusions, require results).
"""

from __future__ import annotations

import dataclasses
from typing import Any

OUT_OF_SCOPE = "out_of_scope"


def jsonable(value: Any) -> Any:
    """Plain JSON data: sets sorted into lists, tuples as lists, numpy scalars as Python values.

    Walks only containers; the Decider's outcome fields are already lists and dicts of plain
    values, so this is cheap and exists to keep a stray set or numpy value out of the trace.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(_as_dict(value))
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _as_dict(outcome: Any) -> dict:
    """The outcome's fields, shallow (dataclasses.asdict deep-copies: ~0.7 ms per fact)."""
    kind = type(outcome)
    if kind not in _FIELD_NAMES and dataclasses.is_dataclass(outcome):
        _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(outcome))
    if kind in _FIELD_NAMES:
        return {name: getattr(outcome, name) for name in _FIELD_NAMES[kind]}
    if hasattr(outcome, "to_dict"):
        return dict(outcome.to_dict())
    return dict(vars(outcome))


def _options(data: dict, strategies: dict) -> list[tuple[str, str]]:
    """Ordered (strategy, channel) treat options; the first is what the pack chose."""
    # every treat entry whose `when` matched, in pack order (the treat rule id is its strategy)
    raw = data.get("options") or (data.get("fired") or {}).get("treat") or []
    options: list[tuple[str, str]] = []
    for item in raw:
        if isinstance(item, dict):
            strategy, channel = item.get("strategy"), item.get("channel")
        elif isinstance(item, str):
            strategy, channel = item, None
        else:
            strategy, channel = item[0], item[1] if len(item) > 1 else None
        if channel is None and strategy in strategies:
            channel = strategies[strategy].channel
        if (strategy, channel) not in options:
            options.append((strategy, channel))
    chosen = (data.get("strategy"), data.get("channel") or (strategies[data["strategy"]].channel
                                                             if data.get("strategy") in strategies else None))
    if chosen[0] and (not options or options[0] != chosen):
        options = [chosen] + [o for o in options if o != chosen]
    return options


class DeciderAdapter:
    """Wraps one Decider; `decide(fact)` returns the in-scope pack outcomes as dicts."""

    def __init__(self, content: Any, ctx: Any, compiled: Any = None):
        from engine.rules.decide import Decider  # imports durable_rules (via engine.rules.rete) in this process only

        self.decider = Decider(content, compiled=compiled)  # compiled: the run's compile-once CompiledSet
        self.ctx = ctx

    def decide(self, fact: dict, packs: list[str] | None = None) -> list[dict]:
        """Outcomes of the packs (all, or those named: the ones whose scope mask holds the fact)."""
        return [entry for entry in map(self.entry, self.decider.decide_shared(fact, packs)) if entry is not None]

    def entry(self, raw: Any) -> dict | None:
        """One PackOutcome as the run's plain dict (None for `out_of_scope`, which runs drop)."""
        data = _as_dict(raw)
        decision = str(data.get("decision"))
        if decision == OUT_OF_SCOPE:
            return None
        trace = {k: v for k, v in data.items() if k not in ("pack", "options", "priority", "sha256")}
        return {
            "pack": str(data.get("pack")),
            "decision": decision,
            "reason": str(data.get("reason") or ""),
            "options": _options(data, self.ctx.strategies) if decision == "treat" else [],
            "trace": trace,  # plain lists and dicts; engine.night.trace.payload_text converts if not
            "_raw": raw,
        }

    def final(self, outcomes: list[dict]) -> dict:
        """The fact's summary outcome among non-candidate packs (the Decider's final_outcome)."""
        from engine.rules.decide import final_outcome

        raw = final_outcome([o["_raw"] for o in outcomes])
        data = _as_dict(raw)
        return {"decision": str(data.get("decision")), "pack": str(data.get("pack") or ""),
                "reason": str(data.get("reason") or "")}
