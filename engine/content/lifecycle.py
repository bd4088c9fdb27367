"""The draft → review → approved lifecycle (预存 → 待审核 → 已审核) of packs, policies and strategies.

`submit` and `approve` change only the file's `status:` line (a targeted line edit, so comments
and layout survive and the git diff is one line) and append an event to the `approval` table
with the sha256 of the file bytes after the edit. Both refuse content that does not validate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from engine.content.approvals import (
    ApprovalEvent,
    ApprovalState,
    format_time,
    history,
    record_event,
    state_from_history,
)
from engine.base.diagnostics import Diagnostic, DiagnosticError, did_you_mean, has_errors
from engine.content.checks_schema import load_schema
from engine.content.validate import validate_paths
from engine.content.document import Document
from engine.content.documents import load_document
from engine.store.approval import APPROVED, SUBMITTED
from engine.base.jsonfile import write_atomic
from engine.base.yamltext import set_key

DRAFT, REVIEW = "draft", "review"
STATUSES = (DRAFT, REVIEW, APPROVED)
STATUS_LABELS = {DRAFT: "预存 draft", REVIEW: "待审核 review", APPROVED: "已审核 approved"}

# Keys after which a missing `status:` line is inserted (identity first, as the schemas order them).
_STATUS_AFTER = ("pack", "policy", "strategy", "title", "owner", "maintainer", "maintained_on")

NOT_FOUND = "RP901"
NOT_SUBMITTED = "RP902"
ALREADY_APPROVED = "RP903"
NO_LIFECYCLE = "RP904"


@dataclass(frozen=True)
class LifecycleResult:
    """What submit/approve did to one file."""

    kind: str
    name: str
    path: Path
    previous_status: str | None
    status: str
    sha256: str  # of the file bytes now on disk
    changed: bool  # was the file rewritten?
    recorded: bool  # was an event appended to the approval table?
    state: ApprovalState


@dataclass(frozen=True)
class ContentView:
    """Everything `show` prints about one content file."""

    document: Document
    text: str
    state: ApprovalState
    history: list[ApprovalEvent] = field(default_factory=list)

    @property
    def status(self) -> str | None:
        return self.document.status


def content_hash(data: bytes) -> str:
    """The sha256 that approvals pin: of the exact file bytes."""
    return hashlib.sha256(data).hexdigest()


def find_content(name: str, directory: str | Path) -> Path:
    """The file for `name` (a path, or a file stem looked up as DIRECTORY/NAME.yaml or .yml)."""
    given = Path(name)
    if given.suffix in (".yaml", ".yml") and given.is_file():
        return given
    for suffix in (".yaml", ".yml"):
        candidate = Path(directory) / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in Path(directory).glob("*.y*ml")) if Path(directory).is_dir() else []
    hint = did_you_mean(name, known) or f"files in {directory}: {', '.join(known) or 'none'}"
    raise DiagnosticError([
        Diagnostic(NOT_FOUND, f"no file for '{name}' in {directory}", file=str(directory), hint=hint)
    ])


def load_valid(path: Path, kind: str | None = None) -> Document:
    """The document at `path` if it validates cleanly (schema and semantic checks, references
    resolved against the folders beside it, as `rekindle rules validate` does); otherwise
    DiagnosticError with every problem."""
    content, diagnostics = validate_paths([path])
    if has_errors(diagnostics):
        raise DiagnosticError(diagnostics)
    for document in content.documents():
        if document.path == path and (kind is None or document.kind == kind):
            return document
    raise DiagnosticError(diagnostics or [Diagnostic(NOT_FOUND, f"not a {kind or 'content'} file", file=str(path))])


def _check_lifecycle(path: Path, kind: str | None) -> None:
    """Only kinds whose schema has a `status` go through review (not the services catalogue).

    Checked before validation, so the answer is this rather than a list of schema errors."""
    document, _ = load_document(path, kind)
    if document is not None and "status" not in load_schema(document.kind).get("properties", {}):
        raise DiagnosticError([Diagnostic(
            NO_LIFECYCLE, f"{document.kind} files have no review status", file=str(document.path),
            hint="submit and approve packs, the contact policy, segments and strategies",
        )])


def with_status(text: str, status: str) -> str:
    """`text` with its top-level `status:` set, every other line untouched (a BOM kept)."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    return bom + set_key(text[len(bom):], "status", status, after=_STATUS_AFTER)


