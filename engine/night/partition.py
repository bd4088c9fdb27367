"""One partition of a night's facts, decided inside one worker process (see engine/night/workers.py).

Phase 1, `decide`: every fact of the partition goes through the rule engine (contact policy and
every pack whose scope holds it, via the Decider); `treat` outcomes become arbitration
candidates with their options and expected values, unless the subscriber is in that pack's
holdout or the universal control group. Only the candidates and the funnel counts go back to
the parent, which arbitrates across all partitions.
Phase 2, `rows`: given the arbitration verdicts of its candidates, the partition writes each
fact's decision row, its trace payload (canonical JSON, docs/TRACE.md) and the fields the
channel files need. The parent seals the rows into the hash chain in (msisdn, service) order.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from engine.night.arbitrate import WON, Candidate, Option, option_value
from engine.night.channels import CHANNEL_EXTRAS
from engine.facts.build import fact_records
from engine.night.holdout import UNIVERSAL, fraction
from engine.night.context import RunContext
from engine.night.decider import DeciderAdapter
from engine.night.trace import MESSAGE_FACT_FIELDS, Fragments, message_values, payload_text, trace_payload
from engine.content.messages import render
from engine.base.vocabulary import HELD_OUT, LOST, TREAT

CHUNK = 20_000  # facts turned into dicts at a time
HOLDOUT_REASON = "holdout"
UNIVERSAL_REASON = "universal_holdout"


class Row(NamedTuple):
    """One fact's stored row, as a worker hands it to the parent (sorted by msisdn, service)."""

    msisdn: str
    service: str
    fields: tuple  # decision row fields after run_id and seq (engine.store.chain.DECISION_FIELDS[2:])
    payload: bytes  # the trace payload's canonical JSON, UTF-8 (compact over the pipe)
    city: str
    account_manager: str


class Decided(NamedTuple):
    """What phase 1 of a partition hands back to the parent."""

    candidates: list  # arbitration candidates (engine.night.arbitrate.Candidate), held-out ones excluded
    funnel: Counter  # (pack, decision, reason, channel) -> facts
    facts: int


