"""One partition of a night's facts, decided inside one worker process (see engine/night/workers.py).

Phase 1, `decide`: every fact of the partition goes through the rule engine (contact policy and
every pack whose scope holds it); `treat` outcomes become arbitration candidates with their
options and expected values, unless the subscriber is in that pack's holdout or the universal
control group. Only the candidates and the funnel counts go back to the parent, which
arbitrates across all partitions.
Phase 2, `rows`: given the arbitration verdicts of its candidates, the partition writes each
fact's decision row, its trace payload (canonical JSON, docs/TRACE.md) and the fields the
channel files need. The parent seals the rows into the hash chain in (msisdn, service) order.

Deciding per pack and signature. A pack's outcome for a fact depends only on the signature
classes (engine/rules/signature.py) of the fields that pack, its scope, the contact policy and
the strategy limits read (`Decider.pack_fields`). Per pack, the facts in its scope are grouped
by those classes, computed column by column on the distinct values only; durable_rules decides
one fact of each group (`Decider.decide_pack`), and the group shares that outcome — a
"template". Only the values a trace shows (each fired rule's tested values, each requirement's
value) are the fact's own: the template's JSON is split once around them
(engine/night/fragments.Template) and filled per fact from per-column JSON fragments. A fact's
outcome across packs is its templates in pack order; its final outcome is worked out once per
distinct combination. The classes mean the same in every slice, so a worker keeps the templates
it built for the next slices (`TemplateMemo`): a group met before is not decided again.
Templates and combinations are numbered once per worker (engine/night/outcomes.py): between the
phases a released partition keeps only its facts' combination ids (int32, `combo`); the rest is
the worker's, shared by all its slices. A template keeps what phase 2 and the final outcome read
(its JSON split around the fact's values, decision, reason, options, the outcome without its
tested values), not the trace of the fact that decided it.
tests/engine/night/test_partition.py holds the rows and payloads equal to deciding every fact on
its own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from engine.night.arbitrate import WON, Candidate, Option, option_values
from engine.night.channels import CHANNEL_EXTRAS
from engine.facts.build import fact_records
from engine.night.holdout import UNIVERSAL, fraction, held_out
from engine.night.context import RunContext
from engine.night.decider import DeciderAdapter
from engine.night.trace import MESSAGE_FACT_FIELDS, message_values, payload_text, trace_payload
from engine.night.fragments import Template, fact_texts, field_value_texts, per_distinct
from engine.night.groups import SignatureClasses, TemplateMemo
from engine.night.outcomes import Outcomes, PackTemplate
from engine.night.decider import jsonable
from engine.base.jsonfile import canonical, canonical_strings
from engine.store.chain import record_heads
from engine.facts.fields import UPLIFT_PREFIX
from engine.rules.conditions import normalise_fact
from engine.content.messages import render
from engine.base.vocabulary import HELD_OUT, LOST, TREAT

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
    seq: int  # position in the run's hash chain
    head: bytes  # engine.store.chain.record_head of (run_id, seq, *fields): the parent only hashes


class RowBatch(NamedTuple):
    """Consecutive rows as columns (`Partition.next_batch`): row n is record `first + n` of the chain."""

    first: int  # chain position (seq) of the batch's first row
    fields: list  # per row: decision row fields after run_id and seq
    payloads: list  # per row: the trace payload's canonical JSON text
    cities: list
    managers: list
    heads: list  # per row: engine.store.chain.record_head bytes


class Decided(NamedTuple):
    """What phase 1 of a partition hands back to the parent."""

    candidates: list  # arbitration candidates (engine.night.arbitrate.Candidate), held-out ones excluded
    funnel: Counter  # (pack, decision, reason, channel) -> facts
    facts: int



class Partition:
    """The facts of one partition and what the rule engine decided for them."""

    def __init__(self, frame: pd.DataFrame, extras: pd.DataFrame, ctx: RunContext, content: Any,
                 compiled: Any = None, decider: DeciderAdapter | None = None, memo: "TemplateMemo | None" = None,
                 outcomes: Outcomes | None = None):
        self.ctx = ctx
        self.decider = decider or DeciderAdapter(content, ctx, compiled)
        self.memo = memo if memo is not None else TemplateMemo()  # a worker passes one for all its slices
        # templates and their combinations, numbered per worker (a worker passes one for all its slices)
        self.outcomes = outcomes if outcomes is not None else Outcomes(self.decider)
        self._attach(frame, extras)
        self.pack_order = [p.name for p in self.decider.decider.packs]  # outcome order: priority, name
        self.tids = np.full((len(self.frame), len(self.pack_order)), -1, dtype=np.int32)  # template per pack
        self.combo = np.zeros(len(self.frame), dtype=np.int32)  # the fact's combination (`outcomes` id)
        self.has_candidate = np.zeros(len(self.frame), dtype=bool)
        self.candidates: dict[tuple[str, str, str], dict] = {}  # key -> candidate state
        self.payload = _payload_template(ctx)
        self._field_texts: dict[str, str] = {}  # decision field value -> canonical JSON text (record heads)
        self._messages: dict[tuple, str] = {}  # (strategy, message values) -> rendered message
        self._decision_texts: dict[tuple, str] = {}  # decision entry -> its canonical JSON text
        # phase 2: the facts in (msisdn, service) order, the arbitration verdicts, rows handed out so far
        self.order: np.ndarray = np.zeros(0, dtype=np.int64)
        self.verdicts: dict[tuple[str, str, str], tuple] = {}
        self.cursor = 0
        self.start = 0

    def _attach(self, frame: pd.DataFrame, extras: pd.DataFrame) -> None:
        self.frame = frame.reset_index(drop=True)  # facts as rules see them (catalogue + scores + segment)
        self.managers = [m or "" for m in extras["account_manager_name"].tolist()]
        self.segment_rules = extras["segment_rules"].tolist()
        self.scope_bits = np.asarray(extras["scope_bits"].to_numpy(), dtype=np.int64)  # bit j: pack j (sorted names)
        self.msisdns: list[str] = self.frame["msisdn"].tolist()
        self.services: list[str] = self.frame["service"].tolist()

    @property
    def templates(self) -> list[PackTemplate]:
        """Template id -> template (the worker's, when it passed its `outcomes`)."""
        return self.outcomes.templates

    def release(self) -> None:
        """Drop the facts and per-fact lists, keeping each fact's outcome (its combination id,
        4 bytes): a worker with many slices holds one slice's facts at a time. `reattach` brings
        them back, and the template ids per pack from the combinations."""
        self.frame = None
        self.tids = np.zeros((0, len(self.pack_order)), dtype=np.int32)
        self.has_candidate = np.zeros(0, dtype=bool)
        self.managers = self.segment_rules = self.msisdns = self.services = []
        self.scope_bits = np.zeros(0, dtype=np.int64)
        self.candidates = {}
        self.order = np.zeros(0, dtype=np.int64)
        self._field_texts, self._messages, self._decision_texts = {}, {}, {}

    def reattach(self, frame: pd.DataFrame, extras: pd.DataFrame) -> list[Candidate]:
        """The same facts again (rebuilt from the same inputs) after `release`, ready for rows;
        returns the arbitration candidates `decide` returned, again and in the same order."""
        if len(frame) != len(self.combo):
            raise RuntimeError(f"a slice rebuilt {len(frame)} facts where it decided {len(self.combo)}")
        self._attach(frame, extras)
        self.tids = self.outcomes.matrix(len(self.pack_order))[self.combo]
        self.has_candidate = self.outcomes.treat()[self.combo]
        candidates = self._candidates(Counter())
        self.order = np.lexsort((np.asarray(self.services, dtype=object), np.asarray(self.msisdns, dtype=object)))
        return candidates

    # -- phase 1 ----------------------------------------------------------------------------
    def decide(self) -> Decided:
        """The arbitration candidates, funnel counts by (pack, decision, reason, channel) and facts."""
        frame, decider = self.frame, self.decider.decider
        bit_of = {name: j for j, name in enumerate(sorted(self.ctx.packs))}
        classes = SignatureClasses(frame, decider.signatures)
        for k, name in enumerate(self.pack_order):
            if name not in bit_of:
                continue
            rows = np.flatnonzero((self.scope_bits >> bit_of[name]) & 1)
            if not rows.size:
                continue
            fields = decider.pack_fields[name]
            groups, first = classes.groups(fields, rows)
            keys = classes.labels(fields, rows[first])
            templates = [self.memo.get((name, key)) for key in keys]
            todo = [g for g, template in enumerate(templates) if template is TemplateMemo.UNKNOWN]
            for g, record in zip(todo, fact_records(frame.iloc[rows[first[todo]]])):
                decided = decider.decide_pack(normalise_fact(record), name)
                templates[g] = None if decided is None else self._new_template(name, decided[0])
                self.memo.put((name, keys[g]), templates[g])
            ids = np.array([-1 if t is None else self.outcomes.template_id(t) for t in templates], dtype=np.int32)
            self.tids[rows, k] = ids[groups]
        self._combinations()
        funnel: Counter = Counter()
        counts = np.bincount(self.tids[self.tids >= 0], minlength=len(self.templates))
        for t in np.flatnonzero(counts).tolist():  # the worker's templates this slice uses
            template = self.templates[t]
            if template.entry["decision"] != TREAT:
                funnel[(template.pack, template.entry["decision"], template.entry["reason"], "")] += int(counts[t])
        candidates = self._candidates(funnel)
        self.order = np.lexsort((np.asarray(self.services, dtype=object), np.asarray(self.msisdns, dtype=object)))
        return Decided(candidates, funnel, len(frame))

    def _new_template(self, pack: str, raw: Any) -> PackTemplate:
        """The outcome one group of facts shares in `pack`, its values left as slots."""
        entry = self.decider.entry(raw)
        info = self.ctx.packs[pack]
        trace = dict(entry.pop("trace"))
        trace["tested"] = [dict(t, values={name: Template.slot(name) for name in t["values"]}) for t in trace["tested"]]
        trace["require"] = [dict(q, value=Template.slot(q["field"])) for q in trace["require"]]
        json = Template(jsonable(dict(trace, pack=pack, hash=info.sha256, priority=info.priority)))
        # the final outcome reads decision, pack, priority, reason and exclusions: not the tested
        # values of the fact that decided the group (most of a template's bytes), kept in `json`
        entry["_raw"] = replace(raw, tested=[], require=[], fired={})
        return PackTemplate(pack, entry, json)

    def _combinations(self) -> None:
        """Per fact its combination of templates (the worker's id); per combination the final outcome."""
        if not len(self.frame):
            return
        self.combo = self.outcomes.combine(self.tids)
        self.has_candidate = self.outcomes.treat()[self.combo]

    def _candidates(self, funnel: Counter) -> list[Candidate]:
        """Candidates of every treat outcome, their options' expected values and holdouts: per
        pack and template, in row order (phase 2 regenerates them in this order)."""
        ctx = self.ctx
        universal_of: dict[str, bool] = {}  # msisdn -> in the universal control group
        candidates: list[Candidate] = []
        columns: dict[str, np.ndarray] = {}  # the frame's value / uplift columns as floats, read once
        for k, name in enumerate(self.pack_order):
            pack = ctx.packs.get(name)
            column = self.tids[:, k]
            for t in np.unique(column[column >= 0]).tolist():
                entry = self.templates[t].entry
                if entry["decision"] != TREAT:
                    continue
                if not entry["options"]:  # a treat outcome names at least its own treatment
                    raise RuntimeError(f"pack {name} decided treat with no option")
                rows = np.flatnonzero(column == t).tolist()
                msisdns = [self.msisdns[i] for i in rows]
                per_option = [[Option(strategy, channel, ev) for ev in self._evs(strategy, rows, columns)]
                              for strategy, channel in entry["options"]]
                group = [Candidate(m, self.services[i], pack.name, pack.priority, options, pack.fallback)
                         for m, i, options in zip(msisdns, rows, zip(*per_option))]
                for m in msisdns:
                    if m not in universal_of:
                        universal_of[m] = fraction(m, UNIVERSAL, ctx.period) < ctx.universal_holdout
                universal = [universal_of[m] for m in msisdns]
                in_pack = held_out(msisdns, pack.name, ctx.period, pack.holdout).tolist()
                first_channel = entry["options"][0][1]
                for cand, u, p in zip(group, universal, in_pack):
                    held = u or p
                    self.candidates[cand.key] = {"candidate": cand, "held_out": held, "universal": u}
                    if held:
                        funnel[(pack.name, HELD_OUT, UNIVERSAL_REASON if u else HOLDOUT_REASON, first_channel)] += 1
                    else:
                        candidates.append(cand)
        return candidates

    def _evs(self, strategy: str, rows: list[int], columns: dict[str, np.ndarray]) -> list[float]:
        """Expected value of `strategy` for the facts `rows`: arbitrate.option_values (uplift, else
        base_response, × value × value_scale − cost) on the frame's columns (`columns` caches them as floats)."""
        info = self.ctx.strategies.get(strategy)
        wanted = {}
        for name in ("value", UPLIFT_PREFIX + strategy):
            if name in self.frame.columns:
                if name not in columns:
                    columns[name] = self.frame[name].to_numpy(dtype=float)
                wanted[name] = columns[name][rows]
        if not wanted:
            wanted = {"value": np.zeros(len(rows))}
        ev = option_values(wanted, strategy, info.cost if info else 0.0, info.base_response if info else 0.0,
                           self.ctx.value_scale)
        return [round(x, 9) for x in ev.tolist()]  # Python's round: identical across platforms' float noise

    # -- phase 2 ----------------------------------------------------------------------------
    def start_rows(self, verdicts: dict[tuple[str, str, str], tuple], start: int = 0) -> None:
        """Take the arbitration verdicts; `next_rows` then hands out each fact's `Row`, sorted by
        (msisdn, service), in batches, numbered in the chain from `start`.

        `verdicts` maps each arbitrated candidate key to (outcome, strategy, channel, fell_back,
        beaten_by, full_channels). Called once.
        """
        self.verdicts = verdicts
        self.cursor = 0
        self.start = start

    def next_rows(self, limit: int) -> list[Row]:
        """The next at most `limit` rows in (msisdn, service) order ([] when all were handed out),
        one `Row` each (`next_batch` hands the same rows out as columns).

        Batches keep the pipe transfer small: a worker never holds all its rows, pickled, at once.
        """
        batch = self.next_batch(limit)
        if batch is None:
            return []
        return [Row(fields[0], fields[1], fields, payload.encode("utf-8"), city, manager, batch.first + n, head)
                for n, (fields, payload, city, manager, head)
                in enumerate(zip(batch.fields, batch.payloads, batch.cities, batch.managers, batch.heads))]

    def next_batch(self, limit: int) -> "RowBatch | None":
        """The next at most `limit` rows in (msisdn, service) order as columns (None when all were
        handed out): what a worker compresses and hands to the parent, with no object per row."""
        order = self.order[self.cursor:self.cursor + limit]
        first = self.start + self.cursor
        self.cursor += len(order)
        if not len(order):
            return None
        batch = self.frame.iloc[order]
        texts = {"fact": fact_texts(batch), "packs": self._packs_texts(order, batch),
                 "segment": self._segment_texts(order, batch),
                 "msisdn": canonical_strings([self.msisdns[i] for i in order.tolist()]),
                 "service": canonical_strings([self.services[i] for i in order.tolist()])}
        combos = self.combo[order].tolist()
        arbitration, decision, holdout = [], [], []
        fields_out, cities, managers = [], [], []
        cand_rows = np.flatnonzero(self.has_candidate[order])
        message_columns = [c for c in MESSAGE_FACT_FIELDS if c in batch.columns]  # all a candidate row reads
        records = (dict(zip(cand_rows.tolist(), fact_records(batch.iloc[cand_rows][message_columns])))
                   if len(cand_rows) else {})
        finals, final_texts = self.outcomes.finals, self.outcomes.texts
        for n, i in enumerate(order.tolist()):
            record = records.get(n)
            if record is None:
                c = combos[n]
                decision_, pack, reason = finals[c]
                fields_out.append((self.msisdns[i], self.services[i], pack, decision_, reason, "", "", "", ""))
                arbitration.append("[]"), decision.append(final_texts[c]), holdout.append("false")
                cities.append(""), managers.append(self.managers[i])
                continue
            fields, arb, dec, city = self._candidate_row(i, combos[n], record)
            arbitration.append(payload_text(arb)), decision.append(dec)
            holdout.append("true" if any(a.get("outcome") == HELD_OUT for a in arb) else "false")
            fields_out.append(fields), cities.append(city), managers.append(self.managers[i])
        texts.update(arbitration=arbitration, decision=decision, holdout=holdout)
        payloads = self.payload.fill(texts, len(order))
        self._field_texts.update(zip((f[0] for f in fields_out), texts["msisdn"]))  # canonical texts made above
        self._field_texts.update(zip((f[1] for f in fields_out), texts["service"]))
        heads = record_heads(self.ctx.run_id, first, fields_out, self._field_texts)
        return RowBatch(first, fields_out, payloads, cities, managers, heads)

    def _packs_texts(self, order: np.ndarray, batch: pd.DataFrame) -> list[str]:
        """Each fact's `packs` trace list: its templates filled with its own tested values."""
        tids = self.tids[order]
        n = len(order)
        per_pack: list[list[str]] = []  # per pack, ',entry' per fact or "" where the pack has none
        values: dict[str, np.ndarray] = {}  # field -> tested value text per fact (object array)
        for k in range(tids.shape[1]):
            column = tids[:, k]
            present = column >= 0
            if not present.any():
                continue
            texts = np.full(n, "", dtype=object)
            for t, at in _rows_by_value(column, present):
                template = self.templates[t].json
                for name in template.slots:
                    if name not in values:
                        values[name] = np.asarray(field_value_texts(batch, name), dtype=object)
                columns = {name: values[name][at].tolist() for name in template.slots}
                texts[at] = template.fill(columns, len(at), prefix=",")
            per_pack.append(texts.tolist())
        if not per_pack:
            return ["[]"] * n
        return ["[" + text[1:] + "]" for text in map("".join, zip(*per_pack))]

    def _segment_texts(self, order: np.ndarray, batch: pd.DataFrame) -> list[str]:
        """Each fact's `segment` trace entry: its segment, reasons and the segmentation rules that matched."""
        n = len(order)
        segment = (per_distinct(batch, "segment", lambda r: canonical(r.get("segment")))
                   if "segment" in batch.columns else [canonical(None)] * n)
        reasons = (per_distinct(batch, "reasons", lambda r: canonical(list(r.get("reasons") or [])))
                   if "reasons" in batch.columns else [canonical([])] * n)
        cache: dict[Any, str] = {}
        rules = []
        for i in order.tolist():
            raw = self.segment_rules[i]
            text = cache.get(raw)
            if text is None:
                text = cache[raw] = canonical(list(raw))  # a tuple of rule ids (engine.rules.vector.segment_frame)
            rules.append(text)
        return _SEGMENT.fill({"segment": segment, "reasons": reasons, "rules": rules}, n)

    def _candidate_row(self, i: int, combo: int, record: dict) -> tuple[tuple, list[dict], str, str]:
        """(row fields, arbitration entries, decision entry's JSON, city) of a fact with a candidate."""
        msisdn, service = self.msisdns[i], self.services[i]
        manager = self.managers[i]
        states = []
        for t in self.outcomes.combos[combo]:
            entry = self.templates[t].entry
            state = self.candidates.get((msisdn, service, entry["pack"]))
            if state is not None:
                states.append(((entry["pack"], entry["reason"]), state, self.verdicts.get((msisdn, service, entry["pack"]))))
        decision, pack, reason, arbitration, strategy, channel = self._choose(states, combo)
        facts = {k: record.get(k) for k in MESSAGE_FACT_FIELDS}
        message = ""
        if strategy:
            info = self.ctx.strategies.get(strategy)
            if info is not None and info.message:
                values = message_values(facts, manager, self.ctx)
                key = (strategy, tuple(values.items()))
                message = self._messages.get(key)
                if message is None:
                    message = self._messages[key] = render(info.message, values)
        contact = {"city": facts.get("city") or "", "account_manager": manager}
        contact = {k: contact[k] for k in CHANNEL_EXTRAS.get(channel, ())}
        arb = [self._arbitration_entry(state, verdict) for _, state, verdict in states]
        key = (decision, pack, reason, arbitration, strategy, channel, message, tuple(contact.items()))
        dec = self._decision_texts.get(key)
        if dec is None:
            dec = self._decision_texts[key] = payload_text(dict(
                decision=decision, pack=pack, reason=reason, arbitration=arbitration,
                strategy=strategy, channel=channel, message=message, contact=contact))
        fields = (msisdn, service, pack, decision, reason, arbitration, strategy, channel, message)
        return fields, arb, dec, facts.get("city") or ""

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

    def _choose(self, states: list, combo: int) -> tuple[str, str, str, str, str, str]:
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
        decision, pack, reason = self.outcomes.finals[combo]
        return decision, pack, reason, "", "", ""


def _rows_by_value(column: np.ndarray, present: np.ndarray):
    """(value, its rows in ascending order) for each distinct value of `column` where `present`,
    values ascending: one stable sort, not one scan of the column per value (a batch of a slice
    meets thousands of templates)."""
    rows = np.flatnonzero(present)
    values = column[rows]
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    cuts = np.flatnonzero(ranked[1:] != ranked[:-1]) + 1
    bounds = [0, *cuts.tolist(), len(ranked)]
    for start, end in zip(bounds[:-1], bounds[1:]):
        yield int(ranked[start]), rows[order[start:end]]


_SEGMENT = Template({"segment": Template.slot("segment"), "reasons": Template.slot("reasons"),
                     "rules": Template.slot("rules")})


def _payload_template(ctx: RunContext) -> Template:
    """The run's trace payload (engine.night.trace.trace_payload) with a slot for every per-fact part."""
    structure = trace_payload(
        ctx=ctx, msisdn=Template.slot("msisdn"), service=Template.slot("service"), segment=Template.slot("segment"),
        fact=Template.slot("fact"), packs=Template.slot("packs"), arbitration=[], decision=Template.slot("decision"))
    structure.update(arbitration=Template.slot("arbitration"), holdout=Template.slot("holdout"))
    return Template(jsonable(structure))
