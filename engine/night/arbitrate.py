"""Arbitration 仲裁 (SPEC §7): which of a subscriber's candidate treatments are contacted tonight.

A candidate is one (msisdn, service, pack) whose pack decided `treat`; its options are the
pack's matching treat entries in pack order (the first is what the pack chose; the others are
fallbacks on other channels). Held-out candidates never reach this stage: they take no
capacity and no cap.

The order, documented for planners and auditors:
1. Within a subscriber, candidates rank by pack priority (lower wins), then expected value of
   their first option (higher wins), then (service, strategy, pack) as a stable tie-break.
2. Subscribers are served best-first: by their best candidate's (priority, −EV), then msisdn.
   This is the order in which limited channels (contact policy `capacities`) fill up.
3. A subscriber may be contacted `allowance = min(caps.per_run, caps.per_30_days − contacts_30d)`
   times (a missing cap is no limit). Walking its candidates in rank order, a candidate takes
   its first option whose channel has capacity left; when its first option's channel is full and
   the pack allows `fallback`, it tries its next options on other channels. No capacity anywhere
   → `lost_capacity`, and the next candidate gets its chance (no cap is counted for a contact
   that did not happen). Once the allowance is used up, the remaining candidates lose with
   `lost_priority` (a better candidate of this subscriber won) — or `lost_cap` when the 30-day
   cap is what limits (it was already reached by earlier contacts, or is tighter than per_run).
   A fact (subscriber, service) is contacted at most once: when two packs' candidates for the
   same fact both could win, the better-ranked one does and the other loses with
   `lost_priority`.

Expected value EV = incremental response × value × value_scale − cost (see `expected_value`):
the incremental response (uplift: what contacting adds to the chance the subscriber responds
anyway) is the fact's `uplift.<strategy>` from the response model when one is stored and knows
the strategy, else the strategy's `base_response` — the planner's estimate, read as the
response the contact brings about (`option_value`, `option_values`). Not the response
propensity: ranking on it would put first the subscribers who respond without contact
(docs/LOOP.md §5).

A night arbitrates its candidates as arrays (engine/night/candidates.py, `arbitrate_table`):
the same order and rules, held equal to `arbitrate` by tests/engine/night/test_candidates.py.
`arbitrate` here is the reference, and the form the tests and planners read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

WON = "won"
LOST_PRIORITY = "lost_priority"
LOST_CAP = "lost_cap"
LOST_CAPACITY = "lost_capacity"

DEFAULT_VALUE_SCALE = 100.0  # yuan: a subscriber of value 1.0 is worth 100 yuan to a campaign


UPLIFT = "uplift"  # the fact's map of the response model's `uplift.<strategy>`


def expected_value(incremental: float, value: float, cost: float, value_scale: float = DEFAULT_VALUE_SCALE) -> float:
    """EV in yuan = incremental response × (value score × value_scale) − cost of the contact."""
    return float(incremental) * float(value) * float(value_scale) - float(cost)


def incremental_response(fact: Mapping, strategy: str, base_response: float) -> tuple[float, str]:
    """(the incremental response an option of `strategy` is valued with, its source): the fact's
    `uplift` map entry (source "uplift") or the strategy's `base_response` ("base_response")."""
    learned = (fact.get(UPLIFT) or {}).get(strategy)
    if learned is None or (isinstance(learned, float) and math.isnan(learned)):
        return float(base_response), "base_response"
    return float(learned), UPLIFT


def option_value(fact: Mapping, strategy: str, cost: float, base_response: float,
                 value_scale: float = DEFAULT_VALUE_SCALE) -> float:
    """EV of treating one fact (a record as rules see it) with `strategy` (module docstring)."""
    incremental, _source = incremental_response(fact, strategy, base_response)
    return expected_value(incremental, fact.get("value", 0.0) or 0.0, cost, value_scale)


def option_values(columns: Mapping[str, np.ndarray], strategy: str, cost: float, base_response: float,
                  value_scale: float = DEFAULT_VALUE_SCALE) -> np.ndarray:
    """`option_value` for a column of facts at once, from the fact frame's columns (`value` and,
    when the response model gave one, `uplift.<strategy>`; NaN = none): float for float equal to
    the per-fact function."""
    value = np.asarray(columns["value"], dtype=float) if "value" in columns else None
    n = len(value) if value is not None else len(next(iter(columns.values())))
    value = np.zeros(n) if value is None else np.nan_to_num(value, nan=0.0)
    learned = columns.get(f"{UPLIFT}.{strategy}")
    incremental = np.full(n, float(base_response))
    if learned is not None:
        learned = np.asarray(learned, dtype=float)
        incremental = np.where(np.isnan(learned), incremental, learned)
    return incremental * value * float(value_scale) - float(cost)


