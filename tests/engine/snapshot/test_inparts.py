"""The local loader reads a table file larger than the part size in parts (engine/snapshot/inparts.py)
and gives exactly what the whole-file read gives: the same typed frames (values, dtypes,
categories in order, row order) or the same diagnostics (codes, files, lines, columns, messages,
order, DC099 counts). Every comparison loads the same folder twice with `load_snapshot`: once
with a part size above every file (the whole-file read, the reference) and once with a small
one, checking the files were really cut."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.base.diagnostics import DiagnosticError
from engine.snapshot.contract import TABLES
from engine.snapshot.inparts import DEFAULT_PART, PART_ENV, PART_LINES, csv_pieces, lines_capped, part_bytes, table_parts
from engine.snapshot.loader import load_snapshot

WHOLE = 1 << 40
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    """The parts' temporary folders go here; every test ends with it empty."""
    folder = tmp_path / "os-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert list(folder.iterdir()) == []


def _load(folder: Path, size: int, tables=None):
    """(snapshot or None, diagnostics as dicts)."""
    try:
        return load_snapshot(folder, tables, part_size=size), []
    except DiagnosticError as error:
        return None, [d.to_dict() for d in error.diagnostics]


def _same(folder: Path, size: int, tables=None, cut: str = "usage_monthly.csv", pieces_at_least: int = 3):
    """Load whole and in parts: equal frames or equal diagnostics; returns the diagnostics."""
    if cut.endswith(".csv"):
        assert len(list(csv_pieces(folder / cut, size))) >= pieces_at_least
    whole, expected = _load(folder, WHOLE, tables)
    parts, found = _load(folder, size, tables)
    assert found == expected
    assert (whole is None) == (parts is None)
    if whole is not None:
        assert list(parts.tables) == list(whole.tables)
        for name, frame in whole.tables.items():
            pd.testing.assert_frame_equal(parts.tables[name], frame, check_exact=True)
            for column in frame.columns:
                if isinstance(frame[column].dtype, pd.CategoricalDtype):
                    assert list(parts.tables[name][column].cat.categories) == list(frame[column].cat.categories)
    return found


def test_the_generated_snapshot_loads_the_same_in_parts(night_inputs):
    sizes = {n: (night_inputs.data / f"{n}.csv").stat().st_size for n in TABLES
             if (night_inputs.data / f"{n}.csv").exists()}
    assert sizes["usage_monthly"] > 2_000_000
    # 64 KiB: usage_monthly in ~34 parts, subscribers and subscriptions in several, small tables whole
    _same(night_inputs.data, 64 << 10, pieces_at_least=30)
    assert len(list(csv_pieces(night_inputs.data / "subscribers.csv", 64 << 10))) >= 5


def test_a_file_of_short_lines_is_read_in_parts_of_fewer_bytes(tmp_path):
    """A part's memory follows its lines: short lines give parts of about PART_LINES lines."""
    path = tmp_path / "churn_labels.csv"
    line = b"13000000000,true,2026-10-01\n"  # 28 bytes
    lines = (2 << 20) // len(line)
    path.write_bytes(b"msisdn,churned,observed_on\n" + line * lines)
    assert abs(lines_capped(path, 64 << 20) - len(line) * PART_LINES) < len(line) * PART_LINES // 100
    assert lines_capped(path, 200_000) == 200_000  # a smaller part size stands
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / "churn_labels.csv").write_bytes(b"msisdn,churned,observed_on\n" + b"\n" * 2_000_000)
    assert lines_capped(tmp_path / "short" / "churn_labels.csv", 64 << 20) == 1 << 20  # never below 1 MiB


def test_the_split_reads_a_file_of_short_lines_in_parts_though_it_is_smaller_than_the_part_size(tmp_path):
    line = b"13000000000,true,2026-10-01\n"
    count = PART_LINES * 3 // 2
    (tmp_path / "churn_labels.csv").write_bytes(b"msisdn,churned,observed_on\n" + line * count)
    sizes = [p.rows for p in table_parts(tmp_path, "churn_labels", 64 << 20)]
    assert len(sizes) == 2 and sum(sizes) == count and max(sizes) <= PART_LINES * 101 // 100


