"""Packs and strategies 规则包与策略 in the console: current version, approval history, versions, diff.

A piece of content is named by kind and name (as in the `approval` table and the run row's
`content_hashes`: `pack/long_term_silent`, `strategy/lts_sms_usage_tips`, `contact_policy/…`).
Its versions are the sha256 values anyone recorded: the file as it is now, every approval
event (engine.content.approvals.history) and every succeeded run that used it. The text of a
version is looked up by hash in the content folders and their git history
(engine.content.history.find_versions), as `rekindle audit replay` does; the diff of two
versions is a unified diff of those texts. A version whose bytes are found nowhere is listed
(with who approved it and which runs used it) but cannot be shown or diffed.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from engine.content.approvals import ApprovalEvent, history, state_from_history
from engine.content.documents import load_content
from engine.content.history import find_versions
from engine.store.approval import KINDS
from engine.store.database import get_engine

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
SHA = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Item:
    kind: str
    name: str
    path: str
    sha256: str
    status: str
    title: str
    approved: bool
    approval: str


@dataclass
class Version:
    sha256: str
    current: bool = False
    events: list[ApprovalEvent] = field(default_factory=list)
    runs: list[tuple[str, str]] = field(default_factory=list)  # (run id, as-of)


def folder_of(kind: str, rules_dir: Path, strategies_dir: Path) -> Path:
    return strategies_dir if kind == "strategy" else rules_dir


def list_content(rules_dir: Path, strategies_dir: Path, db_url: str | None = None) -> list[Item]:
    """Every pack, policy, segmentation, catalogue and strategy file as it stands, with its approval state."""
    content, _diags = load_content(rules_dir, strategies_dir)
    items = []
    for doc in content.documents():
        if doc.kind not in KINDS:
            continue
        state = state_from_history(history(doc.kind, doc.name, db_url), doc.sha256)
        data = doc.data if isinstance(doc.data, dict) else {}
        items.append(Item(doc.kind, doc.name, str(doc.path), doc.sha256, doc.status or "", str(data.get("title") or ""),
                          state.approved, state.describe()))
    return sorted(items, key=lambda i: (KINDS.index(i.kind), i.name))


def current_item(kind: str, name: str, rules_dir: Path, strategies_dir: Path, db_url: str | None = None) -> Item | None:
    return next((i for i in list_content(rules_dir, strategies_dir, db_url) if i.kind == kind and i.name == name), None)


def runs_using(kind: str, name: str, db_url: str | None = None) -> dict[str, list[tuple[str, str]]]:
    """sha256 → [(run id, as-of)] of the succeeded runs that used this content, oldest first."""
    key = f"{kind}/{name}"
    out: dict[str, list[tuple[str, str]]] = {}
    with get_engine(db_url).connect() as conn:
        rows = conn.execute(text("SELECT id, as_of, content_hashes FROM run WHERE status = 'succeeded' "
                                 "ORDER BY as_of, started_at, id")).all()
    for row in rows:
        try:
            hashes = json.loads(row.content_hashes or "{}")
        except ValueError:
            continue
        sha = hashes.get(key) if isinstance(hashes, dict) else None
        if sha:
            out.setdefault(sha, []).append((row.id, str(row.as_of)))
    return out


def versions(kind: str, name: str, current_sha: str | None, db_url: str | None = None) -> list[Version]:
    """Every known version: the current file first, then by first appearance (approval or run)."""
    found: dict[str, Version] = {}
    if current_sha:
        found[current_sha] = Version(current_sha, current=True)
    for event in history(kind, name, db_url):
        found.setdefault(event.sha256, Version(event.sha256)).events.append(event)
    for sha, runs in runs_using(kind, name, db_url).items():
        found.setdefault(sha, Version(sha)).runs.extend(runs)
    return list(found.values())


def version_text(sha256: str, kind: str, rules_dir: Path, strategies_dir: Path) -> tuple[str | None, str]:
    """(text, where it was found) of one version, or (None, "") when its bytes are nowhere."""
    hit = find_versions([sha256], [folder_of(kind, rules_dir, strategies_dir)]).get(sha256)
    if hit is None:
        return None, ""
    return hit.data.decode("utf-8", "replace"), hit.source


@dataclass(frozen=True)
class DiffLine:
    css: str  # add | del | hunk | ctx | file
    text: str


def diff_versions(kind: str, old: str, new: str, rules_dir: Path, strategies_dir: Path) -> tuple[list[DiffLine], list[str]]:
    """Unified diff of two versions (by sha256); the second list names versions not found."""
    found = find_versions([old, new], [folder_of(kind, rules_dir, strategies_dir)])
    missing = [sha for sha in (old, new) if sha not in found]
    if missing:
        return [], missing
    a = found[old].data.decode("utf-8", "replace").splitlines()
    b = found[new].data.decode("utf-8", "replace").splitlines()
    lines = []
    for line in difflib.unified_diff(a, b, f"{old[:12]} ({found[old].source})", f"{new[:12]} ({found[new].source})",
                                     lineterm="", n=3):
        if line.startswith(("---", "+++")):
            css = "file"
        elif line.startswith("@@"):
            css = "hunk"
        elif line.startswith("+"):
            css = "add"
        elif line.startswith("-"):
            css = "del"
        else:
            css = "ctx"
        lines.append(DiffLine(css, line))
    return lines, []


def valid_ref(kind: str, name: str) -> bool:
    """Is (kind, name) well formed? (URL parameters are checked before any lookup.)"""
    return kind in KINDS and bool(NAME.match(name or ""))
