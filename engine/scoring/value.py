"""Customer value 价值度: weighted indicators, each normalised by percentile rank, in quantile tiers.

Indicators (the operator's list, seed 000: 历史贡献, 当前贡献, 业务量, 交往圈, 本网通话占比, 在网时长,
合约及剩余时长, 停机, 欠费):
- `current_contribution`: arpu (last 3 months)
- `historical_contribution`: arpu_6m_ago
- `tenure`: days since join
- `contract`: whole months left on a running contract, as the fact `contract_months_left` (0 without one)
- `usage_breadth`: number of services with any use in M1..M3
and, from the optional subscribers columns (engine.snapshot.contract.SUBSCRIBER_OPTIONAL) when
the snapshot has them:
- `calling_circle`: circle_size 交往圈 (bigger is more valuable)
- `on_net_share`: on_net_share 本网通话占比 (higher is more valuable)
- `suspensions`: suspensions_6m 停机 (**fewer** is more valuable)
- `arrears`: arrears_6m 欠费 (**fewer** is more valuable)

Weights are relative: value = Σ wᵢ·pctᵢ / Σ wᵢ over the indicators the snapshot carries, each
pctᵢ the indicator's mean percentile rank in the base (0..1; reversed for suspensions and
arrears; an empty cell — unknown — counts as the middle, 0.5). So an indicator whose column a
snapshot leaves out (or leaves empty in every row) drops out and the rest keep their proportions: an old snapshot gets exactly
the value it got before these indicators existed. The defaults are a Delphi-style expert
consensus set by the project: the five core weights (DEFAULT_VALUE_WEIGHTS, sum 1; what
`ValueConfig()` uses, as before) and OPTIONAL_VALUE_WEIGHTS on the same scale for the four new
indicators. The shipped `rules/value_stability.yaml` (engine.scoring.value_stability) carries
all nine; the operator edits them there. Tiers: the top 20% by value
`high`, the next 40% `mid`, the rest `low` (configurable); ties sit in the same tier.
`ValueConfig.effective(columns)` is the config actually applied to a snapshot; its version (a
hash of weights and shares) is the value model's version in traces.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from engine.facts.build import contract_months_left
from engine.scoring.features import has_column, services_used
from engine.facts.keys import SnapshotKeys, snapshot_keys

DEFAULT_VALUE_WEIGHTS = {
    "current_contribution": 0.35,
    "historical_contribution": 0.20,
    "tenure": 0.15,
    "contract": 0.15,
    "usage_breadth": 0.15,
}
# Indicators from the optional subscribers columns, on the scale of the core weights above.
OPTIONAL_VALUE_WEIGHTS = {
    "calling_circle": 0.10,
    "on_net_share": 0.05,
    "suspensions": 0.05,
    "arrears": 0.10,
}
VALUE_INDICATORS = (*DEFAULT_VALUE_WEIGHTS, *OPTIONAL_VALUE_WEIGHTS)
# indicator -> the subscribers column it reads (optional ones only)
OPTIONAL_COLUMNS = {"calling_circle": "circle_size", "on_net_share": "on_net_share",
                    "suspensions": "suspensions_6m", "arrears": "arrears_6m"}
LOWER_IS_BETTER = frozenset({"suspensions", "arrears"})
TIERS = np.array(["high", "mid", "low"], dtype=object)


@dataclass(frozen=True)
class ValueConfig:
    """Indicator weights and tier shares of the value model."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_VALUE_WEIGHTS))
    high_share: float = 0.2
    mid_share: float = 0.4

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(VALUE_INDICATORS)
        if unknown:
            raise ValueError(f"unknown value indicators: {sorted(unknown)}; known: {sorted(VALUE_INDICATORS)}")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("value weights must be ≥ 0 and not all zero")
        if not (0 < self.high_share and 0 <= self.mid_share and self.high_share + self.mid_share <= 1):
            raise ValueError("value tier shares must be positive and sum to at most 1")

    def effective(self, columns) -> "ValueConfig":
        """The weights that apply to indicator columns `columns` (the others drop out), same shares.

        Raises ValueError when no weighted indicator is left."""
        have = set(columns)
        weights = {k: w for k, w in self.weights.items() if k in have}
        if weights == self.weights:
            return self
        if not any(weights.values()):
            raise ValueError("none of the weighted value indicators is in the snapshot")
        return ValueConfig(weights=weights, high_share=self.high_share, mid_share=self.mid_share)

    def version(self) -> str:
        """A short hash of weights and tier shares: the formula's version in traces."""
        blob = json.dumps({"weights": {k: round(float(v), 10) for k, v in sorted(self.weights.items())},
                           "high_share": self.high_share, "mid_share": self.mid_share}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def value_indicators(tables: dict[str, pd.DataFrame], as_of: date, keys: SnapshotKeys | None = None) -> pd.DataFrame:
    """The raw indicators per subscriber (index msisdn)."""
    indicators, filled = raw_indicators(tables, as_of, keys)
    unfilled = [name for name in OPTIONAL_COLUMNS if name in indicators.columns and name not in filled]
    return indicators.drop(columns=unfilled) if unfilled else indicators


def raw_indicators(tables: dict[str, pd.DataFrame], as_of: date,
                   keys: SnapshotKeys | None = None) -> tuple[pd.DataFrame, frozenset[str]]:
    """(the indicators per subscriber (index msisdn), every optional one whose column the
    subscribers table has; the optional ones with at least one known cell).

    Part of a base: an optional column known elsewhere in the base but empty in this part still
    counts (the indicator applies to the whole base when any part fills it), so a part keeps the
    column and says whether it filled it (engine/scoring/parts.py)."""
    subs = tables["subscribers"]
    keys = keys or snapshot_keys(tables, as_of)
    index = keys.index
    as_of_ts = pd.Timestamp(as_of)
    months_left = contract_months_left(subs["contract_end"], as_of)
    breadth = services_used(tables["usage_monthly"], keys.codes["usage_monthly"], len(index), keys.usage_month >= 1)
    out = pd.DataFrame({
        "current_contribution": subs["arpu"].to_numpy(dtype=float),
        "historical_contribution": subs["arpu_6m_ago"].to_numpy(dtype=float),
        "tenure": (as_of_ts - pd.DatetimeIndex(pd.to_datetime(subs["join_date"]).to_numpy())).days.to_numpy(dtype=float),
        "contract": np.nan_to_num(months_left, nan=0.0),
        "usage_breadth": breadth,
    }, index=index)
    filled = set()
    for name, column in OPTIONAL_COLUMNS.items():  # only the optional columns the snapshot has
        if column in subs.columns:
            out[name] = pd.to_numeric(subs[column], errors="coerce").to_numpy(dtype=float)
            if has_column(subs, column):
                filled.add(name)
    return out, frozenset(filled)


def value_scores(indicators: pd.DataFrame, config: ValueConfig | None = None) -> pd.DataFrame:
    """`value` (0..1) and `value_tier` from indicator columns, by weighted percentile ranks."""
    config = (config or ValueConfig()).effective(indicators.columns)
    n = len(indicators)
    total = sum(config.weights.values())
    value = np.zeros(n)
    for name, weight in config.weights.items():
        if weight and n:
            value += weight * _percentile(indicators[name], lower_is_better=name in LOWER_IS_BETTER)
    value = value / total
    if n:
        high_cut = np.quantile(value, 1.0 - config.high_share)
        mid_cut = np.quantile(value, 1.0 - config.high_share - config.mid_share)
        # three shared str objects, not one per subscriber (~50 MB at 1M)
        tier = TIERS.take(np.where(value >= high_cut, 0, np.where(value >= mid_cut, 1, 2)))
    else:
        tier = np.array([], dtype=object)
    return pd.DataFrame({"value": value, "value_tier": tier}, index=indicators.index)


def _percentile(values: pd.Series, lower_is_better: bool = False) -> np.ndarray:
    """Mean percentile rank 0..1 among the known values (reversed when lower is better); unknown → 0.5."""
    known = int(values.notna().sum())
    if known == 0:
        return np.full(len(values), 0.5)
    pct = (values.rank(method="average", ascending=not lower_is_better).to_numpy() - 0.5) / known
    return np.where(np.isnan(pct), 0.5, pct) if known < len(values) else pct


def compute_value(tables: dict[str, pd.DataFrame], as_of: date, config: ValueConfig | None = None,
                  keys: SnapshotKeys | None = None) -> pd.DataFrame:
    """`value`, `value_tier` for every subscriber of a snapshot."""
    return value_scores(value_indicators(tables, as_of, keys), config)
