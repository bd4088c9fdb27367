"""One table file read in parts and put back together: the local loader's verdict on the whole file.

A table file too large for one task (the Spark night, engine/spark/chunked.py: a 30M base's
usage_monthly.csv is ~22 GB, beyond one Spark record) is read in parts: a CSV file as its header
line followed by a run of consecutive lines, each part knowing the file line its first data line
is (`line_shift`); a Parquet file one row group at a time, each knowing its first row. Every
part is read and typed by the loader's own code (`read_csv` / `read_parquet`, the cell checks and
compact typing of `table._type_cells`), so every diagnostic names the file's own line (or row),
column, value and what to do. `merge_parts` then decides what `load_table` decides on the whole
file, from the parts alone:

- **header problems** (missing or twice-named columns, no header, a header that is not UTF-8;
  for Parquet an unreadable footer or column): every part has the same header, so the first
  part's (Parquet: every part's, each problem once);
- **bytes Arrow refuses** (CSV): the first bytes that are not UTF-8 in the file (the earliest
  part's), else the lines longer than Arrow's block (all parts', the first MAX_PER_FILE), else
  the first part's parse error;
- **lines with the wrong number of fields**: all parts' in file order, the first MAX_PER_FILE
  and a DC099 count of the rest, as `read_csv` reports them;
- **cells**: every part's problems (each part keeps, per failed check, the first MAX_PER_FILE
  cells), sorted and cut to MAX_PER_FILE with the DC099 count over all parts — the same as the
  whole file's, since a part's extra cells sort after the file's first MAX_PER_FILE of the same
  check; a column that failed typing in any part has no value checks (DC034/DC035) in the
  others, as in the whole file; a Parquet column of the wrong type (DC027) is reported once;
- **duplicate keys** (DC011), only when no cell failed: `table._check_keys` on the whole
  table's key columns. Where every key column is text typed one to one as a categorical
  (msisdn, service, month, list: `_text_keys`), on the typed frame's category codes, once the
  frame is put together; else on the parts' key columns put end to end (each part ships them
  dictionary-encoded). The codes stand for the text, so the same rows collide and the messages
  show the same values; a part holds no second copy of its keys (at 1M subscribers the
  usage_monthly parts' copies were ~0.25 GB of the loading peak);
- **msisdns not in subscribers** (DC012), only when the table is clean: the loader's
  reference check on the frame put together (with the frame, as `load_table` returns it);
- the **typed frame**: the parts' compact frames end to end, in file order, with the dtypes the
  whole column gets (the union of the text categories, sorted; int64 or float64 when any part
  needed them).

A CSV part may be read before the line its first line is in the file is known (the Spark
reader learns it from the other parts' line counts): `shift_part` then moves its lines.

A CSV part knows when it cannot stand for its lines: an odd number of quote characters (a
quoted field runs over its edge) or fewer records than non-blank lines (a quoted field holds a
line break, after which the loader's line numbers count records, not lines). Such a file is
then read whole (`Part.whole`); a line break inside a cell is refused anyway (DC031).

Known difference: when the same malformed line (wrong number of fields) appears twice, the
whole-file reader names the first occurrence's line for both; a later part names its own copy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.base.diagnostics import Diagnostic
from engine.base.memory import release_unused
from engine.snapshot import contract, rules
from engine.snapshot.compact import TEXT
from engine.snapshot.contract import TABLES
from engine.snapshot.csvfile import read_csv, wrong_field_counts
from engine.snapshot.table import REFERENCING, _check_keys, _check_references, _Problems, _type_cells
from engine.snapshot.parquetfile import read_parquet
from engine.snapshot.raw import MAX_PER_FILE, Raw

VALUE_CHECKS = (rules.NEGATIVE, rules.ABOVE_ONE)  # run only on a column that typed


@dataclass
class Part:
    """What one part of a table file contributes to the file's verdict (module docstring)."""

    name: str
    unit: str  # "line" (CSV) or "row" (Parquet)
    stage: str | None = None  # None: read; else what stopped the reading ("header", "raised", "fields")
    diagnostics: list[Diagnostic] = field(default_factory=list)  # the reading's, when stage is set
    field_rows: list[tuple[int | None, str]] = field(default_factory=list)
    field_total: int = 0
    fields: int = 0  # fields of the header
    items: list[Diagnostic] = field(default_factory=list)  # cell problems, before the cut
    total: int = 0
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    unparsed: set[str] = field(default_factory=set)
    frame: pd.DataFrame | None = None
    keys: pa.Table | None = None  # the key columns, dictionary-encoded
    rows: int = 0
    positions: dict[str, int] = field(default_factory=dict)  # column -> position in the file
    first: int = 0  # CSV: the line of row 0; Parquet: the file's row index of row 0
    lines: np.ndarray | None = None  # CSV: each row's line, when they are not consecutive
    whole: bool = False  # the part cannot stand for its lines: read the file whole


