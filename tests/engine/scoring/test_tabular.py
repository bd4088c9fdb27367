import pandas as pd
import pytest

from engine.base.diagnostics import DiagnosticError
from engine.scoring.tabular import CATEGORICAL, NUMERIC, infer_kinds, read_raw, training_table
from engine.scoring.training import score_stability_table, train_stability_from_table

from models_synthetic import telco_like


def test_yes_no_labels_and_blank_numeric_cells(tmp_path):
    path = telco_like(tmp_path / "t.csv", 40)
    X, y, ids, _ = training_table(path, "Churn", "customerID")
    assert "customerID" not in X.columns and "Churn" not in X.columns
    assert X["TotalCharges"].dtype == float and X["TotalCharges"].isna().sum() == 3
    assert X["Contract"].dtype != float
    assert set(y) == {0, 1}


def test_kinds_inferred(tmp_path):
    raw = read_raw(telco_like(tmp_path / "t.csv", 20))
    kinds = infer_kinds(raw, ["tenure", "TotalCharges", "Contract", "SeniorCitizen"])
    assert kinds == {"tenure": NUMERIC, "TotalCharges": NUMERIC, "Contract": CATEGORICAL, "SeniorCitizen": NUMERIC}


def test_bad_label_is_an_error_with_line(tmp_path):
    path = telco_like(tmp_path / "t.csv", 20)
    lines = path.read_text().splitlines()
    lines[7] = lines[7].rsplit(",", 1)[0] + ",maybe"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DiagnosticError) as e:
        training_table(path, "Churn", "customerID")
    d = e.value.diagnostics[0]
    assert d.code == "MD033" and d.line == 8 and d.path == "Churn" and "maybe" in d.message


def test_missing_label_column_suggests(tmp_path):
    path = telco_like(tmp_path / "t.csv", 20)
    with pytest.raises(DiagnosticError) as e:
        training_table(path, "churn", "customerID")
    assert "Churn" in e.value.diagnostics[0].hint


def test_train_and_score_a_table(tmp_path):
    path = telco_like(tmp_path / "t.csv", 400)
    meta = train_stability_from_table(path, "Churn", "customerID", models_dir=tmp_path / "m", hgb_candidates=1)
    assert meta["source"]["kind"] == "table"
    assert [f["name"] for f in meta["features"]] == ["gender", "SeniorCitizen", "tenure", "Contract",
                                                      "MonthlyCharges", "TotalCharges"]
    assert meta["metrics"]["roc_auc"] > 0.7
    out = tmp_path / "scores.csv"
    rows, used = score_stability_table(path, "customerID", out, models_dir=tmp_path / "m")
    assert rows == 400 and used["version"] == meta["version"]
    assert out.read_text().splitlines()[0] == "id,churn_risk,stability"
    scored = pd.read_csv(out, dtype={"id": str})
    assert scored["id"].tolist() == pd.read_csv(path, dtype=str)["customerID"].tolist()
    assert scored["churn_risk"].between(0, 1).all() and set(scored["stability"]) <= {"high", "mid", "low"}


def test_scoring_a_non_number_in_a_numeric_column_names_the_line(tmp_path):
    path = telco_like(tmp_path / "t.csv", 300)
    train_stability_from_table(path, "Churn", "customerID", models_dir=tmp_path / "m", hgb_candidates=1)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[4, "tenure"] = "ten"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DiagnosticError) as e:
        score_stability_table(tmp_path / "bad.csv", "customerID", tmp_path / "o.csv", models_dir=tmp_path / "m")
    d = e.value.diagnostics[0]
    assert d.code == "MD032" and d.line == 6 and d.path == "tenure"


def test_parquet_reads_like_csv(tmp_path):
    path = telco_like(tmp_path / "t.csv", 50)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[frame["TotalCharges"].str.strip() == "", "TotalCharges"] = None
    frame.to_parquet(tmp_path / "t.parquet")
    Xc, yc, idc, _ = training_table(path, "Churn", "customerID")
    Xp, yp, idp, _ = training_table(tmp_path / "t.parquet", "Churn", "customerID")
    pd.testing.assert_frame_equal(Xc, Xp)
    assert yc.tolist() == yp.tolist() and idc.tolist() == idp.tolist()
