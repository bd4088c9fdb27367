"""Arbitration's candidates and verdicts as arrays: what crosses from the workers to the parent and back.

A 1M-subscriber night has ~700k candidates. As Python objects (a `Candidate`, its tuple of
`Option`s, their strings and floats) they cost ~360 B each in the worker that made them, again
in the parent, and the parent's results and verdict dicts as much again: most of the ~1.6 GB the
1M night grew by between its decide and rows stages (docs/SCALE.md). Here a candidate is one row
of a few numpy arrays (~36 B, and 16 B per option) and its verdict one row of five (~16 B).

The msisdn is its UTF-8 bytes (numpy `S`, 11 B for an 11-digit number; it was numpy unicode,
44 B): bytes compare as the strings' code points do (UTF-8 keeps code point order; the
snapshot's rules refuse control characters, so no msisdn ends in the NUL numpy `S` drops), so
arbitration's tie-break on the msisdn orders exactly as `arbitrate`'s string comparison
(tests/engine/night/test_candidates.py, msisdns of different lengths, leading zeros, non-ASCII).
`candidates()` gives them back as str (the Spark executors' JSON).

- `CandidateTable.of(candidates, contacts)`: one worker's candidates, in the order it made them,
  each with the 30-day contacts of its subscriber (arbitration's cap reads them).
- `CandidateTable.concat(tables)`: the parent's table of every worker's candidates.
- `arbitrate_table(table, policy)`: `engine.night.arbitrate.arbitrate` over the table — the same
  serving order, caps, capacities, fallbacks and tie-break (the order is worked out with numpy,
  the fill walks the candidates once) — giving `Verdicts` aligned with the table's rows and the
  funnel's counts. tests/engine/night/test_candidates.py holds it equal to `arbitrate`.
- `Verdicts.part(start, stop)`: the verdicts of rows start..stop (one slice's candidates), and
  `Verdicts.entries(candidates)`: per candidate key the verdict tuple engine/night/partition.py
  reads, for the same candidates regenerated in the same order.

Names (services, packs, strategies, channels) are codes into sorted vocabularies, so comparing
codes compares names, as the tie-break of engine/night/arbitrate.py does. A winner that beats a
candidate is always a candidate of the same subscriber, so of the same slice: `beaten` is a row
number within the same table (or part).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from typing import Mapping, Sequence

import numpy as np

from engine.night.arbitrate import (LOST_CAP, LOST_CAPACITY, LOST_PRIORITY, WON, Candidate, Option, Policy,
                                    subscriber_allowance)

OUTCOMES = (WON, LOST_PRIORITY, LOST_CAP, LOST_CAPACITY)  # Verdicts.outcome codes
_WON, _LOST_PRIORITY, _LOST_CAP, _LOST_CAPACITY = range(4)


def msisdn_bytes(msisdns: Sequence[str]) -> np.ndarray:
    """The msisdns as UTF-8 bytes (numpy S): ordered as the strings are (module docstring)."""
    encoded = [m.encode("utf-8") for m in msisdns]
    if any(m.endswith(b"\0") for m in encoded):
        raise ValueError("an msisdn ends in a NUL character")  # numpy S would drop it
    return np.array(encoded, dtype=bytes) if encoded else np.zeros(0, dtype="S1")


def _vocabulary(values) -> tuple[list[str], dict[str, int]]:
    names = sorted(set(values))
    return names, {name: code for code, name in enumerate(names)}


def _recode(codes: np.ndarray, names: list[str], index: dict[str, int]) -> np.ndarray:
    """Codes into `names` as codes into the vocabulary `index`."""
    remap = np.array([index[name] for name in names], dtype=np.int32)
    return remap[codes] if len(codes) else codes.astype(np.int32)


@dataclass
class CandidateTable:
    """Candidates as arrays, one row each; options flattened, candidate i's are offsets[i]:offsets[i + 1]."""

    msisdn: np.ndarray  # the msisdn's UTF-8 bytes (numpy S): orders as the str does (module docstring)
    service: np.ndarray  # int32 code into `services`
    pack: np.ndarray  # int32 code into `packs`
    priority: np.ndarray  # int32 (a pack's priority is 0..65535: pack.schema.json)
    fallback: np.ndarray  # bool
    contacts: np.ndarray  # int32: contacts_30d of the candidate's subscriber
    offsets: np.ndarray  # int64, len n + 1
    strategy: np.ndarray  # int32 code into `strategies`, per option
    channel: np.ndarray  # int32 code into `channels`, per option
    ev: np.ndarray  # float64, per option
    services: list[str]
    packs: list[str]
    strategies: list[str]
    channels: list[str]

    def __len__(self) -> int:
        return len(self.msisdn)

    @classmethod
    def of(cls, candidates: Sequence[Candidate], contacts: Mapping[str, int]) -> "CandidateTable":
        """The table of `candidates` (row i is candidates[i]); `contacts`: msisdn -> contacts_30d."""
        services, service_of = _vocabulary(c.service for c in candidates)
        packs, pack_of = _vocabulary(c.pack for c in candidates)
        strategies, strategy_of = _vocabulary(o.strategy for c in candidates for o in c.options)
        channels, channel_of = _vocabulary(o.channel for c in candidates for o in c.options)
        options = [o for c in candidates for o in c.options]
        return cls(
            msisdn=msisdn_bytes([c.msisdn for c in candidates]),
            service=np.array([service_of[c.service] for c in candidates], dtype=np.int32),
            pack=np.array([pack_of[c.pack] for c in candidates], dtype=np.int32),
            priority=np.array([c.priority for c in candidates], dtype=np.int32),
            fallback=np.array([c.fallback for c in candidates], dtype=bool),
            contacts=np.array([int(contacts.get(c.msisdn, 0) or 0) for c in candidates], dtype=np.int32),
            offsets=np.cumsum([0] + [len(c.options) for c in candidates], dtype=np.int64),
            strategy=np.array([strategy_of[o.strategy] for o in options], dtype=np.int32),
            channel=np.array([channel_of[o.channel] for o in options], dtype=np.int32),
            ev=np.array([o.ev for o in options], dtype=np.float64),
            services=services, packs=packs, strategies=strategies, channels=channels)

    @classmethod
    def concat(cls, tables: Sequence["CandidateTable"]) -> "CandidateTable":
        """The rows of every table in turn (codes moved onto the union of the vocabularies)."""
        vocab = {name: _vocabulary(n for t in tables for n in getattr(t, name))
                 for name in ("services", "packs", "strategies", "channels")}

        def joined(column: str, names: str | None = None) -> np.ndarray:
            parts = [getattr(t, column) if names is None else _recode(getattr(t, column), getattr(t, names),
                                                                      vocab[names][1])
                     for t in tables]
            return np.concatenate(parts) if parts else np.zeros(0)

        sizes = [t.offsets[-1] for t in tables]
        shifts = np.cumsum([0] + sizes[:-1], dtype=np.int64)
        offsets = np.concatenate([[0]] + [t.offsets[1:] + s for t, s in zip(tables, shifts)]).astype(np.int64)
        return cls(msisdn=joined("msisdn") if tables else msisdn_bytes([]),
                   service=joined("service", "services").astype(np.int32),
                   pack=joined("pack", "packs").astype(np.int32), priority=joined("priority").astype(np.int32),
                   fallback=joined("fallback").astype(bool), contacts=joined("contacts").astype(np.int32),
                   offsets=offsets, strategy=joined("strategy", "strategies").astype(np.int32),
                   channel=joined("channel", "channels").astype(np.int32), ev=joined("ev").astype(np.float64),
                   services=vocab["services"][0], packs=vocab["packs"][0], strategies=vocab["strategies"][0],
                   channels=vocab["channels"][0])

    def candidates(self) -> list[Candidate]:
        """The rows as `Candidate` objects (for the Spark executors' JSON and the tests)."""
        options = [Option(self.strategies[s], self.channels[c], e)
                   for s, c, e in zip(self.strategy.tolist(), self.channel.tolist(), self.ev.tolist())]
        bounds = self.offsets.tolist()
        return [Candidate(m.decode("utf-8"), self.services[s], self.packs[p], priority, tuple(options[a:b]), fallback)
                for m, s, p, priority, fallback, a, b in zip(
                    self.msisdn.tolist(), self.service.tolist(), self.pack.tolist(), self.priority.tolist(),
                    self.fallback.tolist(), bounds[:-1], bounds[1:])]

    def nbytes(self) -> int:
        return sum(getattr(self, f.name).nbytes for f in fields(self) if isinstance(getattr(self, f.name), np.ndarray))


