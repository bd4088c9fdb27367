"""One table as read from disk, before typing (shared by the CSV and Parquet readers).

`Raw` holds the file's contract columns as Arrow strings (or Parquet's native types), the
1-based position of each column in the file, and how a row maps to the line a person looks at:
CSV physical lines (header = 1; blank lines skipped by the reader are counted, found only when
a problem must be reported), Parquet rows + 1. The header checks every reader applies (missing
columns DC003, duplicate headers DC008) live here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.base.diagnostics import Diagnostic
from engine.snapshot import rules
from engine.snapshot.contract import Table

MAX_PER_FILE = 50  # problems listed per file; the rest are counted in one line


@dataclass
class Raw:
    """One table as read from disk, before typing: Arrow columns plus where they came from."""

    file: str
    columns: dict[str, pa.ChunkedArray]
    positions: dict[str, int]  # column name -> 1-based position in the file
    rows: int
    line_offset: int  # line of row 0: 2 (CSV header is line 1; Parquet row n is reported as line n + 1)
    unit: str  # "line" or "row", used in messages
    source: Path | None = None  # the CSV file, re-read for line numbers only when there is an error
    # A part of a larger file (engine/snapshot/chunks.py): its CSV lines are the file's lines
    # + line_shift (header excepted); its Parquet rows are the file's rows from first_row on.
    line_shift: int = 0
    first_row: int = 0
    _lines: np.ndarray | None = field(default=None, repr=False)
    encoded: dict[str, pa.DictionaryArray] = field(default_factory=dict)  # cache: column -> codes

    def line(self, row: int) -> int:
        """The line a person looks at for row `row` (0-based)."""
        if self.source is None:
            return int(row) + self.first_row + self.line_offset
        return int(self.data_lines()[row]) + self.line_shift

    def data_lines(self) -> np.ndarray:
        """The physical line of every row in the CSV `source` (before `line_shift`)."""
        if self._lines is None:  # the reader skips blank lines, so map rows to physical lines
            self._lines = data_lines(self.source.read_bytes())
        return self._lines

    def number(self, row: int) -> int:
        """How a person counts this record: CSV line, or 1-based Parquet row."""
        return self.line(row) if self.unit == "line" else int(row) + self.first_row + 1

    def dictionary(self, name: str) -> pa.DictionaryArray:
        """Dictionary codes of a column, computed once (shared by key checks and conversion)."""
        if name not in self.encoded:
            self.encoded[name] = pc.dictionary_encode(self.columns[name].combine_chunks())
        return self.encoded[name]


def data_lines(data: bytes) -> np.ndarray:
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


def missing_columns(path: Path, table: Table, header: list[str]) -> list[Diagnostic]:
    return [
        Diagnostic("DC003", f"required column '{name}' is missing", file=str(path), line=1, column=1,
                   path=name, hint=f"the header needs: {', '.join(table.column_names)}")
        for name in table.column_names if name not in header and not table.column(name).optional
    ]


def duplicate_columns(path: Path, header: list[str]) -> list[Diagnostic]:
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