def load_part(path: Path, name: str, *, line_shift: int = 0, row_group: int | None = None, first_row: int = 0,
              source=None) -> Part:
    """One part of table `name`'s file: for CSV `path` holds the header line and the part's
    lines (file line = part line + `line_shift`); for Parquet `row_group` of `path` (or of
    `source`, an open file, `path` then naming it), starting at the file's row `first_row`."""
    table = TABLES[name]
    report: dict = {}
    if path.suffix == ".csv":
        raw, diags = read_csv(path, table, line_shift, report)
        part = Part(name, "line", stage=report.get("stage"), whole=_odd_quotes(path))
    else:
        raw, diags = read_parquet(path, table, row_group, first_row, source)
        part = Part(name, "row", stage=None if raw is not None else "header")
    if raw is None:
        part.diagnostics = diags
        part.field_rows, part.field_total = report.get("field_rows", []), report.get("field_total", 0)
        part.fields = report.get("fields", 0)
        return part
    part.rows, part.positions = raw.rows, dict(raw.positions)
    if part.unit == "line":
        lines = raw.data_lines()
        if len(lines) != raw.rows:  # a quoted field holds a line break
            part.whole = True
        elif raw.rows:
            part.first = int(lines[0]) + line_shift
            if int(lines[-1]) - int(lines[0]) != raw.rows - 1:  # blank lines among them
                part.lines = lines + line_shift
    else:
        part.first = first_row
    if table.key and not _text_keys(table, raw):
        part.keys = pa.table({n: raw.dictionary(n) for n in table.key})
    frame, problems = _type_cells(table, raw, compact_dtypes=True, keys=False)
    part.items, part.total, part.counts, part.unparsed = problems.items, problems.total, problems.counts, \
        problems.unparsed
    part.frame = frame
    return part


def _text_keys(table, raw: Raw) -> bool:
    """Whether the typed frame's key columns stand for the key text one to one, so `merge_parts`
    checks the keys on the typed categories instead of a copy of the key columns per part.

    A key column of text that may not be empty (msisdn, an enum such as service, a month) is
    typed as a categorical of its very strings (engine.snapshot.compact: one category per
    distinct text, nothing trimmed or parsed), so two rows share a category code exactly when
    they share the text. Any other key column (a date, a Parquet column of another type) keeps
    the copy."""
    kinds = (contract.STRING, contract.ENUM, contract.MONTH)
    for name in table.key:
        column = table.column(name)
        values = raw.columns.get(name)
        if column.kind not in kinds or column.nullable or values is None \
                or not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            return False
    return True


def shift_part(part: Part, shift: int) -> Part:
    """A CSV part read with its lines counted from its own header (`line_shift` 0) as if read
    with `line_shift` = `shift`: every line it names moves, the header's (line 1) excepted."""
    if part.unit != "line" or not shift:
        return part

    def moved(found: list[Diagnostic]) -> list[Diagnostic]:
        return [dataclasses.replace(d, line=d.line + shift) if d.line is not None and d.line > 1 else d for d in found]

    part.diagnostics, part.items = moved(part.diagnostics), moved(part.items)
    part.field_rows = [(line + shift if line is not None and line > 1 else line, text) for line, text in part.field_rows]
    if part.rows:
        part.first += shift
    if part.lines is not None:
        part.lines = part.lines + shift
    return part


def _odd_quotes(path: Path) -> bool:
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    return bool(np.count_nonzero(data == ord('"')) % 2)


