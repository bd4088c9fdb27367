"""Submit and approve: the status line is edited in place, approvals pin the file's sha256."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from engine.content import lifecycle
from engine.content.approvals import approval_state, history
from engine.base.diagnostics import DiagnosticError, Refused
from engine.content.documents import load_document
from engine.store.database import dispose_all

PACK = """\
# yaml-language-server: $schema=../engine/content/schemas/pack.schema.json
# Planner's note: thresholds agreed with the city teams.
pack: demo_silent
title: 演示 demo silent
owner: campaign-team
status: draft            # 预存 until a supervisor reviews it
priority: 10

target:
  - rule: silent_3m
    title: three silent months
    when: {months_silent: {gte: 3}}
    reason: silent_3_months

treat:
  - strategy: demo_sms   # SMS tips
"""

STRATEGY = """\
# yaml-language-server: $schema=../engine/content/schemas/strategy.schema.json
strategy: demo_sms
reasons: [silent_3_months]
measure: 短信使用指南
channel: sms
message: "您的{service_name}有新内容"
maintainer: 张伟
maintained_on: 2026-11-01
status: draft
"""

POLICY = """\
policy: contact_policy
title: 全局接触规则
status: draft   # 预存

exclude:
  - {rule: dnd, when: {on_list: {contains: dnd}}, reason: do_not_disturb}
"""

SEGMENTS = """\
# no status line yet: approve must add one
title: 细分 segmentation
segments:
  - {rule: silent, segment: silent_long, when: {months_silent: {gte: 3}}, reason: silent_3_months}
