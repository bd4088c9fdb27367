"""A local night reads its snapshot straight into slice files (engine/night/slicesplit.py): the
files are byte for byte those cut from the whole loaded snapshot (`SliceFiles.write`, the
in-memory reference), whatever the part size and the slice size; bad input gets exactly the
loader's diagnostics and leaves no slice folder; rows the closed loop appends go to their
subscriber's slice as they do in a night cut from the whole snapshot."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.base.diagnostics import DiagnosticError
from engine.facts.keys import join_index
from engine.night.slicefiles import SliceFiles
from engine.night.slices import plan_slices
from engine.night.slicesplit import load_into_slices
from engine.scoring.scoring import subscriber_index
from engine.snapshot.inparts import csv_pieces
from engine.snapshot.loader import load_snapshot
from engine.store.loopback import CONTACT_COLUMNS, SOURCE_COLUMNS, WrittenBack, merge_written_back

WHOLE = 1 << 40
_REFERENCE: dict = {}


def _reference(data: Path):
    """The whole snapshot, loaded once per test session (read-only)."""
    if data not in _REFERENCE:
        _REFERENCE[data] = load_snapshot(data)
    return _REFERENCE[data]


def _assert_same_files(expected: SliceFiles, got: SliceFiles) -> None:
    assert got.count == expected.count and got.names == expected.names
    for k in range(expected.count):
        for name in expected.names:
            assert got.table_path(k, name).read_bytes() == expected.table_path(k, name).read_bytes(), (k, name)
    assert sorted(p.name for p in got.folder.iterdir()) == sorted(p.name for p in expected.folder.iterdir())


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(part=st.sampled_from([WHOLE, 1 << 20, 200_000]), size=st.integers(min_value=150, max_value=4000),
       at_least=st.integers(min_value=1, max_value=3))
def test_a_snapshot_read_into_slices_is_the_whole_snapshot_cut_into_slices(night_inputs, part, size, at_least):
    snapshot = _reference(night_inputs.data)
    plan = plan_slices(snapshot, size, at_least=at_least)
    with tempfile.TemporaryDirectory() as tmp:
        expected = SliceFiles.write(Path(tmp) / "cut", snapshot, plan)
        staged = load_into_slices(night_inputs.data, Path(tmp) / "read", size, at_least, part_size=part)
        assert staged.slices == plan
        assert staged.index.equals(subscriber_index(snapshot.tables))
        assert np.array_equal(staged.row_of_rank, join_index(snapshot).row_of_rank)
        assert list(staged.whole) == ["content"]
        pd.testing.assert_frame_equal(staged.whole["content"], snapshot.tables["content"], check_exact=True)
        _assert_same_files(expected, staged.files)


def test_the_big_tables_really_went_through_parts(night_inputs):
    """The part size the hypothesis test uses cuts usage_monthly and subscriptions into many parts."""
    assert len(list(csv_pieces(night_inputs.data / "usage_monthly.csv", 200_000))) >= 5
    assert len(list(csv_pieces(night_inputs.data / "subscriptions.csv", 200_000))) >= 2
    assert len(list(csv_pieces(night_inputs.data / "subscribers.csv", 200_000))) >= 2


def _copy(night_inputs, tmp_path) -> Path:
    folder = tmp_path / "snapshot"
    shutil.copytree(night_inputs.data, folder)
    return folder


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def _verdict(folder: Path, part: int, slices: Path):
    """(load_snapshot's diagnostics, load_into_slices's) as dicts."""
    with pytest.raises(DiagnosticError) as whole:
        load_snapshot(folder, part_size=part)
    with pytest.raises(DiagnosticError) as read:
        load_into_slices(folder, slices, 400, 2, part_size=part)
    return [d.to_dict() for d in whole.value.diagnostics], [d.to_dict() for d in read.value.diagnostics]


def _duplicate_far_apart(folder: Path) -> None:
    lines = _lines(folder / "usage_monthly.csv")
    lines.append(lines[5])  # a row of the first part again in the last one
    (folder / "usage_monthly.csv").write_text("".join(lines), encoding="utf-8")


def _unknown_msisdn(folder: Path) -> None:
    lines = _lines(folder / "subscriptions.csv")
    lines[-3] = "19999999999" + lines[-3][lines[-3].index(","):]
    (folder / "subscriptions.csv").write_text("".join(lines), encoding="utf-8")


def _bad_cells_in_two_tables(folder: Path) -> None:
    for name, line in (("usage_monthly.csv", 1000), ("handset_changes.csv", 3)):
        lines = _lines(folder / name)
        cells = lines[line].split(",")
        cells[1] = "not-a-" + cells[1]
        lines[line] = ",".join(cells)
        (folder / name).write_text("".join(lines), encoding="utf-8")


def _bad_subscriber(folder: Path) -> None:
    lines = _lines(folder / "subscribers.csv")
    lines[10] = "12" + lines[10][2:]  # not a mobile number
    (folder / "subscribers.csv").write_text("".join(lines), encoding="utf-8")
    _duplicate_far_apart(folder)


def _subscriber_twice_far_apart(folder: Path) -> None:
    """The subscribers table read in parts: a duplicate msisdn is only seen once all are read."""
    lines = _lines(folder / "subscribers.csv")
    lines.append(lines[3])  # a subscriber of the first part again in the last one
    (folder / "subscribers.csv").write_text("".join(lines), encoding="utf-8")


def _line_break_in_a_quoted_cell(folder: Path) -> None:
    """A part that cannot stand for its lines: the table goes to the whole-file reader."""
    lines = _lines(folder / "usage_monthly.csv")
    cells = lines[2000].split(",")
    cells[1] = '"' + cells[1] + '\nmore"'
    lines[2000] = ",".join(cells)
    (folder / "usage_monthly.csv").write_text("".join(lines), encoding="utf-8")


def _no_subscriptions(folder: Path) -> None:
    (folder / "subscriptions.csv").unlink()


@pytest.mark.parametrize("break_it", [_duplicate_far_apart, _unknown_msisdn, _bad_cells_in_two_tables, _bad_subscriber,
                                      _subscriber_twice_far_apart, _line_break_in_a_quoted_cell, _no_subscriptions])
def test_bad_input_gets_the_loaders_diagnostics_and_leaves_no_slice_folder(night_inputs, tmp_path, break_it):
    folder = _copy(night_inputs, tmp_path)
    break_it(folder)
    expected, got = _verdict(folder, 200_000, tmp_path / "slices")
    assert got == expected and expected
    assert not (tmp_path / "slices").exists()


def test_quoted_cells_in_a_table_read_in_parts_are_cut_the_same(night_inputs, tmp_path):
    folder = _copy(night_inputs, tmp_path)
    lines = _lines(folder / "usage_monthly.csv")
    for i in range(1, len(lines), 7):
        cells = lines[i].rstrip("\n").split(",")
        cells[1] = '"' + cells[1].strip('"') + '"'
        lines[i] = ",".join(cells) + "\n"
    (folder / "usage_monthly.csv").write_text("".join(lines), encoding="utf-8")
    snapshot = load_snapshot(folder)
    plan = plan_slices(snapshot, 700, at_least=2)
    expected = SliceFiles.write(tmp_path / "cut", snapshot, plan)
    staged = load_into_slices(folder, tmp_path / "read", 700, 2, part_size=20_000)
    _assert_same_files(expected, staged.files)


def _written(snapshot, held_rows: int = 0) -> tuple[WrittenBack, WrittenBack]:
    """(what the loop writes back — three contacts, one of them for a number that is no longer a
    subscriber, then `held_rows` rows contact_history already holds —, the same without those)."""
    people = snapshot.tables["subscribers"]["msisdn"].astype(str).tolist()
    gone = "13000000001"
    assert gone not in people
    contacts = pd.DataFrame({
        "msisdn": [people[0], gone, people[-1]], "service": ["video", None, "reading"], "pack": ["lost"] * 3,
        "strategy": ["remind"] * 3, "channel": ["sms"] * 3,
        "contacted_on": pd.to_datetime(["2026-10-01"] * 3).astype("datetime64[s]"),
        "responded": pd.array([True, None, False], dtype="boolean"),
        "converted": pd.array([None, None, True], dtype="boolean"), "run_id": ["r"] * 3, "seq": [1, 2, 3]})
    own = snapshot.tables["contact_history"]
    held = own.iloc[np.linspace(0, len(own) - 1, held_rows).astype(int)] if held_rows else own.iloc[:0]
    held = pd.DataFrame({name: held[name].astype(object) for name in CONTACT_COLUMNS}).assign(run_id="r0", seq=0)
    lists = pd.DataFrame({"msisdn": [people[1], gone], "list": ["dnd", "dnd"],
                          "since": pd.to_datetime(["2026-10-02"] * 2).astype("datetime64[s]")})
    columns = list(CONTACT_COLUMNS + SOURCE_COLUMNS)
    back = pd.concat([contacts, held], ignore_index=True)[columns] if held_rows else contacts[columns]
    return WrittenBack(back, lists), WrittenBack(contacts[columns], lists)


@pytest.mark.parametrize("part, held_rows", [(None, 0), (30_000, 4)])
def test_rows_the_loop_appends_go_to_their_subscribers_slice(night_inputs, tmp_path, part, held_rows):
    """Written-back contacts and opt-outs (one of a number that is no longer a subscriber) are in
    the slice files as in a night cut from the whole snapshot after `merge_written_back`; contacts
    the snapshot's contact_history already holds are left out, whether it is read whole or, as
    here with 30 kB parts, in parts (each part's held contacts are seen)."""
    snapshot = load_snapshot(night_inputs.data)
    written, kept = _written(snapshot, held_rows)
    if part:
        assert len(list(csv_pieces(night_inputs.data / "contact_history.csv", part))) >= 3
    merge_written_back(snapshot, kept)
    plan = plan_slices(snapshot, 500, at_least=2)
    expected = SliceFiles.write(tmp_path / "cut", snapshot, plan)
    calls = []

    def fetch():
        calls.append("fetch")
        return written

    staged = load_into_slices(night_inputs.data, tmp_path / "read", 500, 2, fetch, part_size=part)
    assert calls and set(calls) == {"fetch"}
    _assert_same_files(expected, staged.files)
