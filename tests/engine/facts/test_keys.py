"""`SortedLookup` (engine/facts/keys.py) answers exactly as `positions` does: the binary search
over fixed-width bytes for a universe of one text length, the hash lookup otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st

from engine.facts.keys import SortedLookup, positions

DIGITS = st.text(alphabet="0123456789", min_size=11, max_size=11)
TEXTS = st.text(alphabet="0123456789ab\x00中", min_size=0, max_size=12)


def _index(texts) -> pd.Index:
    return pd.Index(sorted(set(texts)), dtype="str")


@settings(max_examples=200, deadline=None)
@given(universe=st.lists(DIGITS, max_size=40), others=st.lists(st.one_of(DIGITS, TEXTS), max_size=30),
       picks=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30), data=st.data())
def test_a_sorted_lookup_finds_what_positions_finds(universe, others, picks, data):
    index = _index(universe)
    lookup = SortedLookup(index)
    if len(index):
        assert lookup.fixed is not None  # one length: the binary search is the one answering
    chosen = [index[p % len(index)] for p in picks] if len(index) else []
    values = data.draw(st.permutations(chosen + others))
    for given_as in (pd.Series(values, dtype="str"), pd.Series(values, dtype="category"),
                     pd.Series(values + [None], dtype="str")):
        expected = positions(given_as, index, np.int32)
        got = lookup.positions(given_as, np.int32)
        assert got.dtype == expected.dtype and np.array_equal(got, expected)


@settings(max_examples=100, deadline=None)
@given(universe=st.lists(TEXTS, max_size=30), values=st.lists(TEXTS, max_size=30))
def test_a_universe_of_mixed_lengths_gets_the_same_answers(universe, values):
    index = _index(universe)
    lookup = SortedLookup(index)
    series = pd.Series(values, dtype="str")
    assert np.array_equal(lookup.positions(series), positions(series, index))


def test_a_value_of_the_universes_length_that_is_not_in_it_is_not_found():
    index = _index(["13000000001", "13000000003", "13900000000"])
    got = SortedLookup(index).positions(pd.Series(["13000000002", "13000000003", "19999999999", "00000000000"], dtype="str"))
    assert got.tolist() == [-1, 1, -1, -1]