class Partition:
    """The facts of one partition and what the rule engine decided for them."""

    def __init__(self, frame: pd.DataFrame, extras: pd.DataFrame, ctx: RunContext, content: Any,
                 compiled: Any = None):
        self.frame = frame.reset_index(drop=True)  # facts as rules see them (catalogue + scores + segment)
        # per-fact extras as plain lists: row access on a DataFrame costs ~100 µs
        self.managers = [m or "" for m in extras["account_manager_name"].tolist()]
        self.segment_rules = extras["segment_rules"].tolist()
        self.scope_bits = extras["scope_bits"].tolist()  # bit j: the fact is in the scope of pack j (sorted names)
        self.ctx = ctx
        self.decider = DeciderAdapter(content, ctx, compiled)
        # Per fact, what phase 2 needs, kept compact: the fact and pack outcomes are serialised to
        # canonical JSON right after deciding (~1.5 KB instead of ~6 KB of dicts per fact).
        self.keys: list[tuple[str, str]] = []  # (msisdn, service)
        self.outs: list[list[tuple[str, str]]] = []  # (pack, reason) of each pack that considered the fact
        self.texts: list[tuple[bytes, bytes, bytes] | None] = []  # UTF-8 JSON of (segment, fact, packs)
        self.message_facts: list[dict | None] = []  # message fields, for facts with a candidate only
        self.finals: list[tuple[str, str, str]] = []  # the Decider's final outcome per fact
        self.fragments = Fragments(("segment", "fact", "packs"))
        self.candidates: dict[tuple[str, str, str], dict] = {}  # key -> candidate state
        # phase 2: the facts in (msisdn, service) order, the arbitration verdicts, rows handed out so far
        self.order: np.ndarray = np.zeros(0, dtype=np.int64)
        self.verdicts: dict[tuple[str, str, str], tuple] = {}
        self.cursor = 0

    # -- phase 1 ----------------------------------------------------------------------------
    def decide(self) -> Decided:
        """The arbitration candidates, funnel counts by (pack, decision, reason, channel) and facts."""
        funnel: Counter = Counter()
        candidates: list[Candidate] = []
        ctx = self.ctx
        universal_cache: dict[str, bool] = {}
        names = sorted(ctx.packs)
        packs_of: dict[int, list[str]] = {}
        for i, record in self._records():
            bits = self.scope_bits[i]
            if bits not in packs_of:
                packs_of[bits] = [name for j, name in enumerate(names) if bits >> j & 1]
            outcomes = self.decider.decide(record, packs_of[bits])
            final = self.decider.final(outcomes)
            msisdn, service = record["msisdn"], record["service"]
            self._keep(i, record, outcomes, final)
            for out in outcomes:
                pack = ctx.packs[out["pack"]]
                if out["decision"] != TREAT:
                    funnel[(pack.name, out["decision"], out["reason"], "")] += 1
                    continue
                options = tuple(self._option(record, strategy, channel) for strategy, channel in out["options"])
                cand = Candidate(msisdn, service, pack.name, pack.priority, options, pack.fallback)
                universal = universal_cache.get(msisdn)
                if universal is None:
                    universal = fraction(msisdn, UNIVERSAL, ctx.period) < ctx.universal_holdout
                    universal_cache[msisdn] = universal
                held = universal or (pack.holdout > 0 and fraction(msisdn, pack.name, ctx.period) < pack.holdout)
                state = {"candidate": cand, "held_out": held, "universal": universal}
                self.candidates[cand.key] = state
                if held:
                    funnel[(pack.name, HELD_OUT, UNIVERSAL_REASON if universal else HOLDOUT_REASON,
                            options[0].channel)] += 1
                else:
                    candidates.append(cand)
        # phase 2 needs only the per-fact state kept above: release the partition's fact frame
        self.order = np.lexsort((self.frame["service"].to_numpy(), self.frame["msisdn"].to_numpy()))
        self.frame = None
        return Decided(candidates, funnel, len(self.keys))

    def _records(self, chunk: int = CHUNK):
        """(index, fact dict) for every fact, converted a chunk at a time (bounded memory)."""
        for start in range(0, len(self.frame), chunk):
            for k, record in enumerate(fact_records(self.frame.iloc[start:start + chunk])):
                yield start + k, record

    @staticmethod
    def _compact(text: str) -> bytes:
        """JSON kept between the phases as UTF-8 (half the size of a str holding any Chinese)."""
        return text.encode("utf-8")

    def _keep(self, i: int, record: dict, outcomes: list[dict], final: dict) -> None:
        """Store what phase 2 needs of one decided fact, serialised where it is large."""
        packs = [dict(o["trace"], pack=o["pack"], hash=self.ctx.packs[o["pack"]].sha256,
                      priority=self.ctx.packs[o["pack"]].priority) for o in outcomes]
        segment = {"segment": record.get("segment"), "reasons": list(record.get("reasons") or []),
                   "rules": [r for r in (self.segment_rules[i] or "").split("|") if r]}
        self.keys.append((record["msisdn"], record["service"]))
        self.outs.append([(o["pack"], o["reason"]) for o in outcomes])
        self.texts.append((self._compact(payload_text(segment)), self._compact(payload_text(record)),
                           self._compact(payload_text(packs))))
        self.finals.append((final["decision"], final["pack"], final["reason"]))
        has_candidate = any(o["decision"] == TREAT for o in outcomes)
        self.message_facts.append({k: record.get(k) for k in MESSAGE_FACT_FIELDS} if has_candidate else None)

    def _option(self, record: dict, strategy: str, channel: str) -> Option:
        info = self.ctx.strategies.get(strategy)
        # EV = uplift (else base_response) × value × value_scale − cost: engine/night/arbitrate.py
        ev = option_value(record, strategy, info.cost if info else 0.0, info.base_response if info else 0.0,
                          self.ctx.value_scale)
        return Option(strategy, channel, round(ev, 9))  # rounded: identical across platforms' float noise

    # -- phase 2 ----------------------------------------------------------------------------
    def start_rows(self, verdicts: dict[tuple[str, str, str], tuple]) -> None:
        """Take the arbitration verdicts; `next_rows` then hands out each fact's `Row`, sorted by
        (msisdn, service), in batches.

        `verdicts` maps each arbitrated candidate key to (outcome, strategy, channel, fell_back,
        beaten_by, full_channels). Called once: the facts' working state is released as rows are made.
        """
        self.verdicts = verdicts
        self.cursor = 0

    def next_rows(self, limit: int) -> list[Row]:
        """The next at most `limit` rows in (msisdn, service) order ([] when all were handed out).

        Batches keep the pipe transfer small: a worker never holds all its rows, pickled, at once.
        """
        order = self.order[self.cursor:self.cursor + limit].tolist()
        self.cursor += len(order)
        out: list[Row] = []
        for i in order:
            out.append(self._row(i, self.verdicts))
            self.texts[i] = self.message_facts[i] = None  # the row holds them now
        return out

    def _row(self, i: int, verdicts: dict) -> Row:
        msisdn, service = self.keys[i]
        manager = self.managers[i]
        states = []
        for pack, reason in self.outs[i]:
            state = self.candidates.get((msisdn, service, pack))
            if state is not None:
                states.append(((pack, reason), state, verdicts.get((msisdn, service, pack))))
        decision, pack, reason, arbitration, strategy, channel = self._choose(states, i)
        facts = self.message_facts[i] or {}
        message = ""
        if strategy:
            info = self.ctx.strategies.get(strategy)
            if info is not None and info.message:
                message = render(info.message, message_values(facts, manager, self.ctx))
        contact = {"city": facts.get("city") or "", "account_manager": manager}
        contact = {k: contact[k] for k in CHANNEL_EXTRAS.get(channel, ())}
        marks = self.fragments.marks
        payload = trace_payload(
            ctx=self.ctx, msisdn=msisdn, service=service, segment=marks["segment"], fact=marks["fact"],
            packs=marks["packs"], arbitration=[self._arbitration_entry(state, verdict) for _, state, verdict in states],
            decision=dict(decision=decision, pack=pack, reason=reason, arbitration=arbitration,
                          strategy=strategy, channel=channel, message=message, contact=contact))
        segment_text, fact_text, packs_text = self.texts[i]
        text = self.fragments.splice(payload_text(payload), {"segment": segment_text.decode("utf-8"),
                                                             "fact": fact_text.decode("utf-8"),
                                                             "packs": packs_text.decode("utf-8")})
        fields = (msisdn, service, pack, decision, reason, arbitration, strategy, channel, message)
        return Row(msisdn, service, fields, text.encode("utf-8"), facts.get("city") or "", manager)

    @staticmethod
    def _arbitration_entry(state: dict, verdict: tuple | None) -> dict:
        cand: Candidate = state["candidate"]
        entry: dict[str, Any] = {"pack": cand.pack, "priority": cand.priority,
                                 "options": [{"strategy": o.strategy, "channel": o.channel, "ev": o.ev}
                                             for o in cand.options]}
        if state["held_out"]:
            entry["outcome"] = HELD_OUT
            entry["holdout"] = "universal" if state["universal"] else "pack"
            return entry
        outcome, strategy, channel, fell_back, beaten_by, full = verdict
        entry["outcome"] = outcome
        if outcome == WON:
            entry.update(strategy=strategy, channel=channel, fell_back=fell_back)
        if full:
            entry["full_channels"] = list(full)
        if beaten_by:
            entry["beaten_by"] = {"msisdn": beaten_by[0], "service": beaten_by[1], "pack": beaten_by[2]}
        return entry

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