@dataclass
class Verdicts:
    """What arbitration did with each row of a CandidateTable (or of a part of it)."""

    outcome: np.ndarray  # int8 index into OUTCOMES
    option: np.ndarray  # int16: the contacted option's index among the candidate's options, -1 when lost
    fell_back: np.ndarray  # bool: won on a later option because the first option's channel was full
    beaten: np.ndarray  # int64: the row of the winner that beat it (same subscriber), -1
    full: np.ndarray  # int32 index into `full_channels`
    full_channels: list[tuple[str, ...]]  # [0] is (): the channels found full, in the order tried

    def __len__(self) -> int:
        return len(self.outcome)

    def part(self, start: int, stop: int) -> "Verdicts":
        """Rows start..stop, `beaten` counted from `start` (its winners are rows of the same part)."""
        beaten = self.beaten[start:stop]
        inside = beaten >= 0
        if ((beaten[inside] < start) | (beaten[inside] >= stop)).any():
            raise ValueError("a candidate was beaten by a candidate outside its part (another subscriber's?)")
        return Verdicts(self.outcome[start:stop].copy(), self.option[start:stop].copy(),
                        self.fell_back[start:stop].copy(), np.where(inside, beaten - start, -1),
                        self.full[start:stop].copy(), self.full_channels)

    def entries(self, candidates: Sequence[Candidate]) -> dict[tuple[str, str, str], tuple]:
        """Per candidate key: (outcome, strategy, channel, fell_back, beaten_by key or None, full
        channels), for the candidates these verdicts are of, in the same order."""
        if len(candidates) != len(self):
            raise RuntimeError(f"{len(candidates)} candidates regenerated where {len(self)} were arbitrated")
        out = {}
        for cand, outcome, option, fell_back, beaten, full in zip(
                candidates, self.outcome.tolist(), self.option.tolist(), self.fell_back.tolist(),
                self.beaten.tolist(), self.full.tolist()):
            chosen = cand.options[option] if option >= 0 else None
            out[cand.key] = (OUTCOMES[outcome], chosen.strategy if chosen else "", chosen.channel if chosen else "",
                             fell_back, candidates[beaten].key if beaten >= 0 else None, self.full_channels[full])
        return out


