"""A local night's snapshot read straight into its slice files: the base is never held whole.

Why: loading the whole snapshot and then cutting it into slice files (engine/night/slicefiles.py)
held every typed table at once, plus the grouping of each table's rows by subscriber: 1,583 MB
(1M subscribers) and 4,368 MB (3M) summed PSS in the snapshot stage, and more while the files
were cut. Here the parent holds the subscribers table (then only its msisdns) and one part of
one table file at a time:

1. `subscribers` is read and validated whole (engine.snapshot.inparts.read_table). Its
   msisdns, sorted, give every subscriber's rank and so the slice plan (engine/night/slices.py:
   slice k = ranks [k·size, (k+1)·size)); its own rows go to their slices at once, and only the
   msisdn column is kept (the other tables' references are checked against it).
2. Every other table is read part by part, as the loader reads a large file
   (engine.snapshot.inparts.table_parts; a small file is one part). A part whose cells are all
   valid is routed: each row goes to the slice of its msisdn's rank, the part's rows are
   ordered by slice (stable, so file order within a slice) and written to a spill file with
   one Arrow record batch per slice, and the part is let go.
3. When a table's parts are all read, each slice's batches of every part are put together in
   the whole file's dtypes (`concat_frames` of the parts' one-row heads decides them, exactly as
   it decides the whole table's), checked for duplicate keys (every key holds the msisdn, so a
   duplicate never crosses slices) and written as the slice's file of that table: byte for
   byte what `SliceFiles.write` cuts from the whole snapshot (tests/engine/night/test_slicesplit.py).
   The spill files are removed.
4. `contact_history` and `lists` are read whole: the closed loop appends the contacts and
   opt-outs written back by earlier runs to them (`complete`) before they are routed. Tables
   without an msisdn (`content`) are kept whole and go into every slice.

Bad input keeps the loader's verdict exactly: the first part that is not clean (a cell problem,
a wrong header, a quoted line break), a row whose msisdn is not a subscriber, or a duplicate key
sends that table to the whole-file reader (`read_table`), whose diagnostics are the ones
`load_snapshot` gives; from then on no more slice files are written, the other tables are only
validated, and one DiagnosticError carries every problem in the loader's order. The slice files
of a failed load are removed with the run's staging folder (engine/night/outdir).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.base.memory import release_unused
from engine.facts.keys import index_dtype, join_index, positions
from engine.night.slicefiles import SliceFiles, frame_bytes
from engine.night.slices import Slices, slices_of
from engine.scoring.scoring import subscriber_index
from engine.snapshot.chunks import concat_frames
from engine.snapshot.contract import TABLES
from engine.snapshot.inparts import part_bytes, read_table, table_parts
from engine.snapshot.loader import Snapshot, check_folder

# Tables the closed loop adds rows to (engine.store.loopback): read whole, completed, then routed.
COMPLETED = ("contact_history", "lists")


@dataclass
class StagedBase:
    """What the parent keeps of the snapshot once its slices are on disk."""

    files: SliceFiles
    slices: Slices
    index: pd.Index  # the subscribers' msisdns in file order (the scores' index)
    row_of_rank: np.ndarray  # the subscribers' row (file order) of each msisdn rank
    whole: dict[str, pd.DataFrame] = field(default_factory=dict)  # tables without msisdn (content)


class _Unclean(Exception):
    """A table's parts cannot stand for it: the whole-file reader gives its verdict."""


