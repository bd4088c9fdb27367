"""Appending rows to a loaded table without losing its compact dtypes (ARCHITECTURE §1).

A loaded snapshot's text columns are pandas categoricals with sorted categories
(engine.snapshot.compact). `astype(categorical)` turns a value outside the categories into a
missing cell, and `pd.concat` of two categoricals with different categories falls back to
object columns; `append_rows` does neither: a categorical column gets the union of both
sides' categories, sorted again (so codes stay ranks in text order), every other column the
dtype of the table appended to.
"""

from __future__ import annotations

import pandas as pd


def append_rows(own: pd.DataFrame, added: pd.DataFrame) -> pd.DataFrame:
    """`own` followed by `added` (same columns), index 0..n-1, in `own`'s dtypes."""
    columns = {}
    for name in own.columns:
        mine, theirs = own[name], added[name]
        if isinstance(mine.dtype, pd.CategoricalDtype):
            new = pd.Index(theirs.dropna().astype(str).unique()).difference(mine.cat.categories)
            categories = mine.cat.categories.append(new).sort_values() if len(new) else mine.cat.categories
            dtype = pd.CategoricalDtype(categories)
            columns[name] = pd.concat([mine.astype(dtype), theirs.astype(dtype)], ignore_index=True)
        else:
            columns[name] = pd.concat([mine, theirs.astype(mine.dtype)], ignore_index=True)
    return pd.DataFrame(columns, columns=list(own.columns))
