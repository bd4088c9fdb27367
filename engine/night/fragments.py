"""Canonical JSON of many facts at once, built from per-column fragments.

A night stores every in-scope fact's trace payload as canonical JSON (engine/night/trace.py,
docs/TRACE.md). Serialising millions of fact dicts one by one was the largest cost of a night;
yet most columns hold few distinct values (flags, tiers, small counts). So each column is
factorised once, each *distinct* value is converted exactly as `engine.facts.build.fact_records`
converts it (then normalised as the rules see it, where that is wanted) and serialised with
`canonical`, and a row's text is the join of its columns' fragments. The text is byte for byte
what `canonical(record)` gives for the row's record (tests/engine/night/test_fragments.py holds
the two equal on generated facts).

Values are told apart by their bits, not by equality: a float column is factorised on its
int64 view (so -0.0 and 0.0 stay distinct, as `canonical` writes them), and an object column
on (type, value), so True never merges with 1.
"""

from __future__ import annotations

import sys
from itertools import repeat
from typing import Any, Callable

import numpy as np
import pandas as pd

from engine.base.jsonfile import canonical
from engine.facts.build import fact_records
from engine.facts.build import NESTED_PREFIXES
from engine.facts.fields import FIELDS, FLOAT, INT, PROPENSITY_PREFIX, SET
from engine.rules.conditions import lookup, normalise_fact


def factorise(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, first row of each code): rows with the same code hold the same value, bit for bit."""
    if isinstance(series.dtype, pd.StringDtype):  # Arrow-backed text: one kind of missing, encoded in C
        codes, _ = pd.factorize(series, use_na_sentinel=True)
        codes = np.asarray(codes, dtype=np.int64)
        codes[codes < 0] = codes.max(initial=-1) + 1
        _, first = np.unique(codes, return_index=True)
        return codes, first
    values = series.to_numpy()
    if values.dtype.kind == "f":
        codes, _ = pd.factorize(values.astype(np.float64).view(np.int64))
    elif values.dtype.kind in "biu":
        codes, _ = pd.factorize(values)
    elif pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        # text and missing only: equality cannot merge values of different types; every kind of
        # missing (None, NaN, NA) keeps its own code, as the records may tell them apart
        missing = pd.isna(values)
        codes, _ = pd.factorize(np.where(missing, None, values).astype(object), use_na_sentinel=True)
        if missing.any():
            kinds = [type(v).__name__ for v in values[missing].tolist()]
            extra, _ = pd.factorize(np.asarray(kinds, dtype=object))
            codes = np.asarray(codes, dtype=np.int64)
            codes[missing] = codes.max(initial=-1) + 1 + extra
    else:
        keyed = [(type(v).__name__, v if v == v else "nan") if v is not None else ("None", "") for v in values]
        codes, _ = pd.factorize(pd.Series(keyed, dtype=object))
    codes = np.asarray(codes, dtype=np.int64)
    _, first = np.unique(codes, return_index=True)
    return codes, first


def distinct(frame: pd.DataFrame, name: str, convert: Callable[[dict], Any]) -> tuple[np.ndarray, list]:
    """(codes, table): `table[codes[i]]` is `convert(record)` for row i of the column `name`,
    computed once per distinct value. `record` is the one-field record `fact_records` makes of
    that value ({} when missing)."""
    codes, first = factorise(frame[name])
    records = fact_records(frame[[name]].iloc[first])
    return codes, [convert(r) for r in records]


def per_distinct(frame: pd.DataFrame, name: str, convert: Callable[[dict], Any]) -> list:
    """`convert(record)` for each row of the column `name` (see `distinct`)."""
    codes, table = distinct(frame, name, convert)
    return _take(table, codes)


def _take(table: list, codes: np.ndarray) -> list:
    """`[table[c] for c in codes]`, the lookup done by numpy (an object array holds the values
    themselves: nothing is converted)."""
    values = np.empty(len(table), dtype=object)
    for i, value in enumerate(table):  # one by one: a list or tuple value stays one cell
        values[i] = value
    return values[codes].tolist()


def record_numbers(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(values, missing) of a bool or numeric column exactly as `fact_records` gives them (an INT
    field held as float becomes int64); None for any other column (text, sets, objects).

    The fast paths below rest on it: for these dtypes the record's value, its normalised value
    and its canonical JSON follow from the dtype and the catalogue type alone.
    """
    values = frame[name].to_numpy()
    kind = values.dtype.kind
    field = FIELDS.get(name)
    if kind not in "biuf" or (field is not None and field.type == SET):
        return None
    if kind == "f":
        missing = np.isnan(values)
        if np.isinf(values).any():
            raise ValueError(f"fact field {name!r} holds an infinite number, which JSON cannot hold")
        if field is not None and field.type == INT:
            values = np.where(missing, 0, values).astype(np.int64)
    else:
        missing = np.zeros(len(values), dtype=bool)
    return values, missing


def _normalised_kind(name: str) -> str | None:
    """The catalogue cast normalise_fact applies to a number of field `name`."""
    field = FIELDS.get(name)
    if field is not None and field.type in (INT, FLOAT):
        return field.type
    return FLOAT if name.startswith(PROPENSITY_PREFIX) else None


def _number_texts(values: np.ndarray, missing: np.ndarray, present: Callable[[Any], str], absent: str) -> list[str]:
    """`present(v)` per value (`absent` where missing), converted once per distinct value."""
    key = values.astype(np.float64).view(np.int64) if values.dtype.kind == "f" else values
    codes, _ = pd.factorize(key)
    _, first = np.unique(codes, return_index=True)
    table = list(map(present, values[first].tolist()))
    texts = _take(table, codes)
    for i in np.flatnonzero(missing).tolist():
        texts[i] = absent
    return texts