def _error(code: str, document: Document, message: str, hint: str) -> DiagnosticError:
    line = document.positions.get("/status", (None, None))[0] if document.positions else None
    return DiagnosticError([Diagnostic(code, message, file=str(document.path), line=line, path="/status", hint=hint)])


def submit(
    path: str | Path, by: str, db_url: str | None = None, note: str = "", kind: str | None = None
) -> LifecycleResult:
    """Mark valid content as ready for review (status `review`) and record who submitted it."""
    path = Path(path)
    _check_lifecycle(path, kind)
    document = load_valid(path, kind)
    raw = path.read_bytes()
    events = history(document.kind, document.name, db_url)
    current = state_from_history(events, content_hash(raw))
    if document.status == APPROVED and current.approved:
        raise _error(
            ALREADY_APPROVED, document,
            f"{document.kind} '{document.name}' is already approved ({current.describe()})",
            "edit it first; submitting unchanged approved content would only withdraw the approval",
        )
    new = with_status(raw.decode("utf-8"), REVIEW).encode("utf-8")
    sha = content_hash(new)
    record_event(document.kind, document.name, sha, SUBMITTED, by, note, db_url)
    if new != raw:
        write_atomic(path, new)
    return LifecycleResult(
        document.kind, document.name, path, document.status, REVIEW, sha, new != raw, True,
        state_from_history(events, sha),
    )


def approve(
    path: str | Path, by: str, db_url: str | None = None, note: str = "", kind: str | None = None
) -> LifecycleResult:
    """Approve valid content in review: set status `approved`, record approver, UTC time and hash.

    Content still in `draft` must be submitted first. Approving content whose exact bytes are
    already approved changes nothing and records nothing.
    """
    path = Path(path)
    _check_lifecycle(path, kind)
    document = load_valid(path, kind)
    if document.status not in (REVIEW, APPROVED):
        group = "strategies" if document.kind == "strategy" else "rules"
        raise _error(
            NOT_SUBMITTED, document,
            f"{document.kind} '{document.name}' has status {document.status or '(none)'}; "
            "only content in review can be approved",
            f"submit it first (`rekindle {group} submit {document.name}`)",
        )
    raw = path.read_bytes()
    new = with_status(raw.decode("utf-8"), APPROVED).encode("utf-8")
    sha = content_hash(new)
    events = history(document.kind, document.name, db_url)
    state = state_from_history(events, sha)
    recorded = False
    if not state.approved:
        event = record_event(document.kind, document.name, sha, APPROVED, by, note, db_url)
        state = ApprovalState(True, event.actor, event.at, sha, event.note)
        recorded = True
    if new != raw:
        write_atomic(path, new)
    return LifecycleResult(
        document.kind, document.name, path, document.status, APPROVED, sha, new != raw, recorded, state
    )


def inspect(path: str | Path, db_url: str | None = None, kind: str | None = None) -> ContentView:
    """The document, its text, whether its current bytes are approved, and its approval history.

    Loads without requiring validity, so a broken file can still be shown; raises
    DiagnosticError only when the file cannot be read as YAML at all.
    """
    path = Path(path)
    document, diagnostics = load_document(path, kind)
    if document is None:
        raise DiagnosticError(diagnostics)
    events = history(document.kind, document.name, db_url)
    text = path.read_bytes().decode("utf-8")
    return ContentView(document, text, state_from_history(events, document.sha256), events)


def status_line(view: ContentView) -> str:
    """`file status: 待审核 review; current content never approved; submitted by … on …`."""
    label = STATUS_LABELS.get(view.status or "", view.status or "(none)")
    line = f"file status: {label}; current content {view.state.describe()}"
    last = view.history[-1] if view.history else None
    if last is not None and last.action == SUBMITTED and last.sha256 == view.document.sha256:
        line += f"; submitted for review by {last.actor} on {format_time(last.at)}"
    return line
