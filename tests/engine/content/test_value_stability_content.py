"""rules/value_stability.yaml as content (issue 10 §3): validated with line numbers, approved like a
pack, hashed into every trace, and the value weights / tiers, stability cut-offs and retention
grid a run scores with; a snapshot without the optional columns scores exactly as before."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.content.approvals import unapproved
from engine.content.checks_models import value_stability_config
from engine.content.documents import load_content
from engine.content.validate import validate_paths
from engine.night.context import content_hashes
from engine.snapshot.contract import SUBSCRIBER_OPTIONAL
from nightly_inputs import RULES, STRATEGIES

FILE = "value_stability.yaml"
GOOD = (RULES / FILE).read_text(encoding="utf-8")


def _rules(tmp_path: Path, text: str | None = GOOD) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    if text is None:
        (rules / FILE).unlink()
    else:
        (rules / FILE).write_text(text, encoding="utf-8")
    return rules


def _errors(path: Path):
    _content, diagnostics = validate_paths([path], strategies_dir=STRATEGIES)
    return [d for d in diagnostics if d.severity == "error"]


def _line(path: Path, needle: str) -> int:
    return next(i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in text)


def test_shipped_file_loads_as_its_kind_with_all_nine_indicators():
    content, diagnostics = load_content(RULES, STRATEGIES)
    assert not [d for d in diagnostics if d.severity == "error"]
    assert content.value_stability is not None and content.value_stability.kind == "value_stability"
    config = value_stability_config(content)
    assert set(config.value.weights) == {"current_contribution", "historical_contribution", "tenure", "contract",
                                         "usage_breadth", "calling_circle", "on_net_share", "suspensions", "arrears"}
    assert (config.value.high_share, config.value.mid_share) == (0.2, 0.4)
    assert config.stability_cutoffs is None  # `tiers: model`
    assert config.retention.valuable == {"high"} and config.retention.unstable == {"low"}


def test_unknown_indicator_is_reported_at_its_line_with_the_closest_name(tmp_path):
    rules = _rules(tmp_path, GOOD.replace("    arrears: 0.10", "    arrers: 0.10"))
    errors = _errors(rules / FILE)
    assert [(d.code, d.line) for d in errors] == [("MD051", _line(rules / FILE, "arrers"))]
    assert "arrears" in errors[0].hint


def test_bad_weight_shares_and_grid_tier_are_reported_at_their_lines(tmp_path):
    text = (GOOD.replace("    tenure: 0.15", "    tenure: lots")
            .replace("tiers: {high: 0.2, mid: 0.4}", "tiers: {high: 0.7, mid: 0.4}")
            .replace("unstable: [low]", "unstable: [lo]"))
    rules = _rules(tmp_path, text)
    errors = _errors(rules / FILE)
    at = {d.line for d in errors}
    assert _line(rules / FILE, "tenure: lots") in at
    assert _line(rules / FILE, "high: 0.7") in at
    assert _line(rules / FILE, "unstable: [lo]") in at
    assert all(d.file.endswith(FILE) for d in errors)


def test_stability_cut_offs_in_the_wrong_order_are_refused(tmp_path):
    rules = _rules(tmp_path, GOOD.replace("  tiers: model", "  tiers: {low: 0.05, mid: 0.2}"))
    errors = _errors(rules / FILE)
    assert [d.code for d in errors] == ["MD055"]
    assert errors[0].line == _line(rules / FILE, "low: 0.05")


def test_production_needs_the_file_approved_and_an_edit_needs_approval_again(tmp_path, monkeypatch):
    from engine.content import lifecycle

    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    rules = _rules(tmp_path, GOOD.replace("status: approved ", "status: draft    "))
    content, _ = load_content(rules, STRATEGIES)
    assert any("value_stability 'value_stability'" in line and "not approved" in line
               for line in unapproved(content, db))
    path = rules / FILE
    lifecycle.submit(path, by="张伟", db_url=db)
    lifecycle.approve(path, by="supervisor", db_url=db)
    content, _ = load_content(rules, STRATEGIES)
    assert not [line for line in unapproved(content, db) if "value_stability" in line]
    path.write_text(path.read_text(encoding="utf-8").replace("arrears: 0.10", "arrears: 0.20"), encoding="utf-8")
    content, _ = load_content(rules, STRATEGIES)
    assert any("value_stability 'value_stability'" in line and "edited since its approval" in line
               for line in unapproved(content, db))


def test_its_hash_is_in_the_content_hashes_of_every_trace():
    content, _ = load_content(RULES, STRATEGIES)
    assert content_hashes(content)["value_stability/value_stability"] == content.value_stability.sha256


def _frame(snapshot, inputs, rules: Path):
    from engine.night.prepare import prepare_frame

    content, _ = load_content(rules, STRATEGIES)
    frame, _extras, versions = prepare_frame(snapshot, inputs.as_of, content, inputs.models)
    return frame.drop_duplicates("msisdn").set_index("msisdn"), versions


@pytest.fixture(scope="module")
def snapshot(night_inputs):
    from engine.snapshot.loader import load_snapshot

    return load_snapshot(night_inputs.data)


def test_a_run_scores_with_the_file(tmp_path, night_inputs, snapshot):
    inputs = night_inputs
    shipped, v_shipped = _frame(snapshot, inputs, _rules(tmp_path / "a"))
    wider = GOOD.replace("tiers: {high: 0.2, mid: 0.4}", "tiers: {high: 0.35, mid: 0.4}").replace(
        "  tiers: model", "  tiers: {low: 0.2, mid: 0.05}")
    edited, v_edited = _frame(snapshot, inputs, _rules(tmp_path / "b", wider))
    assert (shipped["value_tier"] == "high").mean() == pytest.approx(0.2, abs=0.03)  # subscribers with a fact
    assert (edited["value_tier"] == "high").mean() == pytest.approx(0.35, abs=0.03)
    # fixed churn-risk cut-offs: low exactly from 0.2, mid from 0.05
    risk = edited["churn_risk"].to_numpy()
    expected = np.where(risk >= 0.2, "low", np.where(risk >= 0.05, "mid", "high"))
    assert (edited["stability"].to_numpy() == expected).all()
    assert v_edited["value"] != v_shipped["value"]
    assert v_edited["stability"] == v_shipped["stability"] + "+cutoffs:0.2/0.05"


def test_the_optional_indicators_change_value_when_the_snapshot_has_them(tmp_path, night_inputs, snapshot):
    inputs = night_inputs
    with_file, v_file = _frame(snapshot, inputs, _rules(tmp_path / "a"))
    without, v_default = _frame(snapshot, inputs, _rules(tmp_path / "b", None))
    assert v_file["value"] != v_default["value"]
    assert not np.allclose(with_file["value"].to_numpy(), without.loc[with_file.index, "value"].to_numpy())


def _old_snapshot(tmp_path: Path, data: Path) -> Path:
    """The shared snapshot as an older extract would give it: no optional subscribers columns."""
    old = tmp_path / "old"
    shutil.copytree(data, old, ignore=shutil.ignore_patterns("truth"))
    subs = pd.read_csv(old / "subscribers.csv", dtype=str, keep_default_na=False)
    subs.drop(columns=[c.name for c in SUBSCRIBER_OPTIONAL]).to_csv(old / "subscribers.csv", index=False)
    return old


def test_a_snapshot_without_the_optional_columns_scores_exactly_as_without_the_file(tmp_path, night_inputs):
    """The shipped file adds weights only for indicators an old snapshot lacks: its values, tiers,
    groups and value version are those of the code defaults, bit for bit."""
    from engine.scoring.scoring import score_snapshot
    from engine.scoring.training import train_stability_from_snapshot
    from engine.scoring.value import ValueConfig
    from engine.snapshot.loader import load_snapshot

    inputs = night_inputs
    old = load_snapshot(_old_snapshot(tmp_path, inputs.data))
    assert "circle_size" not in old.tables["subscribers"].columns
    models = tmp_path / "models"
    train_stability_from_snapshot(old.directory, inputs.as_of, models_dir=models, hgb_candidates=1)
    content, _ = load_content(RULES, STRATEGIES)
    a, va = score_snapshot(old, inputs.as_of, models, value_stability=value_stability_config(content))
    b, vb = score_snapshot(old, inputs.as_of, models)
    pd.testing.assert_frame_equal(a, b)
    assert va == vb and va["value"] == ValueConfig().version()


def test_a_model_trained_with_the_optional_columns_scores_a_snapshot_without_them(tmp_path, night_inputs):
    """Absent optional columns are unknown in every row: the model scores with them missing."""
    from engine.scoring.scoring import score_snapshot
    from engine.snapshot.loader import load_snapshot

    inputs = night_inputs
    old = load_snapshot(_old_snapshot(tmp_path, inputs.data))
    scores, _ = score_snapshot(old, inputs.as_of, inputs.models)
    assert scores["churn_risk"].between(0, 1).all()
    assert set(scores["stability"]) <= {"high", "mid", "low"}


# -- stability.indicators: what the stability model learns from --------------------------------

def test_the_shipped_file_lists_every_indicator_which_means_all():
    from engine.scoring.value_stability import STABILITY_INDICATORS

    content, _ = load_content(RULES, STRATEGIES)
    listed = content.value_stability.data["stability"]["indicators"]
    assert sorted(listed) == sorted(STABILITY_INDICATORS)
    assert value_stability_config(content).stability_indicators is None  # all: the model trained as before


def _indicator_text(names) -> str:
    start = GOOD.index("  indicators:\n")
    end = GOOD.index("\nretention:")
    return GOOD[:start] + "  indicators:\n" + "".join(f"    - {n}\n" for n in names) + GOOD[end:]


def test_a_chosen_subset_is_read_in_the_features_order_and_hashed():
    from engine.base.yamlfile import parse_yaml
    from engine.scoring.value_stability import settings_hash, value_stability_from_doc

    chosen = value_stability_from_doc(parse_yaml(_indicator_text(["arrears_6m", "tenure_days", "arpu"]), FILE))
    assert chosen.stability_indicators == ("tenure_days", "arpu", "arrears_6m")
    reordered = value_stability_from_doc(parse_yaml(_indicator_text(["arpu", "arrears_6m", "tenure_days"]), FILE))
    everything = value_stability_from_doc(parse_yaml(GOOD, FILE))
    assert settings_hash(chosen) == settings_hash(reordered) != settings_hash(everything)


def test_unknown_repeated_or_no_indicators_are_reported_at_their_lines(tmp_path):
    rules = _rules(tmp_path, _indicator_text(["tenure_days", "arears_6m", "arpu", "arpu"]))
    errors = _errors(rules / FILE)
    assert [d.code for d in errors] == ["MD057", "MD057"]
    assert errors[0].line == _line(rules / FILE, "- arears_6m") and "arrears_6m" in errors[0].hint
    lines = (rules / FILE).read_text(encoding="utf-8").splitlines()
    assert lines[errors[1].line - 1].strip() == "- arpu" and errors[1].line > errors[0].line + 1
    rules = _rules(tmp_path / "b", GOOD.replace("  indicators:\n", "  indicatorz:\n"))
    errors = _errors(rules / FILE)  # the schema names the key
    assert [(d.code, d.line) for d in errors] == [("RP010", _line(rules / FILE, "indicatorz"))]
    start, end = GOOD.index("  indicators:\n"), GOOD.index("\nretention:")
    rules = _rules(tmp_path / "c", GOOD[:start] + "  indicators: []\n" + GOOD[end:])
    errors = _errors(rules / FILE)
    assert [(d.code, d.line) for d in errors] == [("MD057", _line(rules / FILE, "indicators: []"))]


def test_training_reads_the_chosen_indicators(tmp_path, night_inputs):
    """`models train stability` with the settings: the model learns from the chosen indicators only
    (the optional ones the snapshot has), records them, and a run scores with it."""
    from engine.scoring.artefacts import load_model
    from engine.scoring.scoring import score_snapshot
    from engine.scoring.training import train_stability_from_snapshot
    from engine.snapshot.loader import load_snapshot

    rules = _rules(tmp_path, _indicator_text(["tenure_days", "arpu_trend", "uses_trend", "circle_trend",
                                              "arrears_6m", "handset_brand"]))
    meta = train_stability_from_snapshot(night_inputs.data, night_inputs.as_of, models_dir=tmp_path / "models",
                                         settings=rules / FILE, hgb_candidates=1, refit=False)
    names = [f["name"] for f in meta["features"]]
    assert names == ["tenure_days", "arpu_trend", "uses_trend", "circle_trend", "arrears_6m", "handset_brand"]
    assert meta["source"]["indicators"] == names and len(meta["source"]["settings"]) == 12
    model = load_model(meta, tmp_path / "models")
    assert model.numeric_features_ + model.categorical_features_ == names
    scores, versions = score_snapshot(load_snapshot(night_inputs.data), night_inputs.as_of, tmp_path / "models")
    assert versions["stability"] == meta["version"] and scores["churn_risk"].between(0, 1).all()


def test_training_with_only_absent_optional_indicators_is_refused_at_the_line(tmp_path, night_inputs):
    from engine.base.diagnostics import DiagnosticError
    from engine.scoring.training import train_stability_from_snapshot

    old = _old_snapshot(tmp_path, night_inputs.data)
    rules = _rules(tmp_path, _indicator_text(["circle_trend", "arrears_6m"]))
    with pytest.raises(DiagnosticError) as caught:
        train_stability_from_snapshot(old, night_inputs.as_of, models_dir=tmp_path / "models", settings=rules / FILE)
    (d,) = caught.value.diagnostics
    assert d.code == "MD057" and d.file.endswith(FILE)
    assert _line(rules / FILE, "  indicators:") <= d.line <= _line(rules / FILE, "- circle_trend")


def test_training_refuses_a_mistyped_key_instead_of_training_on_everything(tmp_path, night_inputs):
    from engine.base.diagnostics import DiagnosticError
    from engine.scoring.training import train_stability_from_snapshot

    rules = _rules(tmp_path, GOOD.replace("  indicators:\n", "  indicatorz:\n"))
    with pytest.raises(DiagnosticError) as caught:
        train_stability_from_snapshot(night_inputs.data, night_inputs.as_of, models_dir=tmp_path / "models",
                                      settings=rules / FILE)
    (d,) = caught.value.diagnostics
    assert d.code == "MD050" and "indicators" in d.hint and d.file.endswith(FILE)
    assert not (tmp_path / "models").exists()
