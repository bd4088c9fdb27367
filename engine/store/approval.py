"""The `approval` table: who submitted, approved or revoked which content, and its exact hash.

A row names the content by kind and name and pins it by the sha256 of the file bytes, so an
approval covers exactly the text the supervisor saw: a file edited afterwards has another hash
and is no longer approved (SPEC §1, §6: only approved content runs in production).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

# What a row can record about one content hash.
SUBMITTED = "submitted"
APPROVED = "approved"
REVOKED = "revoked"
ACTIONS = (SUBMITTED, APPROVED, REVOKED)

# Kinds of content that go through the draft → review → approved lifecycle.
KINDS = ("pack", "contact_policy", "segments", "services", "strategy", "sensitivity", "value_stability")


class Approval(SQLModel, table=True):
    """One lifecycle event of one content file (append-only: rows are never updated)."""

    __tablename__ = "approval"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)  # one of KINDS
    name: str = Field(index=True)  # pack / policy / strategy id (= file stem)
    sha256: str = Field(index=True)  # of the file bytes the event applies to
    action: str  # one of ACTIONS
    actor: str  # who did it: the OS login (engine.content.approvals.current_user)
    at: datetime  # time-zone aware, stored as UTC (SQLModel's UTCDateTime)
    note: str = ""
