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
