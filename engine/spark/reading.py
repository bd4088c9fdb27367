"""The snapshot of a Spark night, read by Spark from any path its cluster can read.

`rekindle run --engine spark --data URI`: URI is a local folder, `file:///…`, `hdfs://…`,
`s3a://…` (when the cluster has the connector), or anything else Hadoop's FileSystem opens.
The contract is the local loader's (engine/snapshot/loader.py, SPEC §2): the same fixed input
columns, the same cell typing, and a broken file fails with the same diagnostics — code,
file, line, column, value and what to do — before anything of the run is written. How:

1. The driver lists the folder through Hadoop's FileSystem (Spark's own JVM, so the cluster's
   connectors and credentials apply) and decides from the names alone what the local loader
   decides from them: a required table missing (DC002), a table given both as CSV and Parquet
   (DC001), a folder that does not exist (DC000).
2. Spark reads each table file up to the chunk size (`REKINDLE_SPARK_CHUNK_BYTES`, default
   128 MiB) as one record (`binaryFile`, read by an executor), and the executor types and
   validates it with the local loader's own per-table code (`engine.snapshot.loader.load_table`
   on the file written into a private folder under its own name), so line numbers are the
   file's physical lines, exactly as in a local run. A larger file is read in parts
   (engine/spark/chunked.py): a CSV file in line-aligned splits of Spark's text reader, each
   part's lines moved to the file's by the driver from the splits' line counts; a Parquet file
   by row group, each with its first row; every part typed and checked by the loader's code
   (engine/snapshot/chunks.py), and the driver puts the parts together with the whole file's
   checks (duplicate keys across parts, references, problems cut and counted over the file),
   so the frame and the diagnostics are the whole file's. The diagnostics come back as data, their private folder replaced by the URI; the
   typed frames come back as Arrow IPC (categories and dtypes kept). `subscribers` first, then
   every other table with the subscribers' msisdns broadcast (as Arrow) for the reference check
   (DC012).
3. Any problem: one DiagnosticError with all of them, as the local loader raises; run.py's
   failure path for invalid input leaves no run visible (no run row, no files).

The night's snapshot fingerprint is the local one (engine.night.run.snapshot_fingerprint: sha256
over the table files' names and bytes, in order) when the driver can open the folder itself
(`file://`, or a bare path on a cluster whose default filesystem is the local one, as in
local mode; on YARN a bare path is an HDFS path); for a remote folder the executors hash each file where they read
it and the fingerprint is sha256 over "NAME\\0" + each file's sha256 in the same order — a
different value for the same bytes, so compare fingerprints of remote snapshots with each other
only (docs/SPARK.md).

The fingerprint of a remote file read in parts is sha256 over its parts' digests (their lines'
bytes; a Parquet row group's typed rows), so it also depends on the chunk size.

Limits (docs/SPARK.md "Not done"): the typed tables are assembled on the driver, which scores
the base and cuts the slices from them (item 4 of issue 14, not built); a file whose parts
cannot stand for its lines (a quoted field holding a line break, which the loader refuses
anyway) is read whole, as one record.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.snapshot.contract import TABLES
from engine.snapshot.chunks import merge_parts
from engine.snapshot.loader import Snapshot, load_table
from engine.spark.chunked import chunk_bytes, read_csv_parts, read_parquet_parts
from engine.spark.shipping import bytes_frame, ipc_bytes
from engine.spark.watchdog import SparkJobFailed, spark_errors

SUFFIXES = (".csv", ".parquet")
SPLIT = "spark.sql.files.maxPartitionBytes"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def is_uri(data) -> bool:
    """Whether `--data` names a URI (scheme:…) rather than a local path."""
    return bool(_SCHEME.match(str(data))) and not re.match(r"^[A-Za-z]:[\\/]", str(data))  # not C:\


def local_folder(data) -> Path | None:
    """The local folder `data` names (a path or a file: URI), or None for a remote URI."""
    text = str(data)
    if not is_uri(text):
        return Path(text)
    if text.startswith("file:"):
        return Path(re.sub(r"^file:(//)?", "", text) or "/")
    return None


# -- the executors' part ------------------------------------------------------------------------
def _renamed(diag: Diagnostic, folder: str, where: str) -> dict:
    """A diagnostic found in the executor's private folder, naming the snapshot's URI instead."""
    found = diag.to_dict()
    for key in ("file", "message", "hint"):
        found[key] = str(found[key] or "").replace(folder, where)
    return found


def read_files(known, base: str, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """`mapInPandas` body over Spark's binaryFile records (path, content): each table file typed
    and checked by `load_table`, as (name, suffix, frame as Arrow IPC or empty, diagnostics as
    JSON, sha256 of the file's bytes). `known`: a broadcast of the subscribers' msisdn column
    as Arrow IPC, or None (the subscribers' own job)."""
    msisdns = bytes_frame(known.value)["msisdn"] if known is not None else None
    for batch in batches:
        for path, content in zip(batch["path"].tolist(), batch["content"].tolist()):
            file_name = path.rstrip("/").rsplit("/", 1)[-1]
            name, suffix = file_name.rsplit(".", 1)[0], "." + file_name.rsplit(".", 1)[-1]
            folder = tempfile.mkdtemp(prefix="rekindle-snapshot-")
            try:
                (Path(folder) / file_name).write_bytes(content)
                frame, diags = load_table(Path(folder), name, msisdns)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            yield pd.DataFrame({
                "name": [name], "suffix": [suffix],
                "data": [ipc_bytes(frame) if frame is not None and not diags else b""],
                "diagnostics": [json.dumps([_renamed(d, folder, base) for d in diags]).encode("utf-8")],
                "sha256": [hashlib.sha256(content).hexdigest()],
            })


# -- the driver's part --------------------------------------------------------------------------
class Listing:
    """The snapshot folder as Hadoop's FileSystem sees it."""

    def __init__(self, spark, data):
        jvm = spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(str(data))
        fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        self.given = str(data)
        if not fs.exists(path) or not fs.getFileStatus(path).isDirectory():
            raise DiagnosticError([Diagnostic("DC000", f"snapshot folder '{data}' does not exist", file=str(data),
                                              hint="pass the folder holding subscribers.csv, subscriptions.csv, … "
                                                   "(any path or URI the Spark cluster can read)")])
        self.base = str(fs.makeQualified(path).toString()).rstrip("/")
        statuses = [status for status in fs.listStatus(path) if status.isFile()]
        self.names = {status.getPath().getName() for status in statuses}
        self.sizes = {status.getPath().getName(): int(status.getLen()) for status in statuses}

    def files(self, name: str) -> list[str]:
        return [f"{name}{suffix}" for suffix in SUFFIXES if f"{name}{suffix}" in self.names]


def _decided_by_names(listing: Listing, name: str) -> list[Diagnostic]:
    """The local loader's own verdict on a table with no file or two (it looks at names only)."""
    folder = tempfile.mkdtemp(prefix="rekindle-snapshot-")
    try:
        for file_name in listing.files(name):
            (Path(folder) / file_name).touch()
        _frame, diags = load_table(Path(folder), name)
        return [Diagnostic(**_renamed(d, folder, listing.given)) for d in diags]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _job(spark, listing: Listing, names: list[str], known) -> list:
    paths = [f"{listing.base}/{f}" for n in names for f in listing.files(n)]
    if not paths:
        return []
    body = functools.partial(read_files, known, listing.given)
    # One file per task: files are not split, and a 1-byte split size packs no two into one task.
    saved = spark.conf.get(SPLIT, None)
    spark.conf.set(SPLIT, "1")
    try:
        frame = spark.read.format("binaryFile").load(paths).select("path", "content")
        return frame.mapInPandas(body, "name string, suffix string, data binary, diagnostics binary, sha256 string") \
            .collect()
    except spark_errors() as error:
        raise SparkJobFailed("snapshot", error) from None
    finally:
        if saved is None:
            spark.conf.unset(SPLIT)
        else:
            spark.conf.set(SPLIT, saved)


def read_snapshot(spark, data, chunk: int | None = None) -> tuple[Snapshot, str]:
    """The validated snapshot at `data` (path or URI) read by Spark, and its fingerprint
    (module docstring); raises the local loader's DiagnosticError on a broken snapshot.
    `chunk`: files larger than this many bytes are read in parts (engine/spark/chunked.py;
    default REKINDLE_SPARK_CHUNK_BYTES or 128 MiB)."""
    chunk = chunk_bytes(chunk)
    listing = Listing(spark, data)
    diags: list[Diagnostic] = []
    readable = []
    for name in TABLES:
        files = listing.files(name)
        if len(files) == 1:
            readable.append(name)
        else:
            diags += _decided_by_names(listing, name)
    tables: dict[str, pd.DataFrame] = {}
    hashes: dict[str, str] = {}

    def take(found: list[Read]) -> None:
        for r in found:
            diags.extend(r.diagnostics)
            hashes[r.name + r.suffix] = r.sha256
            if r.frame is not None and not r.diagnostics:
                tables[r.name] = r.frame

    take(_read(spark, listing, [n for n in readable if n == "subscribers"], None, chunk))
    known = None
    if "subscribers" in tables:
        known = spark.sparkContext.broadcast(ipc_bytes(tables["subscribers"][["msisdn"]]))
    try:
        take(_read(spark, listing, [n for n in readable if n != "subscribers"], known, chunk,
                   tables["subscribers"]["msisdn"] if "subscribers" in tables else None))
    finally:
        if known is not None:
            known.unpersist()
    if diags:
        raise DiagnosticError(diags)
    folder = local_folder(listing.base)  # as Hadoop resolved it: a bare path is fs.defaultFS's (HDFS on YARN)
    snapshot = Snapshot(folder if folder is not None else Path(str(data)),
                        {name: tables[name] for name in TABLES if name in tables})
    return snapshot, _fingerprint(folder, hashes)


@dataclass
class Read:
    """One table file as read by Spark: its typed frame or its problems, and its digest."""

    name: str
    suffix: str
    frame: pd.DataFrame | None
    diagnostics: list[Diagnostic]
    sha256: str


def _read(spark, listing: Listing, names: list[str], known, chunk: int, msisdns: pd.Series | None = None) -> list[Read]:
    """The tables `names`: files up to `chunk` bytes one task each (whole), larger ones in parts
    (engine/spark/chunked.py), and a file whose parts cannot stand for it whole after all.
    `known`: the subscribers' msisdns broadcast, for the whole files' reference check in the
    executors; `msisdns`: the same column on the driver, for the files read in parts."""
    small = [n for n in names if listing.sizes[listing.files(n)[0]] <= chunk]
    large = [listing.files(n)[0] for n in names if n not in small]
    found = _whole(_job(spark, listing, small, known))
    csvs = [f"{listing.base}/{f}" for f in large if f.endswith(".csv")]
    parquets = [f"{listing.base}/{f}" for f in large if not f.endswith(".csv")]
    try:
        by_file = read_csv_parts(spark, csvs, chunk, listing.given) if csvs else {}
        more, unread = read_parquet_parts(spark, parquets, listing.given) if parquets else ({}, [])
    except spark_errors() as error:
        raise SparkJobFailed("snapshot", error) from None
    by_file.update(more)
    again = [f.rsplit("/", 1)[-1] for f in unread]
    for file, group in sorted(by_file.items()):
        file_name = file.rstrip("/").rsplit("/", 1)[-1]
        parts = [part for part, _digest in group]
        if any(p.whole for p in parts):
            again.append(file_name)
            continue
        name, suffix = file_name.rsplit(".", 1)[0], "." + file_name.rsplit(".", 1)[-1]
        frame, problems = merge_parts(name, f"{listing.given}/{file_name}", parts, msisdns)
        digest = hashlib.sha256("\0".join(d for _part, d in group).encode()).hexdigest()
        found.append(Read(name, suffix, frame, problems, digest))
    if again:
        found += _whole(_job(spark, listing, [f.rsplit(".", 1)[0] for f in again], known))
    return sorted(found, key=lambda r: list(TABLES).index(r.name))


def _whole(records) -> list[Read]:
    return [Read(r["name"], r["suffix"], bytes_frame(r["data"]) if r["data"] else None,
                 [Diagnostic(**d) for d in json.loads(r["diagnostics"])], r["sha256"]) for r in records]


def _fingerprint(folder: Path | None, hashes: dict[str, str]) -> str:
    if folder is not None:
        from engine.night.run import snapshot_fingerprint

        return snapshot_fingerprint(folder)
    digest = hashlib.sha256()
    for name in sorted(TABLES):
        for suffix in SUFFIXES:
            if name + suffix in hashes:
                digest.update(f"{name}{suffix}\0{hashes[name + suffix]}".encode())
    return digest.hexdigest()
