"""Value and stability models with the optional value × stability columns (issue 10 §3): used when
a snapshot has them, and a snapshot without them scores exactly as before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.scoring.features import FEATURES, OPTIONAL_FEATURES, subscriber_features
from engine.scoring.value import (DEFAULT_VALUE_WEIGHTS, OPTIONAL_VALUE_WEIGHTS, ValueConfig, compute_value,
                                  value_indicators, value_scores)
from models_synthetic import AS_OF, snapshot_tables

ALL_WEIGHTS = {**DEFAULT_VALUE_WEIGHTS, **OPTIONAL_VALUE_WEIGHTS}


def _with_optional(tables: dict, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    subs = tables["subscribers"].copy()
    n = len(subs)
    subs["circle_size"] = rng.integers(1, 80, n)
    subs["circle_size_6m_ago"] = rng.integers(0, 80, n)
    subs["calls_monthly"] = rng.uniform(0, 500, n).round(1)
    subs["on_net_share"] = rng.uniform(0, 1, n).round(3)
    subs["suspensions_6m"] = rng.integers(0, 3, n)
    subs["arrears_6m"] = rng.integers(0, 3, n)
    subs["payments_6m"] = rng.integers(0, 10, n)
    subs["handset_brand"] = rng.choice(["苹果", "华为", "其他"], n).astype(object)
    return dict(tables, subscribers=subs)


def test_features_of_a_snapshot_without_the_columns_are_the_old_features():
    assert list(subscriber_features(snapshot_tables(100, seed=2), AS_OF).columns) == list(FEATURES)


def test_features_with_the_columns_add_the_optional_ones():
    tables = _with_optional(snapshot_tables(100, seed=2))
    features = subscriber_features(tables, AS_OF)
    assert list(features.columns) == list(FEATURES) + list(OPTIONAL_FEATURES)
    subs = tables["subscribers"].set_index("msisdn")
    then = subs["circle_size_6m_ago"].reindex(features.index)
    expected = np.where(then > 0, subs["circle_size"].reindex(features.index) / then.where(then > 0, 1), np.nan)
    np.testing.assert_allclose(features["circle_trend"].to_numpy(), expected)
    assert not pd.api.types.is_numeric_dtype(features["handset_brand"])  # categorical for the model


def test_a_column_left_empty_in_every_row_counts_as_absent():
    tables = _with_optional(snapshot_tables(100, seed=2))
    tables["subscribers"]["on_net_share"] = np.nan
    assert "on_net_share" not in subscriber_features(tables, AS_OF).columns
    assert "on_net_share" not in value_indicators(tables, AS_OF).columns


def test_old_snapshot_value_with_all_nine_weights_is_the_old_value_bit_for_bit():
    tables = snapshot_tables(300, seed=4)
    old = compute_value(tables, AS_OF)
    new = compute_value(tables, AS_OF, ValueConfig(weights=ALL_WEIGHTS))
    pd.testing.assert_frame_equal(old, new)
    indicators = value_indicators(tables, AS_OF)
    assert ValueConfig(weights=ALL_WEIGHTS).effective(indicators.columns).version() == ValueConfig().version()


def test_suspensions_and_arrears_count_against_value_and_unknown_is_the_middle():
    idx = pd.Index([f"m{i}" for i in range(5)], name="msisdn")
    ind = pd.DataFrame({"arrears": [0.0, 1.0, 2.0, 3.0, np.nan]}, index=idx)
    out = value_scores(ind, ValueConfig(weights={"arrears": 1.0}))
    assert out["value"].tolist() == pytest.approx([0.875, 0.625, 0.375, 0.125, 0.5])
    ind = pd.DataFrame({"calling_circle": [5.0, 50.0, 20.0]}, index=idx[:3])
    out = value_scores(ind, ValueConfig(weights={"calling_circle": 1.0}))
    assert out["value"].tolist() == pytest.approx([1 / 6, 5 / 6, 0.5])


def test_value_uses_the_optional_indicators_when_present():
    tables = _with_optional(snapshot_tables(300, seed=4))
    core = compute_value(tables, AS_OF)
    full = compute_value(tables, AS_OF, ValueConfig(weights=ALL_WEIGHTS))
    assert not np.allclose(core["value"], full["value"])
    # more arrears, less value, everything else equal
    tables2 = dict(tables, subscribers=tables["subscribers"].assign(arrears_6m=0))
    tables2["subscribers"].loc[0, "arrears_6m"] = 5
    worse = compute_value(tables2, AS_OF, ValueConfig(weights=ALL_WEIGHTS))
    better = compute_value(dict(tables, subscribers=tables["subscribers"].assign(arrears_6m=0)), AS_OF,
                           ValueConfig(weights=ALL_WEIGHTS))
    first = tables["subscribers"]["msisdn"].iloc[0]
    assert worse.loc[first, "value"] < better.loc[first, "value"]


def test_no_weighted_indicator_in_the_snapshot_is_a_clear_error():
    with pytest.raises(ValueError, match="none of the weighted value indicators"):
        compute_value(snapshot_tables(50, seed=1), AS_OF, ValueConfig(weights={"arrears": 1.0}))
