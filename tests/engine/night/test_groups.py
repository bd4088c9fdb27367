"""engine/night/groups.py: rows of template ids made unique by one int64 key per row, exactly as
numpy's row-wise unique orders and numbers them (the decide stage's combinations of templates)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.night.groups import unique_rows


def _same_as_numpy(rows: np.ndarray) -> None:
    expected, inverse = np.unique(rows, axis=0, return_inverse=True)
    found, numbered = unique_rows(rows)
    assert np.array_equal(found, expected) and found.dtype == rows.dtype
    assert np.array_equal(numbered, np.asarray(inverse).reshape(-1)) and numbered.dtype == np.int64


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 9).flatmap(lambda width: arrays(
    np.int32, st.tuples(st.integers(0, 60), st.just(width)), elements=st.integers(-1, 40))))
def test_unique_rows_orders_and_numbers_rows_as_numpy_does(rows):
    _same_as_numpy(rows)


def test_ids_too_large_for_one_key_are_ranked_down_first():
    rng = np.random.default_rng(7)
    rows = rng.integers(-1, 2_000_000_000, size=(500, 6)).astype(np.int64)  # 2e9**6 overflows int64
    rows[::7] = rows[3]  # repeated rows among them
    rows[:, 2] = -1
    _same_as_numpy(rows)


def test_a_slice_without_facts_has_no_combinations():
    found, numbered = unique_rows(np.zeros((0, 4), dtype=np.int32))
    assert found.shape == (0, 4) and numbered.shape == (0,)
