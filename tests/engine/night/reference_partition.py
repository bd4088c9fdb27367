"""The reference a night's partition is held equal to: every fact decided on its own.

This is the straightforward reading of a partition (what engine/night/partition.py did before it
shared outcomes per pack signature and built payloads from fragments): each fact becomes a dict
record, goes through durable_rules on its own (`Decider.decide`, no sharing), and its payload is
one `canonical` of the whole payload dict. Slow, obviously right; used by test_partition.py only.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from engine.content.messages import render
from engine.base.vocabulary import HELD_OUT, LOST, TREAT
from engine.facts.build import fact_records
from engine.night.arbitrate import WON, Candidate, Option, option_value
from engine.night.channels import CHANNEL_EXTRAS
from engine.night.context import RunContext
from engine.night.decider import DeciderAdapter
from engine.night.holdout import UNIVERSAL, fraction
from engine.night.partition import HOLDOUT_REASON, UNIVERSAL_REASON, Decided, Partition, Row
from engine.store.chain import record_bytes
from engine.night.trace import MESSAGE_FACT_FIELDS, message_values, payload_text, trace_payload


class ReferencePartition:
    """Same interface as engine.night.partition.Partition: decide(), start_rows(), next_rows()."""

    def __init__(self, frame: pd.DataFrame, extras: pd.DataFrame, ctx: RunContext, content: Any, compiled: Any = None):
        self.frame = frame.reset_index(drop=True)
        self.managers = [m or "" for m in extras["account_manager_name"].tolist()]
        self.segment_rules = extras["segment_rules"].tolist()
        self.scope_bits = extras["scope_bits"].tolist()
        self.ctx = ctx
        self.decider = DeciderAdapter(content, ctx, compiled)
        self.records: list[dict] = []
        self.outcomes: list[list[dict]] = []
        self.finals: list[tuple[str, str, str]] = []
        self.candidates: dict[tuple[str, str, str], dict] = {}
        self.verdicts: dict = {}
        self.order: list[int] = []

    def decide(self) -> Decided:
        funnel: Counter = Counter()
        candidates: list[Candidate] = []
        ctx = self.ctx
        names = sorted(ctx.packs)
        for i, record in enumerate(fact_records(self.frame)):
            packs = [name for j, name in enumerate(names) if self.scope_bits[i] >> j & 1]
            outcomes = [e for e in map(self.decider.entry, self.decider.decider.decide(record, packs)) if e is not None]
            final = self.decider.final(outcomes)
            self.records.append(record)
            self.outcomes.append(outcomes)
            self.finals.append((final["decision"], final["pack"], final["reason"]))
            for out in outcomes:
                pack = ctx.packs[out["pack"]]
                if out["decision"] != TREAT:
                    funnel[(pack.name, out["decision"], out["reason"], "")] += 1
                    continue
                options = tuple(self._option(record, s, c) for s, c in out["options"])
                cand = Candidate(record["msisdn"], record["service"], pack.name, pack.priority, options, pack.fallback)
                universal = fraction(cand.msisdn, UNIVERSAL, ctx.period) < ctx.universal_holdout
                held = universal or (pack.holdout > 0 and fraction(cand.msisdn, pack.name, ctx.period) < pack.holdout)
                self.candidates[cand.key] = {"candidate": cand, "held_out": held, "universal": universal}
                if held:
                    funnel[(pack.name, HELD_OUT, UNIVERSAL_REASON if universal else HOLDOUT_REASON,
                            options[0].channel)] += 1
                else:
                    candidates.append(cand)
        self.order = np.lexsort((self.frame["service"].to_numpy(), self.frame["msisdn"].to_numpy())).tolist()
        return Decided(candidates, funnel, len(self.records))

    def _option(self, record: dict, strategy: str, channel: str) -> Option:
        info = self.ctx.strategies.get(strategy)
        ev = option_value(record, strategy, info.cost if info else 0.0, info.base_response if info else 0.0,
                          self.ctx.value_scale)
        return Option(strategy, channel, round(ev, 9))

    def start_rows(self, verdicts: dict, start: int = 0) -> None:
        self.verdicts, self.seq = verdicts, start

    def next_rows(self, limit: int) -> list[Row]:
        order, self.order = self.order[:limit], self.order[limit:]
        return [self._row(i) for i in order]

    def _row(self, i: int) -> Row:
        seq, self.seq = self.seq, self.seq + 1
        record = self.records[i]
        msisdn, service = record["msisdn"], record["service"]
        manager = self.managers[i]
        states = []
        for out in self.outcomes[i]:
            state = self.candidates.get((msisdn, service, out["pack"]))
            if state is not None:
                states.append(((out["pack"], out["reason"]), state, self.verdicts.get((msisdn, service, out["pack"]))))
        decision, pack, reason, arbitration, strategy, channel = self._choose(states, i)
        facts = {k: record.get(k) for k in MESSAGE_FACT_FIELDS} if states else {}
        message = ""
        if strategy:
            info = self.ctx.strategies.get(strategy)
            if info is not None and info.message:
                message = render(info.message, message_values(facts, manager, self.ctx))
        contact = {"city": facts.get("city") or "", "account_manager": manager}
        contact = {k: contact[k] for k in CHANNEL_EXTRAS.get(channel, ())}
        packs = [dict(o["trace"], pack=o["pack"], hash=self.ctx.packs[o["pack"]].sha256,
                      priority=self.ctx.packs[o["pack"]].priority) for o in self.outcomes[i]]
        segment = {"segment": record.get("segment"), "reasons": list(record.get("reasons") or []),
                   "rules": list(self.segment_rules[i])}
        payload = trace_payload(
            ctx=self.ctx, msisdn=msisdn, service=service, segment=segment, fact=record, packs=packs,
            arbitration=[self._arbitration_entry(state, verdict) for _, state, verdict in states],
            decision=dict(decision=decision, pack=pack, reason=reason, arbitration=arbitration,
                          strategy=strategy, channel=channel, message=message, contact=contact))
        fields = (msisdn, service, pack, decision, reason, arbitration, strategy, channel, message)
        text = payload_text(payload)
        record = record_bytes((self.ctx.run_id, seq, *fields), text)
        head = record[:len(record) - len(text.encode("utf-8"))]
        return Row(msisdn, service, fields, text.encode("utf-8"), facts.get("city") or "", manager, seq, head)

    # How a verdict is written into the trace is not what sharing or fragments change: the
    # reference uses the partition's own entry writer instead of a copy of it.
    _arbitration_entry = staticmethod(Partition._arbitration_entry)

    def _choose(self, states: list, index: int) -> tuple[str, str, str, str, str, str]:
        """(decision, pack, reason, arbitration, strategy, channel) of the fact's decision row.

        A candidate that won decides; otherwise the fact's best-ranked candidate (held out or
        lost); otherwise the Decider's final outcome among the packs that considered the fact.
        """
        won = [(o, s, v) for o, s, v in states if not s["held_out"] and v is not None and v[0] == WON]
        if won:
            (pack, reason), s, v = min(won, key=lambda t: t[1]["candidate"].rank())
            return TREAT, pack, reason, WON, v[1], v[2]
        if states:
            (pack, _reason), s, v = min(states, key=lambda t: t[1]["candidate"].rank())
            first = s["candidate"].options[0]
            if s["held_out"]:
                reason = UNIVERSAL_REASON if s["universal"] else HOLDOUT_REASON
                return HELD_OUT, pack, reason, HELD_OUT, first.strategy, first.channel
            return LOST, pack, v[0], v[0], first.strategy, first.channel
        decision, pack, reason = self.finals[index]
        return decision, pack, reason, "", "", ""
