"""Approval records and the production gate (`unapproved`)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.content.approvals import (
    ApprovalEvent,
    approval_state,
    history,
    record_event,
    state_from_history,
    unapproved,
)
from engine.content.documents import load_content
from engine.store.database import dispose_all

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)


def event(action: str, sha: str, minutes: int, actor: str = "王芳") -> ApprovalEvent:
    return ApprovalEvent("pack", "p", sha, action, actor, T0 + timedelta(minutes=minutes))


@pytest.fixture
def db_url(db_url, tmp_path, monkeypatch):
    """conftest's fresh database (SQLite and PostgreSQL), with REKINDLE_HOME in the test's folder."""
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    yield db_url
    dispose_all()


def test_state_is_approved_only_for_the_exact_hash():
    events = [event("submitted", "a", 0), event("approved", "a", 1)]
    assert state_from_history(events, "a").approved
    other = state_from_history(events, "b")
    assert not other.approved
    assert (other.by, other.at, other.approved_sha256) == ("王芳", T0 + timedelta(minutes=1), "a")
    assert state_from_history([], "a").describe() == "never approved"


def test_a_revocation_voids_that_hash_and_falls_back_to_the_previous_approval():
    events = [event("approved", "a", 0, "甲"), event("approved", "b", 5, "乙"), event("revoked", "b", 9)]
    assert not state_from_history(events, "b").approved
    fallback = state_from_history(events, "b")
    assert (fallback.approved_sha256, fallback.by) == ("a", "甲")
    assert state_from_history(events, "a").approved


def test_events_round_trip_through_the_database_in_utc(db_url):
    local = datetime(2026, 11, 2, 17, 30, tzinfo=timezone(timedelta(hours=8)))  # 09:30 UTC
    record_event("strategy", "s", "h1", "submitted", "张伟", db_url=db_url, at=local - timedelta(hours=1))
    record_event("strategy", "s", "h1", "approved", "王芳", "季度复核", db_url=db_url, at=local)
    record_event("strategy", "other", "h1", "approved", "王芳", db_url=db_url)
    events = history("strategy", "s", db_url)
    assert [e.action for e in events] == ["submitted", "approved"]
    assert events[1].at == datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
    assert events[1].at.utcoffset() == timedelta(0)
    state = approval_state("strategy", "s", "h1", db_url)
    assert state.approved and state.note == "季度复核"
    assert not approval_state("pack", "s", "h1", db_url).approved  # kinds do not mix


def test_unknown_kind_is_refused(db_url):
    with pytest.raises(ValueError):
        record_event("playbook", "p", "h", "approved", "x", db_url=db_url)


PACK = """\
pack: {name}
title: t
owner: o
status: {status}
priority: {priority}
target:
  - {{rule: r, when: {{months_silent: {{gte: 3}}}}, reason: silent_3_months}}
treat:
  - strategy: s_ok
"""
STRATEGY = """\
strategy: {name}
reasons: [silent_3_months]
measure: m
channel: sms
maintainer: me
maintained_on: 2026-11-01
status: {status}
"""


def write_tree(root: Path) -> tuple[Path, Path]:
    rules, strategies = root / "rules", root / "strategies"
    rules.mkdir()
    strategies.mkdir()
    for name, status, priority in [("p_ok", "approved", 1), ("p_draft", "draft", 2), ("p_norecord", "approved", 3),
                                   ("p_edited", "approved", 4)]:
        (rules / f"{name}.yaml").write_text(PACK.format(name=name, status=status, priority=priority), encoding="utf-8")
    (rules / "contact_policy.yaml").write_text(
        "policy: contact_policy\nstatus: review\nexclude: []\n", encoding="utf-8")
    (rules / "segments.yaml").write_text(
        "status: approved\nsegments: []\ndefault: active\n", encoding="utf-8")
    (rules / "services.yaml").write_text("services: []\n", encoding="utf-8")  # no lifecycle: not required
    for name, status in [("s_ok", "approved"), ("s_review", "review")]:
        (strategies / f"{name}.yaml").write_text(STRATEGY.format(name=name, status=status), encoding="utf-8")
    return rules, strategies


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_unapproved_names_every_file_not_approved_as_it_stands(tmp_path, db_url):
    rules, strategies = write_tree(tmp_path)
    for kind, path in [("pack", rules / "p_ok.yaml"), ("pack", rules / "p_edited.yaml"),
                       ("segments", rules / "segments.yaml"), ("strategy", strategies / "s_ok.yaml")]:
        record_event(kind, path.stem, sha(path), "approved", "王芳", db_url=db_url)
    edited = rules / "p_edited.yaml"
    edited.write_text(edited.read_text(encoding="utf-8") + "holdout: 0.1\n", encoding="utf-8")
    content, _ = load_content(rules, strategies)
    lines = unapproved(content, db_url)
    assert len(lines) == 5, lines
    joined = "\n".join(lines)
    assert f"{rules / 'p_draft.yaml'}: pack 'p_draft' has status draft, not approved" in joined
    assert f"{rules / 'contact_policy.yaml'}: contact_policy 'contact_policy' has status review" in joined
    assert f"{strategies / 's_review.yaml'}: strategy 's_review' has status review" in joined
    assert f"{rules / 'p_norecord.yaml'}: pack 'p_norecord' says approved, but no approval is recorded for its content" in joined
    assert f"{edited}: pack 'p_edited' was edited since its approval on 2026-" in joined
    for fine in ("p_ok", "segments", "s_ok", "services"):
        assert f"'{fine}'" not in joined


def test_unapproved_is_empty_when_everything_is_approved(tmp_path, db_url):
    rules, strategies = write_tree(tmp_path)
    content, _ = load_content(rules, strategies)
    for document in content.documents():
        if document.kind != "services":
            record_event(document.kind, document.name, document.sha256, "approved", "王芳", db_url=db_url)
    content.packs["p_draft"].data["status"] = "approved"  # as if the file said so
    content.policy.data["status"] = "approved"
    content.strategies["s_review"].data["status"] = "approved"
    assert unapproved(content, db_url) == []
