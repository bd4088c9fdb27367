"""Load and validate an input snapshot (SPEC §2, ARCHITECTURE §1).

`load_snapshot(directory)` reads each contract table from `NAME.csv` (engine.snapshot.csvfile)
or `NAME.parquet` (engine.snapshot.parquetfile), checks every cell against
engine.snapshot.contract (types, enums, empty cells, keys, references to `subscribers`) and
returns typed pandas frames in compact dtypes without Python objects (engine.snapshot.compact)
— or raises one DiagnosticError carrying every problem found, each naming file, line (CSV
physical line, header = 1; for Parquet row + 1, so it reads the same), column and the bad value.
The input rules of engine.snapshot.rules (msisdn format, no control characters, cell and line
length, non-negative counts and amounts, no duplicate headers) are checked in the same pass.

One table's verdict is engine.snapshot.table.`load_table` (re-exported here): validation is
columnar, cells stay Arrow strings until a vectorised check has passed for the whole column,
each column's strings are released once typed. A table file larger than the part size
(`REKINDLE_LOAD_PART_BYTES`, default 64 MiB; DC040 when it is not a whole number > 0) is read
in line-aligned parts one after the other (Parquet: by row group) and put back together with
exactly the whole-file verdict (engine.snapshot.inparts, engine.snapshot.chunks): the loading
peak is the typed tables plus one part's bytes and Arrow strings, not the largest file's raw
strings (1M subscribers, usage_monthly.csv 747 MB: docs/SCALE.md "Loading in parts").
Line numbers assume one record per physical line (a line break inside a quoted cell is DC031).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.snapshot.contract import TABLES
from engine.snapshot.inparts import part_bytes, read_table
from engine.snapshot.raw import MAX_PER_FILE
from engine.snapshot.table import REFERENCING, TableFile, load_table, load_table_file

__all__ = ["MAX_PER_FILE", "REFERENCING", "Snapshot", "TableFile", "check_folder", "check_snapshot", "load_snapshot", "load_table",
           "load_table_file"]


@dataclass
class Snapshot:
    """A validated snapshot: contract columns only, in file order, typed per ARCHITECTURE §1."""

    directory: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    # Derived lookups later stages may share (e.g. the join index of engine.facts.keys); tables are read-only.
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def load_snapshot(directory: str | Path, tables: list[str] | None = None, part_size: int | None = None) -> Snapshot:
    """Read and validate the snapshot in `directory`; raise DiagnosticError with every problem.

    `tables` limits loading to those table names (required ones are then required only if
    named); referential checks against `subscribers` run when it is loaded too. Files larger
    than `part_size` bytes (default REKINDLE_LOAD_PART_BYTES or 64 MiB) are read in parts.
    """
    directory = Path(directory)
    size = part_bytes(part_size)
    names = list(tables) if tables is not None else list(TABLES)
    diags: list[Diagnostic] = []
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise ValueError(f"unknown table(s): {', '.join(unknown)}")
    check_folder(directory)
    snapshot = Snapshot(directory)
    # subscribers first: the other tables' msisdns are checked against it as they are loaded
    for name in sorted(names, key=lambda n: n != "subscribers"):
        known = snapshot.tables["subscribers"]["msisdn"] if "subscribers" in snapshot.tables else None
        frame, problems = read_table(directory, name, known, size)
        diags.extend(problems)
        if frame is not None:
            snapshot.tables[name] = frame
    if diags:
        raise DiagnosticError(diags)
    snapshot.tables = {name: snapshot.tables[name] for name in names if name in snapshot.tables}  # contract order
    return snapshot


def check_folder(directory: Path) -> None:
    """DC000 when the snapshot folder does not exist (a URI gets a word on --engine spark)."""
    if not directory.is_dir():
        raise DiagnosticError([Diagnostic("DC000", f"snapshot folder '{directory}' does not exist", file=str(directory),
                                          hint="pass the folder holding subscribers.csv, subscriptions.csv, …"
                                          + URI_HINT * _looks_like_uri(directory))])


URI_HINT = "; a URI (hdfs://, s3a://, file://) is read by `rekindle run --engine spark` only"


def _looks_like_uri(directory: Path) -> bool:
    return str(directory).split(":", 1)[0] in ("file", "hdfs", "s3a", "s3", "gs", "abfs", "abfss", "viewfs")


def check_snapshot(directory: str | Path) -> dict[str, int]:
    """Validate a snapshot; return table name -> row count (raises DiagnosticError if invalid)."""
    snapshot = load_snapshot(directory)
    return {name: len(frame) for name, frame in snapshot.tables.items()}