def serving_order(table: CandidateTable) -> np.ndarray:
    """Rows in arbitration's serving order (engine/night/arbitrate.py, "The order"): subscribers
    best-first by their best candidate's (priority, −EV), then msisdn; within a subscriber by
    (priority, −EV, service, strategy, pack) of each candidate's first option."""
    if not len(table):
        return np.zeros(0, dtype=np.int64)
    first = table.offsets[:-1]
    ev, strategy = table.ev[first], table.strategy[first]
    ranked = np.lexsort((table.pack, strategy, table.service, -ev, table.priority, table.msisdn))
    msisdn = table.msisdn[ranked]
    starts = np.flatnonzero(np.r_[True, msisdn[1:] != msisdn[:-1]])  # each subscriber's best candidate
    best = ranked[starts]
    groups = np.lexsort((table.msisdn[best], -ev[best], table.priority[best]))  # subscribers in serving order
    group_of = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(ranked)]))
    position = np.empty(len(starts), dtype=np.int64)
    position[groups] = np.arange(len(starts))
    return ranked[np.argsort(position[group_of], kind="stable")]


# Candidates (in serving order) whose Python values the arbitration loop holds at a time: the
# loop is Python (the fill is sequential), and lists of the whole base's values were ~200 B a
# candidate in the parent (3M: 2.1M candidates); a chunk of whole subscribers keeps it flat.
CHUNK = 1 << 16


