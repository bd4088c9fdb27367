"""Churn 离网 in the 90 days after the run date, from the signals the operator documents.

p_churn is a logistic function of what the snapshot shows — falling ARPU (arpu / arpu_6m_ago),
data use far below or above the plan allowance (饱和度), tenure 4–9 months or around two
years, no running contract, shrinking use — plus an unobserved term, so a good model learns
the pattern but not perfectly. The intercept is solved so the base rate hits CHURN_RATE.
"""

from __future__ import annotations

import numpy as np

from engine.generator import catalogue as cat
from engine.generator.population import Population
from engine.generator.subscriptions import Subscriptions
from engine.generator.usage import GPRS, Usage

CHURN_RATE = 0.05
HORIZON_DAYS = 90
UNOBSERVED_SD = 0.6  # spread of what no snapshot shows (a competitor's offer, moving away)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def churn_score(pop: Population, subs: Subscriptions, usage: Usage, arpu: np.ndarray,
                arpu_then: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Logit of churn without the intercept, per subscriber."""
    observed, hidden = churn_parts(pop, subs, usage, arpu, arpu_then, rng)
    return observed + hidden


def churn_parts(pop: Population, subs: Subscriptions, usage: Usage, arpu: np.ndarray,
                arpu_then: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(the part of the churn logit the core columns show, the hidden part), per subscriber.

    `hidden` is what no core column shows; the optional value × stability columns reveal
    some of it (engine/generator/social.py). observed + hidden is the logit without intercept."""
    n = pop.n
    trend = arpu / np.maximum(arpu_then, 0.01)
    g = subs.service == GPRS
    traffic_3m = np.bincount(subs.sub[g], weights=usage.traffic[g, 3:6].sum(axis=1), minlength=n) / 300.0  # MB per month
    saturation = traffic_3m / cat.PLAN_ALLOWANCE_MB[pop.plan]
    # Shrinking use: all services' uses in M1 against M3 (what the stability features see).
    uses_m1 = np.bincount(subs.sub, weights=usage.uses[:, 5], minlength=n)
    uses_m3 = np.bincount(subs.sub, weights=usage.uses[:, 3], minlength=n)
    shrink = np.clip(1.0 - (uses_m1 + 1.0) / (uses_m3 + 1.0), 0.0, 0.9)
    tenure = pop.tenure_days
    no_contract = pop.contract_end < pop.as_of

    z = (
        4.0 * np.clip(0.95 - trend, 0.0, 0.6)
        + 1.0 * (saturation < 0.15)
        + 1.0 * (saturation > 1.3)
        + 1.0 * ((tenure >= 120) & (tenure <= 270))
        + 0.8 * ((tenure >= 640) & (tenure <= 820))
        + 1.1 * no_contract
        + 1.5 * shrink
        - 0.5 * pop.account_manager
        + 0.6 * pop.lists["dual_sim"]
    )
    hidden = rng.normal(0.0, UNOBSERVED_SD, n)
    return z, hidden


def churn_probability(z: np.ndarray, rate: float = CHURN_RATE) -> np.ndarray:
    """sigmoid(b0 + z) with b0 found by bisection so that the mean is `rate`."""
    lo, hi = -15.0, 5.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _sigmoid(mid + z).mean() > rate:
            hi = mid
        else:
            lo = mid
    return _sigmoid((lo + hi) / 2 + z)


def draw_churn(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.random(len(p)) < p
