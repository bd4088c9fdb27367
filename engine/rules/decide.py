"""Decisions per fact and pack, with a trace (ARCHITECTURE §4 "Outcome of one fact in one pack").

`Decider(content)` compiles segmentation, the contact policy and every pack once and loads
them into one `RuleEngine`. Per fact: `segment(fact)`, then `decide(fact)` gives one
`PackOutcome` per pack whose scope matches, and `final_outcome(outcomes)` picks the one a
single fact ends with before the nightly run's holdout and capacity steps:

1. a contact-policy exclusion hit → `excluded` with the first policy rule's reason (reported
   on the highest-priority in-scope pack, since the policy applies to every pack alike);
2. otherwise the `treat` candidate of the highest-priority pack (lowest number, then pack name);
3. otherwise the outcome of the highest-priority in-scope pack (`excluded` or `not_selected`);
4. no pack has the fact in scope → `out_of_scope`.

A treat entry whose `when` matched is still passed over when its strategy limits `services` or
`regions` and the fact's service or city is not listed (`fired["treat"]` lists the allowed
matching entries only, in pack order).

The engine only says which rules fired; the values each fired rule tested are re-read in
plain Python (`conditions.tested_values`) for the trace. Holdout is not applied here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable

import numpy as np
import pandas as pd

from engine.rules.rete import RuleEngine
from engine.rules.compiler import CompiledPack, CompiledSet, compile_set
from engine.rules.conditions import evaluate, fields_of, lookup, normalise_fact, scope_condition
from engine.rules.vector import scope_mask as vector_scope_mask
from engine.rules.signature import Signatures

POLICY = "contact_policy"
SHARED_LIMIT = 500_000  # signatures remembered by `decide_shared` before the memo starts over


@dataclass
class PackOutcome:
    """The outcome of one fact in one pack, with what an auditor needs to see why."""

    pack: str | None
    decision: str  # treat | excluded | not_selected | out_of_scope
    reason: str | None = None
    strategy: str | None = None
    channel: str | None = None
    priority: int = 0
    sha256: str = ""
    fired: dict[str, list[str]] = field(default_factory=dict)  # kind -> rule ids, file order
    exclusions: list[dict] = field(default_factory=list)  # {source, rule, reason}: every hit, policy first
    tested: list[dict] = field(default_factory=list)  # {source, kind, rule, values}: per fired rule
    require: list[dict] = field(default_factory=list)  # {field, threshold, value, passed}

    def to_dict(self) -> dict:
        return asdict(self)


def _pack_rank(outcome: PackOutcome) -> tuple[int, str]:
    return (outcome.priority, outcome.pack or "")


def final_outcome(outcomes: Iterable[PackOutcome], home: str | None = None) -> PackOutcome:
    """The decision one fact ends with across packs (see the module docstring for the order).

    `home` names the pack reported with `out_of_scope` (a pack's own test cases).
    """
    ranked = sorted(outcomes, key=_pack_rank)
    if not ranked:
        return PackOutcome(pack=home, decision="out_of_scope")
    policy_hit = [o for o in ranked if any(x["source"] == POLICY for x in o.exclusions)]
    if policy_hit:
        return policy_hit[0]
    treated = [o for o in ranked if o.decision == "treat"]
    return treated[0] if treated else ranked[0]


def scope_mask(frame: pd.DataFrame, scope: dict) -> pd.Series:
    """Rows of `frame` inside a pack's scope (field: scalar = eq, list = in; ANDed), vectorised
    (engine.rules.vector.scope_mask: the same reading as `in_scope`, a column at a time)."""
    return pd.Series(vector_scope_mask(frame, scope), index=frame.index)


def in_scope(fact: dict, scope: dict) -> bool:
    """The same test as `scope_mask` for one normalised fact."""
    return evaluate(scope_condition(scope), fact)


def frame_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as the facts rules see (`engine.facts.build.fact_records`: SET columns as lists, missing dropped)."""
    from engine.facts.build import fact_records  # the fact stage owns the frame -> record convention

    return fact_records(frame)


class Decider:
    """Compiled segmentation, contact policy and packs, evaluated one fact at a time.

    Holds a RuleEngine: one Decider per process; never share it between threads.
    """

    def __init__(self, content: Any, strategies: dict | None = None, compiled: CompiledSet | None = None):
        """`compiled`: the content already compiled once (`compile_set`), e.g. by the run's parent."""
        compiled = compile_set(content) if compiled is None else compiled
        self.segments: CompiledPack | None = compiled.segments
        self.policy: CompiledPack | None = compiled.policy
        self.packs: list[CompiledPack] = sorted(compiled.packs, key=lambda p: (p.priority, p.name))
        strategies = content.strategies if strategies is None else strategies
        self.channels = {name: (doc.data or {}).get("channel") for name, doc in strategies.items()}
        # Strategy limits (absent or empty = no limit): the fact's service and city must be listed.
        self.limits: dict[str, tuple[frozenset | None, frozenset | None]] = {
            name: tuple(frozenset(values) if (values := (doc.data or {}).get(key)) else None
                        for key in ("services", "regions"))
            for name, doc in strategies.items()}
        # Segmentation runs on its own (pack rules read its result); policy and packs share an engine.
        decided = [p for p in (self.policy, *self.packs) if p is not None]
        self.segment_engine = RuleEngine(self.segments.rulesets if self.segments else [])
        self.engine = RuleEngine([rs for p in decided for rs in p.rulesets])
        # per pack, its rules by kind in file order (looked up for every fact)
        self._kinds = {p.name: {kind: p.of_kind(kind) for kind in ("exclude", "target", "require", "treat")}
                       for p in self.packs}
        self._tested_fields: dict[int, tuple[str, ...]] = {}  # id of a rule's `when` (held by the packs) -> fields
        limits = {"service": [v for s, _ in self.limits.values() if s for v in s],
                  "city": [v for _, r in self.limits.values() if r for v in r]}
        self.signatures = Signatures([r.when for p in decided for r in p.rules if r.when is not None],
                                     [p.scope for p in self.packs], limits)
        self._shared: dict[tuple, list[tuple[PackOutcome, list]]] = {}  # signature -> outcomes, tested conditions
        # Per pack, every field its outcome can depend on: its rules, its scope, the contact
        # policy's rules and the strategy limits (service, city). `decide_pack` outcomes of two
        # facts that agree on the signature classes of these fields are the same (signature.py).
        policy_fields = [f for r in (self.policy.rules if self.policy else ()) if r.when is not None
                         for f in fields_of(r.when)]
        self.pack_fields: dict[str, tuple[str, ...]] = {
            p.name: tuple(sorted({*policy_fields, *p.scope, "service", "city",
                                  *(f for r in p.rules if r.when is not None for f in fields_of(r.when))}))
            for p in self.packs}

    def close(self) -> None:
        self.segment_engine.close()
        self.engine.close()

    def _fired(self, engine: RuleEngine, packs: list[CompiledPack], fact: dict) -> dict[str, set[str]]:
        """pack name -> keys of its rules that fired (only the given packs' rules are run)."""
        owner = {rs.name: p.name for p in packs for rs in p.rulesets}
        out: dict[str, set[str]] = {p.name: set() for p in packs}
        for ruleset, key in engine.fired(fact, normalised=True, only=set(owner)):
            out[owner[ruleset]].add(key)
        return out

    def segment(self, fact: dict) -> tuple[str | None, list[str], list[str]]:
        """(segment, reasons, ids of the segmentation rules that fired) for one fact."""
        if self.segments is None:
            return None, [], []
        fact = normalise_fact(fact)
        keys = self._fired(self.segment_engine, [self.segments], fact)[self.segments.name]
        hits = [r for r in self.segments.rules if r.key in keys]
        segment = hits[0].segment if hits else self.segments.settings.get("default")
        return segment, sorted({r.reason for r in hits}), [r.id for r in hits]

    def decide(self, fact: dict, packs: Iterable[str] | None = None) -> list[PackOutcome]:
        """One outcome per pack whose scope matches (all packs, or those named), by priority."""
        return [o for o, _conds in self._decide(normalise_fact(fact), packs)]

    def decide_pack(self, fact: dict, pack: str) -> tuple[PackOutcome, list] | None:
        """(outcome, the `when` of each `tested` entry) of one pack for a normalised fact; None
        when the fact is outside the pack's scope. The policy is evaluated with the pack, as in
        `decide`, and one pack's outcome never depends on another's."""
        out = self._decide(fact, [pack])
        return out[0] if out else None

    def _decide(self, fact: dict, packs: Iterable[str] | None) -> list[tuple[PackOutcome, list]]:
        """(outcome, the `when` of each `tested` entry) per in-scope pack, for a normalised fact."""
        wanted = None if packs is None else set(packs)
        scoped = [p for p in self.packs if (wanted is None or p.name in wanted) and in_scope(fact, p.scope)]
        if not scoped:
            return []
        run = scoped + ([self.policy] if self.policy else [])
        fired = self._fired(self.engine, run, fact)
        policy_hits = [r for r in self.policy.rules if r.key in fired[self.policy.name]] if self.policy else []
        out = []
        for p in scoped:
            conds: list = []
            out.append((self._outcome(p, fact, fired[p.name], policy_hits, conds), conds))
        return out

    def decide_shared(self, fact: dict, packs: Iterable[str] | None = None) -> list[PackOutcome]:
        """`decide`, with durable_rules asked once per rule-relevant signature (engine.rules.signature).

        A fact whose signature was decided before gets that decision with its own values put
        back into the trace (`tested` values, requirement values). The outcomes' other parts
        (fired, exclusions) are shared between facts: treat them as read-only.
        """
        fact = normalise_fact(fact)
        key = self.signatures.key(fact, packs)
        entry = self._shared.get(key)
        if entry is None:
            entry = self._decide(fact, packs)
            if len(self._shared) >= SHARED_LIMIT:
                self._shared.clear()
            self._shared[key] = entry
            return [o for o, _conds in entry]
        return [self.revalue(o, conds, fact) for o, conds in entry]

    def revalue(self, outcome: PackOutcome, conds: list, fact: dict) -> PackOutcome:
        """`outcome` (decided for a fact of the same signature) with this fact's own tested values."""
        tested = [dict(t, values=self._tested(cond, fact)) for t, cond in zip(outcome.tested, conds)]
        require = [dict(q, value=lookup(fact, q["field"])) for q in outcome.require]
        return replace(outcome, tested=tested, require=require)

    def _tested(self, cond: Any, fact: dict) -> dict[str, Any]:
        """`conditions.tested_values`, with each condition's field list worked out once."""
        names = self._tested_fields.get(id(cond))
        if names is None:
            names = self._tested_fields[id(cond)] = tuple(dict.fromkeys(fields_of(cond)))
        return {name: lookup(fact, name) for name in names}

    def _allowed(self, strategy: str, fact: dict) -> bool:
        """The strategy may run for this fact: its `services` and `regions` (city) limits hold."""
        services, regions = self.limits.get(strategy, (None, None))
        service, city = fact.get("service"), fact.get("city")
        return ((services is None or (isinstance(service, str) and service in services))
                and (regions is None or (isinstance(city, str) and city in regions)))

    def _outcome(self, pack: CompiledPack, fact: dict, keys: set[str], policy_hits: list,
                 conds: list | None = None) -> PackOutcome:
        """The outcome in one pack; `conds` (if given) receives the `when` of each `tested` entry."""
        out = PackOutcome(pack=pack.name, decision="not_selected", priority=pack.priority, sha256=pack.sha256)
        hits = {kind: [r for r in rules if r.key in keys or r.condition is None]
                for kind, rules in self._kinds[pack.name].items()}
        hits["treat"] = [r for r in hits["treat"] if self._allowed(r.strategy, fact)]
        out.fired = {kind: [r.id for r in rules] for kind, rules in hits.items() if rules}
        for source, rules in ((POLICY, policy_hits), (pack.name, hits["exclude"])):
            for r in rules:
                out.exclusions.append({"source": source, "rule": r.id, "reason": r.reason})
        for source, rules in ((POLICY, policy_hits), *((pack.name, hits[k]) for k in hits)):
            for r in rules:
                if r.when is not None:
                    out.tested.append({"source": source, "kind": r.kind, "rule": r.id,
                                       "values": self._tested(r.when, fact)})
                    if conds is not None:
                        conds.append(r.when)
        for r in self._kinds[pack.name]["require"]:
            passed = r.key in keys
            out.require.append({"field": r.id, "threshold": r.when[r.id], "value": lookup(fact, r.id),
                                "passed": passed})
        if out.exclusions:
            out.decision, out.reason = "excluded", out.exclusions[0]["reason"]
        elif not hits["target"]:
            out.reason = "no_target"
        elif failed := [q for q in out.require if not q["passed"]]:
            out.reason = f"require:{failed[0]['field']}"
        elif not hits["treat"]:
            out.reason = "no_strategy"
        else:
            treat = hits["treat"][0]
            out.decision, out.reason, out.strategy = "treat", hits["target"][0].reason, treat.strategy
            out.channel = self.channels.get(treat.strategy)
        return out

    def decide_fact(self, fact: dict, packs: Iterable[str] | None = None,
                    home: str | None = None) -> tuple[PackOutcome, dict]:
        """Segment (unless the fact has a segment), decide in every pack and pick the final outcome.

        Returns (final outcome, the fact as decided, with `segment`, `reasons`, `segment_rules`).
        """
        fact = normalise_fact(fact)
        if "segment" not in fact:
            segment, reasons, rules = self.segment(fact)
            fact.update({"segment": segment, "reasons": reasons} if segment is not None else {})
            fact["segment_rules"] = rules
        return final_outcome(self.decide(fact, packs), home), fact

    def segment_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Columns `segment`, `reasons` ('|'-joined, sorted) and `segment_rules` (tuple of rule ids,
        rule order) for every row: engine.rules.vector.segment_frame's columns, through the engine."""
        rows = [self.segment(record) for record in frame_records(frame)]
        rules = np.empty(len(rows), dtype=object)
        rules[:] = [tuple(r[2]) for r in rows]
        return pd.DataFrame({"segment": [r[0] for r in rows], "reasons": ["|".join(r[1]) for r in rows],
                             "segment_rules": rules}, index=frame.index)

    def decide_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Outcomes for many facts (with `segment`/`reasons` columns already merged in).

        Facts outside every pack's scope never reach the engine (vectorised scope masks) and get
        no row: they are `out_of_scope`. One row per (fact, in-scope pack), columns `row` (the
        frame's index label), pack, priority, decision, reason, strategy, channel, outcome
        (the PackOutcome, for the trace); ordered by row then priority.
        """
        masks = {p.name: scope_mask(frame, p.scope) for p in self.packs}
        any_scope = pd.Series(False, index=frame.index)
        for mask in masks.values():
            any_scope |= mask
        inside = frame[any_scope]
        rows: list[dict] = []
        for label, record in zip(inside.index, frame_records(inside)):
            names = [p.name for p in self.packs if masks[p.name].at[label]]
            for o in self.decide(record, names):
                rows.append({"row": label, "pack": o.pack, "priority": o.priority, "decision": o.decision,
                             "reason": o.reason, "strategy": o.strategy, "channel": o.channel, "outcome": o})
        columns = ["row", "pack", "priority", "decision", "reason", "strategy", "channel", "outcome"]
        # object columns keep None as None (not NaN) for reason/strategy/channel
        return pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype="int64" if c == "priority" else object)
                             for c in columns})
