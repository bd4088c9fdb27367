"""Reading one Parquet table of a snapshot (ARCHITECTURE §1): the footer, the contract's columns,
and UTF-8 checked in C. Problems are reported like CSV ones, with "row n" for Parquet row n
(line n + 1, so file:line reads the same for both formats).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from engine.base.diagnostics import Diagnostic
from engine.snapshot.contract import Table
from engine.snapshot.raw import Raw, duplicate_columns, missing_columns


def _unreadable(path: Path, exc: Exception) -> list[Diagnostic]:
    return [Diagnostic("DC007", f"cannot read Parquet file: {exc}", file=str(path),
                       hint="write it with pyarrow or pandas .to_parquet()")]


def invalid_utf8_columns(path: Path, arrow: pa.Table, header: list[str]) -> list[Diagnostic]:
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


def read_parquet(path: Path, table: Table, row_group: int | None = None, first_row: int = 0,
                 source=None) -> tuple[Raw | None, list[Diagnostic]]:
    """The contract columns of one Parquet file, or the problems that stop it being read.

    With `row_group`, only that row group (a part of the file, engine/snapshot/chunks.py),
    whose first row is the file's row `first_row`; `source` (an open file) is read instead of
    `path`, which then only names the file in diagnostics."""
    source = path if source is None else source
    try:
        schema = pq.read_schema(source)
    except (pa.ArrowException, OSError, ValueError) as exc:  # ValueError: names that are not UTF-8
        return None, _unreadable(path, exc)
    header = list(schema.names)
    table = table.present_in(header)  # optional columns the file leaves out (contract.Column.optional)
    missing = missing_columns(path, table, header) + duplicate_columns(path, header)
    if missing:
        return None, missing
    try:
        if row_group is None:
            arrow = pq.read_table(source, columns=list(table.column_names))
        else:
            arrow = pq.ParquetFile(source).read_row_group(row_group, columns=list(table.column_names))
    except (pa.ArrowException, OSError, ValueError) as exc:  # a valid footer over broken pages
        return None, _unreadable(path, exc)
    broken = invalid_utf8_columns(path, arrow, header)
    if broken:
        return None, broken
    return Raw(
        file=str(path),
        columns={name: arrow.column(name) for name in table.column_names},
        positions={name: header.index(name) + 1 for name in table.column_names},
        rows=arrow.num_rows, line_offset=2, unit="row", first_row=first_row,
    ), []
