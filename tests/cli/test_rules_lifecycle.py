"""`rekindle rules submit | approve | show` through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from engine.store.database import dispose_all
from identities import OTHER_USER, rekindle_as, shared_tree  # noqa: F401 - a fixture

runner = CliRunner()

PACK = """\
# yaml-language-server: $schema=../engine/content/schemas/pack.schema.json
pack: demo_silent
title: 演示 demo silent
owner: campaign-team
status: draft            # 预存
priority: 10
target:
  - {rule: silent_3m, when: {months_silent: {gte: 3}}, reason: silent_3_months}
treat:
  - strategy: demo_sms
"""
STRATEGY = """\
strategy: demo_sms
reasons: [silent_3_months]
measure: 短信使用指南
channel: sms
maintainer: 张伟
maintained_on: 2026-11-01
status: approved
"""
POLICY = "policy: contact_policy\nstatus: draft\nexclude:\n  - {rule: dnd, when: {on_list: {contains: dnd}}, reason: do_not_disturb}\n"


def _write_tree(root: Path, monkeypatch) -> Path:
    monkeypatch.setenv("REKINDLE_HOME", str(root / "home"))
    (root / "rules").mkdir()
    (root / "strategies").mkdir()
    (root / "rules" / "demo_silent.yaml").write_text(PACK, encoding="utf-8")
    (root / "rules" / "contact_policy.yaml").write_text(POLICY, encoding="utf-8")
    (root / "strategies" / "demo_sms.yaml").write_text(STRATEGY, encoding="utf-8")
    return root


@pytest.fixture
def tree(tmp_path, monkeypatch):
    yield _write_tree(tmp_path, monkeypatch)
    dispose_all()


@pytest.fixture
def team_tree(shared_tree, monkeypatch):
    """The same tree in a folder a second OS login (the supervisor) can use too."""
    yield _write_tree(shared_tree, monkeypatch)
    dispose_all()


def rules(tree: Path, *args: str):
    return runner.invoke(app, ["rules", *args, "--rules", str(tree / "rules")])


def supervisor(tree: Path, *args: str):
    """`rekindle rules ARGS` run as another OS login (the approver), as a real process."""
    return rekindle_as(OTHER_USER, tree, ["rules", *args, "--rules", str(tree / "rules")])


def test_submit_approve_show_and_edit_after_approval(team_tree):
    tree = team_tree
    pack = tree / "rules" / "demo_silent.yaml"
    result = rules(tree, "submit", "demo_silent")
    assert result.exit_code == 0, result.output
    assert "draft → 待审核 review" in result.output
    assert "status: review            # 预存" in pack.read_text(encoding="utf-8")

    # Four eyes: the login that submitted cannot approve (exit 3, refused).
    result = rules(tree, "approve", "demo_silent")
    assert result.exit_code == 3 and "error[RP906]" in result.output and "four eyes" in result.output
    assert "status: review" in pack.read_text(encoding="utf-8")

    result = supervisor(tree, "approve", "demo_silent", "--note", "十二月上线")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"approved by {OTHER_USER} on " in result.stdout and " UTC" in result.stdout
    assert "status: approved            # 预存" in pack.read_text(encoding="utf-8")

    result = rules(tree, "show", "demo_silent")
    assert result.exit_code == 0, result.output
    assert "pack: demo_silent" in result.output  # the YAML itself
    assert f"file status: 已审核 approved; current content approved by {OTHER_USER}" in result.output
    assert "submitted" in result.output and "十二月上线" in result.output

    pack.write_text(pack.read_text(encoding="utf-8").replace("priority: 10", "priority: 12"), encoding="utf-8")
    result = rules(tree, "show", "demo_silent")
    assert "current content edited since approval on " in result.output
    assert f"by {OTHER_USER}" in result.output


def test_approve_takes_no_free_text_approver_and_needs_a_submitted_valid_pack(tree):
    result = rules(tree, "approve", "demo_silent", "--by", "王芳")
    assert result.exit_code == 2 and "No such option: --by" in result.output  # identity is the OS login
    result = rules(tree, "approve", "demo_silent")
    assert result.exit_code == 1
    assert "error[RP902]" in result.output and "rekindle rules submit demo_silent" in result.output
    assert "Traceback" not in result.output


def test_an_invalid_pack_cannot_be_submitted(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    pack.write_text(PACK.replace("months_silent", "months_silnt"), encoding="utf-8")
    result = rules(tree, "submit", "demo_silent")
    assert result.exit_code == 1
    assert f"{pack}:8:" in result.output and "months_silent" in result.output
    assert "status: draft" in pack.read_text(encoding="utf-8")


def test_contact_policy_is_approved_the_same_way(team_tree):
    tree = team_tree
    assert rules(tree, "submit", "contact_policy").exit_code == 0
    result = supervisor(tree, "approve", "contact_policy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "contact_policy 'contact_policy'" in result.stdout
    result = rules(tree, "show", "contact_policy")
    assert f"current content approved by {OTHER_USER}" in result.output


def test_unknown_pack_suggests_the_closest_name(tree):
    result = rules(tree, "show", "demo_silnet")
    assert result.exit_code == 1 and "did you mean 'demo_silent'" in result.output


def test_an_explicit_database_url_is_used(team_tree):
    tree = team_tree
    url = f"sqlite:///{tree / 'other.db'}"
    assert rules(tree, "submit", "demo_silent", "--db", url).exit_code == 0
    result = supervisor(tree, "approve", "demo_silent", "--db", url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tree / "other.db").exists()
    # The default database under REKINDLE_HOME knows nothing of this approval.
    assert "never approved" in rules(tree, "show", "demo_silent").output
    assert f"approved by {OTHER_USER}" in rules(tree, "show", "demo_silent", "--db", url).output
