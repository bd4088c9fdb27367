"""Holdouts: deterministic by (msisdn, pack, period), stable across runs, share within tolerance."""

from __future__ import annotations

from datetime import date

import numpy as np

from engine.night.holdout import UNIVERSAL, held_out, period_of


def msisdns(n):
    return [f"1380{i:07d}" for i in range(n)]


def test_period_is_the_as_of_month():
    assert period_of(date(2026, 11, 15)) == "2026-11"


def test_same_subscriber_same_pack_same_month_same_answer():
    ids = msisdns(5000)
    first = held_out(ids, "retention", "2026-11", 0.1)
    again = held_out(list(reversed(ids)), "retention", "2026-11", 0.1)[::-1]
    assert np.array_equal(first, again)


def test_share_is_within_tolerance():
    ids = msisdns(20000)
    share = held_out(ids, "long_term_silent", "2026-11", 0.05).mean()
    assert abs(share - 0.05) < 0.006  # ~4 standard errors at n = 20000


def test_packs_months_and_the_universal_group_draw_different_subscribers():
    ids = msisdns(20000)
    a = held_out(ids, "retention", "2026-11", 0.1)
    assert not np.array_equal(a, held_out(ids, "paid_low_use", "2026-11", 0.1))
    assert not np.array_equal(a, held_out(ids, "retention", "2026-12", 0.1))
    assert not np.array_equal(a, held_out(ids, UNIVERSAL, "2026-11", 0.1))


def test_a_larger_share_keeps_everyone_a_smaller_share_held():
    ids = msisdns(3000)
    small, large = held_out(ids, "x", "2026-11", 0.05), held_out(ids, "x", "2026-11", 0.2)
    assert not (small & ~large).any()


def test_zero_or_missing_share_holds_nobody():
    assert not held_out(msisdns(100), "x", "2026-11", 0).any()
    assert not held_out(msisdns(100), "x", "2026-11", None).any()
