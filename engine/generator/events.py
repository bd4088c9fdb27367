"""Handset changes 换机 and the list memberships' dates.

A handset change is what turns a steady monthly user into a short-term silent one (the client
app is gone with the old phone), so it is drawn before subscriptions and usage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from engine.generator import catalogue as cat
from engine.generator.population import Population
from engine.generator.writer import coded

NO_CHANGE = 10**6  # "days since last change" for subscribers who never changed handset
RECENT_DAYS = 60


@dataclass
class HandsetEvents:
    msisdn_idx: np.ndarray  # subscriber index per change
    changed_on: np.ndarray  # days since epoch
    old_os: np.ndarray
    new_os: np.ndarray
    last_change_days: np.ndarray  # per subscriber: days since the latest change, NO_CHANGE if none


def _previous_os(rng: np.random.Generator, new_os: np.ndarray) -> np.ndarray:
    """The OS before a change: mostly the same; feature→smartphone upgrades; smartphone swaps."""
    n = len(new_os)
    smart = cat.SMARTPHONE[new_os]
    u = rng.random(n)
    other_smart = np.array([0, 1, 2], dtype=np.int16)[rng.integers(0, 3, n)]
    legacy = np.array([3, 4, 5], dtype=np.int16)[rng.choice(3, size=n, p=[0.3, 0.1, 0.6])]
    old = new_os.copy()
    old = np.where(smart & (u < 0.20), legacy, old)  # feature / symbian → smartphone
    old = np.where(smart & (u >= 0.20) & (u < 0.45), other_smart, old)  # android ↔ ios ↔ harmony
    return old.astype(np.int16)


def handset_changes(pop: Population, rng: np.random.Generator) -> HandsetEvents:
    """Draw 0–2 handset changes per subscriber within tenure; set `pop.os_now`."""
    n, as_of = pop.n, pop.as_of
    os_now = np.zeros(n, dtype=np.int16)
    for b in range(len(cat.BRANDS)):
        idx = np.nonzero(pop.brand == b)[0]
        os_now[idx] = rng.choice(len(cat.OS), size=len(idx), p=cat.OS_SHARES_BY_BRAND[b])
    pop.os_now = os_now

    count = rng.choice(3, size=n, p=[0.70, 0.24, 0.06])
    span = np.minimum(pop.tenure_days, 730) - 1
    # The latest change: a share land in the last 60 days, the rest spread over two years.
    recent = rng.random(n) < 0.22
    days1 = np.where(recent, rng.integers(1, RECENT_DAYS + 1, n), rng.integers(1, 731, n))
    days1 = np.minimum(days1, span).clip(1)
    days2 = days1 + rng.integers(60, 700, n)  # the earlier change, if any

    first = np.nonzero(count >= 1)[0]
    second = np.nonzero((count >= 2) & (days2 < pop.tenure_days))[0]
    old1 = _previous_os(rng, os_now[first])
    old2 = _previous_os(rng, old1[np.searchsorted(first, second)])

    idx = np.concatenate([first, second])
    changed = np.concatenate([as_of - days1[first], as_of - days2[second]]).astype(np.int32)
    old = np.concatenate([old1, old2])
    new = np.concatenate([os_now[first], old1[np.searchsorted(first, second)]])
    order = np.lexsort((changed, idx))

    last = np.full(n, NO_CHANGE, dtype=np.int32)
    last[first] = days1[first]
    return HandsetEvents(idx[order], changed[order], old[order], new[order], last)


def handset_table(pop: Population, ev: HandsetEvents) -> pa.Table:
    os_names = pa.array(cat.OS)
    return pa.table({
        "msisdn": coded(ev.msisdn_idx, pop.msisdn),
        "changed_on": pa.array(ev.changed_on, pa.date32()),
        "old_os": coded(ev.old_os, os_names),
        "new_os": coded(ev.new_os, os_names),
    })


def lists_table(pop: Population, rng: np.random.Generator) -> pa.Table:
    """One row per (subscriber, list), sorted by msisdn then list name; `since` within tenure."""
    idx, names, since = [], [], []
    for name in sorted(pop.lists):
        members = np.nonzero(pop.lists[name])[0]
        idx.append(members)
        names.append(np.full(len(members), name, dtype=object))
        since.append(pop.as_of - (rng.random(len(members)) * pop.tenure_days[members]).astype(np.int32))
    idx_all = np.concatenate(idx)
    names_all = np.concatenate(names)
    order = np.argsort(idx_all, kind="stable")  # stable: list names stay alphabetical per number
    return pa.table({
        "msisdn": coded(idx_all[order], pop.msisdn),
        "list": pa.array(names_all[order], pa.string()),
        "since": pa.array(np.concatenate(since)[order].astype(np.int32), pa.date32()),
    })
