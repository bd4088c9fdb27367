"""`rekindle rules submit | approve | show` through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditrun import query
from cli.main import app
from engine.store.database import dispose_all

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


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    (tmp_path / "rules").mkdir()
    (tmp_path / "strategies").mkdir()
    (tmp_path / "rules" / "demo_silent.yaml").write_text(PACK, encoding="utf-8")
    (tmp_path / "rules" / "contact_policy.yaml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "strategies" / "demo_sms.yaml").write_text(STRATEGY, encoding="utf-8")
    yield tmp_path
    dispose_all()


def rules(tree: Path, *args: str):
    return runner.invoke(app, ["rules", *args, "--rules", str(tree / "rules")])


def test_submit_approve_show_and_edit_after_approval(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    result = rules(tree, "submit", "demo_silent", "--by", "李娜")
    assert result.exit_code == 0, result.output
    assert "draft → 待审核 review" in result.output
    assert "status: review            # 预存" in pack.read_text(encoding="utf-8")

    result = rules(tree, "approve", "demo_silent", "--by", "王芳", "--note", "十二月上线")
    assert result.exit_code == 0, result.output
    assert "approved by 王芳 on " in result.output and " UTC" in result.output
    assert "status: approved            # 预存" in pack.read_text(encoding="utf-8")

    result = rules(tree, "show", "demo_silent")
    assert result.exit_code == 0, result.output
    assert "pack: demo_silent" in result.output  # the YAML itself
    assert "file status: 已审核 approved; current content approved by 王芳" in result.output
    assert "submitted" in result.output and "十二月上线" in result.output

    pack.write_text(pack.read_text(encoding="utf-8").replace("priority: 10", "priority: 12"), encoding="utf-8")
    result = rules(tree, "show", "demo_silent")
    assert "current content edited since approval on " in result.output
    assert "by 王芳" in result.output


def test_approve_needs_by_and_a_submitted_valid_pack(tree):
    result = rules(tree, "approve", "demo_silent")
    assert result.exit_code != 0 and "--by" in result.output
    result = rules(tree, "approve", "demo_silent", "--by", "王芳")
    assert result.exit_code == 1
    assert "error[RP902]" in result.output and "rekindle rules submit demo_silent" in result.output
    assert "Traceback" not in result.output


def test_an_invalid_pack_cannot_be_submitted(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    pack.write_text(PACK.replace("months_silent", "months_silnt"), encoding="utf-8")
    result = rules(tree, "submit", "demo_silent", "--by", "李娜")
    assert result.exit_code == 1
    assert f"{pack}:8:" in result.output and "months_silent" in result.output
    assert "status: draft" in pack.read_text(encoding="utf-8")


def test_contact_policy_is_approved_the_same_way(tree):
    assert rules(tree, "submit", "contact_policy").exit_code == 0
    result = rules(tree, "approve", "contact_policy", "--by", "王芳")
    assert result.exit_code == 0, result.output
    assert "contact_policy 'contact_policy'" in result.output
    result = rules(tree, "show", "contact_policy")
    assert "current content approved by 王芳" in result.output


def test_unknown_pack_suggests_the_closest_name(tree):
    result = rules(tree, "show", "demo_silnet")
    assert result.exit_code == 1 and "did you mean 'demo_silent'" in result.output


def test_an_explicit_database_url_is_used(tree, new_db_url, backend):
    url = new_db_url("other")
    if backend == "postgresql":  # the bare scheme an operator types means the psycopg 3 driver
        url = url.replace("postgresql+psycopg://", "postgresql://")
    assert rules(tree, "submit", "demo_silent", "--db", url).exit_code == 0
    assert rules(tree, "approve", "demo_silent", "--by", "王芳", "--db", url).exit_code == 0
    assert [r["action"] for r in query(url, "SELECT action FROM approval ORDER BY id")] == ["submitted", "approved"]
    # The default database under REKINDLE_HOME knows nothing of this approval.
    assert "never approved" in rules(tree, "show", "demo_silent").output
    assert "approved by 王芳" in rules(tree, "show", "demo_silent", "--db", url).output


def test_a_strategy_is_submitted_and_approved_into_the_given_database(tree, new_db_url):
    url = new_db_url("kb")
    strategies = ["strategies", "--dir", str(tree / "strategies"), "--db", url]

    def call(command, *args):
        return runner.invoke(app, [strategies[0], command, "demo_sms", *strategies[1:], *args])

    # demo_sms is already `status: approved` in its file but has no approval record yet
    assert call("submit", "--by", "张伟").exit_code == 0
    approved = call("approve", "--by", "王芳")
    assert approved.exit_code == 0, approved.output
    assert "approved by 王芳" in approved.output
    rows = query(url, "SELECT kind, name, action, actor FROM approval ORDER BY id")
    assert [(r["kind"], r["name"], r["action"], r["actor"]) for r in rows] == [
        ("strategy", "demo_sms", "submitted", "张伟"), ("strategy", "demo_sms", "approved", "王芳")]
