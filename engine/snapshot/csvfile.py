"""Reading one CSV table of a snapshot (ARCHITECTURE §1): header, UTF-8, field counts, long lines.

Arrow reads the file itself (multi-threaded, from the path: the file's bytes are never held
as one Python object); every cell comes back as an Arrow string for the typing pass. Only
when something is wrong is the file read again, to name the line: the first bytes that are
not UTF-8 (DC004), lines Arrow cannot read because they are longer than its block (DC033),
lines with the wrong number of fields (DC006, found by their text since Arrow's own row
numbers are unreliable when parsing in parallel). A UTF-8 byte-order mark is tolerated.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from engine.base.diagnostics import Diagnostic
from engine.snapshot import rules
from engine.snapshot.contract import Table
from engine.snapshot.raw import MAX_PER_FILE, Raw, duplicate_columns, missing_columns

BOM = b"\xef\xbb\xbf"


def _first_line(path: Path) -> bytes:
    """The header line's bytes (without the BOM), read without loading the file."""
    with path.open("rb") as handle:
        head = handle.readline()
    head = head[len(BOM):] if head.startswith(BOM) else head
    return head.rstrip(b"\n")


def _data(path: Path) -> bytes:
    data = path.read_bytes()
    return data[len(BOM):] if data.startswith(BOM) else data


def _shifted(line: int | None, shift: int) -> int | None:
    """A line of a part of a file (header + some of its lines) as the whole file's line."""
    return line + shift if line is not None and line > 1 else line


def _long_lines(path: Path, data: bytes, shift: int = 0) -> list[Diagnostic]:
    """Lines Arrow cannot read because one is longer than its block (input rule DC033)."""
    lines = rules.long_lines(data)
    return [Diagnostic(rules.LINE_TOO_LONG, f"line is longer than {rules.MAX_LINE_BYTES:,} bytes", file=str(path),
                       line=_shifted(n, shift), column=1, hint=rules.HINTS[rules.TOO_LONG]) for n in lines[:MAX_PER_FILE]]


def utf8_problem(path: Path, data: bytes, shift: int = 0) -> list[Diagnostic]:
    """A diagnostic naming the line of the first bytes that are not UTF-8 (empty if all are)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _shifted(data.count(b"\n", 0, exc.start) + 1, shift)
        return [Diagnostic("DC004", f"bytes {data[exc.start:exc.end]!r} are not valid UTF-8", file=str(path),
                           line=line, hint="save the file as UTF-8 (spreadsheets: 'CSV UTF-8')")]
    return []


def find_line(data: bytes, text: str) -> int | None:
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


def read_csv(path: Path, table: Table, line_shift: int = 0,
             report: dict | None = None) -> tuple[Raw | None, list[Diagnostic]]:
    """The contract columns of one CSV file as Arrow strings, or the problems that stop it being read.

    A part of a larger file (engine/snapshot/chunks.py) is the file's header line and some of
    its lines: `line_shift` makes its lines the file's (part line n > 1 is file line n +
    line_shift), and `report`, when given, receives what the whole file's verdict needs: the
    stage that stopped the reading ("header", "raised": Arrow refused the bytes, "fields": lines
    with the wrong number of fields, as `field_rows` (line, text) and `field_total`)."""
    report = {} if report is None else report
    report["stage"] = "header"
    first_line = _first_line(path)
    bad_bytes = utf8_problem(path, first_line)
    if bad_bytes:
        return None, bad_bytes
    first = first_line.decode("utf-8").rstrip("\r")
    if not first.strip():
        return None, [Diagnostic("DC005", "the file has no header row", file=str(path), line=1,
                                 hint=f"first line must name the columns: {', '.join(table.column_names)}")]
    try:
        header = next(csv.reader(io.StringIO(first)))
    except csv.Error as error:  # a carriage return or NUL inside the header row
        return None, [Diagnostic("DC005", f"the header row cannot be read: {error}", file=str(path), line=1,
                                 hint=f"first line must name the columns, separated by commas, without control "
                                      f"characters: {', '.join(table.column_names)}")]
    table = table.present_in(header)  # optional columns the file leaves out (contract.Column.optional)
    missing = missing_columns(path, table, header) + duplicate_columns(path, header)
    if missing:
        return None, missing
    bad_rows: list[tuple[int | None, str]] = []

    def _invalid(row) -> str:
        bad_rows.append((row.number, row.text))
        return "skip"

    try:
        arrow = pacsv.read_csv(
            path,
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
        report["stage"] = "raised"
        data = _data(path)
        bad_bytes = utf8_problem(path, data, line_shift) or _long_lines(path, data, line_shift)
        if bad_bytes:
            return None, bad_bytes
        return None, [Diagnostic("DC006", f"cannot parse CSV: {exc}", file=str(path),
                                 hint="check quoting and the number of fields per line")]
    if bad_rows:
        report["stage"] = "fields"
        data = _data(path)
        found = [(_shifted(find_line(data, text), line_shift), text) for _, text in bad_rows[:MAX_PER_FILE]]
        report.update(field_rows=found, field_total=len(bad_rows), fields=len(header))
        return None, wrong_field_counts(str(path), found, len(bad_rows), len(header))
    report["stage"] = None
    return Raw(
        file=str(path),
        columns={name: arrow.column(name) for name in table.column_names},
        positions={name: header.index(name) + 1 for name in table.column_names},
        rows=arrow.num_rows, line_offset=2, unit="line", source=path, line_shift=line_shift,
    ), []


def wrong_field_counts(file: str, found: list[tuple[int | None, str]], total: int, fields: int) -> list[Diagnostic]:
    """DC006 for the first lines (line, text) with the wrong number of fields, of `total`."""
    diags = []
    if total > MAX_PER_FILE:
        diags.append(Diagnostic("DC099", f"… {total - MAX_PER_FILE} more problems in this file",
                                file=file, line=found[MAX_PER_FILE - 1][0], column=1,
                                hint="fix the problems above and check again"))
    for line, text in found[:MAX_PER_FILE]:
        diags.append(Diagnostic(
            "DC006", f"line has the wrong number of fields: {text[:80]!r}", file=file, line=line,
            hint=f"each line needs {fields} comma-separated fields like the header"))
    return diags
