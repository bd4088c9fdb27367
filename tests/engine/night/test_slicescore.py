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


def test_slice_files_written_with_the_scores_at_once_are_those_scored_slice_by_slice(night_inputs, content, tmp_path):
    """`SliceFiles.write` with the base's scores and a night's files (tables, then each slice
    scored from them) are the same files and open to the same slice."""
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
        assert together.scores_path(k).read_bytes() == apart.scores_path(k).read_bytes()
        for name in together.names:
            assert together.table_path(k, name).read_bytes() == apart.table_path(k, name).read_bytes()
    assert bytes_scores(apart.scores_path(0).read_bytes()).index.name is None


def _whole_base_pool(options, owner, snapshot, slices, scored, ctx, content, compiled):
    """The night as it was before slice-by-slice scoring: the whole base scored at once
    (`score_base`, as run.py does for a registered pool), slices cut from it in memory."""
    from engine.night.slicefiles import InMemory
    from engine.night.slicerun import SliceRunner
    from engine.night.workers import Workers
    from engine.scoring.response import latest_response

    scores, versions = scored
    source = InMemory(snapshot, slices, scores)
    response = latest_response(options.models_dir)
    count = len(set(owner))
    return Workers([(lambda w=w: SliceRunner([k for k in range(slices.count) if owner[k] == w], source, versions,
                                             ctx, content, compiled, options.as_of, options.models_dir, response))
                    for w in range(count)], processes=False)


def _stored(opts):
    import json

    from engine.night.run import run_night
    from engine.outputs.audit import verify_run
    from engine.store.read import all_out_of_scope, decisions_with_payloads

    result = run_night(opts)
    run_id = result.run_id
    stored = [json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).replace(run_id, "RUN") + payload.replace(run_id, "RUN")
              for row, payload in decisions_with_payloads(run_id, opts.db_url)]
    files = {p.name: p.read_bytes().replace(run_id.encode(), b"RUN") for p in sorted(opts.out.iterdir())}
    assert verify_run(run_id, opts.db_url).ok
    return result, stored, list(all_out_of_scope(run_id, opts.db_url)), files


def test_a_night_scored_slice_by_slice_stores_what_the_whole_base_scored_at_once_stores(night_inputs, tmp_path,
                                                                                       monkeypatch):
    """Every decision row and trace payload, the out-of-scope rows, the funnel and the channel
    files of the local night (7 slices over 2 workers, scored slice by slice) equal those of
    the same night scored whole, in one slice."""
    from engine.night import run

    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    monkeypatch.setitem(run.POOLS, "whole-base", _whole_base_pool)

    def options(name, **kw):
        return run.RunOptions(data=night_inputs.data, as_of=night_inputs.as_of, db_url=f"sqlite:///{tmp_path / name}.db",
                              out=tmp_path / name, rules_dir=RULES, strategies_dir=STRATEGIES,
                              models_dir=night_inputs.models, **kw)

    whole = _stored(options("whole", engine="whole-base", slice_size=10**6))
    sliced = _stored(options("sliced", workers=2, slice_size=429))
    assert len(whole[1]) == whole[0].decisions > 1000
    assert sliced[1] == whole[1]
    assert sliced[2] == whole[2] and len(whole[2]) > 0
    assert sliced[0].funnel == whole[0].funnel
    assert sliced[3] == whole[3] and len(whole[3]) == 6  # the five channel files and the run marker
