"""The decide stage keeps a slice's facts in a file for the rows stage (engine/night/slicefacts.py):
what is read back is what was written, and the rows built from it are the rows built from facts
built again from the slice's files (the path a source without a place for the file still takes)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from engine.night.candidates import CandidateTable, arbitrate_table
from engine.night.context import build_context, hot_content_index
from engine.night.fragments import fact_texts
from engine.night.holdout import period_of
from engine.night.prepare import score_base
from engine.night.run import load_run_content
from engine.night.slicefacts import UnkeptColumn, read_facts, write_facts
from engine.night.slicefiles import SliceFiles
from engine.night.slicerun import SliceRunner
from engine.night.slices import plan_slices
from engine.rules.compiler import compile_set
from engine.snapshot.loader import load_snapshot
from nightly_inputs import RULES, STRATEGIES


class BuildAgain:
    """A slice source with no place to keep facts (as a Spark executor's slice in memory):
    phase 2 builds the facts again from the slice's files."""

    def __init__(self, files: SliceFiles):
        self.open = files.open


@pytest.fixture
def night(inputs, home, tmp_path):
    content = load_run_content(RULES, STRATEGIES)
    snapshot = load_snapshot(inputs.data)
    scores, versions = score_base(snapshot, inputs.as_of, content, inputs.models)
    plan = plan_slices(snapshot, 211)
    files = SliceFiles.write(tmp_path / "slices", snapshot, plan, scores)
    ctx = build_context(content, "2026-11-15.test", inputs.as_of, period_of(inputs.as_of),
                        hot_content=hot_content_index(snapshot), model_versions=versions)

    def runner(source, ks):
        return SliceRunner(ks, source, versions, ctx, content, compile_set(content), inputs.as_of, inputs.models)
    return plan, files, ctx, runner


def _same_frame(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, want.reset_index(drop=True), check_exact=True)
    for column in want.columns:
        if want[column].dtype == object:
            assert [type(v) for v in got[column].tolist()] == [type(v) for v in want[column].tolist()], column


def test_a_slices_facts_read_back_are_the_facts_written(night, tmp_path):
    plan, files, _ctx, runner = night
    built = runner(BuildAgain(files), list(range(plan.count)))
    seen = 0
    for k in range(plan.count):
        frames = built._frame(k)
        write_facts(tmp_path / f"{k}.facts.arrow", *frames)
        back = read_facts(tmp_path / f"{k}.facts.arrow")
        for got, want in zip(back, frames):
            _same_frame(got, want)
        assert fact_texts(back[0]) == fact_texts(frames[0])  # the payloads' fact texts, byte for byte
        assert len(frames[0]) and len(frames[2])
        seen += len(frames[0])
    assert seen > 1000
    assert not list(tmp_path.glob("*.tmp"))


def test_cells_arrow_could_change_come_back_as_they_were(tmp_path):
    inside = pd.DataFrame({
        "msisdn": pd.Series(["1", "2", "3", "4"], dtype="str"),
        "preferences": pd.Series(["a;b", None, "", "c"], dtype="str"),
        "handset_brand": pd.Series([None, "Huawei", None, "华为"], dtype=object),
        "nothing": pd.Series([None] * 4, dtype=object),
        "arpu": [np.nan, -0.0, 0.0, 1e300],
        "uses_m0": np.array([0, -1, 2**40, 3], dtype=np.int64),
        "used_in_3m": [True, False, True, False],
        "tier": pd.Categorical(["b", "a", "b", "b"], categories=["b", "a", "c"], ordered=True),
    })
    extras = pd.DataFrame({"account_manager_name": pd.Series(["", "王", None, "x"], dtype="str"),
                           "segment_rules": pd.Series([(), ("r1",), ("r1", "r2"), ()], dtype=object),
                           "scope_bits": np.array([1, 2, 3, 64], dtype=np.int64)})
    outside = pd.DataFrame({"msisdn": pd.Series([], dtype="str"), "service": pd.Series([], dtype="str"),
                            "segment": pd.Series([], dtype="str")})
    write_facts(tmp_path / "f.arrow", inside, extras, outside)
    for got, want in zip(read_facts(tmp_path / "f.arrow"), (inside, extras, outside)):
        _same_frame(got, want)
    assert np.signbit(read_facts(tmp_path / "f.arrow")[0]["arpu"].to_numpy()[1])


def test_a_column_the_file_cannot_give_back_is_refused_and_nothing_is_left(tmp_path):
    frame = pd.DataFrame({"msisdn": ["1"], "preferences": pd.Series([{"a"}], dtype=object)})
    empty = pd.DataFrame({"x": []})
    with pytest.raises(UnkeptColumn, match="preferences"):
        write_facts(tmp_path / "f.arrow", frame, empty, empty)
    with pytest.raises(UnkeptColumn, match="segment_rules"):
        write_facts(tmp_path / "f.arrow", empty, pd.DataFrame({"segment_rules": [(1,)]}), empty)
    assert not list(tmp_path.iterdir())


def _rows_of(runner, plan, ctx):
    """Phase 1, one arbitration, phase 2 of every slice: what the parent would be handed."""
    decided = runner.decide()
    arbitrated, _counts = arbitrate_table(CandidateTable.concat([decided.candidates]), ctx.policy)
    verdicts, at = {}, 0
    for k, count in decided.counts.items():
        verdicts[k] = arbitrated.part(at, at + count)
        at += count
    starts = dict(zip(range(plan.count), itertools.accumulate([decided.sizes[k] for k in range(plan.count)], initial=0)))
    runner.start_rows(verdicts, starts)
    return [runner.slice_rows(k) for k in range(plan.count)]


def test_rows_from_kept_facts_are_the_rows_of_facts_built_again(night):
    plan, files, ctx, runner = night
    assert plan.count >= 3
    kept = runner(files, list(range(plan.count)))
    reference = runner(BuildAgain(files), list(range(plan.count)))
    got = _rows_of(kept, plan, ctx)
    assert not kept.kept and not list(files.folder.glob("*.facts.arrow"))  # each read once, then removed
    want = _rows_of(reference, plan, ctx)
    assert sum(len(part.fields) for part in want) > 1000
    for a, b in zip(got, want):
        assert (a.start, a.fields, a.heads, a.cities, a.managers, a.blocks, a.out_of_scope) == \
               (b.start, b.fields, b.heads, b.cities, b.managers, b.blocks, b.out_of_scope)


def test_phase_one_keeps_each_slices_facts_in_the_slice_folder(night):
    plan, files, _ctx, runner = night
    kept = runner(files, list(range(plan.count)))
    kept.decide()
    assert sorted(kept.kept) == list(range(plan.count))
    assert all(kept.kept[k] == files.facts_path(k) and files.facts_path(k).exists() for k in range(plan.count))