def arbitrate_table(table: CandidateTable, policy: Policy, chunk: int = CHUNK) -> tuple[Verdicts, Counter]:
    """`arbitrate` (engine/night/arbitrate.py) over a table: (verdicts aligned with its rows,
    funnel counts by (pack, outcome, channel) — the contacted option's channel for a winner,
    the first option's for a loser). The serving order is walked `chunk` candidates at a time
    (whole subscribers each), so the Python values held do not grow with the base."""
    n = len(table)
    outcome = np.zeros(n, dtype=np.int8)
    chosen = np.full(n, -1, dtype=np.int16)
    fell_back = np.zeros(n, dtype=bool)
    beaten = np.full(n, -1, dtype=np.int64)
    full = np.zeros(n, dtype=np.int32)
    full_channels: list[tuple[str, ...]] = [()]
    full_index: dict[tuple[int, ...], int] = {(): 0}
    unlimited = -1
    remaining = [int(policy.capacities[name]) if name in policy.capacities else unlimited for name in table.channels]

    order = serving_order(table)
    starts = _subscriber_starts(table.msisdn, order)
    cut = np.searchsorted(starts, np.arange(chunk, n, max(chunk, 1)))  # chunks end where a subscriber begins
    edges = np.unique(np.r_[0, starts[cut[cut < len(starts)]], n]).tolist() if n else [0]
    for a, b in zip(edges[:-1], edges[1:]):
        rows = order[a:b]
        inner = starts[(starts >= a) & (starts < b)] - a  # the chunk's subscribers' first candidates
        first = table.offsets[rows]
        sizes = table.offsets[rows + 1] - first
        local = np.r_[0, np.cumsum(sizes)]  # the chunk's candidates' options, one after the other
        channel = table.channel[np.repeat(first - local[:-1], sizes) + np.arange(local[-1])].tolist()
        local = local.tolist()
        service, contacts = table.service[rows].tolist(), table.contacts[rows].tolist()
        fallback = table.fallback[rows].tolist()
        got_outcome = [_WON] * len(rows)
        got_beaten = [-1] * len(rows)
        got_option = [-1] * len(rows)
        got_fell_back = [False] * len(rows)
        got_full = [0] * len(rows)
        bounds = inner.tolist() + [len(rows)]
        for at, end in zip(bounds[:-1], bounds[1:]):
            allowance, thirty_day_binding = subscriber_allowance(policy, contacts[at])
            winners: list[int] = []
            for i in range(at, end):
                twin = next((w for w in winners if service[w] == service[i]), None)
                if twin is not None:  # one contact per (subscriber, service): another pack already won it
                    got_outcome[i], got_beaten[i] = _LOST_PRIORITY, twin
                    continue
                if len(winners) >= allowance:
                    got_outcome[i] = _LOST_CAP if (not winners or thirty_day_binding) else _LOST_PRIORITY
                    got_beaten[i] = winners[0] if winners else -1
                    continue
                start = local[i]
                last = local[i + 1] if fallback[i] else start + 1
                tried: list[int] = []  # channels found full, in order
                taken = -1
                for option in range(start, last):
                    c = channel[option]
                    if c in tried:
                        continue  # the next treat entry on another channel, not the same full one
                    if remaining[c] == unlimited:
                        taken = option
                        break
                    if remaining[c] > 0:
                        remaining[c] -= 1
                        taken = option
                        break
                    tried.append(c)
                if tried:
                    key = tuple(tried)
                    if key not in full_index:
                        full_index[key] = len(full_channels)
                        full_channels.append(tuple(table.channels[c] for c in tried))
                    got_full[i] = full_index[key]
                if taken < 0:
                    got_outcome[i] = _LOST_CAPACITY
                    continue
                winners.append(i)
                got_option[i], got_fell_back[i] = taken - start, taken != start
        got_beaten_rows = np.asarray(got_beaten, dtype=np.int64)
        outcome[rows] = got_outcome
        chosen[rows] = got_option
        fell_back[rows] = got_fell_back
        beaten[rows] = np.where(got_beaten_rows >= 0, rows[np.maximum(got_beaten_rows, 0)], -1)
        full[rows] = got_full
    return Verdicts(outcome, chosen, fell_back, beaten, full, full_channels), _funnel(table, outcome, chosen)


def _subscriber_starts(msisdn: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Positions in `order` where a subscriber's candidates begin (they are contiguous in it)."""
    if not len(order):
        return np.zeros(0, dtype=np.int64)
    starts = np.zeros(len(order), dtype=bool)
    starts[0] = True
    for a in range(0, len(order) - 1, CHUNK):  # the msisdns compared a chunk at a time, not copied whole
        m = msisdn[order[a:a + CHUNK + 1]]
        starts[a + 1:a + len(m)] = m[1:] != m[:-1]
    return np.flatnonzero(starts)


def _funnel(table: CandidateTable, outcome: np.ndarray, chosen: np.ndarray) -> Counter:
    """(pack, outcome, channel) -> candidates: a winner counts on its contacted option's channel,
    a loser on its first option's."""
    option = table.offsets[:-1] + np.maximum(chosen, 0)
    keys = np.stack([table.pack.astype(np.int64), outcome.astype(np.int64), table.channel[option].astype(np.int64)],
                    axis=1) if len(table) else np.zeros((0, 3), dtype=np.int64)
    unique, counts = np.unique(keys, axis=0, return_counts=True)
    return Counter({(table.packs[p], OUTCOMES[o], table.channels[c]): int(k)
                    for (p, o, c), k in zip(unique.tolist(), counts.tolist())})
