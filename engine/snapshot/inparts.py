"""Large table files read by the local loader in parts, one after the other (issue 12).

Read whole, a table file's peak is its raw Arrow strings plus the typed frame being built: at
1M subscribers usage_monthly.csv is 747 MB and loading the snapshot peaked at 3.2 GB in one
process. `read_table` gives the verdict of `engine.snapshot.table.load_table` (the same typed
frame, the same diagnostics: codes, files, lines, columns, messages, order, DC099 counts) with
a file larger than the part size read in parts through engine.snapshot.chunks (`load_part` per
part, `merge_parts` on all of them, as the Spark night does), so the peak is about the typed
tables plus one part's bytes and Arrow strings.

- **CSV**: the file is cut into runs of whole lines of about the part size: a part is read
  (`part size` bytes, then the rest of the line they end in), written after the file's header
  line (as it is in the file, without a byte-order mark; the first part is the file's first
  bytes, header and mark included) to one file in a private temporary folder, read by
  `load_part` knowing the file line of its first line (one plus the line breaks before it,
  counted as the parts are read), and deleted before the next part is read. The folder is
  removed in a `finally` (on a kill -9 it stays in the OS temporary folder, `rekindle-load-*`).
  The snapshot file is only read, never held whole; its fingerprint (engine/night/run.py) hashes
  the file itself, unchanged.
- A part that cannot stand for its lines (`Part.whole`: a quoted field across its edge, or a
  line break inside a quoted cell) sends the file to the whole-file reader, which reports it
  (a line break in a cell is DC031).
- When the header is wrong (every part has the same one), the first part's verdict is the file's
  and the other parts are not read.
- **Parquet**: a file larger than the part size with more than one row group is read one row
  group after the other (`load_part(row_group=…)`); one row group, or a footer that cannot be
  read, goes to the whole-file reader.

The part size is `REKINDLE_LOAD_PART_BYTES` (bytes; default 64 MiB): a file larger than it is
read in parts of about that size. A value that is not a whole number > 0 stops the load with
DC040 naming the variable.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.base.diagnostics import Diagnostic
from engine.base.envnumber import positive_number
from engine.base.memory import release_unused
from engine.snapshot.chunks import Part, load_part, merge_parts
from engine.snapshot.csvfile import BOM
from engine.snapshot.table import load_table

PART_ENV = "REKINDLE_LOAD_PART_BYTES"
PART_LINES = 600_000  # at most about this many lines a part when the split reads a table (`lines_capped`)
DEFAULT_PART = 64 << 20  # 1M: the loading peak of 128 MiB parts was one part higher (docs/SCALE.md)
BAD_PART_SIZE = "DC040"


def part_bytes(given: int | None = None) -> int:
    """The part size in force: `given`, else REKINDLE_LOAD_PART_BYTES, else 64 MiB; DC040 when
    the variable is not a whole number of bytes > 0."""
    if given is not None:
        if int(given) < 1:
            raise ValueError(f"part size must be at least 1 byte, got {given}")
        return int(given)
    return positive_number(PART_ENV, DEFAULT_PART, code=BAD_PART_SIZE, unit="bytes",
                           hint=f"unset it for {DEFAULT_PART:,} bytes (64 MiB), or give a whole number > 0, "
                                "e.g. 33554432")


def read_table(directory: Path, name: str, known: pd.Series | None, size: int) -> tuple[pd.DataFrame | None, list[Diagnostic]]:
    """`load_table(directory, name, known)`'s verdict, a file larger than `size` bytes read in
    parts of about `size` (module docstring)."""
    path = _file_in_parts(directory, name, size)
    parts = None if path is None else \
        _csv_parts(path, name, size) if path.suffix == ".csv" else _parquet_parts(path, name)
    if parts is None:
        return load_table(directory, name, known)
    try:
        return merge_parts(name, str(path), parts, known)
    finally:
        del parts
        release_unused()  # the merge's key arrays and the parts' frames


def csv_pieces(path: Path, size: int):
    """(bytes, line_shift) of each run of whole lines of `path`, about `size` bytes each, in file
    order: the first run starts with the header line; a later run's line n + 1 (after the
    header line put before it) is file line n + line_shift + 1."""
    total = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.readline()
        handle.seek(0)
        at, breaks = 0, 0  # byte offset of the next run, line breaks before it
        while at < total:
            block = handle.read(max(size, len(header) + 1) if at == 0 else size)
            if not block.endswith(b"\n"):
                block += handle.readline()  # the rest of the line the block ends in
            yield block, (breaks - 1 if at else 0)
            at += len(block)
            breaks += block.count(b"\n")


def table_parts(directory: Path, name: str, size: int) -> Iterator[Part] | None:
    """The parts of table `name`'s file one after the other (file order), or None when the file
    is read whole (no file or two, a file of at most `size` bytes — for CSV, of at most the part
    size `lines_capped` gives —, a Parquet file of one row group). Each part is read only when
    the iterator gets to it (engine/night/slicesplit.py hands each one on and lets it go); a CSV
    part that cannot stand for its lines comes with `whole` set and ends the parts: read the
    file whole instead (`load_table`)."""
    path = _file_in_parts(directory, name, 0)
    if path is None:
        return None
    if path.suffix == ".csv":
        size = lines_capped(path, size)
    if path.stat().st_size <= size:
        return None
    return _iter_csv_parts(path, name, size) if path.suffix == ".csv" else _iter_parquet_parts(path, name)


def lines_capped(path: Path, size: int) -> int:
    """The part size for CSV `path`: `size` bytes, or fewer when its lines are short, so that a
    part holds about PART_LINES lines at most. A part's peak while it is typed follows its lines
    more than its bytes: 64 MiB of churn_labels (29-byte lines, 2.3M of them) took ~450 MB to
    read, 64 MiB of usage_monthly (530k lines) ~190 MB (3M subscribers; docs/SCALE.md). The line
    length is that of the file's first MiB; never less than 1 MiB a part."""
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    lines = head.count(b"\n")
    if lines < 2:
        return size
    return min(size, max(1 << 20, len(head) * PART_LINES // lines))


def _file_in_parts(directory: Path, name: str, size: int) -> Path | None:
    """Table `name`'s one file when it is larger than `size` bytes; None when it is read whole
    (both a CSV and a Parquet file: DC001; none; or a small one)."""
    exists = [p for p in (directory / f"{name}.csv", directory / f"{name}.parquet") if p.is_file()]
    return exists[0] if len(exists) == 1 and exists[0].stat().st_size > size else None


def _csv_parts(path: Path, name: str, size: int) -> list[Part] | None:
    """The parts of CSV `path`, or None when one cannot stand for its lines (read it whole)."""
    parts: list[Part] = []
    for part in _iter_csv_parts(path, name, size):
        if part.whole:
            return None
        if part.stage == "header":  # the same header heads every part: the file's verdict
            return [part]
        parts.append(part)
    # a part of blank lines only adds nothing (and an empty frame's dtypes are not the column's)
    return [p for p in parts if p.rows or p.stage is not None] or parts[:1]


def _iter_csv_parts(path: Path, name: str, size: int) -> Iterator[Part]:
    """The parts of CSV `path` as they are read (module docstring); ends after a part that is
    `whole` or stopped at the header. The part files live in a private temporary folder, removed
    when the iteration ends or is abandoned."""
    folder = Path(tempfile.mkdtemp(prefix="rekindle-load-"))
    try:
        target = folder / path.name
        header = b""
        for block, shift in csv_pieces(path, size):
            with target.open("wb") as out:
                if not header:
                    header = block[:block.find(b"\n") + 1] if b"\n" in block else block
                    header = header[len(BOM):] if header.startswith(BOM) else header
                else:
                    out.write(header)
                out.write(block)
            del block
            part = load_part(target, name, line_shift=shift)
            target.unlink()
            release_unused(collect=False)  # the part's Arrow strings and buffers, before the next part is read
            if not part.whole:
                _rename(part, str(target), str(path))
            yield part
            if part.whole or part.stage == "header":
                return
            del part
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _rename(part: Part, old: str, new: str) -> None:
    """The part's diagnostics naming the snapshot's file instead of the part's."""
    def renamed(found: list[Diagnostic]) -> list[Diagnostic]:
        return [dataclasses.replace(d, file=d.file.replace(old, new), message=d.message.replace(old, new),
                                    hint=d.hint.replace(old, new)) for d in found]

    part.diagnostics, part.items = renamed(part.diagnostics), renamed(part.items)


def _parquet_parts(path: Path, name: str) -> list[Part] | None:
    """One part per row group of Parquet `path`, or None (one row group, or an unreadable
    footer: the whole-file reader decides)."""
    parts = _iter_parquet_parts(path, name)
    return None if parts is None else list(parts)


def _iter_parquet_parts(path: Path, name: str) -> Iterator[Part] | None:
    """`_parquet_parts`, each row group read only when the iteration gets to it."""
    try:
        meta = pq.ParquetFile(path).metadata
    except (pa.ArrowException, OSError, ValueError):
        return None
    if meta.num_row_groups < 2:
        return None

    def parts() -> Iterator[Part]:
        first = 0
        for group in range(meta.num_row_groups):
            yield load_part(path, name, row_group=group, first_row=first)
            first += meta.row_group(group).num_rows
            release_unused(collect=False)
    return parts()
