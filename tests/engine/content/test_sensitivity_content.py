"""rules/sensitivity.yaml as content: validated with line numbers, approved like a pack, hashed
into every trace, and the weights a run scores with (issue 10 §2)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.content.approvals import unapproved
from engine.content.checks_models import sensitivity_config
from engine.content.documents import load_content
from engine.content.validate import validate_paths
from engine.night.context import content_hashes
from nightly_inputs import RULES, STRATEGIES

GOOD = (RULES / "sensitivity.yaml").read_text(encoding="utf-8")


def _rules(tmp_path: Path, text: str | None = GOOD) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    if text is None:
        (rules / "sensitivity.yaml").unlink()
    else:
        (rules / "sensitivity.yaml").write_text(text, encoding="utf-8")
    return rules


def _errors(path: Path):
    _content, diagnostics = validate_paths([path], strategies_dir=STRATEGIES)
    return [d for d in diagnostics if d.severity == "error"]


def test_shipped_file_loads_as_the_sensitivity_kind():
    content, diagnostics = load_content(RULES, STRATEGIES)
    assert not [d for d in diagnostics if d.severity == "error"]
    assert content.sensitivity is not None and content.sensitivity.kind == "sensitivity"
    assert sensitivity_config(content).sensitive_share == 0.2


def test_unknown_service_is_reported_at_its_line(tmp_path):
    rules = _rules(tmp_path, GOOD.replace("  wlan: 0.0738", "  wlna: 0.0738"))
    line = next(i for i, text in enumerate((rules / "sensitivity.yaml").read_text().splitlines(), 1) if "wlna" in text)
    errors = _errors(rules / "sensitivity.yaml")
    assert [(d.code, d.line) for d in errors] == [("MD021", line)]
    assert "wlan" in errors[0].hint


def test_wrong_type_and_bad_share_are_reported_at_their_lines(tmp_path):
    text = GOOD.replace("  fetion: 0.0898", "  fetion: many").replace("sensitive_share: 0.2", "sensitive_share: 1.5")
    rules = _rules(tmp_path, text)
    lines = (rules / "sensitivity.yaml").read_text().splitlines()
    errors = _errors(rules / "sensitivity.yaml")
    at = {d.line for d in errors}
    assert next(i for i, t in enumerate(lines, 1) if "fetion: many" in t) in at
    assert next(i for i, t in enumerate(lines, 1) if "sensitive_share: 1.5" in t) in at
    assert all(d.file.endswith("sensitivity.yaml") for d in errors)


def test_production_needs_the_file_approved(tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    rules = _rules(tmp_path, GOOD.replace("status: approved ", "status: draft    "))
    content, _ = load_content(rules, STRATEGIES)
    lines = unapproved(content, f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert any("sensitivity 'sensitivity'" in line and "not approved" in line for line in lines)


def test_its_hash_is_in_the_content_hashes_of_every_trace():
    content, _ = load_content(RULES, STRATEGIES)
    assert content_hashes(content)["sensitivity/sensitivity"] == content.sensitivity.sha256


def test_a_run_scores_with_the_file(tmp_path, night_inputs):
    from engine.night.prepare import prepare_frame
    from engine.snapshot.loader import load_snapshot

    inputs = night_inputs
    snapshot = load_snapshot(inputs.data)
    shares = {}
    for share in ("0.2", "0.5"):
        rules = _rules(tmp_path / share, GOOD.replace("sensitive_share: 0.2", f"sensitive_share: {share}"))
        content, _ = load_content(rules, STRATEGIES)
        frame, _extras, versions = prepare_frame(snapshot, inputs.as_of, content, inputs.models)
        people = frame.drop_duplicates("msisdn")
        shares[share] = (people["data_sensitive"].mean(), versions["sensitivity"])
    assert shares["0.2"][0] == pytest.approx(0.2, abs=0.03)
    assert shares["0.5"][0] == pytest.approx(0.5, abs=0.05)
    assert shares["0.2"][1] != shares["0.5"][1]  # the model version in the trace follows the file


def test_submit_and_approve_like_every_content_file(tmp_path, monkeypatch):
    from engine.content import lifecycle

    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    rules = _rules(tmp_path, GOOD.replace("status: approved ", "status: draft    "))
    path = rules / "sensitivity.yaml"
    lifecycle.submit(path, by="张伟", db_url=db)
    lifecycle.approve(path, by="supervisor", db_url=db)
    content, _ = load_content(rules, STRATEGIES)
    assert not [line for line in unapproved(content, db) if "sensitivity" in line]
    # an edit after approval needs a new approval
    path.write_text(path.read_text(encoding="utf-8").replace("sensitive_share: 0.2", "sensitive_share: 0.25"),
                    encoding="utf-8")
    content, _ = load_content(rules, STRATEGIES)
    assert any("sensitivity 'sensitivity'" in line and "edited since its approval" in line
               for line in unapproved(content, db))
