"""The monthly views and the silent/low-use report stream slice by slice (issue 10 §4): the files
are byte-identical whatever the slice size, one slice (the whole base at once) included."""

from __future__ import annotations

import pytest

from engine.night.slices import plan_slices
from engine.outputs.reports import silent_lowuse, to_csv
from engine.outputs.reports.silent_lowuse import load_segments
from engine.outputs.views import VIEWS, export_view
from engine.snapshot.loader import load_snapshot

WHOLE = 10**9  # one slice: the whole base's facts at once
SMALL = 433  # ~7 slices of the shared 3k-subscriber snapshot


@pytest.fixture(scope="module")
def snapshot(night_inputs):
    return load_snapshot(night_inputs.data)


def test_the_shared_snapshot_gives_several_slices(snapshot):
    assert plan_slices(snapshot, SMALL).count >= 5 and plan_slices(snapshot, WHOLE).count == 1


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_view_file_is_the_same_bytes_for_any_slice_size(run, tmp_path, view, suffix):
    _id, whole, rows = export_view(run.run_id, view, tmp_path / f"whole{suffix}", run.db_url, slice_size=WHOLE)
    _id, sliced, sliced_rows = export_view(run.run_id, view, tmp_path / f"sliced{suffix}", run.db_url,
                                           slice_size=SMALL)
    assert rows == sliced_rows > 0
    assert sliced.read_bytes() == whole.read_bytes()


def test_parquet_row_groups_do_not_follow_the_slices(run, tmp_path, monkeypatch):
    """Rows are regrouped into BATCH-row groups, so a slice boundary is not a row-group boundary."""
    import pyarrow.parquet as pq

    from engine.outputs import views

    monkeypatch.setattr(views, "BATCH", 1000)
    _id, path, rows = export_view(run.run_id, "front-desk", tmp_path / "fd.parquet", run.db_url, slice_size=SMALL)
    meta = pq.ParquetFile(path).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(sizes) == rows and all(size == 1000 for size in sizes[:-1]) and 0 < sizes[-1] <= 1000


@pytest.mark.parametrize("partial", [False, True])
def test_silent_lowuse_report_is_the_same_for_any_slice_size(snapshot, night_inputs, partial):
    from pathlib import Path

    segments = load_segments(Path(__file__).resolve().parents[3] / "rules")
    whole = silent_lowuse(snapshot, night_inputs.as_of, segments, include_partial=partial, slice_size=WHOLE)
    sliced = silent_lowuse(snapshot, night_inputs.as_of, segments, include_partial=partial, slice_size=SMALL)
    assert whole["subscribed"].sum() > 0 and whole["silent"].sum() > 0
    assert list(sliced.columns) == list(whole.columns) and sliced.dtypes.equals(whole.dtypes)
    assert to_csv(sliced) == to_csv(whole)
    assert sliced.equals(whole)
