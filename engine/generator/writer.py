"""Write the generated tables: CSV (pyarrow, SPEC §2 formatting) or Parquet, all or nothing.

Files go to a temporary directory beside the target, which is renamed into place only when
every file is written, so a failed generation leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from engine.snapshot.contract import TABLES
from engine.base.diagnostics import Diagnostic, DiagnosticError

FORMATS = ("csv", "parquet")
CHUNK_ROWS = 500_000


def coded(indices: np.ndarray, values) -> pa.DictionaryArray:
    """A column as codes into a small set of values (no per-row copy of the strings).

    Negative codes become empty cells. CSV output is identical to a plain string column;
    Parquet files get plain string columns (see `write_table`).
    """
    values = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    indices = np.asarray(indices).astype(np.int32, copy=False)
    mask = indices < 0
    codes = pa.array(indices, pa.int32(), mask=mask if mask.any() else None)
    return pa.DictionaryArray.from_arrays(codes, values)


def _plain(table: pa.Table) -> pa.Table:
    """The Parquet column types: dictionary columns decoded to string, integers widened to int64."""
    def kind(t: pa.DataType) -> pa.DataType:
        if pa.types.is_dictionary(t):
            return t.value_type
        return pa.int64() if pa.types.is_integer(t) else t
    return table.cast(pa.schema([pa.field(f.name, kind(f.type)) for f in table.schema]))


def check_contract(name: str, table: pa.Table) -> None:
    """Fail loudly if a generated table drifts from engine.snapshot.contract (same names, same order)."""
    expected = list(TABLES[name].column_names)
    if table.column_names != expected:
        raise AssertionError(f"generator bug: {name} has columns {table.column_names}, contract says {expected}")


def _csv_bytes(table: pa.Table, header: bool) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    # Every value is from our own vocabularies (no commas, quotes or newlines), so nothing
    # needs quoting; unquoted cells make the largest files ~10% smaller and faster to write.
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=header, batch_size=65536, quoting_style="none"))
    return sink.getvalue()


def write_all(files: dict[Path, pa.Table], threads: int = 2) -> None:
    """Write tables by file suffix: CSV (dates ISO, booleans true/false, nulls empty) or Parquet.

    A CSV file is rendered in slices of CHUNK_ROWS on `threads` threads (pyarrow releases the
    GIL) and the slices are appended in order, so the bytes are those of one sequential write.
    """
    jobs = []  # (path, table slice, header?) in file order
    for path, table in files.items():
        if path.suffix == ".csv":
            starts = range(0, max(table.num_rows, 1), CHUNK_ROWS)
            jobs.extend((path, table.slice(i, CHUNK_ROWS), i == 0) for i in starts)
        else:
            jobs.append((path, table, True))

    def render(job):
        path, table, header = job
        if path.suffix == ".csv":
            return _csv_bytes(table, header)
        # No pandas metadata, fixed writer options: same input -> byte-identical file.
        sink = pa.BufferOutputStream()
        pq.write_table(_plain(table), sink, compression="zstd", use_dictionary=True, write_statistics=True)
        return sink.getvalue()

    handles: dict[Path, object] = {}
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            # A small window of slices in flight: rendering runs ahead of the disk, but rendered
            # bytes never pile up in memory when the disk is the slower side.
            window: deque = deque()
            for job in jobs:
                window.append((job[0], pool.submit(render, job)))
                if len(window) > 2 * threads:
                    _append(handles, *window.popleft())
            while window:
                _append(handles, *window.popleft())
    finally:
        for handle in handles.values():
            handle.close()


def check_target(out_dir: Path) -> None:
    """Refuse an output path that is a file, or a non-empty directory that is not a snapshot."""
    problem = ""
    if out_dir.exists() and not out_dir.is_dir():
        problem = "exists and is not a directory"
    elif out_dir.is_dir() and any(out_dir.iterdir()) and not any((out_dir / f"subscribers.{x}").exists() for x in FORMATS):
        problem = "is not empty and does not hold a snapshot (no subscribers file), so it is not replaced"
    if problem:
        raise DiagnosticError([Diagnostic("DC101", f"output directory {problem}", file=str(out_dir),
                                          hint="choose a new or empty --out directory, or a previous snapshot to replace")])


def _append(handles: dict, path: Path, future) -> None:
    if path not in handles:
        handles[path] = open(path, "wb")
    handles[path].write(future.result())


@contextmanager
def staging(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary directory beside `out_dir`; on success it replaces `out_dir`.

    An existing `out_dir` is replaced only if it is empty or holds a previous snapshot
    (a subscribers file), so a mistyped path never deletes unrelated files.
    """
    out_dir = Path(out_dir)
    check_target(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    if out_dir.exists():
        out_dir.rename(old)
    tmp.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)