def load_into_slices(directory: str | Path, folder: Path, size: int, at_least: int = 1,
                     complete: Callable[[str, pd.DataFrame], pd.DataFrame] | None = None,
                     part_size: int | None = None) -> StagedBase:
    """Read and validate the snapshot in `directory` into slice files in `folder` (which must not
    exist yet): slices of at most `size` subscribers, at least `at_least` of them (module
    docstring). `complete(name, frame)` may add rows to contact_history and lists before they are
    cut. Raises DiagnosticError with `load_snapshot`'s diagnostics when the snapshot is invalid."""
    directory = Path(directory)
    check_folder(directory)
    step = part_bytes(part_size)
    subscribers, diags = read_table(directory, "subscribers", None, step)
    if subscribers is None:  # no subscribers: the other tables are validated without references
        for name in _others():
            diags.extend(read_table(directory, name, None, step)[1])
        raise DiagnosticError(diags)
    people = Snapshot(directory, {"subscribers": subscribers})
    join = join_index(people)
    slices = slices_of(join.size, size, at_least)
    names = tuple(name for name in TABLES if name == "subscribers" or _file_of(directory, name))
    router = _Router(folder, slices, join.msisdns, names)
    try:
        staged = StagedBase(router.files, slices, subscriber_index(people.tables), join.row_of_rank)
        router.route("subscribers", subscribers)
        known = subscribers["msisdn"]
        del people, join, subscribers
        release_unused()
        for name in _others():
            if diags:  # the night will not run: the rest is only validated, as load_snapshot does
                diags.extend(read_table(directory, name, known, step)[1])
                continue
            if "msisdn" not in TABLES[name].column_names:
                frame, problems = read_table(directory, name, known, step)
                diags.extend(problems)
                if frame is not None and not problems:
                    staged.whole[name] = frame
                    router.everywhere(name, frame)
                continue
            diags.extend(_route_table(router, directory, name, known, step, complete))
            release_unused()
        if diags:
            raise DiagnosticError(diags)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # no slice file of a snapshot that did not load
        raise
    shutil.rmtree(router.spill, ignore_errors=True)
    return staged


def _others() -> list[str]:
    return [name for name in TABLES if name != "subscribers"]


def _file_of(directory: Path, name: str) -> bool:
    return any((directory / f"{name}{suffix}").is_file() for suffix in (".csv", ".parquet"))


def _route_table(router: "_Router", directory: Path, name: str, known: pd.Series, step: int,
                 complete: Callable | None) -> list[Diagnostic]:
    """Route table `name` into the slices; its diagnostics ([] when it is valid)."""
    parts = None if name in COMPLETED else table_parts(directory, name, step)
    if parts is not None:
        try:
            router.route_parts(name, (_clean(part) for part in parts))
            return []
        except _Unclean:
            router.discard(name)
    frame, problems = read_table(directory, name, known, step)
    if problems or frame is None:
        return problems
    if complete is not None and name in COMPLETED:
        frame = complete(name, frame)
    router.route(name, frame)  # valid, read whole: a small file, or parts that could not stand for it
    return []


def _clean(part) -> pd.DataFrame:
    """A part's typed frame when every cell of it is valid; else _Unclean."""
    if part.whole or part.stage is not None or part.total or part.items or part.frame is None:
        raise _Unclean()
    frame, part.frame = part.frame, None
    return frame


