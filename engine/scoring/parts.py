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

`assemble(parts, n)` (or an `Assembly` filled a part at a time) puts the parts of disjoint sets of subscribers (each with its subscribers'
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
    whole = Assembly(n)
    for at, part in parts:
        whole.add(at, part)
    return whole.done()


class Assembly:
    """The whole base's raw parts, filled a part at a time (`add`), so that a night holds the
    base's arrays and one slice's part, never every slice's parts next to the whole's; `done()`
    gives what `assemble` gives for the same parts (it is `assemble`)."""

    def __init__(self, n: int):
        self.n = n
        self.covered = np.zeros(n, dtype=bool)
        self.first: RawParts | None = None
        self.filled: set[str] = set()
        self.used_at: list[np.ndarray] = []
        self.used_service: list[np.ndarray] = []
        self.used_days: list[np.ndarray] = []

    def add(self, at: np.ndarray, part: RawParts) -> None:
        """Part `part` of the subscribers at positions `at` (0..n-1, none added before)."""
        n = self.n
        if len(at) != part.size or self.covered[at].any():
            raise ValueError("the parts of a base must cover disjoint subscribers, one position each")
        self.covered[at] = True
        if self.first is None:
            self.first = part
            with_model = part.churn_risk is not None
            self.risk = np.empty(n, dtype=np.float64) if with_model else None
            self.stability = np.empty(n, dtype=np.int8) if with_model else None
            self.names = list(part.indicators)
            self.indicators = {name: np.empty(n, dtype=np.float64) for name in self.names}
            self.subscribed = np.zeros((n, part.sensitivity.subscribed.shape[1]), dtype=bool)
        if list(part.indicators) != self.names or (part.churn_risk is not None) != (self.risk is not None):
            raise ValueError("the parts of a base must be scored alike (the same columns and model)")
        if self.risk is not None:
            self.risk[at] = part.churn_risk
            self.stability[at] = part.stability
        for name in self.names:
            self.indicators[name][at] = part.indicators[name]
        self.filled |= part.filled
        self.subscribed[at] = part.sensitivity.subscribed
        self.used_at.append(at[part.sensitivity.used_at])
        self.used_service.append(part.sensitivity.used_service)
        self.used_days.append(part.sensitivity.used_days)

    def done(self) -> RawParts:
        """The whole base's raw parts; every position must have been covered."""
        n = self.n
        if not self.covered.all():
            raise ValueError(f"the parts cover {int(self.covered.sum())} of the base's {n} subscribers")
        if self.first is None:  # no parts (an empty base)
            return RawParts(n, None, None, {}, frozenset(), SensitivityInputs(
                np.zeros((n, 0), dtype=bool), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                np.zeros(0, dtype=np.int64)))
        at = np.concatenate(self.used_at)
        service = np.concatenate(self.used_service)
        days = np.concatenate(self.used_days)
        self.used_at = self.used_service = self.used_days = []
        order = np.lexsort((service, at))  # the whole base's (position, service) order
        sensitivity = SensitivityInputs(self.subscribed, at.astype(np.int64)[order], service[order], days[order])
        return RawParts(n, self.risk, self.stability, self.indicators, frozenset(self.filled), sensitivity)


def indicator_frame(parts: RawParts, index: pd.Index) -> pd.DataFrame:
    """The value indicators value_scores reads: the core ones and the optional ones some part filled."""
    from engine.scoring.value import OPTIONAL_COLUMNS

    names = [name for name in parts.indicators if name not in OPTIONAL_COLUMNS or name in parts.filled]
    return pd.DataFrame({name: parts.indicators[name] for name in names}, index=index)
