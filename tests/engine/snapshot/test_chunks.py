"""A table file read in parts (engine/snapshot/chunks.py) gives the local loader's verdict on the
whole file: the same typed frame (dtypes, categories, row order) or the same diagnostics (codes,
files, lines, columns, messages, order). The parts are cut here as the Spark night cuts them
(engine/spark/chunked.py: consecutive lines after the header, or Parquet row groups); the
Spark reading itself is tested in tests/spark."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.snapshot.chunks import load_part, merge_parts, shift_part
from engine.snapshot.contract import TABLES
from engine.snapshot.loader import load_table


def cut_csv(path: Path, size: int, folder: Path) -> list[tuple[Path, int]]:
    """`path` cut into parts of about `size` bytes at line ends: each part a file holding the
    header line and its lines, with the shift that makes its lines the file's."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    header, rest = lines[0], lines[1:]
    parts, start, taken = [], 0, 0
    for k, line in enumerate(rest):
        taken += len(line) + 1
        if taken >= size or k == len(rest) - 1:
            parts.append((start, k + 1))
            start, taken = k + 1, 0
    out = []
    for n, (a, b) in enumerate(parts):
        target = folder / f"part{n}" / path.name
        target.parent.mkdir(parents=True)
        target.write_bytes(b"\n".join([header, *rest[a:b]]) + b"\n")
        out.append((target, a))  # part line 2 is file line a + 2
    return out


def read_in_parts(folder: Path, name: str, size: int, work: Path, known=None):
    """(frame, diagnostics) of `name` read in parts, the parts' folder replaced by `folder`."""
    csv = folder / f"{name}.csv"
    if csv.exists():
        file = str(csv)
        found = []
        for p, shift in cut_csv(csv, size, work):
            # read knowing its first line, or before (as Spark reads it) and moved after: the same
            found.append(load_part(p, name, line_shift=shift))
            moved = shift_part(load_part(p, name), shift)
            assert (moved.diagnostics, moved.items, moved.field_rows, moved.first) == \
                (found[-1].diagnostics, found[-1].items, found[-1].field_rows, found[-1].first)
            assert (moved.lines is None and found[-1].lines is None) or (moved.lines == found[-1].lines).all()
            _rename(found[-1], str(p), file)
    else:
        path = folder / f"{name}.parquet"
        meta = pq.ParquetFile(path).metadata
        first, found = 0, []
        for g in range(meta.num_row_groups):
            found.append(load_part(path, name, row_group=g, first_row=first))
            first += meta.row_group(g).num_rows
        file = str(path)
    assert not any(p.whole for p in found)
    return merge_parts(name, file, found, known), len(found)


def _rename(part, old: str, new: str) -> None:
    """The part's diagnostics naming the whole file (the Spark executor does the same)."""
    def renamed(found):
        return [dataclasses.replace(d, file=d.file.replace(old, new), message=d.message.replace(old, new))
                for d in found]

    part.diagnostics, part.items = renamed(part.diagnostics), renamed(part.items)
    part.field_rows = list(part.field_rows)


def _same(folder: Path, name: str, size: int, work: Path, known=None, parts_at_least=2):
    expected = load_table(folder, name, known)
    (frame, diags), parts = read_in_parts(folder, name, size, work, known)
    assert parts >= parts_at_least
    assert [d.to_dict() for d in diags] == [d.to_dict() for d in expected[1]]
    if expected[0] is None:
        assert frame is None
    else:
        pd.testing.assert_frame_equal(frame, expected[0], check_exact=True)
    return diags


