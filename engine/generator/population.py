"""Subscribers 用户: who they are, what they pay, and the latent traits that drive the rest.

Everything is a numpy array indexed by subscriber (0..N-1). Subscribers are numbered in msisdn
order, so every table built from these indices comes out sorted by msisdn without a sort.
Dates are int32 days since 1970-01-01 (Arrow date32).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.generator import catalogue as cat
from engine.generator.writer import coded

# 11-digit numbers: 13x, 15x (no 154) and 18x prefixes.
PREFIXES = np.array([*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, *range(180, 190)], dtype=np.int64)
LIST_SHARES = {"dnd": 0.025, "red": 0.006, "black": 0.01, "dual_sim": 0.025, "card_farming": 0.008}
AM_SHARE = 0.05  # high-value subscribers with an account manager 客户经理
AM_PER_CITY = 40


@dataclass
class Population:
    """Observable subscriber columns plus latent traits (never written except via truth/)."""

    n: int
    as_of: int  # days since epoch
    msisdn: pa.Array  # string
    city: np.ndarray  # index into catalogue.CITIES
    brand: np.ndarray
    plan: np.ndarray
    tenure_days: np.ndarray
    contract_end: np.ndarray  # days since epoch; -1 = no contract
    os_now: np.ndarray  # index into catalogue.OS, filled in by events.handset_changes
    account_manager: np.ndarray  # bool
    am_code: np.ndarray  # index into am_names
    am_names: pa.Array
    preferences: np.ndarray  # bitmask over catalogue.TAGS
    engagement: np.ndarray  # latent use intensity (lognormal around 1)
    decline: np.ndarray  # latent 0..1: how much the subscriber is drifting away
    saturation: np.ndarray  # latent data use / plan allowance
    lists: dict[str, np.ndarray]  # list name -> bool mask


def _msisdns(n: int, rng: np.random.Generator) -> pa.Array:
    """N distinct 11-digit numbers, ascending: an affine bijection on the number space, sorted."""
    space = len(PREFIXES) * 10**8
    a = int(rng.integers(10**6, 10**7)) * 2 + 1
    while np.gcd(a, space) != 1:
        a += 2
    b = int(rng.integers(0, space))
    codes = (np.arange(n, dtype=np.int64) * a + b) % space
    codes.sort()
    numbers = PREFIXES[codes // 10**8] * 10**8 + codes % 10**8
    return pc.cast(pa.array(numbers), pa.string())


def _choice(rng: np.random.Generator, shares: np.ndarray, n: int) -> np.ndarray:
    return rng.choice(len(shares), size=n, p=shares / shares.sum()).astype(np.int16)


def _plans(rng: np.random.Generator, brand: np.ndarray) -> np.ndarray:
    plan = np.zeros(len(brand), dtype=np.int16)
    for b in range(len(cat.BRANDS)):
        idx = np.nonzero(brand == b)[0]
        options = np.nonzero(cat.PLAN_BRAND == b)[0]
        shares = cat.PLAN_SHARES_IN_BRAND[options]
        plan[idx] = options[rng.choice(len(options), size=len(idx), p=shares / shares.sum())]
    return plan


def _preferences(rng: np.random.Generator, n: int, brand: np.ndarray) -> np.ndarray:
    """0–3 content tags each, as a bitmask (joined into text by `preference_text`)."""
    count = rng.choice(4, size=n, p=[0.25, 0.35, 0.28, 0.12])
    mask = np.zeros(n, dtype=np.int32)
    shares = cat.TAG_SHARES / cat.TAG_SHARES.sum()
    for k in range(3):
        tag = rng.choice(len(cat.TAGS), size=n, p=shares)
        # 动感地带 (young) lean to games/animation/music; duplicates just collapse.
        young = (brand == 1) & (rng.random(n) < 0.25)
        tag = np.where(young, rng.choice(np.array([2, 3, 7]), size=n), tag)
        mask |= np.where(count > k, 1 << tag, 0).astype(np.int32)
    return mask


def preference_text(mask: np.ndarray) -> pa.Array:
    """'|'-joined tags in catalogue order for each bitmask (empty mask -> null cell)."""
    table = ["|".join(t for i, t in enumerate(cat.TAGS) if m >> i & 1) for m in range(1 << len(cat.TAGS))]
    return coded(np.where(mask == 0, -1, mask), table)


def build_population(n: int, as_of: int, rng: np.random.Generator) -> Population:
    """Draw N subscribers as of the run date (days since epoch)."""
    msisdn = _msisdns(n, rng)
    city = _choice(rng, cat.CITY_SHARES, n)
    brand = _choice(rng, cat.BRAND_SHARES, n)
    plan = _plans(rng, brand)

    # Tenure: long tail of loyal subscribers, enough in the risky 4–9 month and ~2 year bands.
    tenure = (30 + rng.exponential(1400.0, n)).clip(30, 6500).astype(np.int32)

    # Contracts 合约: business brand mostly on one; ends spread from a year ago to two years ahead.
    has_contract = rng.random(n) < np.array([0.70, 0.35, 0.20])[brand]
    end = as_of + rng.integers(-400, 730, n)
    end = np.maximum(end, as_of - tenure + 180)  # a contract ends after the subscriber joined
    contract_end = np.where(has_contract, end, -1).astype(np.int32)

    engagement = rng.lognormal(0.0, 0.55, n) * np.array([1.0, 1.2, 0.8])[brand]
    drifting = rng.random(n) < 0.18
    decline = np.where(drifting, rng.uniform(0.3, 0.95, n), 0.0)
    saturation = rng.lognormal(np.log(0.55), 0.75, n)

    # Account managers serve the highest-value ~5% (plan fee with noise, business brand first).
    value = np.log(cat.PLAN_FEE[plan]) + rng.normal(0.0, 0.35, n) + 0.3 * (brand == 0)
    k = max(1, int(round(AM_SHARE * n)))
    account_manager = np.zeros(n, dtype=bool)
    account_manager[np.argpartition(-value, k - 1)[:k]] = True
    am_code = (city.astype(np.int32) * AM_PER_CITY + rng.integers(0, AM_PER_CITY, n)).astype(np.int32)
    am_names = pa.array([f"客户经理{code}{i + 1:03d}" for code in cat.CITY_CODES for i in range(AM_PER_CITY)])

    lists = _lists(rng, n, tenure, engagement, account_manager)
    # A dual-SIM subscriber's usage lives on the other card; farmed cards are hardly used at all.
    engagement = engagement * np.where(lists["dual_sim"], 0.3, 1.0) * np.where(lists["card_farming"], 0.05, 1.0)

    return Population(
        n=n, as_of=as_of, msisdn=msisdn, city=city, brand=brand, plan=plan, tenure_days=tenure,
        contract_end=contract_end, os_now=np.zeros(n, dtype=np.int16),
        account_manager=account_manager, am_code=am_code, am_names=am_names,
        preferences=_preferences(rng, n, brand), engagement=engagement, decline=decline,
        saturation=saturation, lists=lists,
    )


def _lists(rng, n, tenure, engagement, account_manager) -> dict[str, np.ndarray]:
    """List membership at small realistic shares, tilted where the operator would find them."""
    weight = {
        "dnd": np.ones(n),
        "red": np.where(account_manager, 8.0, 0.6),  # 红名单: protected VIPs
        "black": np.ones(n),
        "dual_sim": 1.0 / np.sqrt(engagement),
        "card_farming": np.where(tenure < 730, 4.0, 0.3),  # farmed cards are young
    }
    out = {}
    for name, share in LIST_SHARES.items():
        w = weight[name]
        out[name] = rng.random(n) < (share * w / w.mean()).clip(0, 1)
    return out
