"""Table files larger than a chunk, read by Spark in parts: CSV by lines, Parquet by row group.

A table file read as one `binaryFile` record (engine/spark/reading.py) must fit one task's
memory and Spark's 2 GB record limit; at 1M subscribers usage_monthly.csv is 747 MB, at 30M
~22 GB. A file larger than the chunk size (`REKINDLE_SPARK_CHUNK_BYTES`, default 128 MiB) is
read in parts instead, and every part is read, typed and checked by the local loader's own code
(engine/snapshot/chunks.py `load_part`); the driver puts the parts back together with
`merge_parts`, which decides what `load_table` decides on the whole file — the same typed frame,
the same diagnostics (codes, lines, columns, messages, order), duplicate keys across parts
included.

- **CSV**: Spark's text reader (`lineSep` "\\n": physical lines, a CR stays on its line as in
  the file) cuts the file into splits of about the chunk size at line ends, as it does for any
  text file on HDFS or S3 (`spark.sql.files.maxPartitionBytes` = the chunk size while reading).
  A one-line job per file takes its header line. The reading job hands each split's lines to
  Python (`mapInArrow`, the lines' bytes as they are, joined back with "\\n" by numpy: no Python
  object per line), which writes the header and the split's lines as a private file and runs
  `load_part` on it, its lines counted from its own header, and returns its line count with it
  (`input_file_block_start` names the split). The driver then knows each split's first line (one
  plus the lines of the splits before it) and moves every line the part names
  (`chunks.shift_part`): one pass over the bytes, and every line reported is the file's.
- **Parquet**: the driver reads the footers (pyarrow's filesystem: `file:`, `hdfs:` through
  libhdfs, `s3a:` as pyarrow's `s3:` with the environment's credentials) and makes one task per
  row group, with its first row; the executor opens the file the same way and reads that row
  group only.
- A CSV part that cannot stand for its lines (a quoted field across its edge, or a line break
  inside a quoted field: chunks.py) sends its file back to the whole-file reader; such a file
  is refused anyway (a line break in a cell is DC031), with the local loader's own diagnostics.

Fingerprint of a remote file read in parts (the local fingerprint is the driver's, over the
files' bytes, when it can open them): sha256 over the parts' sha256 in file order, so it
depends on the chunk size as well as the bytes (docs/SPARK.md).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.base.diagnostics import Diagnostic
from engine.base.envnumber import positive_number
from engine.snapshot.chunks import Part, load_part, shift_part
from engine.spark.shipping import bytes_frame, ipc_bytes

CHUNK_ENV = "REKINDLE_SPARK_CHUNK_BYTES"
DEFAULT_CHUNK = 128 << 20  # Spark's own default split (spark.sql.files.maxPartitionBytes)
BATCH = 10_000  # lines per Arrow batch from the JVM to Python while reading (the session's is 1 slice)
PART_SCHEMA = "file string, start long, meta binary, frame binary, keys binary, lines binary, sha256 string"


def chunk_bytes(given: int | None = None) -> int:
    """The chunk size in force: `given`, else REKINDLE_SPARK_CHUNK_BYTES, else 128 MiB."""
    if given is not None:
        return int(given)
    return positive_number(CHUNK_ENV, DEFAULT_CHUNK, code="SP002", unit="bytes",
                           hint=f"unset it for {DEFAULT_CHUNK:,} bytes, or give a whole number > 0")


@contextlib.contextmanager
def conf(spark, settings: dict[str, str]):
    """Session settings for the duration of one reading, restored after."""
    saved = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


# -- a part, as data between the executor and the driver ----------------------------------------
def _renamed(found: list[Diagnostic], folder: str, where: str) -> list[dict]:
    out = []
    for diag in found:
        d = diag.to_dict()
        for key in ("file", "message", "hint"):
            d[key] = str(d[key] or "").replace(folder, where)
        out.append(d)
    return out


def part_record(part: Part, folder: str, where: str, file: str, start: int, sha256: str) -> dict:
    meta = {
        "name": part.name, "unit": part.unit, "stage": part.stage, "fields": part.fields,
        "diagnostics": _renamed(part.diagnostics, folder, where), "items": _renamed(part.items, folder, where),
        "field_rows": part.field_rows, "field_total": part.field_total, "total": part.total,
        "counts": [[c, code, n] for (c, code), n in part.counts.items()], "unparsed": sorted(part.unparsed),
        "rows": part.rows, "positions": part.positions,
        "first": part.first, "whole": part.whole,
    }
    keys = b""
    if part.keys is not None:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, part.keys.schema) as writer:
            writer.write_table(part.keys)
        keys = sink.getvalue().to_pybytes()
    return {"file": file, "start": start, "meta": json.dumps(meta).encode("utf-8"),
            "frame": ipc_bytes(part.frame) if part.frame is not None else b"", "keys": keys,
            "lines": part.lines.astype(np.int64).tobytes() if part.lines is not None else b"", "sha256": sha256}


def part_of(record) -> Part:
    meta = json.loads(record["meta"])
    part = Part(meta["name"], meta["unit"], stage=meta["stage"], fields=meta["fields"],
                diagnostics=[Diagnostic(**d) for d in meta["diagnostics"]],
                items=[Diagnostic(**d) for d in meta["items"]],
                field_rows=[tuple(r) for r in meta["field_rows"]], field_total=meta["field_total"],
                total=meta["total"], counts={(c, code): n for c, code, n in meta["counts"]},
                unparsed=set(meta["unparsed"]), rows=meta["rows"],
                positions=meta["positions"], first=meta["first"], whole=meta["whole"])
    if record["frame"]:
        part.frame = bytes_frame(record["frame"])
    if record["keys"]:
        part.keys = pa.ipc.open_stream(pa.py_buffer(record["keys"])).read_all()
    if record["lines"]:
        part.lines = np.frombuffer(record["lines"], dtype=np.int64)
    return part


# -- CSV: the executors' part -------------------------------------------------------------------
def _joined(values: list[pa.Array]) -> bytes:
    """Lines (binary Arrow arrays, in order) as the bytes they were in the file: each + "\\n"."""
    chunks = []
    for array in values:
        array = array.cast(pa.large_binary()) if array.type != pa.large_binary() else array
        offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset:array.offset + len(array) + 1]
        data = array.buffers()[2]
        body = np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]] if data is not None \
            else np.zeros(0, np.uint8)
        ends = offsets[1:] - offsets[0]
        chunks.append(np.insert(body, ends, 10))  # "\\n" after every line
    return np.concatenate(chunks).tobytes() if chunks else b""


def csv_parts(where: str, headers, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """`mapInArrow` body over (file, start, value) lines: each split's lines read as one part,
    its lines counted from its own header (the driver shifts them: module docstring)."""
    group, values = None, []
    for batch in batches:
        files, starts, n = batch.column(0), batch.column(1).to_numpy(), batch.num_rows
        if n == 0:
            continue
        changed = (starts[1:] != starts[:-1]) | \
            pc.fill_null(pc.not_equal(files.slice(1), files.slice(0, n - 1)), True).to_numpy(zero_copy_only=False)
        cut = np.flatnonzero(changed) + 1  # where the next split's lines begin (two small files may share a task)
        for a, b in zip(np.append(0, cut), np.append(cut, n)):
            key = (files[int(a)].as_py(), int(starts[a]))
            if key != group:
                if group is not None:
                    yield _csv_part(where, headers.value, group, values)
                group, values = key, []
            values.append(batch.column(2).slice(a, b - a))
    if group is not None:
        yield _csv_part(where, headers.value, group, values)


def _csv_part(where: str, headers: dict, group: tuple[str, int], values) -> pa.RecordBatch:
    file, start = group
    file_name = file.rstrip("/").rsplit("/", 1)[-1]
    lines = _joined(values)
    header = headers[file]
    if start == 0 and not (lines.startswith(header + b"\n") or lines == header + b"\n"):
        raise RuntimeError(f"{file}: the header read first is not the first line of the file's first split")
    folder = tempfile.mkdtemp(prefix="rekindle-part-")
    try:
        path = Path(folder) / file_name
        path.write_bytes(lines if start == 0 else header + b"\n" + lines)
        part = load_part(path, file_name.rsplit(".", 1)[0])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    record = part_record(part, folder, where, file, start, hashlib.sha256(lines).hexdigest())
    record["count"] = sum(len(v) for v in values)  # the split's physical lines
    return pa.RecordBatch.from_pylist([record], schema=pa.schema([*_arrow_schema(), ("count", pa.int64())]))


def _arrow_schema() -> pa.Schema:
    return pa.schema([("file", pa.string()), ("start", pa.int64()), ("meta", pa.binary()), ("frame", pa.binary()),
                      ("keys", pa.binary()), ("lines", pa.binary()), ("sha256", pa.string())])


# -- CSV: the driver's part ---------------------------------------------------------------------
def read_csv_parts(spark, paths: list[str], chunk: int, where: str) -> dict[str, list[tuple[Part, str]]]:
    """Every split of the CSV files `paths` read as a part (module docstring): per file (as
    Spark names it) its parts in file order, their lines the file's, each with its digest."""
    from pyspark.sql import functions as F

    with conf(spark, {"spark.sql.files.maxPartitionBytes": str(chunk),
                      "spark.sql.execution.arrow.maxRecordsPerBatch": str(BATCH)}):
        headers = {}
        for path in paths:  # the first line of the first split: one short job per file
            first = spark.read.option("lineSep", "\n").text(path).select(
                F.input_file_name().alias("file"), F.col("value").cast("binary").alias("value")).head()
            if first is not None:
                headers[first["file"]] = bytes(first["value"])
        lines = spark.read.option("lineSep", "\n").text(paths).select(
            F.input_file_name().alias("file"), F.input_file_block_start().alias("start"),
            F.col("value").cast("binary").alias("value"))
        shared = spark.sparkContext.broadcast(headers)
        try:
            records = lines.mapInArrow(functools.partial(csv_parts, where, shared), PART_SCHEMA + ", count long") \
                .collect()
        finally:
            shared.unpersist()
    found: dict[str, list[tuple[Part, str]]] = {}
    line = {}
    for record in sorted(records, key=lambda r: (r["file"], r["start"])):
        first = line.get(record["file"], 1)  # the file line of the split's first line
        line[record["file"]] = first + record["count"]
        part = shift_part(part_of(record), first - 2 if record["start"] else 0)
        found.setdefault(record["file"], []).append((part, record["sha256"]))
    return found


