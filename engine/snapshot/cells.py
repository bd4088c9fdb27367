"""Typing one column of cells (ARCHITECTURE §1): a vectorised check per contract kind.

Cells stay Arrow strings until a regex, set-membership test or cast has passed for the whole
column; only the cells that fail are turned into `Bad` entries for the loader to report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.snapshot import contract
from engine.snapshot.contract import Column

_EXPECTED = {
    contract.DATE: ("a valid date YYYY-MM-DD", "DC022"),
    contract.MONTH: ("a month YYYY-MM", "DC023"),
    contract.INT: ("a whole number", "DC024"),
    contract.FLOAT: ("a number", "DC025"),
    contract.BOOL: ("a boolean (true/false/1/0)", "DC026"),
}
_PATTERNS = {
    contract.DATE: r"^\d{4}-\d{2}-\d{2}$",
    contract.MONTH: r"^\d{4}-(0[1-9]|1[0-2])$",
    contract.INT: r"^[+-]?\d{1,18}$",
    contract.FLOAT: r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$",
}


@dataclass
class Bad:
    """Cells of one column that failed one check."""

    rows: np.ndarray
    expected: str
    code: str


def _expected(column: Column) -> tuple[str, str]:
    if column.kind == contract.ENUM:
        return "an allowed value", "DC021"
    return _EXPECTED.get(column.kind, ("a value", "DC020"))


def mask(array) -> np.ndarray:
    """A boolean Arrow result as numpy, nulls counting as False."""
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def as_strings(values: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """String view of a column: strings as-is, dictionary (pandas category) decoded; else None."""
    kind = values.type
    if pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind) \
            or pa.types.is_string_view(kind):
        return pc.cast(values, pa.string())
    return values if pa.types.is_string(kind) else None


def parse_column(column: Column, values: pa.ChunkedArray) -> tuple[object, list[Bad]]:
    """Type one column per ARCHITECTURE §1; return (values or None, the failed checks).

    String kinds come back as Arrow strings (nulls = empty nullable cells) for `_to_object`;
    the others as numpy arrays or a pandas BooleanArray.
    """
    strings = as_strings(values)
    if strings is None:
        return _parse_typed(column, values)
    empty = mask(pc.equal(strings, "")) | mask(pc.is_null(strings))
    bad: list[Bad] = []
    if not column.nullable and empty.any():
        bad.append(Bad(np.flatnonzero(empty), _expected(column)[0], "DC020"))
    filled = ~empty
    kind = column.kind
    if kind in (contract.STRING, contract.ENUM, contract.TAGS):
        if kind == contract.ENUM:
            wrong = filled & ~mask(pc.is_in(strings, value_set=pa.array(column.values)))
            if wrong.any():
                bad.append(Bad(np.flatnonzero(wrong), *_expected(column)))
        if kind == contract.TAGS:
            out = pc.fill_null(strings, "")
        elif column.nullable and empty.any():
            out = pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), strings)
        else:
            out = strings
        return (None if bad else out), bad
    if kind == contract.BOOL:
        lower = pc.utf8_lower(strings)
        wrong = filled & ~mask(pc.is_in(lower, value_set=pa.array(["true", "false", "1", "0"])))
        if wrong.any():
            bad.append(Bad(np.flatnonzero(wrong), *_expected(column)))
        if bad:
            return None, bad
        truth = mask(pc.is_in(lower, value_set=pa.array(["true", "1"])))
        if column.nullable:
            return pd.arrays.BooleanArray(truth, empty), []
        return truth, []
    if bad:
        return None, bad
    cells = pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), strings) if empty.any() else strings
    fast = _fast_cast(kind, cells)
    if fast is not None:
        return fast, []
    # Slow path, only when something is wrong: find exactly which cells.
    valid = mask(pc.match_substring_regex(strings, _PATTERNS[kind]))
    if kind == contract.DATE:
        parsed = pc.strptime(pc.if_else(pa.array(valid), strings, "1970-01-01"), format="%Y-%m-%d", unit="s",
                             error_is_null=True)
        # strptime rolls 2026-02-30 over to 03-02; the day must survive the round trip.
        day = pc.cast(pc.utf8_slice_codeunits(pc.if_else(pa.array(valid), strings, "0000-00-01"), 8, 10), pa.int64())
        valid &= mask(pc.equal(pc.day(parsed), day))
    wrong = filled & ~valid
    if not wrong.any():  # e.g. an int column valid by pattern but out of int64 range
        wrong = filled
    return None, [Bad(np.flatnonzero(wrong), *_expected(column))]


def _fast_cast(kind: str, cells: pa.ChunkedArray):
    """Arrow's strict cast when every cell is well-formed (the usual case), else None."""
    try:
        if kind == contract.MONTH:
            ok = mask(pc.match_substring_regex(cells, _PATTERNS[contract.MONTH])) | mask(pc.is_null(cells))
            return cells if ok.all() else None
        if kind == contract.DATE:
            return pc.cast(pc.cast(cells, pa.date32()), pa.timestamp("s")).to_numpy()
        if kind == contract.INT:
            if mask(pc.match_substring(cells, "x", ignore_case=True)).any():  # Arrow reads 0x10 as hex
                return None
            return pc.cast(cells, pa.int64()).to_numpy()
        out = pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False)
        # empty cells of a nullable column are NaN here; only a written 'nan'/'inf' is refused
        return out if (np.isfinite(out) | mask(pc.is_null(cells))).all() else None  # 'nan'/'inf' are not numbers a file should hold
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _parse_typed(column: Column, values: pa.ChunkedArray) -> tuple[np.ndarray | None, list[Bad]]:
    """A typed Parquet column (dates, numbers, booleans written natively)."""
    kind, t = column.kind, values.type
    accepted = {
        contract.DATE: pa.types.is_date(t) or pa.types.is_timestamp(t),
        contract.INT: pa.types.is_integer(t),
        contract.FLOAT: pa.types.is_integer(t) or pa.types.is_floating(t),
        contract.BOOL: pa.types.is_boolean(t),
    }.get(kind, False)
    if not accepted:
        return None, [Bad(np.array([-1]), f"{_expected(column)[0]} (Parquet type {t})", "DC027")]
    null = mask(pc.is_null(values, nan_is_null=True))
    if null.any() and not column.nullable:
        return None, [Bad(np.flatnonzero(null), _expected(column)[0], "DC020")]
    if kind == contract.DATE:
        if pa.types.is_timestamp(t) and t.tz is not None:
            values = pc.local_timestamp(values)
        return pc.cast(pc.floor_temporal(pc.cast(values, pa.timestamp("s")), unit="day"),
                       pa.timestamp("s")).to_numpy(), []
    if kind == contract.BOOL:
        truth = mask(values)
        return (pd.arrays.BooleanArray(truth, null) if column.nullable else truth), []
    return pc.cast(values, pa.int64() if kind == contract.INT else pa.float64()).to_numpy(), []