def test_the_pieces_are_the_file_cut_at_line_ends(night_inputs):
    path = night_inputs.data / "subscriptions.csv"
    data = path.read_bytes()
    pieces = list(csv_pieces(path, 50_000))
    assert b"".join(p for p, _ in pieces) == data
    assert all(p.endswith(b"\n") for p, _ in pieces)
    line = 1
    for k, (piece, shift) in enumerate(pieces):
        if k:  # a later piece's first line is part line 2 (after the header put before it)
            assert 2 + shift == line
        line += piece.count(b"\n")


@pytest.fixture
def usage(night_inputs, tmp_path):
    """A folder with the first 1,500 usage lines (about 60 KB: 6 parts of 10 KB) and the
    subscribers they name, and 50 more (about 14 KB: subscribers is cut in two)."""
    folder = tmp_path / "snap"
    folder.mkdir()
    lines = (night_inputs.data / "usage_monthly.csv").read_bytes().split(b"\n")[:1501]
    (folder / "usage_monthly.csv").write_bytes(b"\n".join(lines) + b"\n")
    named = {line.split(b",", 1)[0] for line in lines[1:]}
    people = (night_inputs.data / "subscribers.csv").read_bytes().split(b"\n")
    kept = [k for k, line in enumerate(people[1:], 1) if line.split(b",", 1)[0] in named]
    people = [people[0]] + people[1:kept[-1] + 51]
    (folder / "subscribers.csv").write_bytes(b"\n".join(people) + b"\n")
    return folder


TABLES_HERE = ["subscribers", "usage_monthly"]


def _lines(folder: Path) -> list[bytes]:
    return (folder / "usage_monthly.csv").read_bytes().split(b"\n")


def _write(folder: Path, lines: list[bytes]) -> None:
    (folder / "usage_monthly.csv").write_bytes(b"\n".join(lines))


def _cell(line: bytes, column: int, value: bytes) -> bytes:
    cells = line.split(b",")
    cells[column] = value
    return b",".join(cells)


def _check(folder: Path, size: int = 10_000, pieces_at_least: int = 5):
    return _same(folder, size, TABLES_HERE, pieces_at_least=pieces_at_least)


def _codes(found) -> list[tuple]:
    return [(d["code"], d["line"], d["column"]) for d in found]


def test_a_clean_file_in_parts(usage):
    assert _check(usage) == []


def test_a_bad_cell_in_a_later_part_names_its_line(usage):
    lines = _lines(usage)
    lines[1199] = _cell(lines[1199], 3, b"many")  # line 1200: uses, in the fifth 10 KB part
    _write(usage, lines)
    found = _check(usage)
    assert _codes(found) == [("DC024", 1200, 4)]
    assert found[0]["file"] == str(usage / "usage_monthly.csv")


def test_a_column_typed_wider_in_one_part_is_typed_as_the_whole_file(usage):
    lines = _lines(usage)
    lines[1199] = _cell(lines[1199], 3, b"3000000000")  # uses beyond int32 in the fifth part only: int64
    _write(usage, lines)
    people = (usage / "subscribers.csv").read_bytes().rstrip(b"\n").split(b"\n")
    # circle_size (may be empty): empty in the first part only (float64 with NaN there), whole numbers after
    at = [c.strip(b'"') for c in people[0].split(b",")].index(b"circle_size")
    people = people[:1] + [_cell(line, at, b"" if k < 20 else b"%d" % k) for k, line in enumerate(people[1:])]
    (usage / "subscribers.csv").write_bytes(b"\n".join(people) + b"\n")
    assert _check(usage, pieces_at_least=5) == []
    snapshot = load_snapshot(usage, TABLES_HERE, part_size=10_000)
    assert snapshot.tables["usage_monthly"]["uses"].dtype == "int64"
    assert snapshot.tables["subscribers"]["circle_size"].dtype == "float64"
    assert len(list(csv_pieces(usage / "subscribers.csv", 10_000))) >= 2


