"""A night decides the same whatever the slicing: one slice in one process, or many over workers.

The base is cut into slices of the msisdn-sorted subscribers (engine/night/slices.py); scores
are base-wide, arbitration sees every slice's candidates, the chain is the slices' rows in
order. So the stored run — every decision row, every trace payload, the out-of-scope rows, the
funnel, the channel files and the chain verification — must not depend on the slice size or
the number of workers. Each run is checked against `audit verify` too.
"""

from __future__ import annotations

import json

import pytest

from engine.generator import generate
from engine.night.run import RunOptions, run_night
from engine.night.slices import plan_slices
from engine.outputs.audit import verify_run
from engine.snapshot.loader import load_snapshot
from engine.store.read import all_out_of_scope, decision_records
from nightly_inputs import AS_OF, RULES, STRATEGIES


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slices") / "snapshot"
    generate(folder, 400, 5, AS_OF)
    return folder


def _night(small, inputs, tmp_path, name: str, workers: int, slice_size: int):
    db = f"sqlite:///{tmp_path / name}.db"
    result = run_night(RunOptions(data=small, as_of=inputs.as_of, db_url=db, out=tmp_path / name, workers=workers,
                                  rules_dir=RULES, strategies_dir=STRATEGIES, models_dir=inputs.models,
                                  slice_size=slice_size))
    run_id = result.run_id
    rows = [json.dumps(r, sort_keys=True, ensure_ascii=False).replace(run_id, "RUN")
            for r in decision_records(run_id, db)]
    outside = list(all_out_of_scope(run_id, db))
    files = {p.name: p.read_bytes().replace(run_id.encode(), b"RUN") for p in sorted((tmp_path / name).iterdir())}
    assert verify_run(run_id, db).ok
    return result, rows, outside, files


def test_the_slices_are_consecutive_ranges_covering_the_base(small):
    snapshot = load_snapshot(small)
    plan = plan_slices(snapshot, 37)
    assert (plan.count, plan.size) == (11, 37)  # 400 subscribers, 37 a slice
    ranges = [plan.ranks(k) for k in range(plan.count)]
    assert [r.start for r in ranges] == [0, *(r.stop for r in ranges[:-1])] and ranges[-1].stop == 400
    assert plan_slices(snapshot, 10**6, at_least=2).count == 2  # every worker gets a slice


def test_slicing_and_workers_do_not_change_the_run(small, inputs, tmp_path, home):
    one, one_rows, one_outside, one_files = _night(small, inputs, tmp_path, "one", 1, 10**6)
    many, many_rows, many_outside, many_files = _night(small, inputs, tmp_path, "many", 2, 37)
    assert len(one_rows) == one.decisions > 100
    assert many_rows == one_rows
    assert many_outside == one_outside and len(one_outside) > 0
    assert many.funnel == one.funnel
    assert (many.facts, many.decisions) == (one.facts, one.decisions)
    assert many_files == one_files


def test_a_workers_slices_keep_their_combination_ids_and_share_its_outcomes(small, inputs, home):
    """Between the decide and rows phases a worker keeps, per decided slice, one int32 per fact in
    scope (its combination of pack templates); templates and combinations are the worker's, kept
    once however many of its slices meet them (engine/night/outcomes.py)."""
    import numpy as np

    from engine.night.context import build_context, hot_content_index
    from engine.night.holdout import period_of
    from engine.night.prepare import score_base
    from engine.night.run import load_run_content
    from engine.night.slicefiles import InMemory
    from engine.night.slicerun import SliceRunner
    from engine.rules.compiler import compile_set

    content = load_run_content(RULES, STRATEGIES, False, "")
    snapshot = load_snapshot(small)
    plan = plan_slices(snapshot, 37)
    scores, versions = score_base(snapshot, inputs.as_of, content, inputs.models)
    ctx = build_context(content, "run", inputs.as_of, period_of(inputs.as_of), hot_content=hot_content_index(snapshot),
                        model_versions=dict(versions))
    runner = SliceRunner(list(range(plan.count)), InMemory(snapshot, plan, scores), dict(versions), ctx, content,
                         compile_set(content), inputs.as_of, inputs.models)
    decided = runner.decide()
    assert sorted(runner.parts) == list(range(plan.count))
    per_slice = 0
    for k, part in runner.parts.items():
        assert part.outcomes is runner.outcomes
        kept = {name for name, value in vars(part).items() if isinstance(value, np.ndarray) and value.size}
        assert kept == {"combo"} and part.combo.dtype == np.int32 and len(part.combo) == decided.sizes[k]
        per_slice += len(np.unique(part.combo))
    assert len(runner.outcomes.rows) < per_slice  # combinations met again in later slices are kept once
    assert max(c for part in runner.parts.values() for c in part.combo.tolist()) < len(runner.outcomes.rows)
