"""Facts of subscriber partitions (issue 12): the whole base is exactly the union of its partitions.

`build_facts(snapshot, as_of, subscribers=…)` reads only the chosen subscribers' rows of every
table (engine.facts.keys.JoinIndex.rows). Held equal, value for value and dtype for dtype, to
the whole base's facts of the same subscribers: for several contiguous splits, for scattered
sets of subscribers, and (hypothesis) on snapshots whose files are not sorted by msisdn.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.facts.build import build_facts, subscriber_partitions
from engine.facts.keys import join_index, positions, subscriber_slices
from engine.generator import generate
from engine.snapshot.loader import load_snapshot

AS_OF = date(2026, 11, 15)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("partitions") / "snapshot"
    generate(folder, 600, 7, AS_OF)
    snapshot = load_snapshot(folder)
    return snapshot, build_facts(snapshot, AS_OF)


def _by_partition(snapshot, facts: pd.DataFrame, slices) -> pd.DataFrame:
    """The whole base's facts, partition after partition (each keeps the whole base's order)."""
    rank = join_index(snapshot).msisdns.get_indexer(facts["msisdn"].astype(str))
    part = np.full(len(facts), -1)
    for number, chosen in enumerate(slices):
        part[(rank >= chosen.start) & (rank < chosen.stop)] = number
    assert (part >= 0).all()
    return facts.iloc[np.argsort(part, kind="stable")].reset_index(drop=True)


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert list(got.dtypes) == list(expected.dtypes)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), check_exact=True)


@pytest.mark.parametrize("parts", [1, 2, 3, 7, 50])
def test_concatenated_partitions_are_the_whole_base(generated, parts):
    snapshot, whole = generated
    slices = subscriber_partitions(snapshot, parts)
    pieces = [build_facts(snapshot, AS_OF, subscribers=part) for part in slices]
    assert sum(len(p) for p in pieces) == len(whole)
    _same(pd.concat(pieces, ignore_index=True), _by_partition(snapshot, whole, slices))


def test_generated_files_are_sorted_by_msisdn_so_partitions_follow_the_whole_order(generated):
    snapshot, whole = generated
    pieces = [build_facts(snapshot, AS_OF, subscribers=part) for part in subscriber_partitions(snapshot, 4)]
    _same(pd.concat(pieces, ignore_index=True), whole)


def test_scattered_subscribers_get_exactly_their_facts(generated):
    snapshot, whole = generated
    join = join_index(snapshot)
    chosen = np.random.default_rng(3).choice(join.size, size=97, replace=False)
    got = build_facts(snapshot, AS_OF, subscribers=chosen)
    wanted = set(join.msisdns[chosen])
    _same(got, whole[whole["msisdn"].isin(wanted)])


def test_an_empty_partition_has_no_facts_and_the_same_columns(generated):
    snapshot, whole = generated
    got = build_facts(snapshot, AS_OF, subscribers=slice(5, 5))
    assert len(got) == 0 and list(got.columns) == list(whole.columns)


def test_ranks_outside_the_base_are_refused(generated):
    snapshot, _ = generated
    with pytest.raises(IndexError):
        build_facts(snapshot, AS_OF, subscribers=[join_index(snapshot).size])


def test_subscriber_slices_cover_the_base_once():
    for n, k in ((10, 3), (7, 7), (5, 9), (0, 2), (1_000_003, 16)):
        slices = subscriber_slices(n, k)
        covered = np.concatenate([np.arange(n)[s] for s in slices])
        assert len(slices) == k and covered.tolist() == list(range(n))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shuffled") / "source"
    generate(folder, 120, 11, AS_OF)
    return {path.stem: pd.read_csv(path, dtype=str, keep_default_na=False) for path in folder.glob("*.csv")}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # a seed needs no shrinking
@given(seed=st.integers(0, 2**31 - 1), parts=st.integers(1, 9))
def test_partitions_of_unsorted_files(small, tmp_path_factory, seed, parts):
    """Rows in any order (the join index groups them by subscriber with a stable argsort)."""
    folder = tmp_path_factory.mktemp("unsorted")
    rng = np.random.default_rng(seed)
    for name, frame in small.items():
        frame.iloc[rng.permutation(len(frame))].to_csv(folder / f"{name}.csv", index=False)
    snapshot = load_snapshot(folder)
    whole = build_facts(snapshot, AS_OF)
    slices = subscriber_partitions(snapshot, parts)
    pieces = [build_facts(snapshot, AS_OF, subscribers=part) for part in slices]
    _same(pd.concat(pieces, ignore_index=True), _by_partition(snapshot, whole, slices))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(seed=st.integers(0, 2**31 - 1), contiguous=st.booleans())
def test_the_ranks_a_partition_reads_are_its_rows_subscribers(small, tmp_path_factory, seed, contiguous):
    """`rows_and_ranks` takes each row's rank from the grouping, not from looking the msisdn up in
    the whole base: held equal to that lookup, on files in any order, for a range and a scattered set."""
    from engine.facts.keys import positions, subscriber_positions

    folder = tmp_path_factory.mktemp("ranks")
    rng = np.random.default_rng(seed)
    for name, frame in small.items():
        frame.iloc[rng.permutation(len(frame))].to_csv(folder / f"{name}.csv", index=False)
    snapshot = load_snapshot(folder)
    join = join_index(snapshot)
    if contiguous:
        start = int(rng.integers(0, join.size))
        chosen = np.arange(start, min(join.size, start + int(rng.integers(1, 40))), dtype=np.int64)
    else:
        chosen = np.sort(rng.choice(join.size, size=int(rng.integers(1, 40)), replace=False)).astype(np.int64)
    for name, frame in snapshot.tables.items():
        if "msisdn" not in frame.columns:
            continue
        rows, ranks = join.rows_and_ranks(name, chosen)
        looked_up = positions(frame["msisdn"].take(rows), join.msisdns)
        assert (np.diff(rows) > 0).all()  # file order
        assert ranks.tolist() == looked_up.tolist()
        assert set(ranks.tolist()) <= set(chosen.tolist())
        every = positions(frame["msisdn"], join.msisdns)
        assert rows.tolist() == np.flatnonzero(np.isin(every, chosen)).tolist()  # all of them, nothing else
    people = snapshot.tables["subscribers"]["msisdn"]
    inside = subscriber_positions(snapshot, join.msisdns[chosen], chosen)
    assert inside.tolist() == subscriber_positions(snapshot, join.msisdns[chosen]).tolist()
    assert (people.astype(str).to_numpy()[inside] == np.asarray(join.msisdns[chosen], dtype=str)).all()
    others = np.setdiff1d(np.arange(join.size), chosen)[:5]
    assert (subscriber_positions(snapshot, join.msisdns[others], chosen) == -1).all()


def test_positions_of_a_categorical_keep_the_width_asked_for():
    """The grouping of a table's rows by subscriber asks for int32 ranks (engine/facts/keys.py
    `_group`); a categorical column's positions must keep that width (np.append(…, -1) widened
    them to int64, undoing the saving at 1M)."""
    values = pd.Series(["b", "a", None, "c", "a"], dtype="category")
    found = positions(values, pd.Index(["a", "b"]), np.int32)
    assert found.dtype == np.int32 and found.tolist() == [1, 0, -1, -1, 0]
    assert positions(values, pd.Index(["a", "b"])).dtype == np.int64
