import re

import numpy as np
import pandas as pd
import pytest

from engine.scoring.artefacts import load_model
from engine.scoring.evaluation import alert_metrics
from engine.scoring.features import FEATURES, churn_training_frame, subscriber_features
from engine.scoring.stability import StabilityClassifier
from engine.scoring.training import latest_stability

from models_synthetic import AS_OF

RULE = re.compile(r"^IF .+ THEN churn risk \d\.\d\d \(n=[\d,]+\)$")


def test_features_are_one_row_per_subscriber(tables):
    f = subscriber_features(tables, AS_OF)
    assert list(f.columns) == list(FEATURES)
    assert len(f) == len(tables["subscribers"]) and f.index.is_unique
    first = tables["subscribers"].iloc[0]
    assert f.loc[first["msisdn"], "tenure_days"] == (pd.Timestamp(AS_OF) - pd.Timestamp(first["join_date"])).days
    usage = tables["usage_monthly"]
    m = first["msisdn"]
    assert f.loc[m, "uses_m1"] == usage[(usage.msisdn == m) & (usage.month == "2026-10")]["uses"].sum()
    no_contract = tables["subscribers"]["contract_end"].isna().to_numpy()
    assert f["contract_months_left"].isna().to_numpy()[no_contract].all()
    assert (f["has_contract"].to_numpy()[no_contract] == 0).all()


def test_trains_evaluates_and_exports_rules(trained):
    meta, _ = trained
    m = meta["metrics"]
    assert m["roc_auc"] > 0.7  # the synthetic churn depends on tenure, contract and falling use
    assert set(m["alert"]) == {"5%", "10%", "20%"}
    for row in m["alert"].values():
        assert 0 <= row["coverage"] <= 1 and 0 <= row["hit_rate"] <= 1
    assert m["alert"]["20%"]["coverage"] >= m["alert"]["5%"]["coverage"]
    assert m["test_rows"] == 150 and m["train_rows"] == 450
    assert {"auc_vs_strong_top_decile", "spearman"} <= set(m["tree_agreement"])
    assert meta["rules"] and all(RULE.match(r) for r in meta["rules"])
    risks = [float(re.search(r"churn risk (\S+)", r).group(1)) for r in meta["rules"]]
    assert risks == sorted(risks, reverse=True)
    # the stored model (and its rules) is refit on all 600 labelled rows
    assert sum(int(re.search(r"n=([\d,]+)", r).group(1).replace(",", "")) for r in meta["rules"]) == 600


def test_scores_and_tiers(trained, tables):
    meta, models_dir = trained
    model, found = latest_stability(models_dir=models_dir)
    assert found["version"] == meta["version"]
    X, y = churn_training_frame(tables, AS_OF)
    risk = model.churn_risk(X)
    assert ((risk >= 0) & (risk <= 1)).all()
    tiers = model.stability(risk)
    assert set(tiers) == {"high", "mid", "low"}
    low, mid = model.cutoffs_
    assert (tiers[risk >= low] == "low").all() and (tiers[risk < mid] == "high").all()


def test_estimator_contract():
    est = StabilityClassifier(random_state=3, low_share=0.1)
    assert est.get_params()["low_share"] == 0.1
    assert not any(k.endswith("_") for k in vars(est))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        est.predict_proba(pd.DataFrame({"a": [1.0]}))


def test_fixed_cutoffs_and_categorical_rules():
    rng = np.random.default_rng(0)
    n = 800
    contract = rng.choice(["none", "one_year", "two_year"], n).astype(object)
    X = pd.DataFrame({"contract": contract, "tenure_days": rng.integers(0, 2000, n).astype(float)})
    y = (rng.random(n) < np.where(contract == "none", 0.6, 0.1)).astype(int)
    model = StabilityClassifier(hgb_candidates=1, cutoffs=(0.5, 0.2)).fit(X, y)
    assert model.cutoffs_ == (0.5, 0.2)
    assert list(model.stability([0.6, 0.3, 0.1])) == ["low", "mid", "high"]
    assert model.rules()[0].startswith("IF contract = none")
    fitted = model.fit(X, y)
    assert fitted is model