def test_a_key_repeated_across_parts(usage):
    lines = _lines(usage)
    lines[1300] = lines[9]  # line 1301 repeats line 10's (msisdn, service, month)
    _write(usage, lines)
    found = _check(usage)
    assert _codes(found) == [("DC011", 1301, 1)] and "on lines 10 and 1301" in found[0]["message"]


def test_more_than_fifty_problems_over_the_parts_are_cut_and_counted(usage):
    lines = _lines(usage)
    for n in range(5, 1500, 13):  # 115 bad cells, in every part
        lines[n] = _cell(lines[n], 4, b"x")
    lines[700] = _cell(lines[700], 5, b"-1")
    _write(usage, lines)
    found = _check(usage)
    assert len(found) == 51 and found[-1]["code"] == "DC099" and "66 more problems" in found[-1]["message"]


def test_lines_with_the_wrong_number_of_fields_in_several_parts(usage):
    lines = _lines(usage)
    for n in range(20, 1500, 20):
        lines[n] = lines[n] + b",extra"
    _write(usage, lines)
    found = _check(usage)
    codes = [d["code"] for d in found]
    assert (codes.count("DC006"), codes.count("DC099"), len(codes)) == (50, 1, 51)
    assert "24 more problems" in found[codes.index("DC099")]["message"]


def test_crlf_a_byte_order_mark_and_parts_of_blank_lines_only(usage):
    lines = [line + b"\r" for line in _lines(usage)[:-1]]
    lines[0] = b"\xef\xbb\xbf" + lines[0]
    lines[900:900] = [b"\r"] * 1200 + [b""] * 600  # blank lines: 3 KB, a part or two of them at 1,000 bytes
    clean = lines[2800]
    lines[2800] = _cell(lines[2800], 3, b"3.5")
    _write(usage, lines + [b""])
    found = _same(usage, 1000, TABLES_HERE, pieces_at_least=60)
    assert _codes(found) == [("DC024", 2801, 4)]
    lines[2800] = clean
    _write(usage, lines + [b""])
    assert _same(usage, 1000, TABLES_HERE, pieces_at_least=60) == []


def test_no_line_break_at_the_end_and_a_header_longer_than_a_part(usage):
    data = (usage / "usage_monthly.csv").read_bytes().split(b"\n")[:80]
    (usage / "usage_monthly.csv").write_bytes(b"\n".join(data))
    assert not data[-1].endswith(b"\n") and len(data[0]) > 20
    assert _same(usage, 20, ["usage_monthly"], pieces_at_least=79) == []


def test_a_quoted_line_break_across_a_cut_is_read_whole(usage):
    size = 10_000
    first_cut = len(next(iter(csv_pieces(usage / "usage_monthly.csv", size)))[0])
    clean = _lines(usage)
    at = next(k for k in range(len(clean)) if sum(len(x) + 1 for x in clean[:k + 1]) > first_cut) - 1
    lines = list(clean)
    lines[at] = _cell(lines[at], 1, b'"mail' + b"\n" * 60 + b'box139"')  # runs over the first cut
    _write(usage, lines)
    assert "DC031" in [d["code"] for d in _check(usage, size)]
    lines = list(clean)
    lines[1000] = _cell(lines[1000], 1, b'"mail\nbox139"')  # inside one part
    _write(usage, lines)
    assert [d["code"] for d in _check(usage, size)] == ["DC021", "DC031"]  # not a service; a control character


def test_quoted_cells_in_every_part(usage):
    lines = _lines(usage)
    for n in range(3, 1500, 7):
        cells = lines[n].split(b",")
        cells[1] = b'"' + cells[1] + b'"'
        lines[n] = b",".join(cells)
    _write(usage, lines)
    assert _check(usage) == []


