"""The partition function of a night: contiguous ranges of the msisdn-sorted subscribers.

A night processes the base a slice at a time, so memory depends on the slice size and not on
the size of the base. Slice k holds the subscribers at positions [k·size, (k+1)·size) of the
subscribers sorted by msisdn, and every row of every table whose msisdn is one of them. Facts,
segments, scopes and rule outcomes are per subscriber, so deciding a slice needs only its own
rows; what is base-wide (the scores' percentile ranks and quantile tiers, channel capacities)
is computed once over the whole base (scores) or done by the parent on compact candidates
(arbitration). Because the slices are ranges of the sort order, the rows of slice k all sort
before those of slice k+1: the run's hash chain (rows in msisdn, service order) is the slices'
rows one slice after the other, with no merge.

A row whose msisdn is not in `subscribers` (the loader refuses most of these) goes to the slice
whose range its msisdn sorts into, so no row is ever dropped or counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_SIZE = 50_000  # subscribers per slice: ~0.3 GB of working memory per worker at the densest


@dataclass
class Slices:
    """Which rows of each table belong to which slice (positions in the loaded tables)."""

    count: int
    rows: dict[str, tuple[np.ndarray, np.ndarray]]  # table -> (row order by slice, offsets: count + 1)

    def table_rows(self, table: str, k: int) -> np.ndarray:
        """Positions (ascending: file order) of the rows of `table` in slice k."""
        order, offsets = self.rows[table]
        return order[offsets[k]:offsets[k + 1]]


def plan_slices(tables: dict[str, pd.DataFrame], size: int = DEFAULT_SIZE, at_least: int = 1) -> Slices:
    """Slices of at most `size` subscribers over the loaded tables, and at least `at_least` of
    them while there are subscribers enough (so every worker has a slice); tables without msisdn
    go whole into every slice."""
    ranked = np.sort(np.asarray(tables["subscribers"]["msisdn"].to_numpy(dtype=object), dtype=object))
    size = max(1, min(int(size), -(-len(ranked) // max(int(at_least), 1))))
    index = pd.Index(ranked, dtype=object)
    count = max(1, -(-len(ranked) // size))
    rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, frame in tables.items():
        if "msisdn" not in frame.columns:
            continue
        ids = _slice_ids(ranked, index, frame["msisdn"], size)
        order = np.argsort(ids, kind="stable")
        offsets = np.searchsorted(ids[order], np.arange(count + 1), side="left")
        rows[name] = (order, offsets)
    return Slices(count, rows)


def _slice_ids(ranked: np.ndarray, index: pd.Index, msisdns: pd.Series, size: int) -> np.ndarray:
    """Slice of each msisdn of a table: its subscriber's rank in the sorted base // size."""
    targets = np.asarray(msisdns.to_numpy(dtype=object), dtype=object)
    position = index.get_indexer(pd.Index(targets, dtype=object))  # -1 when not a subscriber
    unknown = np.flatnonzero(position < 0)
    if len(unknown):  # the rank its msisdn would sort into
        at = np.searchsorted(ranked, targets[unknown].astype(str).astype(object), side="right") - 1
        position[unknown] = np.clip(at, 0, max(len(ranked) - 1, 0))
    return (position // size).astype(np.int64)


def slice_tables(tables: dict[str, pd.DataFrame], slices: Slices, k: int) -> dict[str, pd.DataFrame]:
    """The tables of slice k: its rows of every table with msisdn (file order), other tables whole."""
    out = {}
    for name, frame in tables.items():
        if name in slices.rows:
            out[name] = frame.take(slices.table_rows(name, k)).reset_index(drop=True)
        else:
            out[name] = frame
    return out
