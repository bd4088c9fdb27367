"""The raw parts of a base's scores: what each subscriber's own rows give, before any base-wide step.

Why: scoring a whole base at once held its tables (776 MB at 1M subscribers) next to the
scorer's working set (join keys, features, the model's input, the sensitivity's matrices), the
peak of a 1M night. Every score is a per-subscriber raw part followed by a base-wide step, and
the raw parts are small: so a night scores its base slice by slice (engine/night/slicescore.py)
and keeps only these arrays, then runs the base-wide steps once (engine/scoring/scoring.py).

`RawParts` of some subscribers, in their subscribers table's row order:
- `churn_risk` (float64) and `stability` (int8 codes into LEVELS, -1 none): the stability
  model scores row by row and its tiers are fixed or learned cut-offs on the risk;
- `indicators`: the value indicators (float64 columns; every optional one whose column the
  table has) and `filled`, the optional ones with a known cell in this part;
- `sensitivity`: the formula's subscription flags and M1 days of use per (subscriber, service).

`assemble(parts, n)` puts the parts of disjoint sets of subscribers (each with its subscribers'
positions in the whole base's subscribers file order) together into the whole base's parts:
the same arrays, bit for bit, the whole base's own parts would be — each value is made of one
subscriber's rows only, summed in file order either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.facts.fields import LEVELS
from engine.scoring.sensitivity import SensitivityInputs

LEVEL_OBJECTS = np.array(LEVELS, dtype=object)


@dataclass
class RawParts:
    """The raw parts of some subscribers' scores (module docstring); `size` subscribers."""

    size: int
    churn_risk: np.ndarray | None  # None: no stability model
    stability: np.ndarray | None  # int8 codes into LEVELS
    indicators: dict[str, np.ndarray]  # name -> float64 per subscriber, in value_indicators' column order
    filled: frozenset[str]
    sensitivity: SensitivityInputs

    def stability_tiers(self) -> np.ndarray | None:
        """The tiers as an object array of LEVELS' strings (shared objects)."""
        return None if self.stability is None else LEVEL_OBJECTS.take(self.stability)


def level_codes(tiers: np.ndarray) -> np.ndarray:
    """int8 position of each tier in LEVELS."""
    tiers = np.asarray(tiers, dtype=object)
    codes = np.full(len(tiers), -1, dtype=np.int8)
    for code, level in enumerate(LEVELS):
        codes[tiers == level] = code
    if (codes < 0).any():
        raise ValueError(f"a stability tier outside {LEVELS}")
    return codes


def assemble(parts: list[tuple[np.ndarray, RawParts]], n: int) -> RawParts:
    """The raw parts of `n` subscribers from parts of disjoint sets of them: (each part's
    subscribers' positions 0..n-1, the part). Every position must be covered once."""
    covered = np.zeros(n, dtype=bool)
    for at, part in parts:
        if len(at) != part.size or covered[at].any():
            raise ValueError("the parts of a base must cover disjoint subscribers, one position each")
        covered[at] = True
    if not covered.all():
        raise ValueError(f"the parts cover {int(covered.sum())} of the base's {n} subscribers")
    first = parts[0][1] if parts else None
    with_model = first is not None and first.churn_risk is not None
    risk = np.empty(n, dtype=np.float64) if with_model else None
    stability = np.empty(n, dtype=np.int8) if with_model else None
    names = list(first.indicators) if first is not None else []
    indicators = {name: np.empty(n, dtype=np.float64) for name in names}
    width = first.sensitivity.subscribed.shape[1] if first is not None else 0
    subscribed = np.zeros((n, width), dtype=bool)
    filled: set[str] = set()
    used_at, used_service, used_days = [], [], []
    for at, part in parts:
        if list(part.indicators) != names or (part.churn_risk is not None) != with_model:
            raise ValueError("the parts of a base must be scored alike (the same columns and model)")
        if with_model:
            risk[at] = part.churn_risk
            stability[at] = part.stability
        for name in names:
            indicators[name][at] = part.indicators[name]
        filled |= part.filled
        subscribed[at] = part.sensitivity.subscribed
        used_at.append(at[part.sensitivity.used_at])
        used_service.append(part.sensitivity.used_service)
        used_days.append(part.sensitivity.used_days)
    at = np.concatenate(used_at) if used_at else np.zeros(0, dtype=np.int64)
    service = np.concatenate(used_service) if used_service else np.zeros(0, dtype=np.int64)
    days = np.concatenate(used_days) if used_days else np.zeros(0, dtype=np.int64)
    order = np.lexsort((service, at))  # the whole base's (position, service) order
    sensitivity = SensitivityInputs(subscribed, at.astype(np.int64)[order], service[order], days[order])
    return RawParts(n, risk, stability, indicators, frozenset(filled), sensitivity)


def indicator_frame(parts: RawParts, index: pd.Index) -> pd.DataFrame:
    """The value indicators value_scores reads: the core ones and the optional ones some part filled."""
    from engine.scoring.value import OPTIONAL_COLUMNS

    names = [name for name in parts.indicators if name not in OPTIONAL_COLUMNS or name in parts.filled]
    return pd.DataFrame({name: parts.indicators[name] for name in names}, index=index)