def test_the_generated_snapshot_read_in_parts_is_the_local_load(night_inputs, tmp_path):
    subscribers, _ = load_table(night_inputs.data, "subscribers")
    for name in TABLES:
        if (night_inputs.data / f"{name}.csv").exists():
            size = (night_inputs.data / f"{name}.csv").stat().st_size
            _same(night_inputs.data, name, size // 3, tmp_path / name, subscribers["msisdn"], parts_at_least=3)


@pytest.fixture
def usage(night_inputs, tmp_path):
    """A folder with subscribers and the first 1,500 usage lines (about 60 KB: 6 parts of 10 KB)."""
    folder = tmp_path / "snap"
    folder.mkdir()
    shutil.copy(night_inputs.data / "subscribers.csv", folder)
    lines = (night_inputs.data / "usage_monthly.csv").read_bytes().split(b"\n")[:1501]
    (folder / "usage_monthly.csv").write_bytes(b"\n".join(lines) + b"\n")
    return folder


def _lines(folder: Path, name: str = "usage_monthly.csv") -> list[bytes]:
    return (folder / name).read_bytes().split(b"\n")


def _write(folder: Path, lines: list[bytes], name: str = "usage_monthly.csv") -> None:
    (folder / name).write_bytes(b"\n".join(lines))


def _cell(line: bytes, column: int, value: bytes) -> bytes:
    cells = line.split(b",")
    cells[column] = value
    return b",".join(cells)


def _known(folder: Path):
    return load_table(folder, "subscribers")[0]["msisdn"]


def _check(folder, tmp_path, size=10_000):
    return _same(folder, "usage_monthly", size, tmp_path / "parts", _known(folder))


def test_a_broken_cell_in_the_second_part_names_its_line(usage, tmp_path):
    lines = _lines(usage)
    lines[399] = _cell(lines[399], 3, b"many")  # line 400: uses, in the second 10 KB part
    _write(usage, lines)
    diags = _check(usage, tmp_path)
    assert [(d.code, d.line, d.column) for d in diags] == [("DC024", 400, 4)]


def test_a_duplicate_key_split_across_two_parts_is_found(usage, tmp_path):
    lines = _lines(usage)
    lines[1200] = lines[9]  # line 1201 repeats line 10's (msisdn, service, month)
    _write(usage, lines)
    diags = _check(usage, tmp_path)
    assert [(d.code, d.line) for d in diags] == [("DC011", 1201)]
    assert "on lines 10 and 1201" in diags[0].message


def test_many_problems_over_all_parts_are_cut_and_counted_as_in_the_whole_file(usage, tmp_path):
    lines = _lines(usage)
    for n in range(5, 1500, 13):  # 115 bad cells in every part
        lines[n] = _cell(lines[n], 4, b"x")
    lines[700] = _cell(lines[700], 5, b"-1")  # traffic_mb negative: a value check, in another column
    _write(usage, lines)
    diags = _check(usage, tmp_path)
    assert diags[-1].code == "DC099" and len(diags) == 51


def test_a_column_that_failed_typing_anywhere_has_no_value_checks(usage, tmp_path):
    lines = _lines(usage)
    lines[3] = _cell(lines[3], 6, b"free")  # paid_amount not a number in the first part
    lines[1300] = _cell(lines[1300], 6, b"-5")  # and negative in the last: not reported locally
    lines[1310] = _cell(lines[1310], 3, b"-5")  # uses negative: reported
    _write(usage, lines)
    diags = _check(usage, tmp_path)
    assert [(d.code, d.line) for d in diags] == [("DC025", 4), ("DC034", 1311)]


def test_lines_with_the_wrong_number_of_fields_in_several_parts(usage, tmp_path):
    lines = _lines(usage)
    for n in range(20, 1500, 20):  # 75 lines, every part
        lines[n] = lines[n] + b",extra" + str(n).encode()
    _write(usage, lines)
    diags = _check(usage, tmp_path)
    assert diags[0].code == "DC099" and [d.code for d in diags[1:]] == ["DC006"] * 50


def test_crlf_blank_lines_and_a_byte_order_mark(usage, tmp_path):
    lines = [line + b"\r" for line in _lines(usage)[:-1]]
    lines[0] = b"\xef\xbb\xbf" + lines[0]
    for n in (300, 301, 900):
        lines.insert(n, b"")
    lines[1000] = _cell(lines[1000], 3, b"3.5")
    _write(usage, lines + [b""])
    diags = _check(usage, tmp_path)
    assert [(d.code, d.line) for d in diags] == [("DC024", 1001)]
    lines[1000] = _cell(lines[1000], 3, b"3\r")
    _write(usage, lines + [b""])
    _check(usage, tmp_path / "clean")


def test_bytes_that_are_not_utf8_and_msisdns_not_in_subscribers(usage, tmp_path):
    lines = _lines(usage)
    lines[1100] = b"13999999999" + lines[1100][11:]
    lines[1400] = b"13999999998" + lines[1400][11:]
    _write(usage, lines)
    assert [(d.code, d.line) for d in _check(usage, tmp_path)] == [("DC012", 1101), ("DC012", 1401)]
    lines[600] = _cell(lines[600], 1, b"mail\xffbox")
    _write(usage, lines)
    assert [(d.code, d.line) for d in _check(usage, tmp_path / "utf8")] == [("DC004", 601)]


def test_a_quoted_line_break_asks_for_the_whole_file(usage, tmp_path):
    lines = _lines(usage)
    lines[240] = _cell(lines[240], 1, b'"mail\nbox139"')  # near the end of the first part
    _write(usage, lines)
    parts = [load_part(p, "usage_monthly") for p, _s in cut_csv(usage / "usage_monthly.csv", 10_000, tmp_path)]
    assert any(p.whole for p in parts)
    # cut inside the quotes: the parts on both sides of the cut are flagged
    lines[240] = _cell(_lines(usage)[240], 1, b'"mail' + b"\n" * 200 + b'box139"')
    _write(usage, lines)
    parts = [load_part(p, "usage_monthly") for p, _s in cut_csv(usage / "usage_monthly.csv", 10_000, tmp_path / "inside")]
    assert sum(p.whole for p in parts) >= 2


def _parquet(folder: Path, rows: int = 300) -> Path:
    frame = pd.read_csv(folder / "usage_monthly.csv", dtype=str, keep_default_na=False)
    path = folder / "usage_monthly.parquet"
    (folder / "usage_monthly.csv").unlink()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name in ("uses", "active_days"):
        table = table.set_column(table.schema.get_field_index(name), name, table.column(name).cast(pa.int64()))
    pq.write_table(table, path, row_group_size=rows)
    return path


def test_a_parquet_table_split_by_row_group(usage, tmp_path):
    path = _parquet(usage)
    assert pq.ParquetFile(path).metadata.num_row_groups == 5
    _same(usage, "usage_monthly", 0, tmp_path, _known(usage), parts_at_least=5)
    table = pq.read_table(path)
    uses = table.column("uses").to_pylist()
    uses[700] = -3  # row 701, in the third row group
    table = table.set_column(table.schema.get_field_index("uses"), "uses", pa.array(uses, pa.int64()))
    pq.write_table(table, path, row_group_size=300)
    diags = _same(usage, "usage_monthly", 0, tmp_path, _known(usage), parts_at_least=5)
    assert [(d.code, d.line) for d in diags] == [("DC034", 702)] and diags[0].message.startswith("row 701:")
    months = table.column("month").to_pylist()
    msisdns, services = table.column("msisdn").to_pylist(), table.column("service").to_pylist()
    msisdns[1000], services[1000], months[1000] = msisdns[5], services[5], months[5]
    table = pq.read_table(path).set_column(0, "msisdn", pa.array(msisdns))
    table = table.set_column(1, "service", pa.array(services)).set_column(2, "month", pa.array(months))
    table = table.set_column(table.schema.get_field_index("active_days"), "active_days",
                             table.column("active_days").cast(pa.float64()))  # the wrong Parquet type
    pq.write_table(table, path, row_group_size=300)
    diags = _same(usage, "usage_monthly", 0, tmp_path, _known(usage), parts_at_least=5)
    assert [d.code for d in diags] == ["DC027", "DC034"]
