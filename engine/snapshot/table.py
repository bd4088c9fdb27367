"""One table file of a snapshot, read whole: its typed frame or every problem (SPEC §2, ARCHITECTURE §1).

`load_table(directory, name, known)` is the verdict on one contract table's file (`NAME.csv` or
`NAME.parquet`): the reader (engine.snapshot.csvfile / parquetfile) gives the contract columns
as Arrow strings (or Parquet's types); every cell is checked against engine.snapshot.contract
(types, enums, empty cells) and the input rules of engine.snapshot.rules, then the key and the
references to `subscribers`; the frame comes back in compact dtypes (engine.snapshot.compact),
or the problems, each naming file, line (CSV physical line, header = 1; Parquet row + 1),
column and the bad value — the first MAX_PER_FILE by line and a DC099 count of the rest.

Validation is columnar: cells stay Arrow strings until a vectorised check (regex, set
membership, cast) has passed for the whole column; each column's Arrow strings are released
once it is typed (key columns after the key check).

This is the whole-file reference: a file read in parts (engine.snapshot.chunks, used by the
local loader for large files, engine.snapshot.inparts, and by the Spark night) is put back
together by the same functions (`_type_cells` per part, `_check_keys` and `_check_references`
on the whole) and held equal to it by tests/engine/snapshot/test_chunks.py and test_inparts.py.
`load_table_file` checks one file people hand us (feedback, work orders) against a `Table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.snapshot import contract
from engine.snapshot.compact import compact
from engine.snapshot.contract import TABLES, Column, Table
from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.snapshot import rules
from engine.snapshot.cells import Bad, mask, parse_column
from engine.snapshot.csvfile import read_csv
from engine.snapshot.parquetfile import read_parquet
from engine.snapshot.raw import MAX_PER_FILE, Raw

# Tables whose msisdn must exist in subscribers (cheap hash lookup, reported with the line).
REFERENCING = ("subscriptions", "usage_monthly", "handset_changes", "lists")


def _to_object(raw: Raw, name: str, strings: pa.ChunkedArray) -> np.ndarray:
    """Arrow strings -> numpy object array of str (None for nulls), for `load_table_file`.

    Going through dictionary codes makes one Python str per distinct value instead of one per
    row.
    """
    same = strings is raw.columns[name]
    codes = raw.dictionary(name) if same else pc.dictionary_encode(strings.combine_chunks())
    words = np.append(codes.dictionary.to_numpy(zero_copy_only=False), None).astype(object)
    index = pc.fill_null(codes.indices, len(words) - 1).to_numpy()
    return words[index]


def load_table(directory: Path, name: str, known: pd.Series | None = None) -> tuple[pd.DataFrame | None, list[Diagnostic]]:
    """One contract table of the snapshot folder `directory` (NAME.csv or NAME.parquet): its
    typed frame in compact dtypes, or None, and every problem found — with `known` (the typed
    subscribers' msisdn column) also the rows whose msisdn is not a subscriber's. What
    `load_snapshot` does for each table; the Spark night's executors call it on the one file
    they read (engine/spark/reading.py), so both report the same problems at the same lines."""
    table = TABLES[name]
    raw, diags = _read(Path(directory), table)
    if raw is None:
        return None, diags
    frame, problems = _typed(table, raw, compact_dtypes=True)
    diags = diags + problems
    if frame is not None and known is not None and name in REFERENCING:
        diags += _check_references(raw, frame["msisdn"], known)  # only typed tables: a bad msisdn was reported
    return frame, diags



# --- table-level checks ------------------------------------------------------------------


def _read(directory: Path, table: Table) -> tuple[Raw | None, list[Diagnostic]]:
    csv_path, pq_path = directory / f"{table.name}.csv", directory / f"{table.name}.parquet"
    if csv_path.exists() and pq_path.exists():
        return None, [Diagnostic(
            "DC001", f"both {csv_path.name} and {pq_path.name} exist", file=str(csv_path),
            hint="keep one file per table")]
    if csv_path.exists():
        return read_csv(csv_path, table)
    if pq_path.exists():
        return read_parquet(pq_path, table)
    if table.optional:
        return None, []
    return None, [Diagnostic(
        "DC002", f"required table '{table.name}' is missing", file=str(csv_path),
        hint=f"add {table.name}.csv or {table.name}.parquet to {directory}")]


def _typed(table: Table, raw: Raw, compact_dtypes: bool = False) -> tuple[pd.DataFrame | None, list[Diagnostic]]:
    """Type every column of `raw`; with `compact_dtypes` in the snapshot's compact form
    (engine.snapshot.compact), releasing each column's Arrow strings once typed."""
    frame, problems = _type_cells(table, raw, compact_dtypes)
    if problems.total:
        return None, problems.diagnostics()
    return frame, []


def _type_cells(table: Table, raw: Raw, compact_dtypes: bool = False, keys: bool = True) -> tuple[pd.DataFrame | None, "_Problems"]:
    """`_typed`'s work, with its problems before they are cut to MAX_PER_FILE (a part of a
    file, engine/snapshot/chunks.py, leaves the key check to the whole file: `keys=False`)."""
    problems = _Problems(raw)
    series = {}
    for column in table.columns:
        if column.name not in raw.columns:  # an optional column the file leaves out
            continue
        values = raw.columns[column.name]
        bad = rules.check_cells(column, values, encoded=lambda name=column.name: raw.dictionary(name))  # input rules on the text (engine.snapshot.rules)
        result, typing_bad = parse_column(column, values)
        bad += typing_bad
        if result is not None:
            bad += rules.check_values(column, result)
        else:
            problems.unparsed.add(column.name)  # its values were not checked (DC034/DC035)
        for b in bad:
            problems.add_cells(column, values, b)
        if result is not None and not bad and not problems.total:
            if compact_dtypes:
                cached = (lambda name=column.name: raw.dictionary(name)) if result is values else None
                result = compact(column, result, cached)
                if column.name not in table.key:
                    raw.columns[column.name] = None  # typed: its strings are not needed any more
            elif isinstance(result, pa.ChunkedArray):
                result = _to_object(raw, column.name, result)
            series[column.name] = pd.Series(result, index=pd.RangeIndex(raw.rows), name=column.name, copy=False,
                                            dtype=object if isinstance(result, np.ndarray) and result.dtype == object else None)
    if keys and not problems.total and table.key:
        _check_keys(table, raw, problems)
    raw.encoded.clear()
    if compact_dtypes:  # the snapshot keeps only the typed frame; `raw` still names lines and columns
        raw.columns = {}
    if problems.total:
        return None, problems
    frame = pd.DataFrame(index=pd.RangeIndex(raw.rows))
    for name, values in series.items():  # column by column: avoids copying into consolidated blocks
        frame[name] = values
    return frame, problems


class _Problems:
    """The problems of one file: the first MAX_PER_FILE by line, and a count of all of them."""

    def __init__(self, raw: Raw):
        self.raw = raw
        self.items: list[Diagnostic] = []
        self.total = 0
        self.counts: dict[tuple[str, str], int] = {}  # (column, code) -> cells, for parts of a file
        self.unparsed: set[str] = set()  # columns that failed typing (their values were not checked)

    def add(self, diag: Diagnostic, count: int = 1) -> None:
        self.items.append(diag)
        self.total += count

    def add_cells(self, column: Column, values: pa.ChunkedArray, bad: Bad) -> None:
        raw = self.raw
        hint = rules.HINTS.get(bad.code) or _hint(column, raw.unit)
        where = dict(file=raw.file, column=raw.positions[column.name], path=column.name, hint=hint)
        if bad.code == "DC027":  # the whole column has the wrong Parquet type
            self.add(Diagnostic(bad.code, f"column has the wrong type, expected {bad.expected}", line=1, **where))
            return
        self.total += len(bad.rows)
        self.counts[(column.name, bad.code)] = self.counts.get((column.name, bad.code), 0) + len(bad.rows)
        for row in bad.rows[:MAX_PER_FILE]:
            value = values[int(row)].as_py()
            shown = repr(value) if not isinstance(value, str) or len(value) <= 60 else \
                f"{value[:40]!r}… ({len(value):,} characters)"
            message = (f"empty cell, expected {bad.expected}" if value in ("", None)
                       else f"{shown} is not {bad.expected}")
            if raw.unit == "row":
                message = f"row {raw.number(row)}: {message}"
            self.items.append(Diagnostic(bad.code, message, line=raw.line(row), **where))

    def diagnostics(self) -> list[Diagnostic]:
        shown = sorted(self.items, key=Diagnostic.sort_key)[:MAX_PER_FILE]
        if self.total > len(shown):
            shown.append(Diagnostic(
                "DC099", f"… {self.total - len(shown)} more problems in this file", file=self.raw.file,
                line=shown[-1].line if shown else None, column=(shown[-1].column or 0) + 1 if shown else None,
                hint="fix the problems above and check again"))
        return shown


def _hint(column: Column, unit: str) -> str:
    if column.kind == contract.ENUM:
        return "allowed: " + ", ".join(column.values)
    return {
        contract.DATE: "write dates as YYYY-MM-DD, e.g. 2026-11-30",
        contract.MONTH: "write months as YYYY-MM, e.g. 2026-11",
        contract.INT: "write a whole number, e.g. 3",
        contract.FLOAT: "write a number, e.g. 12.5",
        contract.BOOL: "write true/false or 1/0",
    }.get(column.kind, "this column may not be empty; fill in the cell")


def _check_keys(table: Table, raw: Raw, problems: _Problems) -> None:
    """Duplicate keys: a cheap Arrow group-count first; row positions only when there are any."""
    if raw.rows == 0:
        return
    # One int64 per row from the columns' dictionary codes, sorted in place (one int64 per row
    # held: 15M rows at 1M subscribers); the rows of a duplicate only when there is one.
    ordered = _key(table, raw)
    ordered.sort()
    if not (ordered[1:] == ordered[:-1]).any():
        return
    del ordered
    key = _key(table, raw)
    duplicated = pd.Series(key).duplicated(keep=False).to_numpy()
    rows = np.flatnonzero(duplicated)
    dup = pd.DataFrame({name: raw.columns[name].take(pa.array(rows)).to_numpy(zero_copy_only=False)
                        for name in table.key}, index=rows)
    first_of: dict[tuple, int] = {}
    for row, key in zip(dup.index, dup.itertuples(index=False, name=None)):
        if key not in first_of:
            first_of[key] = row
            continue
        if problems.total >= MAX_PER_FILE:
            problems.total += 1
            continue
        shown = ", ".join(f"{n}={v!r}" for n, v in zip(table.key, key))
        unit = raw.unit
        problems.add(Diagnostic(
            "DC011", f"duplicate key ({shown}) on {unit}s {_number(raw, first_of[key])} and {_number(raw, row)}",
            file=raw.file, line=raw.line(row), column=raw.positions[table.key[0]], path=",".join(table.key),
            hint=f"each ({', '.join(table.key)}) may appear only once; remove or merge one of the {unit}s"))


def _key(table: Table, raw: Raw) -> np.ndarray:
    """One int64 per row combining the key columns' dictionary codes, built in place."""
    key = np.zeros(raw.rows, dtype=np.int64)
    for name in table.key:
        codes = raw.dictionary(name)
        key *= len(codes.dictionary) + 1
        key += pc.fill_null(codes.indices, -1).to_numpy()
    return key


def _number(raw: Raw, row: int) -> int:
    """How a person counts this record: CSV line, or 1-based Parquet row."""
    return raw.number(row)


def _check_references(raw: Raw, msisdn: pd.Series, known: pd.Series) -> list[Diagnostic]:
    """Rows whose msisdn is not in subscribers: one lookup of the distinct msisdns (the
    categories of both compact columns), then the rows whose code is unknown."""
    categories = msisdn.cat.categories
    absent = ~mask(pc.is_in(pa.array(categories.array), value_set=pa.array(known.cat.categories.array)))
    if not absent.any():
        return []
    codes = msisdn.cat.codes.to_numpy()
    missing = np.flatnonzero(absent[codes])
    problems = _Problems(raw)
    problems.total = len(missing)
    for row in missing[:MAX_PER_FILE]:
        problems.items.append(Diagnostic(
            "DC012", f"msisdn {categories[codes[row]]!r} ({raw.unit} {_number(raw, row)}) is not in subscribers",
            file=raw.file,
            line=raw.line(row), column=raw.positions["msisdn"], path="msisdn",
            hint="add the subscriber to subscribers or remove this " + raw.unit))
    return problems.diagnostics()


# --- one file against a table contract (used by other files people hand us) -----------------


@dataclass
class TableFile:
    """One CSV/Parquet file checked against a `Table` contract: typed frame plus where rows are."""

    frame: pd.DataFrame
    raw: Raw

    def line(self, row: int) -> int:
        """The CSV line (or Parquet row + 1) of 0-based row `row`."""
        return self.raw.line(row)

    def column(self, name: str) -> int:
        """The 1-based position of column `name` in the file."""
        return self.raw.positions[name]

    @property
    def file(self) -> str:
        return self.raw.file


def load_table_file(path: str | Path, table: Table) -> TableFile:
    """Read and type one file (`.csv` or `.parquet`) against `table`, with the snapshot's checks
    and diagnostics (DC codes, file:line:column); raise DiagnosticError with every problem."""
    path = Path(path)
    if not path.is_file():
        raise DiagnosticError([Diagnostic("DC000", f"file '{path}' does not exist", file=str(path),
                                          hint="pass a .csv or .parquet file")])
    reader = read_parquet if path.suffix.lower() == ".parquet" else read_csv
    raw, problems = reader(path, table)
    if raw is None:
        raise DiagnosticError(problems)
    frame, problems = _typed(table, raw)
    if problems:
        raise DiagnosticError(problems)
    return TableFile(frame, raw)
