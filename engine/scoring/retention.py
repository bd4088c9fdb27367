"""The retention grid 客户价值-稳定度: value tier × stability tier → retention_group.

    操心 valuable & unstable      关心 less valuable & unstable
    放心 valuable & stable        用心 less valuable & stable

valuable = value_tier in `valuable` (default {high}); unstable = stability in `unstable`
(default {low}). Both sets are configurable.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.facts.fields import LEVELS

GROUPS = np.array(["操心", "关心", "放心", "用心"], dtype=object)


@dataclass(frozen=True)
class RetentionConfig:
    """Which value tiers count as valuable and which stability tiers as unstable."""

    valuable: frozenset[str] = frozenset({"high"})
    unstable: frozenset[str] = frozenset({"low"})

    def __post_init__(self) -> None:
        for name, levels in (("valuable", self.valuable), ("unstable", self.unstable)):
            if not set(levels) <= set(LEVELS):
                raise ValueError(f"{name} must be a subset of {LEVELS}, got {sorted(levels)}")

    def version(self) -> str:
        blob = json.dumps({"valuable": sorted(self.valuable), "unstable": sorted(self.unstable)})
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def retention_group(value_tier: pd.Series, stability: pd.Series, config: RetentionConfig | None = None) -> pd.Series:
    """The retention group per row (same index as the inputs)."""
    config = config or RetentionConfig()
    valuable = value_tier.isin(config.valuable).to_numpy()
    unstable = stability.isin(config.unstable).to_numpy()
    # codes into four shared str objects, not one str object per subscriber
    group = GROUPS.take(np.select([valuable & unstable, ~valuable & unstable, valuable & ~unstable], [0, 1, 2], default=3))
    return pd.Series(group, index=value_tier.index, name="retention_group")
