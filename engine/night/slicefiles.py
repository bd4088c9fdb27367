"""A night's slices as files: each slice's rows of every table and its subscribers' scores.

Why: a local night's parent held the whole base — its tables and its scores — for the later
stages, although each worker reads only one slice of it at a time, and every page of it a forked
worker touches is copied into that worker. So each slice's rows go to files of their own: a local
night writes them as it reads the snapshot (engine/night/slicesplit.py), so the parent never
holds the base; `SliceFiles.write` cuts them from a snapshot in hand (the reference the split is
held to). The score stage reads the slices from their files (engine/night/slicescore.py) and
writes each slice's scores to a file beside its tables (`write_scores`); a worker reads both when
it builds that slice's facts in the decide stage, and keeps the facts for the rows stage in one
more file (`facts_path`, engine/night/slicefacts.py).

The same facts: a slice's files hold its subscribers' rows of every table with an msisdn (in
file order), the other tables whole; its scores file its subscribers' base-wide scores
(percentile ranks and tiers computed over the whole base's raw parts, in the slice's msisdn
order). Facts, segments and rule outcomes are per subscriber (engine/night/slices.py), so a
slice's facts built from its files are the facts built from the whole snapshot for its
subscribers. The Spark night ships the same tables and scores to its executors, in one container
per slice (`pack_slice` / `unpack_slice`, engine/spark/shipping.py), and its equality test
compares a whole Spark night with a local one.

Format: one Arrow IPC stream per slice and table, `slice-000012.usage_monthly.arrow`, and one for
its scores, `slice-000012.scores.arrow` (pandas metadata keeps the dtypes: categories, kept only
where the slice uses them, and the order of the categories; object strings). Arrow IPC is data
only: reading a file runs no code.

Where: a folder of the run's staging folder (created private by the run's umask 077); the run
removes it after the rows stage, before the commit. A failed run's staging folder goes with its
slices (engine/night/outdir.discard), a killed run's with the next run's recovery (outdir.recover).
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
    """The slices of a night written to a folder (module docstring): one file per slice and
    table (`slice-000012.usage_monthly.arrow`), and one per slice for its subscribers' scores
    (`slice-000012.scores.arrow`), written once the base is scored (`write_scores`). A local
    night writes the tables as it reads the snapshot (engine/night/slicesplit.py); `write` cuts
    them from a snapshot in hand."""

    def __init__(self, folder: Path, count: int, names: tuple[str, ...]):
        self.folder, self.count, self.names = Path(folder), count, tuple(sorted(names))

    def table_path(self, k: int, name: str) -> Path:
        return self.folder / f"slice-{k:06d}.{name}.arrow"

    def scores_path(self, k: int) -> Path:
        return self.folder / f"slice-{k:06d}.scores.arrow"

    def facts_path(self, k: int) -> Path:
        """Where the decide stage keeps slice k's facts for the rows stage (engine/night/slicefacts.py)."""
        self._check(k)
        return self.folder / f"slice-{k:06d}.facts.arrow"

    @classmethod
    def write(cls, folder: Path, snapshot, slices: Slices, scores: pd.DataFrame | None = None) -> "SliceFiles":
        """Write every slice of `snapshot` (its rows, and its subscribers' scores when `scores`
        are given) into `folder`, which must not exist yet."""
        folder = Path(folder)
        folder.mkdir()
        files = cls(folder, slices.count, tuple(snapshot.tables))
        for k in range(slices.count):
            parts, msisdns = _table_parts(snapshot, slices.ranks(k))
            for name, blob in parts.items():
                files.write_table(k, name, blob)
            if scores is not None:
                files.write_scores(k, slice_scores(scores, msisdns))
        return files

    def write_table(self, k: int, name: str, blob: bytes) -> None:
        """Slice k's rows of table `name` (`frame_bytes` of them)."""
        self._check(k)
        if name not in self.names:
            raise KeyError(f"table {name!r} is not one of this night's slice tables {self.names}")
        self.table_path(k, name).write_bytes(blob)

    def write_scores(self, k: int, scores: pd.DataFrame) -> None:
        """Slice k's subscribers' scores (indexed by msisdn, in the slice's msisdn order)."""
        self._check(k)
        self.scores_path(k).write_bytes(scores_bytes(scores))

    def _check(self, k: int) -> None:
        if not 0 <= k < self.count:
            raise IndexError(f"slice {k} is not one of this night's {self.count} slices")

    def tables(self, k: int):
        """Snapshot of slice k's rows (its files' tables, by table name)."""
        from engine.snapshot.loader import Snapshot

        self._check(k)
        return Snapshot(Path("."), {name: bytes_frame(self.table_path(k, name).read_bytes()) for name in self.names})

    def open(self, k: int):
        """(snapshot of slice k's rows, all its subscribers, their scores) for prepare_frame."""
        snapshot = self.tables(k)
        scores = bytes_scores(self.scores_path(k).read_bytes())
        return snapshot, slice(0, len(snapshot.tables["subscribers"])), scores

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
