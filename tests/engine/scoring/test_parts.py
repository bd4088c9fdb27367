"""Scores from parts of a base (engine/scoring/parts.py): the raw parts of any disjoint sets of
subscribers, put back together, give exactly `score_snapshot`'s frame on the whole — also with
subscribers without usage or without subscriptions, a service with one user, tied days of use,
and an optional value column filled in some parts only (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.scoring.parts import assemble
from engine.scoring.scoring import score_part, score_snapshot, score_whole, scorer, subscriber_index
from engine.scoring.value import DEFAULT_VALUE_WEIGHTS, OPTIONAL_VALUE_WEIGHTS, ValueConfig
from models_synthetic import AS_OF, FakeSnapshot

SUBSCRIBERS = 200  # of the 600 synthetic ones: a split's edge cases, not its size
ALL_WEIGHTS = ValueConfig(weights={**DEFAULT_VALUE_WEIGHTS, **OPTIONAL_VALUE_WEIGHTS})


def _rows_of(tables: dict[str, pd.DataFrame], chosen: np.ndarray) -> dict[str, pd.DataFrame]:
    """Every table's rows of the subscribers `chosen` (msisdns), in file order."""
    return {name: frame[frame["msisdn"].isin(chosen)].reset_index(drop=True) if "msisdn" in frame.columns else frame
            for name, frame in tables.items()}


def _edited(tables: dict[str, pd.DataFrame], data) -> dict[str, pd.DataFrame]:
    tables = {name: frame.copy() for name, frame in tables.items()}
    msisdns = tables["subscribers"]["msisdn"].to_numpy()
    n = len(msisdns)
    idle = data.draw(st.lists(st.integers(0, n - 1), max_size=40), label="without usage")
    bare = data.draw(st.lists(st.integers(0, n - 1), max_size=40), label="without subscriptions")
    usage, subs = tables["usage_monthly"], tables["subscriptions"]
    tables["usage_monthly"] = usage = usage[~usage["msisdn"].isin(msisdns[idle])].reset_index(drop=True)
    tables["subscriptions"] = subs[~subs["msisdn"].isin(msisdns[bare])].reset_index(drop=True)
    if data.draw(st.booleans(), label="a service with one user"):
        one = msisdns[data.draw(st.integers(0, n - 1))]
        row = {"msisdn": one, "service": "wlan", "month": "2026-10", "uses": 3, "active_days": 3,
               "traffic_mb": 1.0, "paid_amount": 0.0}
        others = ~((usage["service"] == "wlan") & (usage["month"] == "2026-10"))
        tables["usage_monthly"] = usage = pd.concat([usage[others], pd.DataFrame([row])], ignore_index=True)
    if data.draw(st.booleans(), label="tied days"):
        usage["active_days"] = usage["active_days"].clip(upper=data.draw(st.integers(1, 4)))
    filled = data.draw(st.lists(st.integers(0, n - 1), max_size=30), label="circle_size filled")
    circle = np.full(n, np.nan)
    circle[filled] = np.arange(len(filled)) % 7
    tables["subscribers"]["circle_size"] = circle
    return tables


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_parts_of_any_split_put_together_are_the_whole_snapshots_scores(trained, tables, data):
    _, models_dir = trained
    tables = _edited(_rows_of(tables, tables["subscribers"]["msisdn"].to_numpy()[:SUBSCRIBERS]), data)
    whole, versions = score_snapshot(FakeSnapshot(tables), AS_OF, models_dir, value_config=ALL_WEIGHTS)
    msisdns = tables["subscribers"]["msisdn"].to_numpy()
    count = data.draw(st.integers(1, 6), label="parts")
    part_of = np.array(data.draw(st.lists(st.integers(0, count - 1), min_size=len(msisdns), max_size=len(msisdns)),
                                 label="part of each subscriber"))
    using = scorer(AS_OF, models_dir, value_config=ALL_WEIGHTS)
    parts = [(np.flatnonzero(part_of == p), score_part(using, _rows_of(tables, msisdns[part_of == p])))
             for p in range(count)]
    scores, got = score_whole(using, subscriber_index(tables), assemble(parts, len(msisdns)))
    assert got == versions
    pd.testing.assert_frame_equal(scores, whole, check_exact=True)


def test_parts_must_cover_the_base_once(trained, tables):
    _, models_dir = trained
    using = scorer(AS_OF, models_dir)
    msisdns = tables["subscribers"]["msisdn"].to_numpy()
    half = np.arange(len(msisdns) // 2)
    part = score_part(using, _rows_of(tables, msisdns[half]))
    with pytest.raises(ValueError, match="cover"):
        assemble([(half, part)], len(msisdns))
    with pytest.raises(ValueError, match="disjoint"):
        assemble([(half, part), (half, part)], len(msisdns))
