"""The draft → review → approved lifecycle (预存 → 待审核 → 已审核) of packs, policies and strategies.

`submit` and `approve` change only the file's `status:` line (a targeted line edit, so comments
and layout survive and the git diff is one line) and append an event to the `approval` table
with the sha256 of the file bytes after the edit. Both refuse content that does not validate.

Approval rules (issue 11), each refusal a `Refused` (exit 3):

- **Who**: the identity recorded is the OS login of the process (`approvals.current_user`,
  the effective uid's passwd entry — not $USER, which anyone can set), passed in by the CLI;
  there is no free-text approver name. (A console login can later supply it the same way.)
- **Four eyes**: the approver must not be anyone who submitted these exact bytes (RP906).
- **Exactly what was reviewed**: approve requires a `submitted` record whose hash is the file's
  current hash. A file changed since it was submitted — or one that says `status: approved`
  without a live approval of its bytes — is put back to `status: draft` and refused (RP907),
  whatever its status line says; it must be submitted again. `reviewed_sha256` (the CLI's
  `--sha256`, the hash `show` printed) additionally pins the bytes the reviewer read (RP908).
- **One writer**: submit and approve hold the content folder's lock (engine.content.locks) from
  reading the file to writing it, so an edit cannot slip between the check and the write.
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
from engine.base.diagnostics import Diagnostic, DiagnosticError, Refused, did_you_mean, has_errors
from engine.content.locks import content_lock
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
FOUR_EYES = "RP906"
CHANGED_SINCE_REVIEW = "RP907"
NOT_REVIEWED = "RP908"


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


def _error(code: str, document: Document, message: str, hint: str, kind=DiagnosticError) -> DiagnosticError:
    line = document.positions.get("/status", (None, None))[0] if document.positions else None
    return kind([Diagnostic(code, message, file=str(document.path), line=line, path="/status", hint=hint)])


def _group(document: Document) -> str:
    return "strategies" if document.kind == "strategy" else "rules"


def submit(
    path: str | Path, by: str, db_url: str | None = None, note: str = "", kind: str | None = None
) -> LifecycleResult:
    """Mark valid content as ready for review (status `review`) and record who submitted it."""
    path = Path(path)
    with content_lock(path.parent):
        return _submit(path, by, db_url, note, kind)


def _submit(path: Path, by: str, db_url: str | None, note: str, kind: str | None) -> LifecycleResult:
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
    path: str | Path, by: str, db_url: str | None = None, note: str = "", kind: str | None = None,
    reviewed_sha256: str | None = None,
) -> LifecycleResult:
    """Approve valid content in review as `by`: set status `approved`, record approver, UTC time
    and hash.

    Content still in `draft` must be submitted first; content changed since it was submitted
    goes back to draft and is refused; the submitter cannot approve it (four eyes). Approving
    content whose exact bytes are already approved changes nothing and records nothing.
    """
    path = Path(path)
    with content_lock(path.parent):
        return _approve(path, by, db_url, note, kind, reviewed_sha256)


def _back_to_draft(path: Path, raw: bytes, document: Document, message: str) -> Refused:
    """Put the file's status back to draft (the review no longer covers it) and say so."""
    write_atomic(path, with_status(raw.decode("utf-8"), DRAFT).encode("utf-8"))
    return _error(
        CHANGED_SINCE_REVIEW, document, f"{message}; it is back to draft",
        f"review it and submit it again (`rekindle {_group(document)} submit {document.name}`)", kind=Refused,
    )


def _approve(path: Path, by: str, db_url: str | None, note: str, kind: str | None,
             reviewed_sha256: str | None) -> LifecycleResult:
    _check_lifecycle(path, kind)
    document = load_valid(path, kind)
    if document.status not in (REVIEW, APPROVED):
        raise _error(
            NOT_SUBMITTED, document,
            f"{document.kind} '{document.name}' has status {document.status or '(none)'}; "
            "only content in review can be approved",
            f"submit it first (`rekindle {_group(document)} submit {document.name}`)",
        )
    raw = path.read_bytes()
    current = content_hash(raw)
    label = f"{document.kind} '{document.name}'"
    events = history(document.kind, document.name, db_url)
    if reviewed_sha256 and not current.startswith(reviewed_sha256.strip().lower()):
        raise _error(NOT_REVIEWED, document,
                     f"{label} is now sha256 {current[:12]}, not the {reviewed_sha256[:12]} you reviewed",
                     "look at it again (`show`) and approve the content you read", kind=Refused)
    if document.status == APPROVED:
        if not state_from_history(events, current).approved:
            raise _back_to_draft(path, raw, document, f"{label} says approved, but its content is not the "
                                                      f"approved content (sha256 {current[:12]})")
    else:
        submitters = {e.actor for e in events if e.action == SUBMITTED and e.sha256 == current}
        if not submitters:
            raise _back_to_draft(path, raw, document, f"{label} changed since it was submitted for review "
                                                      f"(sha256 {current[:12]} was never submitted)")
        if by in submitters:
            raise _error(FOUR_EYES, document,
                         f"{by} submitted {label} for review and cannot also approve it (four eyes)",
                         "another person approves it, logged in as themselves", kind=Refused)
    new = with_status(raw.decode("utf-8"), APPROVED).encode("utf-8")
    sha = content_hash(new)
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
