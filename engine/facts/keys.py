"""The one join index over msisdn / service / month: facts, model features and views join here.

Every join of the input is "which subscriber (service, month) is this row's": this module
answers it once per table with integer codes, and nothing else looks strings up.

- `positions(values, universe)`: position of each value in a short list (SERVICE_IDS, the month
  labels, a set of msisdns), -1 where absent. A compact snapshot column (a pandas categorical,
  engine.snapshot.compact) is answered by looking up its *categories* only and taking by code
  (a few hundred lookups for 15M usage rows); other columns by Arrow's `index_in`.
- `JoinIndex` (`join_index(snapshot)`, cached in `Snapshot.cache`): the subscribers' msisdns
  sorted, and per table each row's subscriber **rank** (position in that sorted order, -1 for
  an msisdn not in subscribers). The loader sorts categories, so the subscribers' msisdn codes
  are already the ranks. Per table it also keeps the rows grouped by subscriber (a stable
  argsort of the ranks and the offset of each rank; nothing at all when the file is already
  sorted by msisdn, the usual extract), so the rows of a partition of the base — a range or a
  set of ranks — are found without reading the other rows (`JoinIndex.rows`).
- `snapshot_keys(tables, as_of)`: the scoring models' view (positions in the subscribers'
  file order, usage months M0..M3), built on `positions`.

Looking 18M usage msisdns up in a 1M-subscriber index with pandas' object hash table took 30–50 s
on the 2-core box; Arrow's `index_in` does it in a few seconds, a categorical's codes in well
under one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow_strings(values) -> pa.Array:
    """`values` (a pandas Series/Index of text, or a sequence) as an Arrow large_string array."""
    if isinstance(values, (pd.Series, pd.Index)):
        if values.dtype == object:
            return pa.array(values.to_numpy(dtype=object), type=pa.large_string())
        values = values.astype(str) if values.dtype != "str" else values
        return pc.cast(pa.array(values.array), pa.large_string())
    return pa.array(np.asarray(values, dtype=object), type=pa.large_string())


def positions(values, universe, dtype=np.int64) -> np.ndarray:
    """Position of each value in `universe` (first occurrence), -1 where absent; int64, or
    `dtype` (int32 when the caller knows `universe` is shorter than 2**31)."""
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        of_category = positions(values.cat.categories, universe, dtype)
        missing = np.array([-1], dtype=of_category.dtype)  # np.append(…, -1) would widen to int64
        return np.append(of_category, missing)[values.cat.codes.to_numpy()]  # code -1 (missing) → -1
    found = pc.index_in(arrow_strings(values), value_set=arrow_strings(universe))
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(dtype)


class SortedLookup:
    """`positions(values, universe)` against one sorted universe of unique texts (a base's
    msisdns), asked many times (a table read in parts asks once per part).

    `positions` hashes the universe on every call: ~1 s and ~50 MB for 3M msisdns, per part. When
    every text of the universe has one byte length (msisdns do) it is kept here once as a numpy
    array of fixed-width bytes, and values of that same length (no nulls) are found by binary
    search; anything else falls back to `positions`. Same answers either way
    (tests/engine/facts/test_keys.py)."""

    def __init__(self, universe: pd.Index):
        self.universe = universe
        self.fixed = _fixed_width(arrow_strings(universe))
        if self.fixed is not None and len(self.fixed) > 1 and not (self.fixed[1:] > self.fixed[:-1]).all():
            self.fixed = None  # not sorted (or not unique) as bytes: no binary search

    def positions(self, values, dtype=np.int64) -> np.ndarray:
        if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
            of_category = self.positions(values.cat.categories, dtype)
            missing = np.array([-1], dtype=of_category.dtype)
            return np.append(of_category, missing)[values.cat.codes.to_numpy()]
        wanted = None if self.fixed is None else _fixed_width(arrow_strings(values), self.fixed.dtype.itemsize)
        if wanted is None:
            return positions(values, self.universe, dtype)
        at = np.searchsorted(self.fixed, wanted)
        inside = at < len(self.fixed)
        found = inside & (self.fixed[np.minimum(at, len(self.fixed) - 1)] == wanted) if len(self.fixed) else inside
        return np.where(found, at, -1).astype(dtype)


def _fixed_width(strings: pa.Array, width: int | None = None) -> np.ndarray | None:
    """The texts as a numpy array of fixed-width bytes (no copy) when every one is `width` bytes
    long (or, `width` None, all of one length > 0) and none is null; else None."""
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    if strings.null_count or not len(strings):
        return None
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)[strings.offset:strings.offset + len(strings) + 1]
    lengths = np.diff(offsets)
    width = int(lengths[0]) if width is None else width
    if width < 1 or not (lengths == width).all():
        return None
    return np.frombuffer(strings.buffers()[2], dtype=f"S{width}", count=len(strings), offset=int(offsets[0]))


def month_labels(as_of: date, months: int = 3) -> list[str]:
    """`YYYY-MM` of M0, M1, …, M<months> for a run date (M0 = the month containing it)."""
    m0 = pd.Period(pd.Timestamp(as_of), freq="M")
    return [str(m0 - k) for k in range(months + 1)]


def subscriber_slices(subscribers: int, parts: int) -> list[slice]:
    """`parts` contiguous ranges of ranks (of the msisdn-sorted subscribers), sizes differing by at most 1."""
    bounds = np.linspace(0, subscribers, max(1, parts) + 1).round().astype(np.int64)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


@dataclass
class _Grouped:
    """One table's rows grouped by subscriber rank: rows of rank r are order[offsets[r]:offsets[r + 1]]
    (order None: the table is sorted by rank, the rows are offsets[r]..offsets[r + 1] themselves)."""

    frame: pd.DataFrame  # the table this was built from (a replaced table is regrouped)
    order: np.ndarray | None
    offsets: np.ndarray


@dataclass
class JoinIndex:
    """The subscribers in msisdn order and each table's rows by subscriber (module docstring)."""

    msisdns: pd.Index  # the subscribers' msisdns, sorted (str)
    row_of_rank: np.ndarray  # subscribers' row (file order) of each rank
    tables: dict[str, pd.DataFrame]
    _grouped: dict[str, _Grouped] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        return len(self.msisdns)

    def ranks(self, name: str, rows: np.ndarray | None = None, dtype=np.int64) -> np.ndarray:
        """Rank of each row's subscriber (-1: not a subscriber), all rows or `rows` only; int64
        (or `dtype`)."""
        msisdn = self.tables[name]["msisdn"]
        if rows is not None:
            msisdn = msisdn.take(rows)
        if name == "subscribers" and isinstance(msisdn.dtype, pd.CategoricalDtype) \
                and msisdn.cat.categories.equals(self.msisdns):
            return msisdn.cat.codes.to_numpy().astype(dtype)
        return positions(msisdn, self.msisdns, dtype)

    def select(self, subscribers=None) -> np.ndarray:
        """The sorted ranks a `subscribers` argument names: None = all, a slice of ranks, or ranks."""
        if subscribers is None:
            return np.arange(self.size, dtype=np.int64)
        if isinstance(subscribers, slice):
            return np.arange(self.size, dtype=np.int64)[subscribers]
        chosen = np.unique(np.asarray(subscribers, dtype=np.int64))
        if len(chosen) and (chosen[0] < 0 or chosen[-1] >= self.size):
            raise IndexError(f"subscriber ranks must be within 0..{self.size - 1}")
        return chosen

    def _group(self, name: str) -> _Grouped:
        frame = self.tables[name]
        grouped = self._grouped.get(name)
        if grouped is None or grouped.frame is not frame:
            # int32 ranks and row numbers where they fit: at 1M subscribers usage_monthly's
            # 18.7M rows made ~450 MB of int64 transients here, at the score stage's peak
            rank = self.ranks(name, dtype=index_dtype(self.size))
            counts = np.bincount(rank[rank >= 0], minlength=self.size)
            unknown = int((rank < 0).sum())  # a stable argsort puts them first
            offsets = np.concatenate([[0], np.cumsum(counts)]) + unknown
            in_order = unknown == 0 and bool((rank[1:] >= rank[:-1]).all())
            order = None if in_order else np.argsort(rank, kind="stable").astype(index_dtype(len(rank)))
            del rank
            grouped = self._grouped[name] = _Grouped(frame, order, offsets)
        return grouped

    def rows(self, name: str, ranks: np.ndarray) -> np.ndarray:
        """Rows of table `name` whose subscriber is one of `ranks` (sorted), in file order."""
        return self.rows_and_ranks(name, ranks)[0]

    def rows_and_ranks(self, name: str, ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows of table `name` whose subscriber is one of `ranks` (sorted), in file order; the
        rank of each of those rows' subscriber).

        Reads only the offsets of those ranks and their rows' positions: a partition's cost is
        its own rows. The ranks come from the grouping itself (rows of rank r sit between
        offsets[r] and offsets[r + 1]), never from looking the rows' msisdns up in the whole
        base's index, which would cost every partition the size of the base."""
        grouped = self._group(name)
        starts, ends = grouped.offsets[ranks], grouped.offsets[ranks + 1]
        lengths = ends - starts
        if len(ranks) and ranks[-1] - ranks[0] + 1 == len(ranks):  # a contiguous range: one slice
            at = np.arange(starts[0], ends[-1], dtype=np.int64)
        else:
            at = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) \
                + np.arange(int(lengths.sum()), dtype=np.int64)
        rank = np.repeat(np.asarray(ranks, dtype=np.int64), lengths)
        if grouped.order is None:
            return at, rank
        rows = grouped.order[at].astype(np.int64)
        by_row = np.argsort(rows, kind="stable")
        return rows[by_row], rank[by_row]


