"""Row positions for joining snapshot tables to the subscriber index, computed once per score run.

Looking 18M usage msisdns up in a 1M-subscriber index with pandas' object hash table took 30–50 s
on the 2-core box; Arrow's `index_in` does it in a few seconds, and months become small ints
so M1..M3 tests are integer compares instead of string compares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _arrow_strings(values) -> pa.Array:
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.astype(str) if values.dtype != object else values
        return pa.array(values.to_numpy(dtype=object) if values.dtype == object else values.array, type=pa.large_string())
    return pa.array(np.asarray(values, dtype=object), type=pa.large_string())


def positions(values, universe) -> np.ndarray:
    """Position of each value in `universe` (first occurrence), -1 where absent; int64."""
    found = pc.index_in(_arrow_strings(values), value_set=_arrow_strings(universe))
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def month_labels(as_of: date, months: int = 3) -> list[str]:
    """`YYYY-MM` of M0, M1, …, M<months> for a run date (M0 = the month containing it)."""
    m0 = pd.Period(pd.Timestamp(as_of), freq="M")
    return [str(m0 - k) for k in range(months + 1)]


@dataclass
class SnapshotKeys:
    """The subscriber index and, per table, each row's subscriber position; usage months as 0..3 (-1 other)."""

    index: pd.Index
    months: list[str]
    codes: dict[str, np.ndarray] = field(default_factory=dict)
    usage_month: np.ndarray | None = None


def snapshot_keys(tables: dict[str, pd.DataFrame], as_of: date, index: pd.Index | None = None) -> SnapshotKeys:
    """Positions of every table's rows in the subscriber index (subscribers' msisdns by default)."""
    if index is None:
        index = pd.Index(tables["subscribers"]["msisdn"].astype(str), name="msisdn")
    keys = SnapshotKeys(index=index, months=month_labels(as_of))
    for name in ("subscriptions", "usage_monthly", "handset_changes", "contact_history", "lists"):
        if name in tables:
            keys.codes[name] = positions(tables[name]["msisdn"], index)
    if "usage_monthly" in tables:
        keys.usage_month = positions(tables["usage_monthly"]["month"], keys.months)
    return keys
