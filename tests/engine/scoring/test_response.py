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
