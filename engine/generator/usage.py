"""Monthly usage 月使用量 per subscription over M6..M0 (M0 partial), shaped by behaviour class.

Works on subscription × month matrices (7 columns: M6, M5, ..., M1, M0). A row is written
only where something happened (uses, traffic or payment), as the data feed does.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from engine.generator import catalogue as cat
from engine.generator.population import Population
from engine.generator.subscriptions import Subscriptions
from engine.generator.writer import coded

B = cat.BH
MONTHS = 7  # M6..M0
GPRS_PRICE_PER_MB = 0.29  # 元/MB outside a package
GPRS = cat.SVC["gprs"]


@dataclass
class Usage:
    """Per subscription (rows, in subscription order) and month (columns M6..M0)."""

    months: list[str]  # 'YYYY-MM' of M6..M0
    month_start: np.ndarray  # days since epoch, per column
    uses: np.ndarray  # int32 uses by the service's activity rule
    traffic: np.ndarray  # int32, hundredths of a MB (exact two-decimal values)
    paid: np.ndarray  # int32, fen (hundredths of a yuan)
    active_days: np.ndarray  # int32


def month_grid(as_of: date) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Labels, first day (epoch days) and length in days of M6..M0; M0 is cut at as_of."""
    labels, starts, lengths = [], [], []
    y, m = as_of.year, as_of.month
    for back in range(MONTHS - 1, -1, -1):
        yy, mm = divmod((y * 12 + m - 1) - back, 12)
        mm += 1
        first = date(yy, mm, 1)
        days = calendar.monthrange(yy, mm)[1] if back else as_of.day
        labels.append(f"{yy:04d}-{mm:02d}")
        starts.append((first - date(1970, 1, 1)).days)
        lengths.append(days)
    return labels, np.array(starts), np.array(lengths)


def _noise(rng: np.random.Generator, sigma: float, shape) -> np.ndarray:
    """Multiplicative lognormal noise in float32 (half the memory and time of float64)."""
    z = rng.standard_normal(shape, dtype=np.float32)
    z *= sigma
    return np.exp(z, out=z)


def _profile(subs: Subscriptions, rng: np.random.Generator) -> np.ndarray:
    """Relative use intensity per month for each behaviour (1 = the subscription's steady rate)."""
    m = len(subs.sub)
    p = np.ones((m, MONTHS), dtype=np.float32)
    bh = subs.behaviour
    p[bh == B["declining"]] = np.array([1.0, 0.85, 0.72, 0.6, 0.5, 0.42, 0.36], dtype=np.float32)
    p[bh == B["long_term_silent"]] = 0.5
    for b in ("monthly_low_use", "unpaid_low_use", "paid_low_use", "dormant"):
        p[bh == B[b]] = 0.0  # set explicitly below
    new = np.nonzero(bh == B["new"])[0]
    p[new] = rng.uniform(0.15, 1.2, len(new))[:, None]  # some new orders never really start
    return p


def build_usage(pop: Population, subs: Subscriptions, as_of: date, rng: np.random.Generator) -> Usage:
    """Uses, active days, traffic and payments for every subscription and month."""
    labels, starts, lengths = month_grid(as_of)
    m = len(subs.sub)
    svc, bh, sub = subs.service, subs.behaviour, subs.sub
    frac = np.ones(MONTHS, dtype=np.float32)
    frac[-1] = as_of.day / calendar.monthrange(as_of.year, as_of.month)[1]  # M0 is partial

    rate = (cat.STEADY_USES[svc] * np.clip(pop.engagement[sub], 0.35, 3.0)).astype(np.float32)
    rate = np.where(bh == B["steady"], np.maximum(rate, 5.0), rate)
    lam = rate[:, None] * _profile(subs, rng) * frac[None, :]
    lam *= _noise(rng, 0.25, (m, MONTHS))
    uses = rng.poisson(lam).astype(np.int32)
    del lam

    def rows(name):
        return np.nonzero(bh == B[name])[0]

    # Long-term silent: nothing in the last L complete months (L >= 3) nor in M0, except a few
    # who came back by themselves this month (the pack's `used_this_month` exclusion).
    lts = rows("long_term_silent")
    silent_len = rng.choice([3, 4, 5, 6], size=len(lts), p=[0.35, 0.2, 0.15, 0.3])
    cols = np.arange(MONTHS)[None, :]
    silent = cols >= (MONTHS - 1 - silent_len)[:, None]
    back = rng.random(len(lts))
    m0 = np.where(back < 0.06, 3 + rng.poisson(3, len(lts)), np.where(back < 0.10, rng.integers(1, 3, len(lts)), 0))
    u = uses[lts]
    u[silent] = 0
    u[:, -1] = m0
    uses[lts] = u

    sts = rows("short_term_silent")  # >= 3 uses in M1, none in M0
    uses[sts, -2] = np.maximum(uses[sts, -2], 3)
    uses[sts, -1] = 0

    mlu = rows("monthly_low_use")  # 1–2 uses in each of M1..M3, none in M0
    uses[mlu, :3] = rng.poisson(1.5, (len(mlu), 3))
    uses[mlu, 3:6] = rng.integers(1, 3, (len(mlu), 3))
    uses[mlu, 6] = 0

    low = np.concatenate([rows("unpaid_low_use"), rows("paid_low_use")])  # some use, < 3 each month
    recent = rng.choice(3, size=(len(low), 3), p=[0.35, 0.4, 0.25])
    none = recent.sum(axis=1) == 0
    recent[none, rng.integers(0, 3, int(none.sum()))] = 1
    uses[low, :3] = rng.poisson(1.0, (len(low), 3)).clip(0, 4)
    uses[low, 3:6] = recent
    uses[low, 6] = rng.choice(3, size=len(low), p=[0.6, 0.3, 0.1])

    uses[rows("dormant")] = 0

    # Nothing before the month of the order; suspended / cancelled ones stop at some month.
    month_end = np.append(starts[1:] - 1, starts[-1] + lengths[-1] - 1)
    live = month_end[None, :] >= subs.ordered_on[:, None]
    inactive = rows("inactive")
    stop = rng.integers(0, MONTHS - 1, len(inactive))
    live[inactive] &= cols < stop[:, None]
    uses *= live

    is_gprs = svc == GPRS
    uses[is_gprs] = np.minimum(uses[is_gprs], lengths[None, :])  # a use of GPRS is a day online
    traffic = _traffic(pop, subs, uses, rng)
    paid = _paid(pop, subs, uses, traffic, live, rng)
    spread = rng.random((m, MONTHS), dtype=np.float32)
    spread *= 0.65
    spread += 0.35
    spread *= uses
    active_days = np.minimum(np.ceil(spread), lengths[None, :]).astype(np.int32)
    active_days[is_gprs] = uses[is_gprs]
    return Usage(labels, starts, uses, _cents(traffic), _cents(paid), active_days)