class PartsRaw(Raw):
    """A Raw over the parts' key columns put end to end: rows map to the parts' lines or rows."""

    def __init__(self, file: str, unit: str, parts: list[Part], columns: dict, positions: dict):
        super().__init__(file=file, columns=columns, positions=positions, rows=sum(p.rows for p in parts),
                         line_offset=2, unit=unit)
        self.parts = parts
        self.starts = np.cumsum([0] + [p.rows for p in parts])

    def _where(self, row: int) -> tuple[Part, int]:
        k = int(np.searchsorted(self.starts, row, side="right")) - 1
        return self.parts[k], int(row) - int(self.starts[k])

    def line(self, row: int) -> int:
        part, at = self._where(row)
        if part.unit == "row":
            return part.first + at + 2
        return int(part.lines[at]) if part.lines is not None else part.first + at

    def number(self, row: int) -> int:
        part, at = self._where(row)
        return self.line(row) if part.unit == "line" else part.first + at + 1


def merge_parts(name: str, file: str, parts: list[Part], known: pd.Series | None = None) -> tuple[pd.DataFrame | None, list[Diagnostic]]:
    """The whole file's typed frame or problems, from its parts in file order (module docstring).
    `file` names the file as the parts' diagnostics do; `known`: the subscribers' typed msisdn
    column, for the reference check (as `load_table`'s). The parts are consumed: their key
    columns and frames are released as the whole table's are built (read them again to merge
    again)."""
    table = TABLES[name]
    header = [p for p in parts if p.stage == "header"]
    if header:
        if header[0].unit == "line":
            return None, header[0].diagnostics
        seen, out = set(), []
        for d in (d for p in header for d in p.diagnostics):
            if d.sort_key() not in seen:
                seen.add(d.sort_key())
                out.append(d)
        return None, out
    raised = [p for p in parts if p.stage == "raised"]
    if raised:
        for p in raised:
            if any(d.code == "DC004" for d in p.diagnostics):
                return None, [d for d in p.diagnostics if d.code == "DC004"]
        long = [d for p in raised for d in p.diagnostics if d.code == rules.LINE_TOO_LONG]
        return (None, long[:MAX_PER_FILE]) if long else (None, raised[0].diagnostics)
    broken = [p for p in parts if p.stage == "fields"]
    if broken:
        found = [r for p in broken for r in p.field_rows]
        return None, wrong_field_counts(file, found, sum(p.field_total for p in broken), broken[0].fields)
    positions = parts[0].positions
    stub = Raw(file=file, columns={}, positions=positions, rows=0, line_offset=2, unit=parts[0].unit)
    cells = _Problems(stub)
    unparsed = set().union(*(p.unparsed for p in parts))
    for k, p in enumerate(parts):
        cells.total += p.total
        for (column, code), n in p.counts.items():
            if code in VALUE_CHECKS and column in unparsed:
                cells.total -= n
        for d in p.items:
            if d.code in VALUE_CHECKS and d.path in unparsed:
                continue
            if d.code == "DC027" and k > 0:  # the column's Parquet type: every row group has it
                cells.total -= 1
                continue
            cells.items.append(d)
    if cells.total:
        return None, cells.diagnostics()
    in_frame = all(p.keys is None for p in parts)  # the key text is the frame's categories (`_text_keys`)
    if table.key and not in_frame:
        keys = PartsRaw(file, parts[0].unit, parts, {}, positions)
        for n in table.key:
            column = pa.chunked_array([p.keys.column(n).combine_chunks() for p in parts]).unify_dictionaries() \
                if parts else pa.chunked_array([], pa.string())
            for p in parts:  # consumed column by column: the merged codes stand for them
                p.keys = p.keys.drop_columns([n])
            # one array per key column: its codes for the check, its text (through the dictionary) for a message
            keys.columns[n] = keys.encoded[n] = column.combine_chunks()
            del column
        _check_keys(table, keys, cells)
        del keys
        if cells.total:
            return None, cells.diagnostics()
    frames = [p.frame for p in parts]
    for p in parts:
        p.frame = None  # consumed column by column while the whole table's frame is built
    frame = concat_frames(frames, release=True)
    del frames
    if table.key and in_frame:
        _check_keys(table, _frame_keys(file, parts, frame, positions, table.key), cells)
        if cells.total:
            return None, cells.diagnostics()
    if known is None or name not in REFERENCING:
        return frame, []
    rows = PartsRaw(file, parts[0].unit, parts, {}, positions)
    return frame, _check_references(rows, frame["msisdn"], known)