def test_bytes_that_are_not_utf8_and_msisdns_not_in_subscribers(usage):
    lines = _lines(usage)
    lines[1100] = b"13999999999" + lines[1100][11:]
    lines[1400] = b"13999999998" + lines[1400][11:]
    _write(usage, lines)
    assert _codes(_check(usage)) == [("DC012", 1101, 1), ("DC012", 1401, 1)]
    lines[600] = _cell(lines[600], 1, b"mail\xffbox")
    _write(usage, lines)
    assert [(d["code"], d["line"]) for d in _check(usage)] == [("DC004", 601)]


def test_a_wrong_header_is_the_files_verdict(usage):
    lines = _lines(usage)
    lines[0] = lines[0].replace(b"uses", b"usage")
    _write(usage, lines)
    assert [d["code"] for d in _check(usage)] == ["DC003"]


def test_a_parquet_file_of_several_row_groups(usage):
    frame = pd.read_csv(usage / "usage_monthly.csv", dtype=str, keep_default_na=False)
    (usage / "usage_monthly.csv").unlink()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name in ("uses", "active_days"):
        table = table.set_column(table.schema.get_field_index(name), name, table.column(name).cast(pa.int64()))
    path = usage / "usage_monthly.parquet"
    pq.write_table(table, path, row_group_size=300)
    assert pq.ParquetFile(path).metadata.num_row_groups == 5 and path.stat().st_size > 1000
    assert _same(usage, 1000, TABLES_HERE, cut="usage_monthly.parquet") == []
    uses = table.column("uses").to_pylist()
    uses[1000] = -3  # row 1001, in the fourth row group
    table = table.set_column(table.schema.get_field_index("uses"), "uses", pa.array(uses, pa.int64()))
    pq.write_table(table, path, row_group_size=300)
    found = _same(usage, 1000, TABLES_HERE, cut="usage_monthly.parquet")
    assert [(d["code"], d["line"]) for d in found] == [("DC034", 1002)]


@pytest.mark.parametrize("value", ["lots", "0", "-5", "1.5", "64M"])
def test_a_part_size_that_is_not_a_number_of_bytes_is_refused(usage, monkeypatch, value):
    monkeypatch.setenv(PART_ENV, value)
    with pytest.raises(DiagnosticError) as raised:
        load_snapshot(usage, TABLES_HERE)
    (diag,) = raised.value.diagnostics
    assert diag.code == "DC040" and f"{PART_ENV}={value!r}" in diag.message and "whole number" in diag.hint


def test_the_part_size_comes_from_the_environment(usage, monkeypatch):
    whole = load_snapshot(usage, TABLES_HERE, part_size=WHOLE)
    assert part_bytes() == DEFAULT_PART == 64 << 20
    monkeypatch.setenv(PART_ENV, "4096")
    assert part_bytes() == 4096 and part_bytes(10) == 10
    parts = load_snapshot(usage, TABLES_HERE)
    for name in TABLES_HERE:
        pd.testing.assert_frame_equal(parts[name], whole[name], check_exact=True)


def test_an_interrupted_load_leaves_no_part_behind(night_inputs, tmp_path):
    """A real process loading in 1 KB parts, interrupted (SIGINT) while a part is on disk."""
    folder = tmp_path / "tmp-of-child"
    folder.mkdir()
    code = "from engine.snapshot.loader import load_snapshot; load_snapshot(%r, part_size=1000)" % str(night_inputs.data)
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, TMPDIR=str(folder)),
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        # (the first entry may be the file Python's tempfile writes and removes to probe the folder)
        while not any(p.name.startswith("rekindle-load-") for p in folder.iterdir()) \
                and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        assert [p.name[:14] for p in folder.iterdir()] == ["rekindle-load-"]
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != 0 and b"KeyboardInterrupt" in err
    assert list(folder.iterdir()) == []
