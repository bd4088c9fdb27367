"""The response model: learns a response signal per strategy, stores as a safe versioned artefact,
and adds `propensity.<strategy>` to a fact frame only when a model is stored."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from engine.scoring.artefacts import find_model, load_model, save_model
from engine.scoring.response import MODEL_NAME, ResponseModel, add_propensity


def _history(n: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    facts = pd.DataFrame({
        "uses_m1": rng.integers(0, 5, n), "arpu": rng.gamma(2, 30, n),
        "segment": rng.choice(["silent_long", "low_monthly"], n), "service": rng.choice(["reading", "video"], n),
        "account_manager": rng.random(n) < 0.3, "preferences": rng.choice(["news|sports", "", "music"], n),
    })
    strategy = rng.choice(["sms_tips", "call_offer"], n)
    treated = rng.random(n) < 0.8
    # responders: low users answer a call far more; the control barely responds
    p = np.where(treated, 0.05 + 0.3 * (facts["uses_m1"] <= 1) * (strategy == "call_offer"), 0.02)
    return facts, strategy, treated, rng.random(n) < p


def test_the_model_ranks_responders_above_the_constant_and_estimates_uplift():
    facts, strategy, treated, y = _history()
    model = ResponseModel().fit(facts, strategy, treated, y)
    test_facts, test_strategy, test_treated, test_y = _history(seed=1)
    call = test_treated & (test_strategy == "call_offer")
    p = model.response(test_facts[call], "call_offer")
    assert roc_auc_score(test_y[call], p) > 0.7  # a constant scores 0.5
    low = (facts["uses_m1"] <= 1).to_numpy()
    assert model.uplift(facts[low], "call_offer").mean() > model.uplift(facts[~low], "call_offer").mean() + 0.1
    assert np.isnan(model.response(facts.head(3), "unknown_strategy")).all()
    together = model.responses(facts.head(50))
    assert np.allclose(together["sms_tips"], model.response(facts.head(50), "sms_tips"))


def test_stored_model_loads_under_the_allow_list_and_fills_propensity(tmp_path):
    facts, strategy, treated, y = _history(1500)
    frame = facts.head(20).copy()
    assert add_propensity(frame, tmp_path) is None and not [c for c in frame if c.startswith("propensity.")]
    first = save_model(MODEL_NAME, ResponseModel().fit(facts, strategy, treated, y), {"kind": "response"}, tmp_path)
    again = save_model(MODEL_NAME, ResponseModel().fit(facts, strategy, treated, y), {"kind": "response"}, tmp_path)
    assert first["version"] == again["version"]  # same history, same artefact
    loaded = load_model(find_model(None, MODEL_NAME, tmp_path), tmp_path)
    assert isinstance(loaded, ResponseModel)
    assert add_propensity(frame, tmp_path) == first["version"]
    assert sorted(c for c in frame if c.startswith("propensity.")) == ["propensity.call_offer", "propensity.sms_tips"]
    assert frame["propensity.call_offer"].between(0, 1).all()


def _sure_things(n: int = 6000, seed: int = 0):
    """Two strategies: `care` reaches people who mostly respond anyway (high response, little
    uplift), `winback` people who rarely come back alone (lower response, larger uplift)."""
    rng = np.random.default_rng(seed)
    pack = rng.choice(["care_pack", "winback_pack"], n)
    strategy = np.where(pack == "care_pack", "care", "winback")
    treated = rng.random(n) < 0.9
    p0 = np.where(pack == "care_pack", 0.30, 0.01)
    p1 = np.where(pack == "care_pack", 0.32, 0.09)
    y = rng.random(n) < np.where(treated, p1, p0)
    facts = pd.DataFrame({"uses_m1": rng.integers(0, 5, n), "segment": np.where(pack == "care_pack", "放心", "操心")})
    return facts, strategy, treated, y, pack


def test_incremental_response_is_the_treated_rate_minus_the_pack_holdout_rate_and_ranks_sure_things_last():
    facts, strategy, treated, y, pack = _sure_things()
    model = ResponseModel().fit(facts, strategy, treated, y, pack)
    for s, p in (("care", "care_pack"), ("winback", "winback_pack")):
        t, c = treated & (strategy == s), ~treated & (pack == p)
        cell = model.uplift_table_[s]
        assert (cell["treated"], cell["control"], cell["pack"]) == (int(t.sum()), int(c.sum()), p)
        assert abs(cell["uplift"] - (y[t].mean() - y[c].mean())) < 0.005  # up to the half pseudo-responses
    care, winback = model.incremental(facts.head(3), "care"), model.incremental(facts.head(3), "winback")
    assert (winback > care).all() and abs(winback[0] - 0.08) < 0.03 and abs(care[0] - 0.02) < 0.04
    # a response ranking puts the sure things first: the reason arbitration does not use it
    on_care = (pack == "care_pack")
    assert model.response(facts[on_care], "care").mean() > model.response(facts[~on_care], "winback").mean() + 0.15
    assert np.isnan(model.incremental(facts.head(3), "unknown_strategy")).all()


def test_too_little_history_gives_no_uplift_so_base_response_applies():
    facts, strategy, treated, y, pack = _sure_things(1000)
    few = (pack == "care_pack") | (treated & (np.arange(len(pack)) % 20 == 0))  # winback: 20-odd treated, no control
    model = ResponseModel().fit(facts[few].reset_index(drop=True), strategy[few], treated[few], y[few], pack[few])
    assert "care" in model.uplift_table_ and "winback" not in model.uplift_table_
    assert sorted(model.incrementals(facts.head(2))) == ["care"]


def test_stored_model_fills_uplift_next_to_propensity(tmp_path):
    facts, strategy, treated, y, pack = _sure_things(3000)
    save_model(MODEL_NAME, ResponseModel().fit(facts, strategy, treated, y, pack), {"kind": "response"}, tmp_path)
    frame = facts.head(10).copy()
    assert add_propensity(frame, tmp_path)
    assert sorted(c for c in frame if c.startswith("uplift.")) == ["uplift.care", "uplift.winback"]
    loaded = load_model(find_model(None, MODEL_NAME, tmp_path), tmp_path)
    assert frame["uplift.winback"].iloc[0] == round(loaded.uplift_table_["winback"]["uplift"], 6)


def test_the_planners_base_response_stands_until_the_holdout_rules_it_out():
    """With the planner's base_response, a strategy's uplift is the value in its 95% interval
    nearest to it: kept while the interval holds it, moved to the interval's near end when not."""
    from engine.scoring.response import INTERVAL_Z, strategy_uplift

    facts, strategy, treated, y, pack = _sure_things()
    measured = strategy_uplift(strategy, treated, y, pack)
    # care adds ~2 points; winback ~8: a planner's 0.03 for care is within care's interval,
    # a planner's 0.01 for winback is far below winback's
    planner = {"care": 0.03, "winback": 0.01}
    table = strategy_uplift(strategy, treated, y, pack, planner)
    care, winback = table["care"], table["winback"]
    assert care["low"] < 0.03 < care["high"]
    assert (care["uplift"], care["source"]) == (0.03, "base_response")
    assert winback["low"] > 0.01 and (winback["uplift"], winback["source"]) == (winback["low"], "measured")
    for s in ("care", "winback"):  # the measurement itself is unchanged
        cell, plain = table[s], measured[s]
        assert cell["estimate"] == plain["estimate"] == plain["uplift"]
        assert abs(cell["high"] - cell["low"] - 2 * INTERVAL_Z * cell["se"]) < 1e-5
    # the model applies it, and a planner's estimate above the interval comes down to its top
    model = ResponseModel().fit(facts, strategy, treated, y, pack, {"care": 0.5})
    assert model.uplift_table_["care"]["uplift"] == model.uplift_table_["care"]["high"] < 0.5
    assert model.uplift_table_["winback"]["uplift"] == measured["winback"]["uplift"]  # not listed: the estimate
    assert (model.incremental(facts.head(2), "care") == model.uplift_table_["care"]["high"]).all()
