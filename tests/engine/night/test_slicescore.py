"""A local night scores its base slice by slice (engine/night/slicescore.py): the scores each
slice's file carries are exactly the whole snapshot's (`score_snapshot` through `score_base`),
byte for byte, for the generated 3k (seed 11) and 20k (seed 7) snapshots in 1, 3 and 7 slices;
put back together in the base's order they are the whole base's frame (values, dtypes, index)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.facts.keys import join_index
from engine.generator import generate
from engine.night.prepare import base_scorer, score_base
from engine.night.run import load_run_content
from engine.night.slicefiles import SliceFiles, bytes_scores, scores_bytes, slice_scores
from engine.night.slices import plan_slices
from engine.night.slicescore import score_in_slices
from engine.scoring.parts import assemble
from engine.scoring.scoring import score_part, score_whole, subscriber_index
from engine.snapshot.loader import load_snapshot
from nightly_inputs import RULES, STRATEGIES


@pytest.fixture(scope="module")
def content():
    return load_run_content(RULES, STRATEGIES)


@pytest.fixture(scope="module")
def base20k(tmp_path_factory, night_inputs):
    folder = tmp_path_factory.mktemp("slicescore") / "snapshot"
    generate(folder, 20_000, 7, night_inputs.as_of)
    return folder


@pytest.fixture(scope="module")
def snapshots(night_inputs, base20k):
    return {"3k": night_inputs.data, "20k": base20k}


@pytest.mark.parametrize("base", ["3k", "20k"])
@pytest.mark.parametrize("count", [1, 3, 7])
def test_each_slice_file_holds_the_whole_bases_scores_of_its_subscribers(snapshots, night_inputs, content, tmp_path,
                                                                      base, count):
    folder = snapshots[base]
    whole_snapshot = load_snapshot(folder)
    whole, versions = score_base(whole_snapshot, night_inputs.as_of, content, night_inputs.models)
    msisdns = join_index(whole_snapshot).msisdns
    n = len(whole)
    del whole_snapshot

    snapshot = load_snapshot(folder)
    plan = plan_slices(snapshot, -(-n // count))
    assert plan.count == count
    files, got_versions = score_in_slices(snapshot, plan, tmp_path / "slices", night_inputs.as_of, content,
                                          night_inputs.models)
    assert got_versions == versions
    assert snapshot.tables == {}  # the base was let go
    for k in range(count):
        ranks = plan.ranks(k)
        expected = slice_scores(whole, msisdns[ranks])  # what a slice's file carried before (pack_slice)
        assert len(expected) == ranks.stop - ranks.start
        assert files.scores_path(k).read_bytes() == scores_bytes(expected)
        _tables, subscribers, scores = files.open(k)
        pd.testing.assert_frame_equal(scores, expected.rename_axis(None), check_exact=True)


@pytest.mark.parametrize("base", ["3k", "20k"])
@pytest.mark.parametrize("count", [1, 3, 7])
def test_the_parts_of_the_slices_put_together_are_the_whole_bases_scores(snapshots, night_inputs, content, tmp_path,
                                                                         base, count):
    snapshot = load_snapshot(snapshots[base])
    whole, versions = score_base(snapshot, night_inputs.as_of, content, night_inputs.models)
    using = base_scorer(night_inputs.as_of, content, night_inputs.models)
    plan = plan_slices(snapshot, -(-len(whole) // count))
    files = SliceFiles.write(tmp_path / "slices", snapshot, plan)
    row_of_rank = join_index(snapshot).row_of_rank
    parts = [(np.sort(row_of_rank[plan.ranks(k)]), score_part(using, files.tables(k).tables))
             for k in range(plan.count)]
    scores, got = score_whole(using, subscriber_index(snapshot.tables), assemble(parts, len(whole)))
    assert got == versions
    assert list(scores.dtypes) == list(whole.dtypes)
    pd.testing.assert_frame_equal(scores, whole, check_exact=True)
    assert scores.index.equals(whole.index) and scores.index.name == "msisdn"


def test_a_night_reads_scores_from_files_written_with_their_tables_as_well(night_inputs, content, tmp_path):
    """`SliceFiles.write` with the scores (the Spark night's bytes) and a local night's files
    (tables, then scores beside them) open to the same slice."""
    snapshot = load_snapshot(night_inputs.data)
    whole, _versions = score_base(snapshot, night_inputs.as_of, content, night_inputs.models)
    plan = plan_slices(snapshot, 1000)
    together = SliceFiles.write(tmp_path / "together", snapshot, plan, whole)
    apart, _ = score_in_slices(snapshot, plan, tmp_path / "apart", night_inputs.as_of, content, night_inputs.models)
    for k in range(plan.count):
        (a, ra, sa), (b, rb, sb) = together.open(k), apart.open(k)
        assert ra == rb and sorted(a.tables) == sorted(b.tables)
        for name in a.tables:
            pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True)
        pd.testing.assert_frame_equal(sa, sb, check_exact=True)
        assert not together.scores_path(k).exists() and apart.scores_path(k).exists()
    assert bytes_scores(apart.scores_path(0).read_bytes()).index.name is None
