"""Load and validate an input snapshot (SPEC §2, ARCHITECTURE §1).

`load_snapshot(directory)` reads each contract table from `NAME.csv` or `NAME.parquet`,
checks every cell against engine.snapshot.contract (types, enums, empty cells, keys, references to
`subscribers`) and returns typed pandas frames — or raises one DiagnosticError carrying every
problem found, each naming file, line (CSV physical line, header = 1; for Parquet row + 1,
so it reads the same), column and the bad value.

The input rules of engine.snapshot.rules (msisdn format, no control characters, cell and line
length, non-negative counts and amounts, no duplicate headers) are checked in the same pass.

Validation is columnar: cells stay Arrow strings until a vectorised check (regex, set
membership, cast) has passed for the whole column, so a 10M-row usage table validates in
seconds. Line numbers assume one record per physical line (no newlines inside quoted cells).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from engine.snapshot import contract
from engine.snapshot.contract import TABLES, Column, Table
from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.snapshot import rules
from engine.snapshot.cells import Bad, mask, parse_column

# Tables whose msisdn must exist in subscribers (cheap hash lookup, reported with the line).
REFERENCING = ("subscriptions", "usage_monthly", "handset_changes", "lists")
MAX_PER_FILE = 50  # problems listed per file; the rest are counted in one line


@dataclass
class Snapshot:
    """A validated snapshot: contract columns only, in file order, typed per ARCHITECTURE §1."""

    directory: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    # Derived lookups later stages may share (e.g. the msisdn hash index); tables are read-only.
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


@dataclass
class _Raw:
    """One table as read from disk, before typing: Arrow columns plus where they came from."""

    file: str
    columns: dict[str, pa.ChunkedArray]
    positions: dict[str, int]  # column name -> 1-based position in the file
    rows: int
    line_offset: int  # line of row 0: 2 (CSV header is line 1; Parquet row n is reported as line n + 1)
    unit: str  # "line" or "row", used in messages
    source: Path | None = None  # the CSV file, re-read for line numbers only when there is an error
    _lines: np.ndarray | None = field(default=None, repr=False)
    encoded: dict[str, pa.DictionaryArray] = field(default_factory=dict)  # cache: column -> codes

    def line(self, row: int) -> int:
        """The line a person looks at for row `row` (0-based)."""
        if self.source is None:
            return int(row) + self.line_offset
        if self._lines is None:  # the reader skips blank lines, so map rows to physical lines
            self._lines = _data_lines(self.source.read_bytes())
        return int(self._lines[row])


def _encoded(raw: _Raw, name: str) -> pa.DictionaryArray:
    """Dictionary codes of a raw column, computed once (shared by key checks and conversion)."""
    if name not in raw.encoded:
        raw.encoded[name] = pc.dictionary_encode(raw.columns[name].combine_chunks())
    return raw.encoded[name]


def _to_object(raw: _Raw, name: str, strings: pa.ChunkedArray) -> np.ndarray:
    """Arrow strings -> numpy object array of str (None for nulls).

    Going through dictionary codes makes one Python str per distinct value instead of one per
    row: several times faster for msisdn/service/month columns of 10M rows.
    """
    same = strings is raw.columns[name]
    codes = _encoded(raw, name) if same else pc.dictionary_encode(strings.combine_chunks())
    words = np.append(codes.dictionary.to_numpy(zero_copy_only=False), None).astype(object)
    index = pc.fill_null(codes.indices, len(words) - 1).to_numpy()
    return words[index]


def load_snapshot(directory: str | Path, tables: list[str] | None = None) -> Snapshot:
    """Read and validate the snapshot in `directory`; raise DiagnosticError with every problem.

    `tables` limits loading to those table names (required ones are then required only if
    named); referential checks against `subscribers` run when it is loaded too.
    """
    directory = Path(directory)
    names = list(tables) if tables is not None else list(TABLES)
    diags: list[Diagnostic] = []
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise ValueError(f"unknown table(s): {', '.join(unknown)}")
    if not directory.is_dir():
        raise DiagnosticError([Diagnostic("DC000", f"snapshot folder '{directory}' does not exist", file=str(directory),
                                          hint="pass the folder holding subscribers.csv, subscriptions.csv, …")])
    snapshot = Snapshot(directory)
    raws: dict[str, _Raw] = {}
    for name in names:
        table = TABLES[name]
        raw, problems = _read(directory, table)
        diags.extend(problems)
        if raw is None:
            continue
        raws[name] = raw
        frame, problems = _typed(table, raw)
        diags.extend(problems)
        if frame is not None:
            snapshot.tables[name] = frame
    if "subscribers" in snapshot.tables:  # only typed tables: a wrongly typed msisdn was reported above
        known = raws["subscribers"].columns["msisdn"]
        for name in REFERENCING:
            if name in snapshot.tables:
                diags.extend(_check_references(raws[name], known))
    if diags:
        raise DiagnosticError(diags)
    return snapshot


def check_snapshot(directory: str | Path) -> dict[str, int]:
    """Validate a snapshot; return table name -> row count (raises DiagnosticError if invalid)."""
    snapshot = load_snapshot(directory)
    return {name: len(frame) for name, frame in snapshot.tables.items()}


# --- reading -------------------------------------------------------------------------------


def _read(directory: Path, table: Table) -> tuple[_Raw | None, list[Diagnostic]]:
    csv_path, pq_path = directory / f"{table.name}.csv", directory / f"{table.name}.parquet"
    if csv_path.exists() and pq_path.exists():
        return None, [Diagnostic(
            "DC001", f"both {csv_path.name} and {pq_path.name} exist", file=str(csv_path),
            hint="keep one file per table")]
    if csv_path.exists():
        return _read_csv(csv_path, table)
    if pq_path.exists():
        return _read_parquet(pq_path, table)
    if table.optional:
        return None, []
    return None, [Diagnostic(
        "DC002", f"required table '{table.name}' is missing", file=str(csv_path),
        hint=f"add {table.name}.csv or {table.name}.parquet to {directory}")]


def _missing_columns(path: Path, table: Table, header: list[str]) -> list[Diagnostic]:
    return [
        Diagnostic("DC003", f"required column '{name}' is missing", file=str(path), line=1, column=1,
                   path=name, hint=f"the header needs: {', '.join(table.column_names)}")
        for name in table.column_names if name not in header and not table.column(name).optional
    ]


def _duplicate_columns(path: Path, header: list[str]) -> list[Diagnostic]:
    """A column name given twice (input rule DC008): which of the two would be read is a guess."""
    first: dict[str, int] = {}
    diags = []
    for position, name in enumerate(header, start=1):
        if name in first:
            diags.append(Diagnostic(rules.DUPLICATE_HEADER, f"column '{name}' appears twice (columns {first[name]} "
                                    f"and {position})", file=str(path), line=1, column=position, path=name,
                                    hint="keep one column of each name"))
        else:
            first[name] = position
    return diags


def _long_lines(path: Path, data: bytes) -> list[Diagnostic]:
    """Lines Arrow cannot read because one is longer than its block (input rule DC033)."""
    lines = rules.long_lines(data)
    return [Diagnostic(rules.LINE_TOO_LONG, f"line is longer than {rules.MAX_LINE_BYTES:,} bytes", file=str(path),
                       line=n, column=1, hint=rules.HINTS[rules.TOO_LONG]) for n in lines[:MAX_PER_FILE]]


def _read_csv(path: Path, table: Table) -> tuple[_Raw | None, list[Diagnostic]]:
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # tolerate the BOM spreadsheet tools write
    end = data.find(b"\n")
    first_line = data[: end if end >= 0 else len(data)]  # slicing bytes copies: only the header
    bad_bytes = _utf8_problem(path, first_line)
    if bad_bytes:
        return None, bad_bytes
    first = first_line.decode("utf-8").rstrip("\r")
    if not first.strip():
        return None, [Diagnostic("DC005", "the file has no header row", file=str(path), line=1,
                                 hint=f"first line must name the columns: {', '.join(table.column_names)}")]
    header = next(csv.reader(io.StringIO(first)))
    table = table.present_in(header)  # optional columns the file leaves out (contract.Column.optional)
    missing = _missing_columns(path, table, header) + _duplicate_columns(path, header)
    if missing:
        return None, missing
    bad_rows: list[tuple[int | None, str]] = []

    def _invalid(row) -> str:
        bad_rows.append((row.number, row.text))
        return "skip"

    try:
        arrow = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(invalid_row_handler=_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                include_columns=list(table.column_names),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        # Arrow checks UTF-8 while reading but cannot say where; only then is Python asked to find it.
        bad_bytes = _utf8_problem(path, data) or _long_lines(path, data)
        if bad_bytes:
            return None, bad_bytes
        return None, [Diagnostic("DC006", f"cannot parse CSV: {exc}", file=str(path),
                                 hint="check quoting and the number of fields per line")]
    diags = []
    if len(bad_rows) > MAX_PER_FILE:
        diags.append(Diagnostic("DC099", f"… {len(bad_rows) - MAX_PER_FILE} more problems in this file",
                                file=str(path), line=_find_line(data, bad_rows[MAX_PER_FILE - 1][1]), column=1,
                                hint="fix the problems above and check again"))
    for _, text in bad_rows[:MAX_PER_FILE]:
        line = _find_line(data, text)
        diags.append(Diagnostic(
            "DC006", f"line has the wrong number of fields: {text[:80]!r}", file=str(path), line=line,
            hint=f"each line needs {len(header)} comma-separated fields like the header"))
    if diags:
        return None, diags
    return _Raw(
        file=str(path),
        columns={name: arrow.column(name) for name in table.column_names},
        positions={name: header.index(name) + 1 for name in table.column_names},
        rows=arrow.num_rows, line_offset=2, unit="line", source=path,
    ), []


def _data_lines(data: bytes) -> np.ndarray:
    """Line numbers of the non-blank lines after the header (the rows Arrow returns)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = np.frombuffer(data, dtype=np.uint8)
    ends = np.append(np.flatnonzero(text == 10), len(text))
    starts = np.append(0, ends[:-1] + 1)
    width = ends - starts
    blank = (width == 0) | ((width == 1) & (text[np.minimum(starts, max(len(text) - 1, 0))] == 13))
    numbers = np.arange(1, len(ends) + 1)
    return numbers[1:][~blank[1:]]


