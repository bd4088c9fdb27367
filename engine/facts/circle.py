"""Calling-circle fields 交往圈 of a fact, from the optional `subscribers` columns (issue 10 §3).

The retention pack's family-number / V-network lever (亲情号, V网; seed 000: "for low-stability
users with a small, busy calling circle") and the shrinking-circle churn signal read them:
- `circle_size`: circle_size (distinct numbers called or calling, last 3 months);
- `circle_trend`: circle_size / circle_size_6m_ago (< 1: the circle is shrinking);
- `calls_per_contact`: calls_monthly / circle_size (how busy the circle is).
Missing (NaN) when the snapshot has no such column, the cell is empty or the divisor is 0 — so
a snapshot without the columns gives facts whose conditions on them never match (`exists:
false` does), and the packs fall back to what they did before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CIRCLE_FIELDS = ("circle_size", "circle_trend", "calls_per_contact")


def _column(person: pd.DataFrame, name: str) -> np.ndarray:
    if name not in person.columns:
        return np.full(len(person), np.nan)
    return pd.to_numeric(person[name], errors="coerce").to_numpy(dtype=float)


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


def circle_fields(person: pd.DataFrame) -> dict[str, np.ndarray]:
    """The CIRCLE_FIELDS per row of `person` (subscriber rows aligned with the facts), float."""
    size = _column(person, "circle_size")
    return {
        "circle_size": size,
        "circle_trend": np.round(_ratio(size, _column(person, "circle_size_6m_ago")), 6),
        "calls_per_contact": np.round(_ratio(_column(person, "calls_monthly"), size), 6),
    }