def _cents(x: np.ndarray) -> np.ndarray:
    return np.rint(x * 100.0).astype(np.int32)


def _traffic(pop, subs, uses, rng) -> np.ndarray:
    """MB per subscription and month (float32)."""
    svc, sub = subs.service, subs.sub
    mb = _noise(rng, 0.4, uses.shape)
    mb *= uses
    mb *= cat.MB_PER_USE[svc].astype(np.float32)[:, None]
    g = np.nonzero(svc == GPRS)[0]
    # GPRS: the month's traffic is the subscriber's data appetite times the plan allowance,
    # spread over the days online (so saturation 饱和度 shows in traffic_mb vs the plan).
    allowance = cat.PLAN_ALLOWANCE_MB[pop.plan[sub[g]]]
    per_day = (pop.saturation[sub[g]] * allowance / 22.0).astype(np.float32)
    mb[g] = uses[g] * per_day[:, None] * _noise(rng, 0.2, (len(g), MONTHS))
    return mb


def _paid(pop, subs, uses, traffic, live, rng) -> np.ndarray:
    """Yuan per subscription and month (float32): monthly fees, per-use charges, extra data."""
    svc, billing = subs.service, subs.billing
    paid = np.zeros(uses.shape, dtype=np.float32)
    monthly = np.nonzero((billing == 0) & ~subs.bundled)[0]  # bundled fees are in the plan fee
    paid[monthly] = live[monthly] * cat.MONTHLY_FEE[svc[monthly]].astype(np.float32)[:, None]
    per_use = np.nonzero(billing == 1)[0]
    price = cat.PER_USE_PRICE[svc[per_use]].astype(np.float32)[:, None] * _noise(rng, 0.3, (len(per_use), MONTHS))
    paid[per_use] += uses[per_use] * price
    g = np.nonzero(svc == GPRS)[0]
    allowance = np.where(billing[g] == 0, cat.PLAN_ALLOWANCE_MB[pop.plan[subs.sub[g]]], 0.0).astype(np.float32)
    over = np.maximum(traffic[g] - allowance[:, None], 0.0)
    # Over-allowance traffic is billed per MB (capped as the operator's 封顶 rule does).
    paid[g] += np.minimum(over * GPRS_PRICE_PER_MB, 60.0)
    # Unpaid low use and free services cost nothing.
    paid[(subs.behaviour == B["unpaid_low_use"]) | (billing == 2)] = 0.0
    return paid


def usage_table(pop: Population, subs: Subscriptions, usage: Usage) -> pa.Table:
    """Rows where anything happened, sorted by (msisdn, service, month).

    Counts are int32 here (the writer widens them to int64 for Parquet): the table has tens of
    millions of rows at full scale, and CSV text is the same either way.
    """
    flat = np.flatnonzero((usage.uses > 0) | (usage.traffic > 0) | (usage.paid > 0))
    row = (flat // MONTHS).astype(np.int32)
    col = (flat % MONTHS).astype(np.int8)

    def cells(matrix):
        return matrix.reshape(-1)[flat]

    return pa.table({
        "msisdn": coded(subs.sub[row], pop.msisdn),
        "service": coded(subs.service[row], cat.SERVICES),
        "month": coded(col, usage.months),
        "uses": pa.array(cells(usage.uses)),
        "active_days": pa.array(cells(usage.active_days)),
        "traffic_mb": pa.array(cells(usage.traffic) / 100.0),
        "paid_amount": pa.array(cells(usage.paid) / 100.0),
    })
