"""A night's slices as files: each slice's rows of every table and its subscribers' scores.

Why: after the score stage the parent of a local night held the whole base — its tables and its
scores (at 1M subscribers ~1.2 GB) — for the decide and rows stages, although each worker reads
only one slice of it at a time, and every page of it a forked worker touches is copied into that
worker. So the parent writes each slice's rows once, at the start of the score stage, and lets
the base's tables go; the score stage itself reads the slices from their files
(engine/night/slicescore.py) and writes each slice's scores to a second file beside its
tables (`write_scores`); a worker reads both when it builds that slice's facts (in the decide
stage, and again in the rows stage). From the score stage on, the tree holds the slices in
hand, not the base.

The same facts: a slice's file holds its subscribers' rows of every table with an msisdn (in
file order), the other tables whole; its scores file (or, in the bytes the Spark night ships,
`pack_slice`, the same container) its subscribers' base-wide scores (percentile ranks and tiers
computed over the whole base's raw parts, in the slice's msisdn order). Facts, segments and rule
outcomes are per subscriber (engine/night/slices.py), so a slice's facts built from its file are
the facts built from the whole snapshot for its subscribers. The Spark night ships the same
bytes to its executors (engine/spark/shipping.py uses `pack_slice` / `unpack_slice`), and its
equality test compares a whole Spark night with a local one.

Format: one Arrow IPC stream per slice, a table of (name, data) where data is one table's own
Arrow IPC stream (pandas metadata keeps the dtypes: categories, kept only where the slice uses
them, and the order of the categories; object strings). Arrow IPC is data only: reading a file
runs no code.

Where: `SliceFiles.write(folder, …)` (and `write_scores`) write into a folder of the run's staging folder (created
private by the run's umask 077); the run removes it after the rows stage, before the commit.
A failed run's staging folder goes with its slices (engine/night/outdir.discard), a killed
run's with the next run's recovery (outdir.recover).
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa

from engine.night.slices import Slices

SCORES = "__scores__"  # the slice's scores, indexed by msisdn (index kept as column INDEX)
INDEX = "__index__"


# -- frames as Arrow IPC ------------------------------------------------------------------------
def frame_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as one Arrow IPC stream (pandas metadata keeps dtypes: categories, object strings),
    categories a slice does not use left out."""
    frame = frame.copy(deep=False)
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].cat.remove_unused_categories()
    return ipc_bytes(frame)


def ipc_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as one Arrow IPC stream exactly as it is (unused categories kept)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def bytes_frame(blob: bytes) -> pd.DataFrame:
    with pa.ipc.open_stream(io.BytesIO(blob)) as reader:
        return reader.read_all().to_pandas()


def _container(parts: dict[str, bytes]) -> bytes:
    names = sorted(parts)
    table = pa.table({"name": pa.array(names, pa.string()),
                      "data": pa.array([parts[n] for n in names], pa.large_binary())})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _uncontain(blob: bytes) -> dict[str, bytes]:
    with pa.ipc.open_stream(io.BytesIO(blob)) as reader:
        table = reader.read_all()
    return dict(zip(table.column("name").to_pylist(), table.column("data").to_pylist()))


# -- one slice ----------------------------------------------------------------------------------
def _table_parts(snapshot, ranks: slice) -> tuple[dict[str, bytes], pd.Index]:
    """(slice `ranks`' rows of every table (file order) as bytes by table, its msisdns in rank order)."""
    from engine.facts.keys import join_index

    join = join_index(snapshot)
    chosen = join.select(ranks)
    parts: dict[str, bytes] = {}
    for name, frame in snapshot.tables.items():
        if "msisdn" in frame.columns:
            frame = frame.take(join.rows(name, chosen)).reset_index(drop=True)
        parts[name] = frame_bytes(frame)
    return parts, join.msisdns[chosen]


def slice_scores(scores: pd.DataFrame, msisdns) -> pd.DataFrame:
    """The rows of `scores` (indexed by msisdn) of `msisdns`, in that order (absent ones left out)."""
    pos = scores.index.get_indexer(msisdns)
    return scores.iloc[pos[pos >= 0]]


