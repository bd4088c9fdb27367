import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
runner = CliRunner()


def telco_like(path, n: int, seed: int = 0):
    """An IBM-Telco-shaped CSV: Yes/No labels, blank TotalCharges cells, an id column."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n)
    monthly = rng.uniform(20, 110, n).round(2)
    total = (monthly * tenure).round(2).astype(str).astype(object)
    total[:3] = " "
    churn = rng.random(n) < 1 / (1 + np.exp(1.0 + tenure / 20 - 1.8 * (contract == "Month-to-month")))
    pd.DataFrame({"customerID": [f"{i:04d}-X" for i in range(n)], "tenure": tenure, "Contract": contract,
                  "MonthlyCharges": monthly, "TotalCharges": total,
                  "Churn": np.where(churn, "Yes", "no")}).to_csv(path, index=False)
    return path


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))


def test_ahp_json(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text('criteria: [x, y, z]\nmatrix:\n  - [1, 3, 5]\n  - ["1/3", 1, 3]\n  - ["1/5", "1/3", 1]\n')
    r = runner.invoke(app, ["models", "ahp", str(m), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["weights"]["x"] == pytest.approx(0.637, abs=0.001)
    assert doc["consistency_ratio"] == pytest.approx(0.033, abs=0.01) and doc["consistent"] is True
    assert {"lambda_max", "consistency_index"} <= set(doc)


def test_ahp_text_names_inconsistent_pair(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("criteria: [a, b, c]\nmatrix: [[1, 9, '1/9'], ['1/9', 1, 9], [9, '1/9', 1]]\n")
    r = runner.invoke(app, ["models", "ahp", str(m)])
    assert r.exit_code == 1  # issue 10: CR >= 0.1 is a failure a script must see
    assert "INCONSISTENT" in r.stdout and "most inconsistent pair" in r.stdout


def test_ahp_inconsistent_json_exits_1_and_writes_nothing(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("criteria: [fetion, reading, game]\nmatrix: [[1, 9, '1/9'], ['1/9', 1, 9], [9, '1/9', 1]]\n")
    out = tmp_path / "sensitivity.yaml"
    r = runner.invoke(app, ["models", "ahp", str(m), "--json", "--write-sensitivity", str(out)])
    assert r.exit_code == 1 and json.loads(r.stdout)["consistent"] is False
    assert not out.exists()


def test_ahp_writes_weights_into_the_sensitivity_format(tmp_path):
    from engine.scoring.sensitivity import DEFAULT_SUBSCRIPTION_WEIGHTS, load_sensitivity_config

    m = tmp_path / "m.yaml"
    m.write_text('criteria: [fetion, reading, game]\nmatrix:\n  - [1, 3, 5]\n  - ["1/3", 1, 3]\n  - ["1/5", "1/3", 1]\n')
    out = tmp_path / "rules" / "sensitivity.yaml"
    r = runner.invoke(app, ["models", "ahp", str(m), "--write-sensitivity", str(out), "--column", "usage"])
    assert r.exit_code == 0, r.output
    config = load_sensitivity_config(out)
    assert config.usage["fetion"] == pytest.approx(0.637, abs=0.001) and set(config.usage) == {"fetion", "reading", "game"}
    assert config.subscription == DEFAULT_SUBSCRIPTION_WEIGHTS  # the other column kept (defaults: no file before)
    # the written file is valid content of kind `sensitivity`, waiting for approval
    r = runner.invoke(app, ["rules", "validate", str(out)])
    assert r.exit_code == 0, r.output
    assert "status: draft" in out.read_text(encoding="utf-8")


def test_ahp_write_refuses_unknown_services(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text('criteria: [fetoin, reading]\nmatrix: [[1, 2], ["1/2", 1]]\n')
    out = tmp_path / "sensitivity.yaml"
    r = runner.invoke(app, ["models", "ahp", str(m), "--write-sensitivity", str(out)])
    assert r.exit_code == 1 and "fetion" in r.stderr and not out.exists()


def test_ahp_bad_matrix_exits_1_with_location(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("criteria: [a, b]\nmatrix:\n  - [1, 2]\n  - [2, 1]\n")
    r = runner.invoke(app, ["models", "ahp", str(m)])
    assert r.exit_code == 1
    assert f"{m}:4" in r.stderr and "MD016" in r.stderr and "Traceback" not in r.output


def test_train_score_list_show_on_a_table(tmp_path):
    data = telco_like(tmp_path / "telco.csv", 400)
    r = runner.invoke(app, ["models", "train", "stability", "--table", str(data), "--label", "Churn", "--id", "customerID"])
    assert r.exit_code == 0, r.output
    assert "ROC AUC" in r.stdout and "coverage" in r.stdout and "IF " in r.stdout
    version = r.stdout.split("stored stability model ")[1].split()[0]

    out = tmp_path / "scores.csv"
    r = runner.invoke(app, ["models", "score", "stability", "--table", str(data), "--id", "customerID", "--out", str(out)])
    assert r.exit_code == 0, r.output
    scored = pd.read_csv(out, dtype={"id": str})
    assert list(scored.columns) == ["id", "churn_risk", "stability"] and len(scored) == 400

    r = runner.invoke(app, ["models", "list"])
    assert r.exit_code == 0 and version in r.stdout and "AUC" in r.stdout

    r = runner.invoke(app, ["models", "show", version])
    assert r.exit_code == 0 and "rules:" in r.stdout and "data_fingerprint" in r.stdout

    r = runner.invoke(app, ["models", "score", "stability", "--table", str(data), "--id", "customerID",
                            "--out", str(out), "--model", "ffffffffffff"])
    assert r.exit_code == 1 and "MD042" in r.stderr


def test_train_bad_label_exits_1(tmp_path):
    data = telco_like(tmp_path / "telco.csv", 30)
    lines = data.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",perhaps"
    data.write_text("\n".join(lines) + "\n")
    r = runner.invoke(app, ["models", "train", "stability", "--table", str(data), "--label", "Churn", "--id", "customerID"])
    assert r.exit_code == 1 and f"{data}:4" in r.stderr and "MD033" in r.stderr


def test_score_without_a_model_tells_how_to_train(tmp_path):
    data = telco_like(tmp_path / "telco.csv", 30)
    r = runner.invoke(app, ["models", "score", "stability", "--table", str(data), "--id", "customerID", "--out", str(tmp_path / "o.csv")])
    assert r.exit_code == 1 and "rekindle models train stability" in r.stderr


def test_train_with_fixed_cutoffs_json(tmp_path):
    data = telco_like(tmp_path / "telco.csv", 300)
    r = runner.invoke(app, ["models", "train", "stability", "--table", str(data), "--label", "Churn", "--id", "customerID",
                            "--cutoffs", "0.4,0.15", "--json"])
    assert r.exit_code == 0, r.output
    meta = json.loads(r.stdout)
    assert meta["stability_cutoffs"] == {"low": 0.4, "mid": 0.15}
    assert set(meta["metrics"]["alert"]) == {"5%", "10%", "20%"}
    r = runner.invoke(app, ["models", "train", "stability", "--table", str(data), "--label", "Churn", "--id", "customerID",
                            "--cutoffs", "0.1,0.4"])
    assert r.exit_code == 2


def test_cli_default_test_size_matches_the_engine() -> None:
    import cli.models
    from engine.scoring import training

    assert cli.models.DEFAULT_TEST_SIZE == training.DEFAULT_TEST_SIZE


def test_train_stability_reads_the_settings_and_names_a_bad_indicator_at_its_line(tmp_path, night_inputs):
    """`--settings` (default rules/value_stability.yaml): a mistyped indicator stops training with
    the file and line, before any model is stored."""
    from pathlib import Path

    shipped = (Path(__file__).resolve().parents[2] / "rules" / "value_stability.yaml").read_text(encoding="utf-8")
    settings = tmp_path / "value_stability.yaml"
    settings.write_text(shipped.replace("    - arrears_6m ", "    - arears_6m  "), encoding="utf-8")
    line = next(i for i, t in enumerate(settings.read_text(encoding="utf-8").splitlines(), 1) if "- arears_6m" in t)
    r = runner.invoke(app, ["models", "train", "stability", "--data", str(night_inputs.data), "--as-of",
                            night_inputs.as_of.isoformat(), "--settings", str(settings)])
    assert r.exit_code == 1, r.output
    assert "MD057" in r.output and f"value_stability.yaml:{line}" in r.output and "arrears_6m" in r.output
    assert not (tmp_path / "home" / "models").exists()
