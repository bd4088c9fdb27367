"""A partition's rows equal the reference's: every fact decided on its own, every payload one dict.

engine/night/partition.py decides one fact per (pack, signature) in durable_rules and builds the
payloads from per-column JSON fragments. Here, on generated snapshots whose facts are then
pushed onto and around the YAML's constants (hypothesis), both the partition and
tests/engine/night/reference_partition.py decide the same frame; arbitration runs on their
candidates; every row — decision fields, payload bytes, city, account manager — must be equal,
and so must the candidates and the funnel.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.generator import generate
from engine.night.arbitrate import arbitrate
from engine.night.context import build_context, hot_content_index
from engine.night.holdout import period_of
from engine.night.decider import DeciderAdapter
from engine.night.outcomes import Outcomes
from engine.night.partition import Partition, TemplateMemo
from engine.night.prepare import prepare_frame, scope_masks
from engine.night.run import load_run_content
from engine.rules.compiler import compile_set
from engine.snapshot.loader import load_snapshot
from nightly_inputs import RULES, STRATEGIES
from reference_partition import ReferencePartition

AS_OF = date(2026, 11, 15)


@pytest.fixture(scope="module")
def content():
    return load_run_content(RULES, STRATEGIES)


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    """Small generated snapshots, prepared as a run prepares them (no stability model)."""
    out = {}
    for seed in (3, 4):
        folder = tmp_path_factory.mktemp(f"snap{seed}")
        generate(folder, 200, seed, AS_OF)
        out[seed] = folder
    return out


def _prepared(folder, content):
    snapshot = load_snapshot(folder)
    frame, extras, versions = prepare_frame(snapshot, AS_OF, content, None, require_stability=False)
    ctx = build_context(content, "2026-11-15.test", AS_OF, period_of(AS_OF),
                        hot_content=hot_content_index(snapshot), model_versions=versions)
    return frame, extras, ctx


def _scope_bits(frame, ctx):
    masks = scope_masks(frame, ctx.packs)
    bits = np.zeros(len(frame), dtype=np.int64)
    for j, name in enumerate(sorted(masks)):
        bits |= masks[name].astype(np.int64) << j
    return bits


def _near_constants(compiled, frame, data) -> None:
    """Overwrite a few numeric signature fields of random rows with values on and around the YAML's constants."""
    sig = _signatures(compiled)
    numeric = [n for n in sig.fields if n in frame.columns and frame[n].dtype.kind == "f"]
    for name in data.draw(st.lists(st.sampled_from(numeric), max_size=4, unique=True)) if numeric else []:
        constants = sig._numbers.get(name) or [0.0]
        near = [float(c + d) for c in constants for d in (-1, -0.5, 0, 0.25, 1)] + [float("nan"), -0.0]
        rows = data.draw(st.lists(st.integers(0, len(frame) - 1), min_size=1, max_size=40))
        values = frame[name].to_numpy(dtype=float).copy()
        for i in rows:
            values[i] = data.draw(st.sampled_from(near))
        frame[name] = values


def _signatures(compiled):
    from engine.rules.signature import Signatures

    decided = [p for p in (compiled.policy, *compiled.packs) if p is not None]
    return Signatures([r.when for p in decided for r in p.rules if r.when is not None],
                      [p.scope for p in compiled.packs], {})


def _rows(part, verdicts):
    part.start_rows(verdicts, 1000)
    out = []
    while batch := part.next_rows(97):  # an odd batch size: rows cross batch borders
        out.extend(batch)
    return out


def _in_scope(content, snapshots, data):
    """(facts in some pack's scope, their extras, ctx, compiled set) of a drawn snapshot whose
    numeric signature fields were pushed onto and around the YAML's constants."""
    seed = data.draw(st.sampled_from(sorted(snapshots)))
    frame, extras, ctx = _prepared(snapshots[seed], content)
    compiled = compile_set(content)
    _near_constants(compiled, frame, data)
    extras = extras.assign(scope_bits=_scope_bits(frame, ctx))
    inside = extras["scope_bits"].to_numpy() != 0
    return frame[inside].reset_index(drop=True), extras[inside].reset_index(drop=True), ctx, compiled