default: active
"""


@pytest.fixture
def tree(tmp_path, monkeypatch, db_url):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    (tmp_path / "rules").mkdir()
    (tmp_path / "strategies").mkdir()
    (tmp_path / "rules" / "demo_silent.yaml").write_text(PACK, encoding="utf-8")
    (tmp_path / "rules" / "contact_policy.yaml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "rules" / "segments.yaml").write_text(SEGMENTS, encoding="utf-8")
    (tmp_path / "strategies" / "demo_sms.yaml").write_text(STRATEGY, encoding="utf-8")
    _db_urls[tmp_path] = db_url
    yield tmp_path
    dispose_all()
    del _db_urls[tmp_path]


_db_urls: dict[Path, str] = {}  # the tree's database: conftest's db_url, on SQLite and on PostgreSQL


def db(tree: Path) -> str:
    return _db_urls[tree]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def codes(error: pytest.ExceptionInfo) -> list[str]:
    return [d.code for d in error.value.diagnostics]


def test_submit_changes_only_the_status_value_and_records_the_new_hash(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    result = lifecycle.submit(pack, "李娜", db(tree))
    after = pack.read_text(encoding="utf-8")
    assert after == PACK.replace("status: draft ", "status: review ")  # comment and layout kept
    assert "# 预存 until a supervisor reviews it" in after
    assert (result.previous_status, result.status, result.changed) == ("draft", "review", True)
    assert result.sha256 == sha(pack)
    [event] = history("pack", "demo_silent", db(tree))
    assert (event.action, event.actor, event.sha256) == ("submitted", "李娜", sha(pack))


def test_a_draft_cannot_be_approved_without_review(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    with pytest.raises(DiagnosticError) as error:
        lifecycle.approve(pack, "王芳", db(tree))
    assert codes(error) == [lifecycle.NOT_SUBMITTED]
    assert error.value.diagnostics[0].line == 6  # the status line
    assert pack.read_text(encoding="utf-8") == PACK
    assert history("pack", "demo_silent", db(tree)) == []


def test_approve_sets_status_and_records_approver_time_and_hash_after_the_edit(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    lifecycle.submit(pack, "李娜", db(tree))
    before = datetime.now(timezone.utc)
    result = lifecycle.approve(pack, "王芳", db(tree), note="ok for December")
    assert pack.read_text(encoding="utf-8") == PACK.replace("status: draft ", "status: approved ")
    document, _ = load_document(pack)
    assert document.status == "approved"
    assert result.sha256 == sha(pack) == document.sha256
    state = approval_state("pack", "demo_silent", sha(pack), db(tree))
    assert state.approved and state.by == "王芳" and state.note == "ok for December"
    assert state.at.tzinfo is not None and state.at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= state.at <= datetime.now(timezone.utc) + timedelta(seconds=1)


def test_approving_unchanged_approved_content_records_nothing(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    lifecycle.submit(pack, "李娜", db(tree))
    lifecycle.approve(pack, "王芳", db(tree))
    again = lifecycle.approve(pack, "赵强", db(tree))
    assert (again.changed, again.recorded, again.state.by) == (False, False, "王芳")
    assert [e.action for e in history("pack", "demo_silent", db(tree))] == ["submitted", "approved"]


def test_an_edit_after_approval_voids_it_until_resubmitted_and_approved(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    lifecycle.submit(pack, "李娜", db(tree))
    approved = lifecycle.approve(pack, "王芳", db(tree))
    pack.write_text(pack.read_text(encoding="utf-8").replace("priority: 10", "priority: 11"), encoding="utf-8")
    state = approval_state("pack", "demo_silent", sha(pack), db(tree))
    assert not state.approved
    assert state.approved_sha256 == approved.sha256 and state.by == "王芳"
    assert state.describe().startswith("edited since approval on ")
    view = lifecycle.inspect(pack, db(tree))
    assert view.status == "approved" and not view.state.approved  # the file claims it; the record does not
    lifecycle.submit(pack, "李娜", db(tree))
    lifecycle.approve(pack, "王芳", db(tree))
    assert approval_state("pack", "demo_silent", sha(pack), db(tree)).approved
    assert "priority: 11" in pack.read_text(encoding="utf-8")


def test_submitting_approved_unchanged_content_is_refused(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    lifecycle.submit(pack, "李娜", db(tree))
    lifecycle.approve(pack, "王芳", db(tree))
    with pytest.raises(DiagnosticError) as error:
        lifecycle.submit(pack, "李娜", db(tree))
    assert codes(error) == [lifecycle.ALREADY_APPROVED]
    assert "status: approved" in pack.read_text(encoding="utf-8")


def test_invalid_content_is_neither_submitted_nor_approved(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    lifecycle.submit(pack, "李娜", db(tree))
    broken = pack.read_text(encoding="utf-8").replace("strategy: demo_sms", "strategy: demo_smss")
    pack.write_text(broken, encoding="utf-8")
    with pytest.raises(DiagnosticError) as error:
        lifecycle.approve(pack, "王芳", db(tree))
    assert "RP040" in codes(error)  # unknown strategy, with the line of the treat entry
    assert pack.read_text(encoding="utf-8") == broken
    assert [e.action for e in history("pack", "demo_silent", db(tree))] == ["submitted"]


def test_contact_policy_and_segments_go_through_the_same_lifecycle(tree):
    policy = lifecycle.find_content("contact_policy", tree / "rules")
    segments = lifecycle.find_content("segments", tree / "rules")
    for path in (policy, segments):
        lifecycle.submit(path, "李娜", db(tree))
        result = lifecycle.approve(path, "王芳", db(tree))
        assert result.state.approved and result.sha256 == sha(path)
    assert policy.read_text(encoding="utf-8") == POLICY.replace("status: draft", "status: approved")
    seg = segments.read_text(encoding="utf-8")
    assert seg.splitlines()[:3] == ["# no status line yet: approve must add one", "title: 细分 segmentation",
                                    "status: approved"]
    assert yaml.safe_load(seg)["segments"][0]["rule"] == "silent"
    assert approval_state("contact_policy", "contact_policy", sha(policy), db(tree)).approved
    assert approval_state("segments", "segments", sha(segments), db(tree)).approved


def test_strategies_are_approved_with_their_hash_like_packs(tree):
    path = tree / "strategies" / "demo_sms.yaml"
    lifecycle.submit(path, "张伟", db(tree), kind="strategy")
    result = lifecycle.approve(path, "王芳", db(tree), kind="strategy")
    assert result.kind == "strategy" and result.sha256 == sha(path)
    assert approval_state("strategy", "demo_sms", sha(path), db(tree)).approved


def test_find_content_names_the_closest_files(tree):
    assert lifecycle.find_content("demo_silent", tree / "rules") == tree / "rules" / "demo_silent.yaml"
    with pytest.raises(DiagnosticError) as error:
        lifecycle.find_content("demo_silnet", tree / "rules")
    assert codes(error) == [lifecycle.NOT_FOUND]
    assert "demo_silent" in error.value.diagnostics[0].hint


def test_the_services_catalogue_has_no_lifecycle(tree):
    services = tree / "rules" / "services.yaml"
    services.write_text("services:\n  - {service: reading, name_zh: 手机阅读, name_en: Mobile Reading, billing: [monthly]}\n",
                        encoding="utf-8")
    before = services.read_bytes()
    for step in (lifecycle.submit, lifecycle.approve):
        with pytest.raises(DiagnosticError) as error:
            step(services, "王芳", db(tree))
        assert codes(error) == [lifecycle.NO_LIFECYCLE]
    assert services.read_bytes() == before


def test_status_edit_keeps_a_byte_order_mark_and_crlf_line_endings(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    original = "\ufeff" + PACK.replace("\n", "\r\n").replace("# yaml-language-server", "status: draft\r\n#", 1)
    original = original.replace("status: draft            # 预存 until a supervisor reviews it\r\n", "")
    pack.write_bytes(original.encode("utf-8"))
    lifecycle.submit(pack, "李娜", db(tree))
    assert pack.read_bytes() == original.replace("status: draft", "status: review").encode("utf-8")


# --- issue 11: who approves, four eyes, exactly the reviewed content -------------------------


def test_the_submitter_cannot_approve_four_eyes(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    lifecycle.submit(pack, "li", db(tree))
    with pytest.raises(Refused) as error:
        lifecycle.approve(pack, "li", db(tree))
    assert codes(error) == [lifecycle.FOUR_EYES] and "four eyes" in error.value.diagnostics[0].message
    assert "status: review" in pack.read_text(encoding="utf-8")
    assert [e.action for e in history("pack", "demo_silent", db(tree))] == ["submitted"]
    assert lifecycle.approve(pack, "wang", db(tree)).state.by == "wang"


def test_anyone_who_submitted_these_bytes_cannot_approve_them(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    lifecycle.submit(pack, "li", db(tree))
    lifecycle.submit(pack, "zhao", db(tree))  # submitted again, unchanged, by someone else
    for submitter in ("li", "zhao"):
        with pytest.raises(Refused):
            lifecycle.approve(pack, submitter, db(tree))


def test_content_changed_since_review_goes_back_to_draft_and_is_refused(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    lifecycle.submit(pack, "li", db(tree))
    pack.write_text(pack.read_text(encoding="utf-8").replace("priority: 10", "priority: 11"), encoding="utf-8")
    with pytest.raises(Refused) as error:
        lifecycle.approve(pack, "wang", db(tree))
    assert codes(error) == [lifecycle.CHANGED_SINCE_REVIEW] and "back to draft" in error.value.diagnostics[0].message
    text = pack.read_text(encoding="utf-8")
    assert "status: draft            # 预存" in text and "priority: 11" in text
    assert [e.action for e in history("pack", "demo_silent", db(tree))] == ["submitted"]


def test_a_file_edited_to_say_approved_is_not_re_approved(tree):
    # Issue 11 reproduction: an edited file still saying `status: approved` was re-approved with
    # no submit/review step.
    pack = tree / "rules" / "demo_silent.yaml"
    lifecycle.submit(pack, "li", db(tree))
    lifecycle.approve(pack, "wang", db(tree))
    pack.write_text(pack.read_text(encoding="utf-8").replace("priority: 10", "priority: 1"), encoding="utf-8")
    assert "status: approved" in pack.read_text(encoding="utf-8")
    with pytest.raises(Refused) as error:
        lifecycle.approve(pack, "wang", db(tree))
    assert codes(error) == [lifecycle.CHANGED_SINCE_REVIEW]
    assert "status: draft" in pack.read_text(encoding="utf-8")
    assert not approval_state("pack", "demo_silent", sha(pack), db(tree)).approved


def test_a_hand_written_approved_status_without_any_record_is_not_approvable(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    pack.write_text(PACK.replace("status: draft ", "status: approved "), encoding="utf-8")
    with pytest.raises(Refused):
        lifecycle.approve(pack, "wang", db(tree))
    assert "status: draft" in pack.read_text(encoding="utf-8")


def test_approve_checks_the_hash_the_reviewer_read(tree):
    pack = tree / "rules" / "demo_silent.yaml"
    submitted = lifecycle.submit(pack, "li", db(tree))
    with pytest.raises(Refused) as error:
        lifecycle.approve(pack, "wang", db(tree), reviewed_sha256="0123456789ab")
    assert codes(error) == [lifecycle.NOT_REVIEWED]
    assert lifecycle.approve(pack, "wang", db(tree), reviewed_sha256=submitted.sha256[:12]).recorded


def test_the_identity_is_the_os_login_not_the_environment(monkeypatch):
    import pwd

    from engine.content.approvals import current_user

    monkeypatch.setenv("USER", "someone_else")
    monkeypatch.setenv("LOGNAME", "someone_else")
    assert current_user() == pwd.getpwuid(os.geteuid()).pw_name