def field_value_texts(frame: pd.DataFrame, name: str) -> list[str]:
    """Canonical JSON of `lookup(normalised fact, name)` per row: a rule's tested value in a trace."""
    if name not in frame.columns:
        return [canonical(None)] * len(frame)
    numbers = record_numbers(frame, name)
    if numbers is None:
        return per_distinct(frame, name, lambda record: canonical(lookup(normalise_fact(record), name)))
    values, missing = numbers
    kind = values.dtype.kind
    if kind == "b":
        return ["true" if v else "false" for v in values.tolist()]
    if kind == "f" or _normalised_kind(name) == FLOAT:  # normalise_fact makes ints of FLOAT fields floats
        return _number_texts(values, missing, lambda v: float.__repr__(float(v)), "null")
    return _number_texts(values, missing, str, "null")


def fact_texts(frame: pd.DataFrame) -> list[str]:
    """Canonical JSON of each row's record exactly as `canonical(fact_records(frame)[i])` writes it."""
    n = len(frame)
    if n == 0:
        return []
    plain = [c for c in frame.columns if not str(c).startswith(NESTED_PREFIXES)]
    # (record key, its pieces in row order): a list of ',"key":value' per row ("" when missing),
    # or, for a column without missing cells, the constant ',"key":' and the list of values
    # (no string built per cell for the key).
    keyed: list[tuple[str, tuple]] = []
    for name in plain:
        head = "," + canonical(str(name)) + ":"
        numbers = record_numbers(frame, name)
        if numbers is not None:  # canonical JSON of a Python bool, int or float, without json.dumps
            values, missing = numbers
            kind = values.dtype.kind
            if kind == "b":
                texts = list(map(_BOOL_TEXT.__getitem__, values.tolist()))
            else:
                texts = _number_texts(values, missing, float.__repr__ if kind == "f" else int.__repr__, "")
            if missing.any():
                keyed.append((str(name), ([head + t if t else "" for t in texts],)))
            else:
                keyed.append((str(name), (repeat(head, n), texts)))
            continue

        def piece(record: dict, name=name, head=head) -> str:
            return head + canonical(record[name]) if name in record else ""

        keyed.append((str(name), (per_distinct(frame, name, piece),)))
    for prefix in NESTED_PREFIXES:
        nested = sorted(c for c in frame.columns if str(c).startswith(prefix))
        if nested:
            keyed.append((prefix[:-1], (_nested_pieces(frame, prefix, nested),)))
    keyed.sort(key=lambda item: item[0])
    joined = map("".join, zip(*(part for _key, parts in keyed for part in parts)))
    return ["{" + text[1:] + "}" for text in joined]


_BOOL_TEXT = {False: "false", True: "true"}


def _nested_pieces(frame: pd.DataFrame, prefix: str, columns: list[str]) -> list[str]:
    """',"propensity":{...}' (or uplift, ...) per row: the strategies with a value, sorted; '' when none."""
    cells = []
    for column in columns:
        values = frame[column].to_numpy(dtype=float)
        head = canonical(column[len(prefix):]) + ":"
        cells.append([("," + head + float.__repr__(v)) if v == v else "" for v in values.tolist()])
    out = []
    for parts in zip(*cells):
        body = "".join(parts)
        out.append("," + canonical(prefix[:-1]) + ":{" + body[1:] + "}" if body else "")
    return out


class Template:
    """Canonical JSON of a structure whose some values vary per row, split once into literal pieces.

    Build it from a structure holding `Template.slot(name)` markers where row values go; then
    `fill(columns)` gives each row's text from per-row JSON texts of those slots. Markers carry a
    NUL character, which canonical JSON only writes escaped, so no data value can imitate one.
    """

    _MARK = "\x00slot:"

    @classmethod
    def slot(cls, name: str) -> str:
        return f"{cls._MARK}{name}\x00"

    def __init__(self, structure: Any):
        text = canonical(structure)
        escaped = canonical(self._MARK)[1:-1]  # how canonical writes the marker's prefix
        self.pieces: list[str] = []
        self.slots: list[str] = []
        rest = text
        while True:
            at = rest.find('"' + escaped)
            if at < 0:
                self.pieces.append(sys.intern(rest))
                break
            end = rest.index('\\u0000"', at + 1 + len(escaped))
            # interned: a worker's thousands of pack templates share a few hundred distinct pieces
            self.pieces.append(sys.intern(rest[:at]))
            self.slots.append(sys.intern(rest[at + 1 + len(escaped):end]))
            rest = rest[end + len('\\u0000"'):]

    def fill(self, columns: dict[str, list[str]], rows: int, prefix: str = "") -> list[str]:
        """Each row's text, slot values taken from `columns[name][row]` (JSON texts), each text
        after `prefix` (a separator joined in without building a second string per row)."""
        if not self.slots:
            return [prefix + self.pieces[0]] * rows
        parts: list = []
        for at, (piece, name) in enumerate(zip(self.pieces, self.slots)):
            piece = prefix + piece if at == 0 else piece
            parts.append(repeat(piece, rows) if piece else None)
            parts.append(columns[name])
        parts.append(repeat(self.pieces[-1], rows) if self.pieces[-1] else None)
        return list(map("".join, zip(*(p for p in parts if p is not None))))

    def fill_one(self, values: dict[str, str]) -> str:
        """One row's text from its slot values (JSON texts)."""
        out = [self.pieces[0]]
        for name, piece in zip(self.slots, self.pieces[1:]):
            out.append(values[name])
            out.append(piece)
        return "".join(out)
