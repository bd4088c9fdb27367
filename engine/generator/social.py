"""The value × stability columns 客户价值-稳定度 (seed 000) and the latent truth behind them.

The optional `subscribers` columns (engine.snapshot.contract.SUBSCRIBER_OPTIONAL): calling
circle 交往圈 now and six months ago, voice calls per month, on-net call share 本网通话占比,
suspensions 停机, months in arrears 欠费 and payments 缴费次数 in six months, handset brand 终端品牌.

How they carry signal. Churn (engine/generator/churn.py) has a term no snapshot used to show,
`hidden` (normal, sd UNOBSERVED_SD: a rival's offer, friends moving to another network, money
trouble). These columns make part of it visible, the way the operator saw it in its data:
- the circle of a subscriber about to leave **shrinks** (离网用户交往圈衰减明显), and large
  circles churn less (交往圈较大用户离网率远低于其他用户);
- on-net call share: subscribers whose calls stay on the network (V网, family numbers) churn
  less, so the share is lower where the hidden pressure is high;
- fewer payments in six months, more suspensions and arrears where it is high;
- handset brand tilts with it (苹果 and 华为 users stay longer, the long tail of other makers
  less), within what the handset's OS allows (ios → 苹果, harmony → 华为, feature → 诺基亚/其他).
Each column reads a *different* noisy view of the hidden term (correlation 0.5–0.8), so
together they reveal part of it and no single one gives it away. Churn labels and every other
table are unchanged by this stage (it has its own random stream and only reads `hidden`).

Value truth (truth/value.csv, never read by the engine): the subscriber's expected net
contribution in the next 12 months, in yuan:
    true_value = 12 · (arpu · (1 − bad_debt) + 0.5 · circle_size · on_net_share)
bad_debt (share of the bill never collected) grows with the latent credit risk that also
drives suspensions and arrears; the second term is the network value of a circle that calls
on-net (no interconnect fee; the circle stays with the subscriber). It is the target the value
model's tiers are measured against (benchmarks/value_stability.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from engine.generator import catalogue as cat
from engine.generator.churn import UNOBSERVED_SD
from engine.generator.population import Population
from engine.generator.writer import coded

HANDSET_BRANDS = ("苹果", "华为", "小米", "OPPO", "vivo", "荣耀", "三星", "诺基亚", "其他")
# Which makers each OS allows (catalogue.OS order: android, ios, harmony, symbian, windows_phone, feature)
_ALLOWED = {
    "android": ("华为", "小米", "OPPO", "vivo", "荣耀", "三星", "其他"),
    "ios": ("苹果",),
    "harmony": ("华为",),
    "symbian": ("诺基亚",),
    "windows_phone": ("诺基亚", "其他"),
    "feature": ("诺基亚", "其他"),
}
_BRAND_SHARE = np.array([1.0, 1.0, 0.9, 0.8, 0.8, 0.5, 0.4, 1.0, 0.6])
_BRAND_TILT = np.array([-0.35, -0.25, 0.0, 0.05, 0.05, 0.0, 0.1, 0.0, 0.5])  # × hidden churn pressure


@dataclass
class Social:
    circle_size: np.ndarray  # int
    circle_size_then: np.ndarray  # int
    calls_monthly: np.ndarray  # float
    on_net_share: np.ndarray  # float 0..1
    suspensions: np.ndarray  # int
    arrears: np.ndarray  # int
    payments: np.ndarray  # int
    handset_brand: np.ndarray  # index into HANDSET_BRANDS
    true_value: np.ndarray  # yuan, next 12 months


def _view(e: np.ndarray, rho: float, rng: np.random.Generator) -> np.ndarray:
    """A standard normal with correlation `rho` to the standard normal `e`."""
    return rho * e + np.sqrt(1.0 - rho * rho) * rng.standard_normal(len(e))


def _handset_brands(pop: Population, e: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(pop.n, dtype=np.int16)
    index = {b: i for i, b in enumerate(HANDSET_BRANDS)}
    for k, os_name in enumerate(cat.OS):
        who = np.flatnonzero(pop.os_now == k)
        allowed = np.array([index[b] for b in _ALLOWED[os_name]])
        if len(allowed) == 1 or len(who) == 0:
            out[who] = allowed[0]
            continue
        logits = np.log(_BRAND_SHARE[allowed])[None, :] + _BRAND_TILT[allowed][None, :] * e[who, None]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        pick = (rng.random(len(who))[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
        out[who] = allowed[np.minimum(pick, len(allowed) - 1)]
    return out


def build_social(pop: Population, arpu: np.ndarray, hidden: np.ndarray, rng: np.random.Generator) -> Social:
    """Draw the value × stability columns from the hidden churn term (see the module docstring)."""
    n = pop.n
    e = hidden / UNOBSERVED_SD  # standard normal: the churn pressure no old column shows
    brand_size = np.array([1.5, 1.1, 0.8])[pop.brand]
    # Circle six months ago: bigger for business brand and engaged users, smaller where churn looms.
    base = np.exp(np.log(30.0) + 0.55 * rng.standard_normal(n) - 0.2 * _view(e, 0.5, rng)) \
        * brand_size * pop.engagement ** 0.25
    then = np.maximum(1, np.round(base)).astype(np.int64)
    # Trend: a shrinking circle where the pressure is high (ratio ~0.6 at +2 sd, ~1.05 at −2 sd).
    shrink = _view(e, 0.8, rng)
    now = np.maximum(0, np.round(then * np.exp(-0.02 - 0.14 * shrink + 0.05 * rng.standard_normal(n)))).astype(np.int64)
    # Calls per contact: mostly 2–5 a month, a minority of small, busy circles (family, elders).
    per_contact = np.exp(np.log(3.0) + 0.45 * rng.standard_normal(n)) * np.where(rng.random(n) < 0.12, 3.0, 1.0)
    calls = np.round(np.maximum(now, 1) * per_contact * np.where(now == 0, 0.2, 1.0), 1)
    # On-net share: V网 / family-number users keep their calls on the network and stay.
    on_net = 1.0 / (1.0 + np.exp(-(0.9 - 0.55 * _view(e, 0.6, rng))))
    on_net = np.round(np.clip(on_net, 0.0, 1.0), 3)
    # Payments: fewer top-ups/bill payments when the subscriber is drifting away.
    payments = rng.poisson(5.0 * np.exp(-0.3 * _view(e, 0.6, rng))).clip(0, 30)
    # Credit risk: suspensions and arrears; also the share of the bill never collected.
    credit = _view(e, 0.5, rng)
    suspensions = rng.poisson(0.12 * np.exp(0.9 * credit)).clip(0, 6)
    arrears = rng.poisson(0.18 * np.exp(0.9 * credit)).clip(0, 6)
    bad_debt = np.clip(0.03 * np.exp(1.1 * credit), 0.0, 0.6)
    true_value = 12.0 * (arpu * (1.0 - bad_debt) + 0.5 * now * on_net)
    return Social(circle_size=now, circle_size_then=then, calls_monthly=calls, on_net_share=on_net,
                  suspensions=suspensions, arrears=arrears, payments=payments,
                  handset_brand=_handset_brands(pop, e, rng), true_value=true_value)


def social_columns(social: Social) -> dict[str, pa.Array]:
    """The optional subscribers columns, in contract order."""
    return {
        "circle_size": pa.array(social.circle_size, pa.int64()),
        "circle_size_6m_ago": pa.array(social.circle_size_then, pa.int64()),
        "calls_monthly": pa.array(social.calls_monthly.astype(np.float64)),
        "on_net_share": pa.array(social.on_net_share.astype(np.float64)),
        "suspensions_6m": pa.array(social.suspensions.astype(np.int64)),
        "arrears_6m": pa.array(social.arrears.astype(np.int64)),
        "payments_6m": pa.array(social.payments.astype(np.int64)),
        "handset_brand": coded(social.handset_brand, pa.array(HANDSET_BRANDS)),
    }


def value_truth(pop: Population, social: Social) -> pa.Table:
    """truth/value.csv: msisdn, true_value (yuan, next 12 months; never read by the engine)."""
    return pa.table({"msisdn": pop.msisdn, "true_value": pa.array(np.round(social.true_value, 2))})
