import time

import pandas as pd
import pytest

from engine.base.diagnostics import DiagnosticError
from engine.facts.fields import LEVELS, RETENTION_GROUPS
from engine.facts.fields import SCORE_COLUMNS
from engine.scoring.scoring import score_snapshot
from engine.scoring.sensitivity import SensitivityConfig
from engine.scoring.value import ValueConfig

from models_synthetic import AS_OF, FakeSnapshot


def test_scores_every_subscriber_with_versions(trained, tables):
    meta, models_dir = trained
    scores, versions = score_snapshot(FakeSnapshot(tables), AS_OF, models_dir)
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert scores.index.name == "msisdn" and scores.index.tolist() == tables["subscribers"]["msisdn"].tolist()
    assert scores[["sensitivity", "churn_risk", "value"]].apply(lambda c: c.between(0, 1).all()).all()
    assert scores["sensitivity_pct"].between(0, 100).all()
    assert set(scores["stability"]) <= set(LEVELS) and set(scores["value_tier"]) <= set(LEVELS)
    assert set(scores["retention_group"]) <= set(RETENTION_GROUPS)
    grid = scores[(scores.value_tier == "high") & (scores.stability == "low")]
    assert (grid["retention_group"] == "操心").all()
    assert versions == {"sensitivity": SensitivityConfig().version(), "stability": meta["version"],
                        "value": ValueConfig().version(), "retention": versions["retention"]}


def test_same_inputs_same_scores(trained, tables):
    _, models_dir = trained
    a, va = score_snapshot(FakeSnapshot(tables), AS_OF, models_dir)
    b, vb = score_snapshot(FakeSnapshot(tables), AS_OF, models_dir)
    pd.testing.assert_frame_equal(a, b)
    assert va == vb


def test_no_model_is_a_clear_error(tables, tmp_path):
    with pytest.raises(DiagnosticError) as e:
        score_snapshot(FakeSnapshot(tables), AS_OF, tmp_path)
    d = e.value.diagnostics[0]
    assert d.code == "MD043" and "rekindle models train stability" in d.hint


def test_table_trained_model_is_not_used_for_snapshots(tables, tmp_path):
    from models_synthetic import telco_like
    from engine.scoring.training import train_stability_from_table

    train_stability_from_table(telco_like(tmp_path / "t.csv", 200), "Churn", "customerID",
                               models_dir=tmp_path / "m", hgb_candidates=1)
    with pytest.raises(DiagnosticError) as e:
        score_snapshot(FakeSnapshot(tables), AS_OF, tmp_path / "m")
    assert "trained on a snapshot" in e.value.diagnostics[0].message