def _frame_keys(file: str, parts: list[Part], frame: pd.DataFrame, positions: dict, key: tuple) -> "PartsRaw":
    """The key columns of the typed frame as the key check reads them: dictionary arrays over
    the categories (the key text), its codes without a copy."""
    keys = PartsRaw(file, parts[0].unit, parts, {}, positions)
    for n in key:
        values = frame[n].array
        codes = np.asarray(values.codes)
        keys.columns[n] = keys.encoded[n] = pa.DictionaryArray.from_arrays(
            pa.array(codes, mask=codes < 0), pa.array(values.categories.array))
    return keys


def concat_frames(frames: list[pd.DataFrame], release: bool = False) -> pd.DataFrame:
    """Compact frames of consecutive parts of one table as the whole table's compact frame
    (engine.snapshot.compact): text categories are the union of the parts', sorted as
    `compact.categorical` sorts them; numbers take the widest part's dtype (int32 < int64 <
    float64, as `compact.whole_numbers` would have chosen for the whole column). With `release`
    each part's column is dropped as soon as it is copied into the whole column, so the table is
    held about once plus one part's column, not twice (the local loader's peak,
    engine/snapshot/inparts.py)."""
    if len(frames) == 1:
        return frames[0]
    rows = sum(len(f) for f in frames)
    out = pd.DataFrame(index=pd.RangeIndex(rows))
    for name in list(frames[0].columns):
        dtypes = [f[name].dtype for f in frames]
        if isinstance(dtypes[0], pd.CategoricalDtype):
            values = _categories(frames, name, rows, release)
        elif _numpy_joinable(dtypes):
            values = np.empty(rows, dtype=np.result_type(*dtypes))  # what pd.concat makes of these dtypes
            at = 0
            for f in frames:
                values[at:at + len(f)] = f[name].to_numpy()
                at += len(f)
                if release:
                    del f[name]
        else:  # Arrow text, nullable booleans: pandas joins its own arrays
            values = pd.concat([f[name] for f in frames], ignore_index=True).array
        out[name] = pd.Series(values, index=out.index, name=name, copy=False)
        if release:
            for f in frames:
                if name in f.columns:
                    del f[name]
            release_unused(collect=False)  # the parts' column, before the next column is built
    return out


def _numpy_joinable(dtypes: list) -> bool:
    """Whether numpy's common dtype of the parts' columns is the one pd.concat gives: numbers
    (int32, int64, float64 — a part's whole numbers widen as the whole column's would), or one
    and the same bool or datetime dtype in every part."""
    if not all(isinstance(d, np.dtype) for d in dtypes):
        return False
    kinds = {d.kind for d in dtypes}
    return kinds <= set("iuf") or (len(set(dtypes)) == 1 and kinds <= set("bM"))


def _categories(frames: list[pd.DataFrame], name: str, rows: int, release: bool) -> pd.Categorical:
    """The parts' categoricals `name` as one: the union of their categories, sorted, and the
    codes of every part moved onto it, written into one array (each part's column dropped once
    moved, with `release`)."""
    columns = [f[name] for f in frames]
    first = columns[0].cat.categories
    same = all(c.cat.categories.equals(first) for c in columns[1:])  # an enum: every allowed value, in every part
    dtype = columns[0].dtype
    if not same:
        words = pa.chunked_array([pa.array(c.cat.categories.array, pa.large_string()) for c in columns]).unique()
        words = pc.take(words, pc.array_sort_indices(words))
        dtype = pd.CategoricalDtype(pd.Index(pd.arrays.ArrowStringArray(words, dtype=TEXT)))
    remaps = [None if same else np.append(pc.index_in(pa.array(c.cat.categories.array, pa.large_string()),
                                                      value_set=words).to_numpy(), -1)  # code -1 stays missing
              for c in columns]
    del columns
    codes = np.empty(rows, dtype=pd.Categorical.from_codes([], dtype=dtype).codes.dtype)  # pandas' width for them
    at = 0
    for f, remap in zip(frames, remaps):
        part = f[name].cat.codes.to_numpy()
        codes[at:at + len(part)] = part if remap is None else remap[part]
        at += len(part)
        del part
        if release:
            del f[name]
    return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)
