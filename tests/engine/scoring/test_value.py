import numpy as np
import pandas as pd
import pytest

from engine.scoring.retention import RetentionConfig, retention_group
from engine.scoring.value import DEFAULT_VALUE_WEIGHTS, ValueConfig, compute_value, value_scores

from models_synthetic import AS_OF, snapshot_tables


def _indicators(n=10):
    return pd.DataFrame({
        "current_contribution": np.arange(n, dtype=float),
        "historical_contribution": np.arange(n, dtype=float)[::-1],
        "tenure": np.ones(n), "contract": np.zeros(n), "usage_breadth": np.ones(n),
    }, index=pd.Index([f"m{i}" for i in range(n)], name="msisdn"))


def test_default_weights_sum_to_one():
    assert sum(DEFAULT_VALUE_WEIGHTS.values()) == pytest.approx(1.0)


def test_single_indicator_value_is_its_percentile_and_tiers_by_quantile():
    out = value_scores(_indicators(), ValueConfig(weights={"current_contribution": 1.0}))
    assert out["value"].to_numpy() == pytest.approx((np.arange(10) + 0.5) / 10)
    assert out["value_tier"].tolist() == ["low"] * 4 + ["mid"] * 4 + ["high"] * 2


def test_weights_combine_percentiles():
    out = value_scores(_indicators(), ValueConfig(weights={"current_contribution": 3, "historical_contribution": 1}))
    pct = (np.arange(10) + 0.5) / 10
    assert out["value"].to_numpy() == pytest.approx((3 * pct + pct[::-1]) / 4)
    assert out["value"].between(0, 1).all()


def test_value_is_deterministic_and_row_order_free():
    tables = snapshot_tables(200, seed=3)
    a = compute_value(tables, AS_OF)
    shuffled = dict(tables, subscribers=tables["subscribers"].sample(frac=1, random_state=1))
    b = compute_value(shuffled, AS_OF).loc[a.index]
    pd.testing.assert_frame_equal(a, b)
    assert set(a["value_tier"]) == {"high", "mid", "low"}
    assert (a["value_tier"] == "high").mean() == pytest.approx(0.2, abs=0.02)


def test_bad_value_config_rejected():
    with pytest.raises(ValueError, match="unknown value indicators"):
        ValueConfig(weights={"arpu": 1})


def test_retention_grid():
    value = pd.Series(["high", "high", "mid", "low", "mid"])
    stab = pd.Series(["low", "high", "low", "mid", "high"])
    assert retention_group(value, stab).tolist() == ["操心", "放心", "关心", "用心", "用心"]
    wide = RetentionConfig(valuable=frozenset({"high", "mid"}), unstable=frozenset({"low", "mid"}))
    assert retention_group(value, stab, wide).tolist() == ["操心", "放心", "操心", "关心", "放心"]
    with pytest.raises(ValueError):
        RetentionConfig(valuable=frozenset({"top"}))