class _Router:
    """Every routed table's rows into the slice files, one part at a time (module docstring)."""

    def __init__(self, folder: Path, slices: Slices, msisdns: pd.Index, names: tuple[str, ...]):
        folder = Path(folder)
        folder.mkdir()
        self.slices, self.msisdns = slices, msisdns
        self.spill = folder / ".spill"
        self.files = SliceFiles(folder, slices.count, names)  # the tables with a file (and subscribers)

    def everywhere(self, name: str, frame: pd.DataFrame) -> None:
        """A table without msisdn, whole in every slice."""
        blob = frame_bytes(frame)
        for k in range(self.slices.count):
            self.files.write_table(k, name, blob)

    def route(self, name: str, frame: pd.DataFrame) -> None:
        """Table `name` read and validated whole: every slice's rows of it (file order) into its
        file. A row of no subscriber (only a contact the closed loop appended can be one) goes
        to no slice, as in a night cut from the whole snapshot."""
        order, bounds = _by_slice(self._buckets(frame), self.slices.count)
        for k in range(self.slices.count):
            self._write(k, name, frame.take(order[bounds[k]:bounds[k + 1]]))

    def route_parts(self, name: str, frames) -> None:
        """Table `name` given as its parts' typed frames in file order, each let go once it is
        on disk (module docstring, step 2). _Unclean on a row whose msisdn is not a subscriber
        or a duplicate key (each key holds the msisdn, so a duplicate is within one slice)."""
        spill = _Spill(self.spill / name, self.slices.count, self.msisdns)
        key = list(TABLES[name].key)
        try:
            for frame in frames:
                rank = self._ranks(frame)
                if len(rank) and rank.min() < 0:
                    raise _Unclean()
                spill.add(frame, rank, rank // self.slices.size)
                del frame, rank
                release_unused(collect=False)
            for k in range(self.slices.count):
                rows = spill.bucket(k)
                if key and len(rows) > 1 and rows.duplicated(subset=key).any():
                    raise _Unclean()
                self._write(k, name, rows)
        finally:
            spill.remove()

    def _ranks(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's subscriber's rank (-1: its msisdn is not a subscriber's)."""
        return positions(frame["msisdn"], self.msisdns, index_dtype(self.slices.subscribers))

    def _buckets(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's slice (-1: its msisdn is not a subscriber's)."""
        rank = self._ranks(frame)
        return np.where(rank >= 0, rank // self.slices.size, -1)

    def _write(self, k: int, name: str, rows: pd.DataFrame) -> None:
        self.files.write_table(k, name, frame_bytes(rows.reset_index(drop=True)))

    def discard(self, name: str) -> None:
        for k in range(self.slices.count):
            self.files.table_path(k, name).unlink(missing_ok=True)


def _by_slice(bucket: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(the rows in slice order, file order within a slice, rows of no slice (-1) left out;
    bounds: slice k's rows are order[bounds[k]:bounds[k + 1]])."""
    order = np.argsort(bucket, kind="stable")[np.count_nonzero(bucket < 0):]
    return order, np.concatenate([[0], np.cumsum(np.bincount(bucket[bucket >= 0], minlength=count))])


class _Spill:
    """A table's parts on disk, each ordered by slice: one Arrow IPC file per part, one record
    batch per slice that has rows in it; read back a slice at a time in the whole table's dtypes.

    The msisdn column is spilled as the subscriber's rank (int32): a part's msisdn categories are
    every number of the part, and putting a slice's rows back would otherwise merge those
    dictionaries, part by part, for every slice. A slice's msisdns come back as the categorical
    of the ranks it uses (the sorted msisdns are sorted ranks), which is what `frame_bytes` keeps
    of the whole table's categories."""

    def __init__(self, folder: Path, count: int, msisdns: pd.Index):
        self.folder, self.count, self.msisdns = folder, count, msisdns
        folder.mkdir(parents=True)
        self.batches: list[np.ndarray] = []  # per part: slice -> its batch in the part's file (-1: none)
        self.heads: list[pd.DataFrame] = []  # per part: its first row (the dtypes it brings)
        self.empty: pd.DataFrame | None = None  # the first part's columns, no rows
        self._whole: pd.DataFrame | None = None

    def add(self, frame: pd.DataFrame, rank: np.ndarray, bucket: np.ndarray) -> None:
        if self.empty is None:
            self.empty = frame.iloc[:0]
        if not len(frame):  # a part of blank lines adds nothing, not even its dtypes (as the loader)
            return
        order, bounds = _by_slice(bucket, self.count)
        head = frame.iloc[:1].copy()
        for name in head.columns:  # only the dtypes of the other columns matter: no part's dictionary is kept
            if isinstance(head[name].dtype, pd.CategoricalDtype):
                head[name] = head[name].cat.remove_unused_categories()
        self.heads.append(head)
        ordered = frame.take(order).reset_index(drop=True)
        ordered["msisdn"] = rank[order]
        table = pa.Table.from_pandas(ordered, preserve_index=False).combine_chunks()
        del ordered
        batch_of = np.full(self.count, -1, dtype=np.int64)
        path = self.folder / f"part-{len(self.batches):06d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            for k in np.flatnonzero(np.diff(bounds)).tolist():
                (batch,) = table.slice(int(bounds[k]), int(bounds[k + 1] - bounds[k])).to_batches()
                writer.write_batch(batch)
                batch_of[k] = int(np.count_nonzero(batch_of >= 0))
        self.batches.append(batch_of)

    def bucket(self, k: int) -> pd.DataFrame:
        """Slice k's rows of every part, in file order, in the whole table's dtypes."""
        pieces = []
        for p, batch_of in enumerate(self.batches):
            if batch_of[k] < 0:
                continue
            with pa.OSFile(str(self.folder / f"part-{p:06d}.arrow")) as source:
                batch = pa.ipc.open_file(source).get_batch(int(batch_of[k]))
                pieces.append(pa.Table.from_batches([batch]).to_pandas())
        if self._whole is None:  # the whole table's dtypes, as concat_frames gives them to its parts
            self._whole = concat_frames(self.heads) if self.heads else self.empty
        whole = self._whole
        if not pieces:
            return whole.iloc[:0]
        frame = concat_frames(pieces)
        used, codes = np.unique(frame["msisdn"].to_numpy(), return_inverse=True)
        frame["msisdn"] = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(self.msisdns[used]))
        for name in frame.columns:
            want = whole[name].dtype
            if not isinstance(want, pd.CategoricalDtype) and frame[name].dtype != want:
                frame[name] = frame[name].astype(want)
        return frame

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
