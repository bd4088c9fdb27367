"""Customer value 价值度: weighted indicators, each normalised by percentile rank, in quantile tiers.

Indicators (operator's practice: 当前贡献, 历史贡献, 在网时长, 合约, 业务使用广度):
- `current_contribution`: arpu (last 3 months)
- `historical_contribution`: arpu_6m_ago
- `tenure`: days since join
- `contract`: whole months left on a running contract, as the fact `contract_months_left` (0 without one)
- `usage_breadth`: number of services with any use in M1..M3

Default weights (DEFAULT_VALUE_WEIGHTS) are a Delphi-style expert consensus set by the project
(current revenue weighs most, then history; loyalty signals and breadth share the rest) and sum
to 1; an operator replaces them with `value_weights` in a config. value = Σ wᵢ·pctᵢ / Σ wᵢ, each
pctᵢ the indicator's mean percentile rank in the base (0..1), so value is 0..1 and depends only
on the data and the weights. Tiers: the top 20% by value `high`, the next 40% `mid`, the rest
`low` (configurable); ties sit in the same tier.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from engine.facts.build import contract_months_left
from engine.scoring.features import services_used
from engine.facts.keys import SnapshotKeys, snapshot_keys

DEFAULT_VALUE_WEIGHTS = {
    "current_contribution": 0.35,
    "historical_contribution": 0.20,
    "tenure": 0.15,
    "contract": 0.15,
    "usage_breadth": 0.15,
}


@dataclass(frozen=True)
class ValueConfig:
    """Indicator weights and tier shares of the value model."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_VALUE_WEIGHTS))
    high_share: float = 0.2
    mid_share: float = 0.4

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(DEFAULT_VALUE_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown value indicators: {sorted(unknown)}; known: {sorted(DEFAULT_VALUE_WEIGHTS)}")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("value weights must be ≥ 0 and not all zero")
        if not (0 < self.high_share and 0 <= self.mid_share and self.high_share + self.mid_share <= 1):
            raise ValueError("value tier shares must be positive and sum to at most 1")

    def version(self) -> str:
        """A short hash of weights and tier shares: the formula's version in traces."""
        blob = json.dumps({"weights": {k: round(float(v), 10) for k, v in sorted(self.weights.items())},
                           "high_share": self.high_share, "mid_share": self.mid_share}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def value_indicators(tables: dict[str, pd.DataFrame], as_of: date, keys: SnapshotKeys | None = None) -> pd.DataFrame:
    """The raw indicators per subscriber (index msisdn)."""
    subs = tables["subscribers"]
    keys = keys or snapshot_keys(tables, as_of)
    index = keys.index
    as_of_ts = pd.Timestamp(as_of)
    months_left = contract_months_left(subs["contract_end"], as_of)
    breadth = services_used(tables["usage_monthly"], keys.codes["usage_monthly"], len(index), keys.usage_month >= 1)
    return pd.DataFrame({
        "current_contribution": subs["arpu"].to_numpy(dtype=float),
        "historical_contribution": subs["arpu_6m_ago"].to_numpy(dtype=float),
        "tenure": (as_of_ts - pd.DatetimeIndex(pd.to_datetime(subs["join_date"]).to_numpy())).days.to_numpy(dtype=float),
        "contract": np.nan_to_num(months_left, nan=0.0),
        "usage_breadth": breadth,
    }, index=index)


def value_scores(indicators: pd.DataFrame, config: ValueConfig | None = None) -> pd.DataFrame:
    """`value` (0..1) and `value_tier` from indicator columns, by weighted percentile ranks."""
    config = config or ValueConfig()
    n = len(indicators)
    total = sum(config.weights.values())
    value = np.zeros(n)
    for name, weight in config.weights.items():
        if weight and n:
            pct = (indicators[name].rank(method="average").to_numpy() - 0.5) / n  # mean percentile rank
            value += weight * pct
    value = value / total
    if n:
        high_cut = np.quantile(value, 1.0 - config.high_share)
        mid_cut = np.quantile(value, 1.0 - config.high_share - config.mid_share)
        tier = np.where(value >= high_cut, "high", np.where(value >= mid_cut, "mid", "low")).astype(object)
    else:
        tier = np.array([], dtype=object)
    return pd.DataFrame({"value": value, "value_tier": tier}, index=indicators.index)


def compute_value(tables: dict[str, pd.DataFrame], as_of: date, config: ValueConfig | None = None,
                  keys: SnapshotKeys | None = None) -> pd.DataFrame:
    """`value`, `value_tier` for every subscriber of a snapshot."""
    return value_scores(value_indicators(tables, as_of, keys), config)
