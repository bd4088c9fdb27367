"""A local night's slices go to files after scoring (engine/night/slicefiles.py): the facts a
worker builds from a slice's file are the facts of those subscribers in the whole snapshot, the
files exist only while the night runs, and nobody else can read them."""

from __future__ import annotations

import stat

import pandas as pd
import pytest

from engine.night.prepare import prepare_frame, score_base
from engine.night.run import SLICES, load_run_content, run_night
from engine.night.slicefiles import InMemory, SliceFiles
from engine.night.slices import plan_slices
from engine.snapshot.loader import load_snapshot
from nightly_inputs import RULES, STRATEGIES
from test_run import options


def test_a_slice_file_gives_the_facts_the_whole_snapshot_gives_its_subscribers(inputs, home, tmp_path):
    content = load_run_content(RULES, STRATEGIES)
    snapshot = load_snapshot(inputs.data)
    scores, versions = score_base(snapshot, inputs.as_of, content, inputs.models)
    plan = plan_slices(snapshot, 97)
    assert plan.count >= 3
    whole = InMemory(snapshot, plan, scores)
    files = SliceFiles.write(tmp_path / "slices", snapshot, plan, scores)
    assert sorted(p.name for p in (tmp_path / "slices").iterdir()) == \
        sorted([files.table_path(k, name).name for k in range(plan.count) for name in snapshot.tables]
               + [files.scores_path(k).name for k in range(plan.count)])
    seen = 0
    for k in range(plan.count):
        built = []
        for source in (whole, files):
            slice_snapshot, subscribers, slice_scores = source.open(k)
            built.append(prepare_frame(slice_snapshot, inputs.as_of, content, inputs.models, subscribers=subscribers,
                                       scores=(slice_scores, versions)))
        (frame, extras, _), (frame_f, extras_f, _) = built
        assert len(frame) > 0
        # Categorical columns of a slice file keep only the categories the slice uses: compare values.
        pd.testing.assert_frame_equal(frame_f, frame, check_exact=True, check_categorical=False)
        pd.testing.assert_frame_equal(extras_f, extras, check_exact=True, check_categorical=False)
        seen += len(frame)
    assert seen == len(prepare_frame(snapshot, inputs.as_of, content, inputs.models, scores=(scores, versions))[0])
    with pytest.raises(IndexError):
        files.open(plan.count)


def test_the_slice_files_exist_only_while_the_night_runs_and_are_private(inputs, home):
    opts = options(inputs, home, f"sqlite:///{home / 'night.db'}", workers=2, slice_size=150)
    seen = {}

    def progress(stage):
        if stage == "arbitrate":  # the workers have decided every slice from its file
            staged = [p for p in opts.out.parent.iterdir() if p.name.startswith(f".{opts.out.name}.tmp-")]
            folder = staged[0] / SLICES
            seen["files"] = sorted(folder.iterdir())
            seen["modes"] = {stat.S_IMODE(p.stat().st_mode) for p in seen["files"]}
            seen["folder_mode"] = stat.S_IMODE(folder.stat().st_mode)

    result = run_night(opts, progress=progress)
    assert len(seen["files"]) >= 2 and seen["modes"] == {0o600} and seen["folder_mode"] == 0o700
    assert not (opts.out / SLICES).exists() and not any(p.exists() for p in seen["files"])
    assert [p.name for p in opts.out.iterdir() if p.name.startswith(".")] == [".rekindle-run"]
    assert result.decisions > 0