def _same_as_reference(fast, slow, frame, ctx):
    """Both partitions decide alike (funnel, candidates) and, after one arbitration of the
    reference's candidates, hand out the same rows, one per fact."""
    got, expected = fast.decide(), slow.decide()
    assert got.funnel == expected.funnel
    assert got.facts == expected.facts
    assert sorted(got.candidates, key=lambda c: c.key) == sorted(expected.candidates, key=lambda c: c.key)
    contacts = dict(zip(frame["msisdn"], frame["contacts_30d"].astype(int)))
    results = arbitrate(expected.candidates, contacts, ctx.policy)
    verdicts = {r.candidate.key: (r.outcome, r.option.strategy if r.option else "", r.option.channel if r.option else "",
                                  r.fell_back, r.beaten_by, r.full_channels) for r in results}
    fast_rows, slow_rows = _rows(fast, verdicts), _rows(slow, verdicts)
    assert len(fast_rows) == len(slow_rows) == len(frame)
    for a, b in zip(fast_rows, slow_rows):
        assert a == b, (a.msisdn, a.service)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_partition_rows_equal_deciding_each_fact_on_its_own(content, snapshots, data):
    frame, extras, ctx, compiled = _in_scope(content, snapshots, data)
    assert len(frame) > 50
    fast = Partition(frame, extras, ctx, content, compiled)
    _same_as_reference(fast, ReferencePartition(frame, extras, ctx, content, compiled), frame, ctx)
    assert len({t.pack for t in fast.templates}) > 1  # the packs really were decided
    assert len(fast.templates) < len(frame)  # and outcomes really were shared


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_a_later_slice_reusing_earlier_slices_outcomes_equals_deciding_each_fact(content, snapshots, data):
    """A worker's TemplateMemo carries pack outcomes from one slice to the next: the second half
    of the facts, decided after the first half with the same memo, gives the reference's rows."""
    frame, extras, ctx, compiled = _in_scope(content, snapshots, data)
    cut = data.draw(st.integers(len(frame) // 4, 3 * len(frame) // 4))
    memo = TemplateMemo()
    Partition(frame.iloc[:cut], extras.iloc[:cut], ctx, content, compiled, memo=memo).decide()
    known = len(memo._known)
    later, fresh = frame.iloc[cut:], extras.iloc[cut:]
    fast = Partition(later, fresh, ctx, content, compiled, memo=memo)
    _same_as_reference(fast, ReferencePartition(later, fresh, ctx, content, compiled), later, ctx)
    assert len(memo._known) - known < len(fast.templates)  # the second half really reused outcomes


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_slices_sharing_a_workers_outcomes_keep_one_combination_id_per_fact(content, snapshots, data):
    """The slices of one worker share its memo and its numbered outcomes (engine/night/outcomes.py).
    Between the phases a released slice keeps one int32 per fact and nothing else per fact; a slice
    whose facts the worker met before adds no template and no combination (the worker's state does
    not grow with its number of slices), and gets the very same template objects; reattached after
    the others were decided, each slice gives the reference's candidates and rows."""
    frame, extras, ctx, compiled = _in_scope(content, snapshots, data)
    cut = data.draw(st.integers(len(frame) // 4, 3 * len(frame) // 4))
    halves = [(frame.iloc[:cut], extras.iloc[:cut]), (frame.iloc[cut:], extras.iloc[cut:])]
    decider = DeciderAdapter(content, ctx, compiled)
    memo, outcomes = TemplateMemo(), Outcomes(decider)

    def decided(f, e):
        part = Partition(f, e, ctx, content, compiled, decider=decider, memo=memo, outcomes=outcomes)
        part.decide()
        part.release()
        return part

    parts = [decided(f, e) for f, e in halves]
    templates, combinations = list(outcomes.templates), len(outcomes.rows)
    assert templates and combinations and all(part.templates is outcomes.templates for part in parts)
    again = decided(*halves[0])  # the first half again, as a later slice of the same worker
    assert len(outcomes.templates) == len(templates) and all(a is b for a, b in zip(outcomes.templates, templates))
    assert len(outcomes.rows) == combinations
    assert (again.combo == parts[0].combo).all()
    assert len(np.unique(parts[0].combo)) + len(np.unique(parts[1].combo)) > combinations  # shared across slices
    for part, (f, _e) in zip(parts + [again], halves + halves[:1]):
        kept = {name for name, value in vars(part).items() if isinstance(value, np.ndarray) and value.size}
        assert kept == {"combo"} and part.combo.dtype == np.int32 and len(part.combo) == len(f)
        per_fact = {name for name, value in vars(part).items()
                    if isinstance(value, (list, dict)) and len(value) and name != "pack_order"}
        assert per_fact == set()
    for part, (f, e) in zip(parts, halves):
        slow = ReferencePartition(f, e, ctx, content, compiled)
        expected = slow.decide()
        got = part.reattach(f, e)
        assert sorted(got, key=lambda c: c.key) == sorted(expected.candidates, key=lambda c: c.key)
        contacts = dict(zip(f["msisdn"], f["contacts_30d"].astype(int)))
        results = arbitrate(expected.candidates, contacts, ctx.policy)
        verdicts = {r.candidate.key: (r.outcome, r.option.strategy if r.option else "",
                                      r.option.channel if r.option else "", r.fell_back, r.beaten_by, r.full_channels)
                    for r in results}
        fast_rows, slow_rows = _rows(part, verdicts), _rows(slow, verdicts)
        assert len(fast_rows) == len(slow_rows) == len(f)
        for a, b in zip(fast_rows, slow_rows):
            assert a == b, (a.msisdn, a.service)