def test_alert_metrics_by_hand():
    y = [1, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    risk = [0.9, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2]
    m = alert_metrics(y, risk, shares=(0.2, 0.3))
    assert m["20%"] == {"list_size": 2, "churners_on_list": 1, "coverage": 1 / 3, "hit_rate": 0.5, "lift": 0.5 / 0.3}
    assert m["30%"]["coverage"] == pytest.approx(2 / 3) and m["30%"]["hit_rate"] == pytest.approx(2 / 3)


def test_features_agree_with_a_plain_groupby(tables):
    f = subscriber_features(tables, AS_OF)
    usage, subs = tables["usage_monthly"], tables["subscriptions"]
    recent = usage[usage.month.isin(["2026-10", "2026-09", "2026-08"])]
    expect_traffic = recent.groupby("msisdn")["traffic_mb"].sum().reindex(f.index, fill_value=0)
    assert f["traffic_mb_3m"].to_numpy() == pytest.approx(expect_traffic.to_numpy())
    per = recent.groupby(["msisdn", "service"])["uses"].sum()
    breadth = per[per > 0].groupby(level=0).size().reindex(f.index, fill_value=0)
    assert (f["services_used_3m"].to_numpy() == breadth.to_numpy()).all()
    cancelled = subs[subs.status == "cancelled"].groupby("msisdn").size().reindex(f.index, fill_value=0)
    assert (f["services_cancelled"].to_numpy() == cancelled.to_numpy()).all()
    changes = tables["handset_changes"].sort_values("changed_on").groupby("msisdn").tail(1).set_index("msisdn")
    days = (pd.Timestamp(AS_OF) - changes["changed_on"]).dt.days.reindex(f.index)
    assert np.allclose(f["handset_changed_days"].to_numpy(), days.to_numpy(dtype=float), equal_nan=True)
    os_changed = (changes.old_os != changes.new_os).reindex(f.index, fill_value=False)
    assert (f["os_changed"].to_numpy() == os_changed.to_numpy(dtype=float)).all()


def test_binary_flags_read_as_equalities():
    rng = np.random.default_rng(1)
    n = 600
    flag = rng.integers(0, 2, n).astype(float)
    X = pd.DataFrame({"has_contract": flag, "arpu": rng.gamma(2, 30, n)})
    y = (rng.random(n) < np.where(flag == 0, 0.5, 0.05)).astype(int)
    rules = StabilityClassifier(hgb_candidates=1, tree_max_depth=1).fit(X, y).rules()
    assert rules[0].startswith("IF has_contract = 0 THEN") and rules[1].startswith("IF has_contract = 1 THEN")



def _xor(n: int = 900):
    """Churn where exactly one of two signals is high: trees learn it, a linear model cannot."""
    rng = np.random.default_rng(11)
    X = pd.DataFrame({"a": rng.random(n), "b": rng.random(n),
                      "city": rng.choice(["x", "y", "z"], n).astype(object)})
    y = (((X["a"] > 0.5) != (X["b"] > 0.5)) ^ (rng.random(n) < 0.05)).astype(int).to_numpy()
    return X, y


@pytest.mark.parametrize("kind", ["hist_gradient_boosting", "logistic_regression"])
def test_scoring_in_blocks_gives_the_whole_frames_values(kind):
    # A base is scored PREDICT_ROWS rows at a time (memory); every step of the pipeline works row
    # by row, so the blocks must give exactly the values of one call on the whole frame.
    X, y = _xor()
    model = StabilityClassifier(random_state=5, **({"hgb_candidates": 2} if kind == "hist_gradient_boosting" else
                                                     {"hgb_candidates": 0, "calibration": "isotonic"})).fit(X, y)
    assert model.chosen_["model"] == kind
    whole = model.churn_risk(X, rows=len(X))
    blocks = model.churn_risk(X, rows=7)
    assert len(blocks) == len(X) and np.array_equal(blocks, whole)
    assert np.array_equal(model.predict_proba(X.iloc[::-1], rows=50)[::-1], model.predict_proba(X, rows=len(X)))