def _invalid_utf8_columns(path: Path, arrow: pa.Table, header: list[str]) -> list[Diagnostic]:
    """Parquet string columns whose bytes are not UTF-8 (Parquet writers do not check; Arrow's
    full validation does, in C, column by column)."""
    diags = []
    for name in arrow.column_names:
        column = arrow.column(name)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        try:
            column.validate(full=True)
        except pa.ArrowInvalid:
            diags.append(Diagnostic("DC004", f"column '{name}' holds bytes that are not valid UTF-8", file=str(path),
                                    line=1, column=header.index(name) + 1, path=name,
                                    hint="write text columns as UTF-8 strings"))
    return diags


def _utf8_problem(path: Path, data: bytes) -> list[Diagnostic]:
    """A diagnostic naming the line of the first bytes that are not UTF-8 (empty if all are)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return [Diagnostic("DC004", f"bytes {data[exc.start:exc.end]!r} are not valid UTF-8", file=str(path),
                           line=line, hint="save the file as UTF-8 (spreadsheets: 'CSV UTF-8')")]
    return []


def _find_line(data: bytes, text: str) -> int | None:
    """The physical line holding exactly `text` (Arrow's own row numbers are unreliable when
    parsing in parallel)."""
    needle = b"\n" + text.encode("utf-8")
    at = data.find(needle)
    while at >= 0:
        end = at + len(needle)
        if end == len(data) or data[end:end + 1] in (b"\n", b"\r"):
            return data.count(b"\n", 0, at + 1) + 1
        at = data.find(needle, at + 1)
    return None


def _read_parquet(path: Path, table: Table) -> tuple[_Raw | None, list[Diagnostic]]:
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError, ValueError) as exc:  # ValueError: names that are not UTF-8
        return None, [Diagnostic("DC007", f"cannot read Parquet file: {exc}", file=str(path),
                                 hint="write it with pyarrow or pandas .to_parquet()")]
    header = list(schema.names)
    table = table.present_in(header)  # optional columns the file leaves out (contract.Column.optional)
    missing = _missing_columns(path, table, header) + _duplicate_columns(path, header)
    if missing:
        return None, missing
    try:
        arrow = pq.read_table(path, columns=list(table.column_names))
    except (pa.ArrowException, OSError, ValueError) as exc:  # a valid footer over broken pages
        return None, [Diagnostic("DC007", f"cannot read Parquet file: {exc}", file=str(path),
                                 hint="write it with pyarrow or pandas .to_parquet()")]
    broken = _invalid_utf8_columns(path, arrow, header)
    if broken:
        return None, broken
    return _Raw(
        file=str(path),
        columns={name: arrow.column(name) for name in table.column_names},
        positions={name: header.index(name) + 1 for name in table.column_names},
        rows=arrow.num_rows, line_offset=2, unit="row",
    ), []


# --- table-level checks ------------------------------------------------------------------


def _typed(table: Table, raw: _Raw) -> tuple[pd.DataFrame | None, list[Diagnostic]]:
    problems = _Problems(raw)
    series = {}
    for column in table.columns:
        if column.name not in raw.columns:  # an optional column the file leaves out
            continue
        values = raw.columns[column.name]
        bad = rules.check_cells(column, values)  # input rules on the text (engine.snapshot.rules)
        result, typing_bad = parse_column(column, values)
        bad += typing_bad
        if result is not None:
            bad += rules.check_values(column, result)
        for b in bad:
            problems.add_cells(column, values, b)
        if result is not None and not bad:
            if isinstance(result, pa.ChunkedArray):
                result = _to_object(raw, column.name, result)
            series[column.name] = pd.Series(result, index=pd.RangeIndex(raw.rows), name=column.name, copy=False,
                                            dtype=object if isinstance(result, np.ndarray) and result.dtype == object else None)
    if not problems.total and table.key:
        _check_keys(table, raw, problems)
    if problems.total:
        return None, problems.diagnostics()
    frame = pd.DataFrame(index=pd.RangeIndex(raw.rows))
    for name, values in series.items():  # column by column: avoids copying into consolidated blocks
        frame[name] = values
    return frame, []


class _Problems:
    """The problems of one file: the first MAX_PER_FILE by line, and a count of all of them."""

    def __init__(self, raw: _Raw):
        self.raw = raw
        self.items: list[Diagnostic] = []
        self.total = 0

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
        for row in bad.rows[:MAX_PER_FILE]:
            value = values[int(row)].as_py()
            shown = repr(value) if not isinstance(value, str) or len(value) <= 60 else \
                f"{value[:40]!r}… ({len(value):,} characters)"
            message = (f"empty cell, expected {bad.expected}" if value in ("", None)
                       else f"{shown} is not {bad.expected}")
            if raw.unit == "row":
                message = f"row {int(row) + 1}: {message}"
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


def _check_keys(table: Table, raw: _Raw, problems: _Problems) -> None:
    """Duplicate keys: a cheap Arrow group-count first; row positions only when there are any."""
    if raw.rows == 0:
        return
    # One int64 per row from the columns' dictionary codes, then a hash-table duplicate check.
    key = np.zeros(raw.rows, dtype=np.int64)
    for name in table.key:
        codes = _encoded(raw, name)
        key = key * (len(codes.dictionary) + 1) + pc.fill_null(codes.indices, -1).to_numpy().astype(np.int64)
    ordered = np.sort(key)
    if not (ordered[1:] == ordered[:-1]).any():
        return
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


def _number(raw: _Raw, row: int) -> int:
    """How a person counts this record: CSV line, or 1-based Parquet row."""
    return raw.line(row) if raw.unit == "line" else int(row) + 1


def _check_references(raw: _Raw, known: pa.ChunkedArray) -> list[Diagnostic]:
    """Rows whose msisdn is not in subscribers (one hash lookup over the column)."""
    values = raw.columns["msisdn"]
    missing = np.flatnonzero(~mask(pc.is_in(values, value_set=known.combine_chunks())))
    problems = _Problems(raw)
    problems.total = len(missing)
    for row in missing[:MAX_PER_FILE]:
        problems.items.append(Diagnostic(
            "DC012", f"msisdn {values[int(row)].as_py()!r} ({raw.unit} {_number(raw, row)}) is not in subscribers",
            file=raw.file,
            line=raw.line(row), column=raw.positions["msisdn"], path="msisdn",
            hint="add the subscriber to subscribers or remove this " + raw.unit))
    return problems.diagnostics() if len(missing) else []


# --- one file against a table contract (used by other files people hand us) -----------------


@dataclass
class TableFile:
    """One CSV/Parquet file checked against a `Table` contract: typed frame plus where rows are."""

    frame: pd.DataFrame
    raw: _Raw

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
    reader = _read_parquet if path.suffix.lower() == ".parquet" else _read_csv
    raw, problems = reader(path, table)
    if raw is None:
        raise DiagnosticError(problems)
    frame, problems = _typed(table, raw)
    if problems:
        raise DiagnosticError(problems)
    return TableFile(frame, raw)
