"""A local night's snapshot read straight into its slice files: the base is never held whole.

Why: loading the whole snapshot and then cutting it into slice files (engine/night/slicefiles.py)
held every typed table at once, plus the grouping of each table's rows by subscriber: 1,583 MB
(1M subscribers) and 4,368 MB (3M) summed PSS in the snapshot stage, and more while the files
were cut. Here the parent holds the subscribers' msisdns and one part of one table file at a
time:

1. `subscribers` is read part by part (`_people_in_parts`): each clean part is spilled as it
   is to an Arrow file and only its msisdns are kept. When all are read, their sort gives every
   subscriber's rank (a duplicate is seen there) and so the slice plan (engine/night/slices.py:
   slice k = ranks [k·size, (k+1)·size)); the spilled parts are then routed like any table's
   (step 2). The parent keeps the msisdns (sorted, in file order, and as the typed column the
   other tables' references are checked against). A small file is read whole. Read whole, the
   3M table peaked at 1,418 MB RSS; in parts at 930 MB.
2. Every other table is read part by part, as the loader reads a large file
   (engine.snapshot.inparts.table_parts: parts of 64 MiB, or of ~600,000 lines when its lines
   are short; a small file is one part). A part whose cells are all valid is routed: each row
   goes to the slice of its msisdn's rank (found by binary search in the sorted msisdns,
   engine.facts.keys.SortedLookup, not a 3M-entry hash table built per part), the part's rows are
   ordered by slice (stable, so file order within a slice) and written to a spill file with
   one Arrow record batch per slice, and the part is let go.
3. When a table's parts are all read, each slice's batches of every part are put together in
   the whole file's dtypes (`concat_frames` of the parts' one-row heads decides them, exactly as
   it decides the whole table's), checked for duplicate keys (every key holds the msisdn, so a
   duplicate never crosses slices) and written as the slice's file of that table: byte for
   byte what `SliceFiles.write` cuts from the whole snapshot (tests/engine/night/test_slicesplit.py).
   The spill files are removed.
4. The closed loop appends the contacts and opt-outs written back by earlier runs (`written`)
   to `contact_history` and `lists`. contact_history is read in parts like any table; each part
   marks the written-back contacts it already holds (engine.store.loopback.held_contacts), and
   the others are routed after the last part, so a slice's file holds its own rows then the
   contacts added. lists (small, and its key check must see the added rows) is read whole and
   completed before it is routed. Tables without an msisdn (`content`) are kept whole and go
   into every slice.

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
import pyarrow.compute as pc

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.base.frames import append_rows
from engine.base.memory import release_unused
from engine.facts.keys import SortedLookup, arrow_strings as keys_text, index_dtype, join_index
from engine.night.slicefiles import SliceFiles, frame_bytes
from engine.night.slices import Slices, slices_of
from engine.scoring.scoring import subscriber_index
from engine.snapshot.chunks import concat_frames
from engine.snapshot.contract import TABLES
from engine.snapshot.inparts import part_bytes, read_table, table_parts
from engine.snapshot.loader import Snapshot, check_folder
from engine.store.loopback import CONTACT_COLUMNS, WrittenBack, completed, held_contacts

# Tables the closed loop adds rows to (engine.store.loopback): completed, then routed. lists is
# read whole (its key check must see the rows added); contact_history has no key: its parts are
# routed and the contacts none of them holds are routed after them.
COMPLETED = ("contact_history", "lists")
IN_PARTS_COMPLETED = "contact_history"


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
                     written: Callable[[], WrittenBack] | None = None,
                     part_size: int | None = None) -> StagedBase:
    """Read and validate the snapshot in `directory` into slice files in `folder` (which must not
    exist yet): slices of at most `size` subscribers, at least `at_least` of them (module
    docstring). `written()`: the rows the closed loop adds to contact_history and lists
    (`engine.store.loopback.written_back` without a contact_history: the contacts the table
    already holds are left out here). Raises DiagnosticError with `load_snapshot`'s diagnostics
    when the snapshot is invalid."""
    directory = Path(directory)
    check_folder(directory)
    step = part_bytes(part_size)
    folder = Path(folder)
    folder.mkdir()
    try:
        people = _people_in_parts(directory, folder / ".people", step)
        diags: list[Diagnostic] = []
        if people is None:  # read whole: a small file, or parts that cannot stand for it
            subscribers, diags = read_table(directory, "subscribers", None, step)
            if subscribers is None:  # no subscribers: the other tables are validated without references
                for name in _others():
                    diags.extend(read_table(directory, name, None, step)[1])
                raise DiagnosticError(diags)
            people = _People.of(subscribers)
            del subscribers
        slices = slices_of(len(people.msisdns), size, at_least)
        names = tuple(name for name in TABLES if name == "subscribers" or _file_of(directory, name))
        router = _Router(folder, slices, people.msisdns, names)
        staged = StagedBase(router.files, slices, people.index, people.row_of_rank)
        people.route(router)
        known = people.known
        del people
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
            diags.extend(_route_table(router, directory, name, known, step, written))
            release_unused()
        if diags:
            raise DiagnosticError(diags)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # no slice file of a snapshot that did not load
        raise
    shutil.rmtree(router.spill, ignore_errors=True)
    return staged


class _People:
    """The subscribers table as the split needs it: its msisdns sorted (each one's rank), the row
    of each rank, its msisdns in file order (the scores' index) and its typed msisdn column (the
    other tables' references are checked against it), and its rows: the whole frame, or its
    parts spilled to Arrow files in `spill`, read back one at a time to be routed."""

    def __init__(self, msisdns: pd.Index, rank: np.ndarray, whole: pd.DataFrame | None = None,
                 spill: Path | None = None, parts: int = 0):
        self.msisdns = msisdns
        self.row_of_rank = np.empty(len(rank), dtype=np.int64)
        self.row_of_rank[rank] = np.arange(len(rank), dtype=np.int64)
        self.known = pd.Series(pd.Categorical.from_codes(rank, dtype=pd.CategoricalDtype(msisdns)), name="msisdn")
        self.index = subscriber_index({"subscribers": self.known.to_frame()})
        self.whole, self.spill, self.parts = whole, spill, parts

    @classmethod
    def of(cls, subscribers: pd.DataFrame) -> "_People":
        """The table read and validated whole."""
        join = join_index(Snapshot(Path("."), {"subscribers": subscribers}))
        rank = np.empty(join.size, dtype=np.int64)
        rank[join.row_of_rank] = np.arange(join.size, dtype=np.int64)
        return cls(join.msisdns, rank, whole=subscribers)

    def route(self, router: "_Router") -> None:
        """The table's rows into their slices' files."""
        if self.whole is not None:
            router.route("subscribers", self.whole)
            return
        try:
            router.route_parts("subscribers", self._frames())
        except _Unclean:  # every msisdn is one of its own, once: a spilled part was not read back as written
            raise RuntimeError(f"the subscribers' parts in {self.spill} did not read back as they were written") from None
        finally:
            shutil.rmtree(self.spill, ignore_errors=True)

    def _frames(self):
        """The spilled parts' frames in file order. A part is read into memory, not mapped (a
        frame made from a mapped file keeps its pages mapped), and the generator holds no frame
        while the next is read (3M: the routing peaked at 1,343 MB PSS, now 936 MB)."""
        for p in range(self.parts):
            with pa.OSFile(str(_part_path(self.spill, p))) as source:
                yield pa.ipc.open_file(source).read_all().to_pandas()


def _part_path(spill: Path, p: int) -> Path:
    return spill / f"part-{p:06d}.arrow"


def _people_in_parts(directory: Path, spill: Path, size: int) -> _People | None:
    """The subscribers table read a part at a time (as `table_parts` hands them out): each clean
    part is spilled to an Arrow file in `spill` and only its msisdns are kept; when all are read,
    their sort gives the ranks. None (and nothing left in `spill`) when the file is read whole:
    a small file, a part that is not clean or a duplicate msisdn — the whole-file reader then
    gives the loader's verdict."""
    parts = table_parts(directory, "subscribers", size)
    if parts is None:
        return None
    spill.mkdir()
    texts: list[pa.Array] = []
    try:
        for part in parts:
            frame = _clean(part)
            del part
            msisdn = frame["msisdn"]
            codes = msisdn.cat.codes.to_numpy()
            if len(codes) and codes.min() < 0:
                raise _Unclean()
            categories = keys_text(msisdn.cat.categories)
            if isinstance(categories, pa.ChunkedArray):
                categories = categories.combine_chunks()
            texts.append(categories.take(pa.array(codes)))
            table = pa.Table.from_pandas(frame, preserve_index=False)
            del frame, msisdn
            with pa.OSFile(str(_part_path(spill, len(texts) - 1)), "wb") as sink, \
                    pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            del table
            release_unused(collect=False)
        count = len(texts)
        every = pa.concat_arrays(texts) if texts else pa.array([], pa.large_string())
        del texts
        order = pc.sort_indices(every).to_numpy().astype(np.int64)
        ordered = every.take(pa.array(order))
        del every
        if len(ordered) > 1 and pc.any(pc.equal(ordered[1:], ordered[:-1])).as_py():
            raise _Unclean()  # a duplicate msisdn: the loader's key check names both lines
    except _Unclean:
        parts.close()
        shutil.rmtree(spill, ignore_errors=True)
        return None
    except BaseException:
        shutil.rmtree(spill, ignore_errors=True)
        raise
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    msisdns = pd.Index(pd.array(ordered, dtype="str"))
    return _People(msisdns, rank, spill=spill, parts=count)


def _others() -> list[str]:
    return [name for name in TABLES if name != "subscribers"]


def _file_of(directory: Path, name: str) -> bool:
    return any((directory / f"{name}{suffix}").is_file() for suffix in (".csv", ".parquet"))


def _route_table(router: "_Router", directory: Path, name: str, known: pd.Series, step: int,
                 written: Callable[[], WrittenBack] | None) -> list[Diagnostic]:
    """Route table `name` into the slices; its diagnostics ([] when it is valid)."""
    parts = table_parts(directory, name, step) if name not in COMPLETED or name == IN_PARTS_COMPLETED else None
    if parts is not None:
        try:
            frames = (_clean(part) for part in parts)
            if name == IN_PARTS_COMPLETED and written is not None:
                router.route_parts(name, *_with_contacts(frames, written()))
            else:
                router.route_parts(name, frames)
            return []
        except _Unclean:
            router.discard(name)
    frame, problems = read_table(directory, name, known, step)
    if problems or frame is None:
        return problems
    if written is not None and name in COMPLETED:
        frame = completed(name, frame, written())
    router.route(name, frame)  # valid, read whole: a small file, or parts that could not stand for it
    return []


def _with_contacts(frames, back: WrittenBack):
    """(contact_history's part frames, the tail `route_parts` appends after them): the
    written-back contacts that no part holds, in the whole table's dtypes."""
    held = np.zeros(len(back.contacts), dtype=bool)

    def seen():
        for frame in frames:
            held[:] |= held_contacts(back.contacts, frame)
            yield frame

    def tail(empty: pd.DataFrame) -> pd.DataFrame:
        return append_rows(empty, back.contacts.loc[~held, list(CONTACT_COLUMNS)])
    return seen(), tail


def _clean(part) -> pd.DataFrame:
    """A part's typed frame when every cell of it is valid; else _Unclean."""
    if part.whole or part.stage is not None or part.total or part.items or part.frame is None:
        raise _Unclean()
    frame, part.frame = part.frame, None
    return frame


class _Router:
    """Every routed table's rows into the slice files, one part at a time (module docstring)."""

    def __init__(self, folder: Path, slices: Slices, msisdns: pd.Index, names: tuple[str, ...]):
        self.slices, self.msisdns = slices, msisdns
        self.lookup = SortedLookup(msisdns)  # asked once per part of every table
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

    def route_parts(self, name: str, frames, tail: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> None:
        """Table `name` given as its parts' typed frames in file order, each let go once it is
        on disk (module docstring, step 2). _Unclean on a row whose msisdn is not a subscriber
        or a duplicate key (each key holds the msisdn, so a duplicate is within one slice).
        `tail(no rows in the whole table's dtypes)`: rows added after the parts (the closed
        loop's contacts); a row of no subscriber goes to no slice, as in `route`."""
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
            if tail is not None:
                added = tail(spill.dtypes())
                rank = self._ranks(added)
                spill.add(added, rank, np.where(rank >= 0, rank // self.slices.size, -1))
            for k in range(self.slices.count):
                rows = spill.bucket(k)
                if key and len(rows) > 1 and rows.duplicated(subset=key).any():
                    raise _Unclean()
                self._write(k, name, rows)
        finally:
            spill.remove()

    def _ranks(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's subscriber's rank (-1: its msisdn is not a subscriber's)."""
        return self.lookup.positions(frame["msisdn"], index_dtype(self.slices.subscribers))

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
        texts = any(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
                    or pa.types.is_large_binary(t) for t in table.schema.types)
        batch_of = np.full(self.count, -1, dtype=np.int64)
        path = self.folder / f"part-{len(self.batches):06d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            for k in np.flatnonzero(np.diff(bounds)).tolist():
                rows = table.slice(int(bounds[k]), int(bounds[k + 1] - bounds[k]))
                if texts:  # a slice of a text column would carry the part's text from its first row on
                    rows = rows.take(np.arange(rows.num_rows))
                (batch,) = rows.to_batches()
                writer.write_batch(batch)
                batch_of[k] = int(np.count_nonzero(batch_of >= 0))
        self.batches.append(batch_of)

    def dtypes(self) -> pd.DataFrame:
        """No rows, in the whole table's dtypes (of the parts added so far)."""
        return (concat_frames(self.heads) if self.heads else self.empty).iloc[:0]

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
            elif len(pieces) > 1 and isinstance(want, pd.StringDtype) and want.storage == "pyarrow":
                # one Arrow array per column, as the cut's `take` gives it (else one record batch per piece)
                text = pa.array(frame[name].array)
                frame[name] = pd.array(text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text, dtype=want)
        return frame

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