# -- Parquet ------------------------------------------------------------------------------------
def _open(uri: str):
    import pyarrow.fs as pafs

    uri = "s3://" + uri[len("s3a://"):] if uri.startswith("s3a://") else uri
    filesystem, path = pafs.FileSystem.from_uri(uri)
    return filesystem.open_input_file(path)


def parquet_parts(where: str, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """`mapInPandas` body over (file, group, first): each row group read as a part."""
    folder = "/rekindle-row-group"  # names the file in diagnostics only: replaced by `where`
    for batch in batches:
        for file, group, first in zip(batch["file"].tolist(), batch["group"].tolist(), batch["first"].tolist()):
            file_name = file.rstrip("/").rsplit("/", 1)[-1]
            with _open(file) as handle:
                part = load_part(Path(folder) / file_name, file_name.rsplit(".", 1)[0],
                                 row_group=int(group), first_row=int(first), source=handle)
            record = part_record(part, folder, where, file, int(group), "")
            record["sha256"] = hashlib.sha256(record["frame"] + record["meta"]).hexdigest()  # the typed row group
            yield pd.DataFrame([record])


def read_parquet_parts(spark, paths: list[str], where: str) -> tuple[dict[str, list[tuple[Part, str]]], list[str]]:
    """Every row group of the Parquet files `paths` read as a part, one task each (the driver
    reads the footers): per file its parts in order, each with its digest; and the files whose
    footer the driver cannot read (for the whole-file reader, which reports them as the local
    loader does)."""
    import pyarrow.parquet as pq

    tasks, unread = [], []
    for path in paths:
        try:
            with _open(path) as handle:
                meta = pq.ParquetFile(handle).metadata
        except (pa.ArrowException, OSError, ValueError):
            unread.append(path)
            continue
        first = 0
        for group in range(meta.num_row_groups):
            tasks.append((path, group, first))
            first += meta.row_group(group).num_rows
    if not tasks:
        return {}, unread
    frame = spark.createDataFrame(tasks, "file string, group long, first long").repartition(len(tasks))
    records = frame.mapInPandas(functools.partial(parquet_parts, where), PART_SCHEMA).collect()
    found: dict[str, list[tuple[Part, str]]] = {}
    for record in sorted(records, key=lambda r: (r["file"], r["start"])):
        found.setdefault(record["file"], []).append((part_of(record), record["sha256"]))
    return found, unread
