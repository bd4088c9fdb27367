"""Approval records: who submitted and approved which exact content, and is it still approved?

Files stay the source of truth for the lifecycle status (`status: draft | review | approved`,
预存 / 待审核 / 已审核); the `approval` table pins each approval to the sha256 of the file bytes.
Content edited after approval has another hash and is no longer approved, whatever its
`status:` line says — that is what a `--production` run checks (`unapproved`). The actor of
every event is the OS login of whoever ran the command (`current_user`).
The file side (editing the status line on submit/approve) lives in `engine.content.lifecycle`.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable

from engine.base.jsonfile import utc_now
from engine.base.vocabulary import APPROVED, REVOKED
from engine.base.vocabulary import CONTENT_KINDS as KINDS

if TYPE_CHECKING:
    from engine.content.document import Content
    from engine.store.approval import Approval

# Kinds a production run requires approved (the service catalogue is reference data, not
# decision logic, so it is approvable but not required).
PRODUCTION_KINDS = ("pack", "contact_policy", "segments", "strategy", "sensitivity", "value_stability")


@dataclass(frozen=True)
class ApprovalEvent:
    """One row of the approval history, detached from the database session."""

    kind: str
    name: str
    sha256: str
    action: str
    actor: str
    at: datetime  # UTC, time-zone aware
    note: str = ""


@dataclass(frozen=True)
class ApprovalState:
    """Is this exact content approved? If not, `by`/`at` describe the latest approval of any
    earlier version (so a reader can say "edited since approval on …"), or are None."""

    approved: bool
    by: str | None = None
    at: datetime | None = None
    approved_sha256: str | None = None
    note: str = ""

    def describe(self) -> str:
        """One line for people: approved by whom and when, edited since, or never approved."""
        if self.approved:
            return f"approved by {self.by} on {format_time(self.at)}"
        if self.approved_sha256:
            return (
                f"edited since approval on {format_time(self.at)} by {self.by} "
                f"(approved content {self.approved_sha256[:12]})"
            )
        return "never approved"


def current_user() -> str:
    """Who is acting: the OS login of this process's effective uid.

    This is the identity submit and approve record (issue 11). It comes from the passwd entry
    of `os.geteuid()`, not from $USER/$LOGNAME (what getpass.getuser() reads first), which any
    caller can set; a uid without a passwd entry is recorded as `uid:N`.
    """
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def format_time(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "-"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown content kind {kind!r}; expected one of {', '.join(KINDS)}")


def _event(row: "Approval") -> ApprovalEvent:
    at = row.at if isinstance(row.at, datetime) else datetime.fromisoformat(row.at)  # SQLite keeps text
    at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return ApprovalEvent(row.kind, row.name, row.sha256, row.action, row.actor, at, row.note or "")


def record_event(
    kind: str,
    name: str,
    sha256: str,
    action: str,
    actor: str,
    note: str = "",
    db_url: str | None = None,
    at: datetime | None = None,
) -> ApprovalEvent:
    """Append one lifecycle event (submitted, approved, revoked) to the `approval` table."""
    from engine.store.approval import Approval
    from engine.store.database import session

    _check_kind(kind)
    at = (at or utc_now()).astimezone(timezone.utc)
    row = Approval(
        kind=kind, name=name, sha256=sha256, action=action, actor=actor,
        at=at, note=note,
    )
    with session(db_url) as s:
        s.add(row)
        s.flush()
        event = _event(row)
    return event


def history(kind: str, name: str, db_url: str | None = None) -> list[ApprovalEvent]:
    """Every recorded event for one piece of content, oldest first.

    Plain SQL through the read side's engine (engine.store.lite): `explain` asks this for every
    content version a run used, and must not pay for importing SQLAlchemy's ORM to do it.
    """
    from engine.store.lite import get_engine, text

    _check_kind(kind)
    with get_engine(db_url).connect() as conn:
        rows = conn.execute(text("SELECT kind, name, sha256, action, actor, at, note FROM approval "
                                 "WHERE kind = :kind AND name = :name ORDER BY at, id"),
                            {"kind": kind, "name": name}).all()
    return [_event(r) for r in rows]


def state_from_history(events: Iterable[ApprovalEvent], sha256: str) -> ApprovalState:
    """The approval state of content with hash `sha256`, given its history (oldest first).

    An approval counts until a later `revoked` event for the same hash.
    """
    live: dict[str, ApprovalEvent] = {}  # hash -> its latest approval not revoked since
    latest: ApprovalEvent | None = None
    for event in events:
        if event.action == APPROVED:
            live[event.sha256] = event
            latest = event
        elif event.action == REVOKED:
            live.pop(event.sha256, None)
            if latest is not None and latest.sha256 == event.sha256:
                latest = max(live.values(), key=lambda e: e.at, default=None)
    current = live.get(sha256)
    if current is not None:
        return ApprovalState(True, current.actor, current.at, current.sha256, current.note)
    if latest is not None:
        return ApprovalState(False, latest.actor, latest.at, latest.sha256, latest.note)
    return ApprovalState(False)


def approval_state(kind: str, name: str, sha256: str, db_url: str | None = None) -> ApprovalState:
    """Is the content `kind`/`name` with exactly this sha256 approved (and by whom, when)?"""
    return state_from_history(history(kind, name, db_url), sha256)


def unapproved(content: "Content", db_url: str | None = None) -> list[str]:
    """Lines naming every pack, policy, segments file and strategy not approved as it stands now.

    Content is unapproved when its file `status` is not `approved`, or when no approval record
    (not since revoked) matches the sha256 of its current bytes. An empty list means a
    `--production` run may proceed.
    """
    lines: list[str] = []
    for doc in content.documents():
        if doc.kind not in PRODUCTION_KINDS:
            continue
        label = f"{doc.path}: {doc.kind} '{doc.name}'"
        status = doc.status
        if status != APPROVED:
            lines.append(f"{label} has status {status or '(none)'}, not approved")
            continue
        state = approval_state(doc.kind, doc.name, doc.sha256, db_url)
        if state.approved:
            continue
        if state.approved_sha256:
            lines.append(f"{label} was edited since its approval on {format_time(state.at)} by {state.by}")
        else:
            lines.append(f"{label} says approved, but no approval is recorded for its content "
                         f"(sha256 {doc.sha256[:12]})")
    return lines
