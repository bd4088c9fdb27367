"""ARPU 每用户平均收入 now (last 3 months) and six months ago, from the plan and the VAS spend.

Drawn after usage so the figures agree with the usage table: what a subscriber paid for
services and extra data in M1..M3 is part of `arpu`, M4..M6 of `arpu_6m_ago`.
"""

from __future__ import annotations

import numpy as np

from engine.generator import catalogue as cat
from engine.generator.population import Population
from engine.generator.subscriptions import Subscriptions
from engine.generator.usage import Usage


def revenue(pop: Population, subs: Subscriptions, usage: Usage, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(arpu, arpu_6m_ago) in yuan, rounded to fen."""
    n = pop.n
    vas_now = np.bincount(subs.sub, weights=usage.paid[:, 3:6].sum(axis=1), minlength=n) / 300.0  # fen → yuan, 3 months
    vas_then = np.bincount(subs.sub, weights=usage.paid[:, 0:3].sum(axis=1), minlength=n) / 300.0
    fee = cat.PLAN_FEE[pop.plan]
    # Voice and SMS beyond the plan, plus discounts: noise around the plan fee.
    base_now = fee * rng.lognormal(0.05, 0.18, n)
    # Drifting subscribers spent more six months ago (calls moved to WeChat, a second card ...);
    # a few recently upgraded ones spent less.
    shrink = 1.0 - 0.6 * pop.decline
    upgraded = rng.random(n) < 0.06
    base_then = base_now / shrink * rng.lognormal(0.0, 0.08, n) * np.where(upgraded, rng.uniform(0.55, 0.85, n), 1.0)
    arpu = np.round(base_now + vas_now, 2)
    arpu_then = np.round(base_then + vas_then * np.where(pop.decline > 0, 1.0 / shrink, 1.0), 2)
    return arpu, np.maximum(arpu_then, 0.01)