def index_dtype(count: int):
    """int32 for positions below `count` when they fit, else int64."""
    return np.int32 if count < np.iinfo(np.int32).max else np.int64


def join_index(snapshot) -> JoinIndex:
    """The snapshot's join index, built once and kept in `snapshot.cache` (the loop's write-back
    clears the cache when it appends rows)."""
    found = snapshot.cache.get("join_index")
    if found is None or found.tables is not snapshot.tables:
        msisdn = snapshot.tables["subscribers"]["msisdn"]
        if isinstance(msisdn.dtype, pd.CategoricalDtype) and len(msisdn.cat.categories) == len(msisdn):
            ordered = msisdn.cat.categories  # the loader's sorted categories of a unique column
            rank = msisdn.cat.codes.to_numpy().astype(np.int64)
        else:
            strings = arrow_strings(msisdn)
            ordered = pd.Index(pc.take(strings, pc.sort_indices(strings)).to_pylist(), dtype="str")
            rank = positions(msisdn, ordered)
        row_of_rank = np.empty(len(rank), dtype=np.int64)
        row_of_rank[rank] = np.arange(len(rank), dtype=np.int64)
        found = snapshot.cache["join_index"] = JoinIndex(ordered, row_of_rank, snapshot.tables)
    return found


def subscriber_positions(snapshot, msisdns, subscribers=None) -> np.ndarray:
    """Row of each msisdn in `subscribers` (file order), -1 when absent.

    `subscribers` (a slice or array of ranks, as build_facts takes it): the msisdns are known to
    be among those subscribers, so they are looked up in that part of the index only (a
    partition's cost stays its own size); an msisdn outside them is -1."""
    join = join_index(snapshot)
    if subscribers is None:
        rank = positions(msisdns, join.msisdns)
    else:
        chosen = join.select(subscribers)
        found = positions(msisdns, join.msisdns[chosen])
        rank = np.where(found >= 0, chosen[np.maximum(found, 0)], -1)
    return np.where(rank >= 0, join.row_of_rank[np.maximum(rank, 0)], -1)


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
    # Narrow integers: at 1M subscribers int64 positions and months of every row cost ~340 MB.
    # Arithmetic on them (a pair's code: position * width + service) widens to int64 first.
    narrow = np.int32 if len(index) < np.iinfo(np.int32).max else np.int64
    for name in ("subscriptions", "usage_monthly", "handset_changes", "contact_history", "lists"):
        if name in tables:
            keys.codes[name] = positions(tables[name]["msisdn"], index).astype(narrow)
    if "usage_monthly" in tables:
        keys.usage_month = positions(tables["usage_monthly"]["month"], keys.months).astype(np.int8)
    return keys
