"""Subscriptions 订购关系: which services each subscriber holds, how they are billed, and the
latent behaviour class that drives their usage.

Built as an N × 15 matrix and flattened row-major, so rows come out sorted by (msisdn,
service) without a sort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from engine.generator import catalogue as cat
from engine.generator.events import RECENT_DAYS, HandsetEvents
from engine.generator.population import Population
from engine.generator.writer import coded

B = cat.BH
NEW_ORDER_DAYS = 90


@dataclass
class Subscriptions:
    sub: np.ndarray  # subscriber index per subscription
    service: np.ndarray  # index into catalogue.SERVICES
    billing: np.ndarray  # index into catalogue.BILLING
    status: np.ndarray  # 0 active, 1 suspended, 2 cancelled
    ordered_on: np.ndarray  # days since epoch
    bundled: np.ndarray  # bool
    behaviour: np.ndarray  # index into catalogue.BEHAVIOURS


def _holdings(pop: Population, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(held, bundled) as N × 15 bool matrices."""
    n, s = pop.n, len(cat.SERVICES)
    bundled = np.zeros((n, s), dtype=bool)
    for p, plan in enumerate(cat.PLANS):
        rows = pop.plan == p
        for name in plan[4]:
            bundled[rows, cat.SVC[name]] = True
    smart = cat.SMARTPHONE[pop.os_now]
    rate = np.broadcast_to(cat.TAKE_RATE, (n, s)).copy()
    # App services need a smartphone; data services follow data appetite; the young take more.
    rate[:, cat.CLIENT_APP] *= np.where(smart, 1.25, 0.35)[:, None]
    rate[:, cat.DATA_SERVICE] *= np.clip(pop.engagement, 0.4, 2.0)[:, None]
    young = pop.brand == 1
    for name in ("fetion", "game", "music_club", "animation", "ringtone"):
        rate[young, cat.SVC[name]] *= 1.6
    rate[:, cat.SVC["gprs"]] = np.where(smart, 0.85, 0.3)
    held = bundled | (rng.random((n, s)) < rate.clip(0, 0.97))
    return held, bundled


def build_subscriptions(pop: Population, ev: HandsetEvents, rng: np.random.Generator) -> Subscriptions:
    """Draw every subscription with its billing, status, order date and behaviour class."""
    held, bundled_m = _holdings(pop, rng)
    sub, service = np.nonzero(held)
    sub = sub.astype(np.int32)
    service = service.astype(np.int16)
    bundled = bundled_m[sub, service]
    m = len(sub)

    cum = np.cumsum(cat.BILLING_SHARES, axis=1)[service]
    u = rng.random(m)
    billing = (u[:, None] > cum).sum(axis=1).clip(0, 2).astype(np.int8)
    billing[bundled] = 0  # bundled services are monthly, paid inside the plan fee

    status = rng.choice(3, size=m, p=[0.90, 0.03, 0.07]).astype(np.int8)

    tenure = pop.tenure_days[sub]
    # Bundles come with the plan (order date = join date); others any time since joining,
    # plus a share of fresh orders from recent promotions.
    # Most services were ordered early in the subscriber's life (sqrt skews towards old orders).
    ordered_days = (np.sqrt(rng.random(m)) * tenure).astype(np.int32)
    fresh = rng.random(m) < 0.04
    ordered_days = np.where(fresh, rng.integers(1, NEW_ORDER_DAYS, m), ordered_days)
    ordered_days = np.where(bundled, tenure, np.minimum(ordered_days, tenure))
    ordered_on = (pop.as_of - ordered_days).astype(np.int32)

    behaviour = _behaviour(pop, ev, rng, sub, service, billing, bundled, status, ordered_days)
    return Subscriptions(sub, service, billing, status, ordered_on, bundled, behaviour)


def _pick(rng: np.random.Generator, probs: dict[str, float], n: int) -> np.ndarray:
    names = list(probs)
    p = np.array([probs[k] for k in names])
    codes = np.array([B[k] for k in names], dtype=np.int8)
    return codes[rng.choice(len(names), size=n, p=p / p.sum())]


def _behaviour(pop, ev, rng, sub, service, billing, bundled, status, ordered_days) -> np.ndarray:
    m = len(sub)
    out = np.full(m, B["steady"], dtype=np.int8)
    free_or_unpaid = (billing == 2) | ((billing == 1) & np.isin(service, [cat.SVC["fetion"], cat.SVC["mailbox139"]]))
    groups = [
        ((billing == 0) & bundled, {"steady": 0.36, "declining": 0.12, "long_term_silent": 0.34, "monthly_low_use": 0.18}),
        ((billing == 0) & ~bundled, {"steady": 0.60, "declining": 0.14, "long_term_silent": 0.10, "monthly_low_use": 0.16}),
        ((billing == 1) & ~free_or_unpaid, {"steady": 0.48, "declining": 0.10, "paid_low_use": 0.30, "dormant": 0.12}),
        (free_or_unpaid, {"steady": 0.42, "declining": 0.08, "unpaid_low_use": 0.32, "dormant": 0.18}),
    ]
    for mask, probs in groups:
        idx = np.nonzero(mask)[0]
        out[idx] = _pick(rng, probs, len(idx))

    gprs = service == cat.SVC["gprs"]
    # GPRS carries the data spend that makes a silent bundle worth re-activating: keep it used.
    out[gprs & np.isin(out, [B["long_term_silent"], B["monthly_low_use"]])] = B["steady"]
    # Drifting subscribers' services decline with them.
    drift = (out == B["steady"]) & (rng.random(m) < pop.decline[sub])
    out[drift] = B["declining"]
    # A recent handset change breaks a monthly service's client app: short-term silence.
    recent = ev.last_change_days[sub] <= RECENT_DAYS
    sts = recent & (billing == 0) & cat.CLIENT_APP[service] & (out != B["long_term_silent"]) & (rng.random(m) < 0.5)
    out[sts] = B["short_term_silent"]
    # Farmed cards hold bundles nobody uses.
    farm = pop.lists["card_farming"][sub] & ~gprs
    out[farm & (billing == 0)] = B["long_term_silent"]
    out[farm & (billing != 0)] = B["dormant"]

    out[ordered_days < NEW_ORDER_DAYS] = B["new"]
    out[status != 0] = B["inactive"]
    return out


def subscriptions_table(pop: Population, subs: Subscriptions) -> pa.Table:
    return pa.table({
        "msisdn": coded(subs.sub, pop.msisdn),
        "service": coded(subs.service, pa.array(cat.SERVICES)),
        "billing": coded(subs.billing, pa.array(cat.BILLING)),
        "status": coded(subs.status, pa.array(["active", "suspended", "cancelled"])),
        "ordered_on": pa.array(subs.ordered_on, pa.date32()),
        "bundled": pa.array(subs.bundled, pa.bool_()),
    })