@dataclass(frozen=True, slots=True)
class Option:
    """One way to treat a candidate: a strategy on its channel, with its expected value."""

    strategy: str
    channel: str
    ev: float


@dataclass(frozen=True, slots=True)
class Candidate:
    """A (msisdn, service, pack) the pack decided to treat, with its options in pack order."""

    msisdn: str
    service: str
    pack: str
    priority: int
    options: tuple[Option, ...]
    fallback: bool = True  # may the candidate move to another channel when its first one is full?

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.msisdn, self.service, self.pack)

    def rank(self) -> tuple:
        first = self.options[0]
        return (self.priority, -first.ev, self.service, first.strategy, self.pack)


@dataclass(frozen=True, slots=True)
class Policy:
    """The contact policy's limits: caps per subscriber and capacities per channel (None = no limit)."""

    per_run: int | None = None
    per_30_days: int | None = None
    capacities: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Result:
    """What arbitration did with one candidate."""

    candidate: Candidate
    outcome: str  # WON | LOST_PRIORITY | LOST_CAP | LOST_CAPACITY
    option: Option | None  # the option contacted (WON), else None
    fell_back: bool = False  # WON on a later option because the first option's channel was full
    beaten_by: tuple[str, str, str] | None = None  # key of the winner that used up the allowance
    full_channels: tuple[str, ...] = ()  # channels that were full when this candidate tried them


def subscriber_allowance(policy: Policy, contacts_30d: int) -> tuple[float, bool]:
    """(contacts allowed tonight, is the 30-day cap the binding limit?)"""
    per_run = float("inf") if policy.per_run is None else policy.per_run
    left_30 = float("inf") if policy.per_30_days is None else max(0, policy.per_30_days - contacts_30d)
    return min(per_run, left_30), left_30 < per_run


def subscriber_order(candidates: Iterable[Candidate]) -> dict[str, list[Candidate]]:
    """Candidates grouped by subscriber, each group ranked, groups in best-first serving order."""
    groups: dict[str, list[Candidate]] = {}
    for c in candidates:
        groups.setdefault(c.msisdn, []).append(c)
    for group in groups.values():
        group.sort(key=Candidate.rank)
    ordered = sorted(groups.items(), key=lambda item: (item[1][0].priority, -item[1][0].options[0].ev, item[0]))
    return dict(ordered)


def arbitrate(candidates: Iterable[Candidate], contacts_30d: Mapping[str, int], policy: Policy) -> list[Result]:
    """Decide every candidate (see the module docstring); results in serving order."""
    remaining = {channel: int(n) for channel, n in policy.capacities.items()}
    results: list[Result] = []
    for msisdn, group in subscriber_order(candidates).items():
        allowance, thirty_day_binding = subscriber_allowance(policy, int(contacts_30d.get(msisdn, 0) or 0))
        winners: list[Candidate] = []
        for cand in group:
            twin = next((w for w in winners if w.service == cand.service), None)
            if twin is not None:  # one contact per (subscriber, service): another pack already won it
                results.append(Result(cand, LOST_PRIORITY, None, beaten_by=twin.key))
                continue
            if len(winners) >= allowance:
                cause = LOST_CAP if (not winners or thirty_day_binding) else LOST_PRIORITY
                results.append(Result(cand, cause, None, beaten_by=winners[0].key if winners else None))
                continue
            chosen, full = _take(cand, remaining)
            if chosen is None:
                results.append(Result(cand, LOST_CAPACITY, None, full_channels=full))
                continue
            winners.append(cand)
            results.append(Result(cand, WON, chosen, fell_back=chosen is not cand.options[0], full_channels=full))
    return results


def _take(cand: Candidate, remaining: dict[str, int]) -> tuple[Option | None, tuple[str, ...]]:
    """The first option with capacity left (decrementing it), and the full channels tried."""
    options = cand.options if cand.fallback else cand.options[:1]
    full: list[str] = []
    for option in options:
        if option.channel in full:
            continue  # the next treat entry on another channel, not the same full one
        left = remaining.get(option.channel)
        if left is None:
            return option, tuple(full)
        if left > 0:
            remaining[option.channel] = left - 1
            return option, tuple(full)
        full.append(option.channel)
    return None, tuple(full)
