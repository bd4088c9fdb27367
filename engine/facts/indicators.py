"""The operator's other optional stability indicators as fact fields (issue 10 §3, seed 000).

The optional `subscribers` columns on-net share 本网通话占比, suspensions 停机, arrears 欠费,
payments 缴费 and handset brand 终端品牌 (engine.snapshot.contract.SUBSCRIBER_OPTIONAL) feed the
value and stability models; here they also become fields of every fact of the subscriber, so a
pack can read them directly (e.g. `arrears_6m: {gte: 2}`):
- `on_net_share`: on_net_share as given (0..1);
- `suspensions_6m`, `arrears_6m`, `payments_6m`: the counts as given;
- `handset_brand`: the brand as given (free text).
Missing when the snapshot has no such column or the cell is empty: NaN (numbers) / None (the
brand) in the frame, and left out of the fact a rule sees (engine.facts.build.fact_records drops
missing values), so a snapshot without the columns gives the same facts, traces and decisions as
before, and a condition on them never matches (`exists: false` does). Calling-circle fields are
engine.facts.circle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

INDICATOR_FIELDS = ("on_net_share", "suspensions_6m", "arrears_6m", "payments_6m", "handset_brand")
_NUMERIC = INDICATOR_FIELDS[:4]


def _number(person: pd.DataFrame, name: str) -> np.ndarray:
    if name not in person.columns:
        return np.full(len(person), np.nan)
    return pd.to_numeric(person[name], errors="coerce").to_numpy(dtype=float)


def _text(person: pd.DataFrame, name: str) -> np.ndarray:
    out = np.full(len(person), None, dtype=object)
    if name not in person.columns:
        return out
    values = person[name]
    if isinstance(values.dtype, pd.CategoricalDtype):  # the compact loader: one str per category
        words = np.append(values.cat.categories.to_numpy(dtype=object), None)
        out = words[values.cat.codes.to_numpy()]
    else:
        out = values.astype(object).where(values.notna(), None).to_numpy(dtype=object)
    return np.where(pd.Series(out, dtype=object).fillna("").to_numpy(dtype=object) == "", None, out)


def indicator_fields(person: pd.DataFrame) -> dict[str, np.ndarray]:
    """The INDICATOR_FIELDS per row of `person` (subscriber rows aligned with the facts)."""
    out = {name: _number(person, name) for name in _NUMERIC}
    out["handset_brand"] = _text(person, "handset_brand")
    return out