def scores_bytes(scores: pd.DataFrame) -> bytes:
    """A slice's scores (indexed by msisdn) as Arrow IPC bytes, the index kept as column INDEX."""
    return frame_bytes(scores.reset_index(names=INDEX))


def bytes_scores(blob: bytes) -> pd.DataFrame:
    scores = bytes_frame(blob).set_index(INDEX)
    scores.index.name = None
    return scores


def pack_slice(snapshot, ranks: slice, scores: pd.DataFrame) -> bytes:
    """Slice `ranks`' rows of every table (file order) and its subscribers' scores, as bytes."""
    parts, msisdns = _table_parts(snapshot, ranks)
    parts[SCORES] = scores_bytes(slice_scores(scores, msisdns))
    return _container(parts)


def pack_tables(snapshot, ranks: slice) -> bytes:
    """Slice `ranks`' rows of every table (file order), as bytes (`pack_slice` without scores)."""
    return _container(_table_parts(snapshot, ranks)[0])


def _unpack(blob: bytes):
    """(Snapshot of a container's tables, its scores or None)."""
    from engine.snapshot.loader import Snapshot

    parts = _uncontain(blob)
    scores = parts.pop(SCORES, None)
    snapshot = Snapshot(Path("."), {name: bytes_frame(data) for name, data in parts.items()})
    return snapshot, None if scores is None else bytes_scores(scores)


def unpack_slice(blob: bytes):
    """(Snapshot of the slice's rows, its scores indexed by msisdn)."""
    snapshot, scores = _unpack(blob)
    if scores is None:
        raise ValueError("a slice's bytes without its scores")
    return snapshot, scores


# -- where a worker finds a slice ---------------------------------------------------------------
class InMemory:
    """Slices of a snapshot held in memory (with the base's scores): what a slice is cut from."""

    def __init__(self, snapshot, slices: Slices, scores: pd.DataFrame):
        self.snapshot, self.slices, self.scores = snapshot, slices, scores

    def open(self, k: int):
        """(snapshot, the slice's subscribers in it, scores) for prepare_frame."""
        return self.snapshot, self.slices.ranks(k), self.scores


class SliceFiles:
    """The slices of a night written to a folder, one file each (module docstring); a local
    night writes their tables first and each slice's scores, once the base is scored, to a
    file of its own beside it (`write_scores`)."""

    def __init__(self, folder: Path, count: int):
        self.folder, self.count = Path(folder), count

    def path(self, k: int) -> Path:
        return self.folder / f"slice-{k:06d}.arrow"

    def scores_path(self, k: int) -> Path:
        return self.folder / f"slice-{k:06d}.scores.arrow"

    @classmethod
    def write(cls, folder: Path, snapshot, slices: Slices, scores: pd.DataFrame | None = None) -> "SliceFiles":
        """Write every slice of `snapshot` (its rows, and its subscribers' scores when `scores`
        are given) into `folder`, which must not exist yet."""
        folder = Path(folder)
        folder.mkdir()
        files = cls(folder, slices.count)
        for k in range(slices.count):
            blob = pack_tables(snapshot, slices.ranks(k)) if scores is None \
                else pack_slice(snapshot, slices.ranks(k), scores)
            files.path(k).write_bytes(blob)
        return files

    def write_scores(self, k: int, scores: pd.DataFrame) -> None:
        """Slice k's subscribers' scores (indexed by msisdn, in the slice's msisdn order)."""
        self.scores_path(k).write_bytes(scores_bytes(scores))

    def tables(self, k: int):
        """Snapshot of slice k's rows (its file's tables)."""
        return _unpack(self._read(k))[0]

    def _read(self, k: int) -> bytes:
        if not 0 <= k < self.count:
            raise IndexError(f"slice {k} is not one of this night's {self.count} slices")
        return self.path(k).read_bytes()

    def open(self, k: int):
        """(snapshot of slice k's rows, all its subscribers, their scores) for prepare_frame."""
        snapshot, scores = _unpack(self._read(k))
        if scores is None:
            scores = bytes_scores(self.scores_path(k).read_bytes())
        return snapshot, slice(0, len(snapshot.tables["subscribers"])), scores

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
