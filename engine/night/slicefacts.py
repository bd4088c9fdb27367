"""A slice's facts kept between the decide and rows stages, so the rows stage does not build them again.

Why: a worker builds a slice's facts in the decide stage (read the slice's files, `prepare_frame`,
the packs' scopes) and needed them again, after arbitration, to build the slice's rows; building
them twice was ~15% of the rows stage's CPU (docs/SCALE.md, "The rows stage"). Holding every
slice's facts in the worker until then would make its memory grow with the base, so the decide
stage writes what the rows stage reads of a slice — its facts in some pack's scope, their extras
(account manager's name, the segmentation rules that matched, the scope bits) and the
out-of-scope facts' msisdn/service/segment — to one file beside the slice's files, and the rows
stage reads it back.

The same facts: the frames read back are the frames written, column for column and dtype for
dtype (tests/engine/night/test_slicefacts.py holds them equal, and the rows built from them equal
to the rows built from facts built again). Arrow IPC keeps the dtypes through pandas metadata;
the one column Arrow cannot give back as it was, `segment_rules` (a tuple of rule ids per fact),
is stored as a list and made a tuple again on reading, and an object column of text and missing
values comes back as Python objects (pandas would read it as its text dtype). A frame holding any other column of
Python objects that are not text is refused when written (`UnkeptColumn`): the caller then
builds the facts again, as before.

Format: one Arrow IPC stream, a table of (name, data) whose data are the three frames' own IPC
streams ("inside", "extras", "outside"). Data only: reading it runs no code. Where: the run's
private staging folder (engine/night/slicefiles.py `SliceFiles.facts_path`), removed with the
slice files before the commit; a killed run's goes with its staging folder.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa

PARTS = ("inside", "extras", "outside")
TUPLES = ("segment_rules",)  # object columns of tuples of text, stored as lists
OBJECTS = b"rekindle.objects"  # schema metadata: the frame's object columns (JSON list of names)


class UnkeptColumn(ValueError):
    """A frame holds a column of Python objects this file cannot give back as they were."""


def _check(name: str, frame: pd.DataFrame) -> None:
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        kinds = {type(v) for v in frame[column].tolist()}
        allowed = {tuple} if column in TUPLES else {str, type(None)}
        if not kinds <= allowed:
            raise UnkeptColumn(f"{name} column {column!r} holds {sorted(k.__name__ for k in kinds)}")
        if column in TUPLES and any(type(x) is not str for v in frame[column].unique() for x in v):
            raise UnkeptColumn(f"{name} column {column!r} holds tuples of other than text")


def _stream(frame: pd.DataFrame) -> bytes:
    """One frame as an Arrow IPC stream; its object columns are named in the schema's metadata."""
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    objects = [str(c) for c in frame.columns if frame[c].dtype == object]
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), OBJECTS: json.dumps(objects)})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _frame(blob: bytes) -> pd.DataFrame:
    """The frame `_stream` wrote: object columns of text and missing values come back as Python
    objects (pandas would make them its text dtype), tuples as tuples (Arrow gives lists)."""
    with pa.ipc.open_stream(io.BytesIO(blob)) as reader:
        table = reader.read_all()
    objects = json.loads(table.schema.metadata.get(OBJECTS, b"[]"))
    frame = table.to_pandas()
    for column in objects:
        cells = table.column(column).to_pylist()
        if column in TUPLES:
            cells = _tuples(cells)
        frame[column] = pd.Series(cells, index=frame.index, dtype=object)
    return frame


def _tuples(cells: list) -> list[tuple]:
    """Each cell (a list as Arrow gives it back) as a tuple, one tuple object per distinct value."""
    cache: dict[tuple, tuple] = {}
    out = []
    for cell in cells:
        key = tuple(cell)
        out.append(cache.setdefault(key, key))
    return out


def write_facts(path: Path, inside: pd.DataFrame, extras: pd.DataFrame, outside: pd.DataFrame) -> None:
    """The three frames `SliceRunner._frame` gives, into `path` (written whole, then renamed)."""
    frames = dict(zip(PARTS, (inside, extras, outside)))
    for name, frame in frames.items():
        _check(name, frame)
    table = pa.table({"name": pa.array(list(PARTS), pa.string()),
                      "data": pa.array([_stream(frames[name]) for name in PARTS], pa.large_binary())})
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(tmp, path)


def read_facts(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(inside, extras, outside) as `write_facts` was given them (a fresh RangeIndex each)."""
    with pa.memory_map(str(path)) as source, pa.ipc.open_stream(source) as reader:
        table = reader.read_all()
    parts = dict(zip(table.column("name").to_pylist(), table.column("data").to_pylist()))
    if set(parts) != set(PARTS):
        raise ValueError(f"{path} holds {sorted(parts)}, not a slice's facts {list(PARTS)}")
    return tuple(_frame(parts[name]) for name in PARTS)
