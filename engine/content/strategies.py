"""The strategy knowledge base (策略知识库): one YAML file per strategy (促进措施) in `strategies/`.

Add, edit, remove, list and show strategies. Files are written with the schema header and a
stable key order; edits change only the keys that changed (comments elsewhere survive), and
any edit of content in review or approved moves it back to draft — an approval covers exactly
the text that was approved. Validation is `rekindle rules validate`'s (`engine.content.documents`:
schema, message template via `engine.content.messages`, date, services); this module only turns
planner input into values and maps problems onto the option or CSV cell they came from.
Add, edit and remove hold the folder's edit lock (engine.content.locks) from reading to
writing, so two planners editing at once never lose an edit.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from engine.base.diagnostics import Diagnostic, DiagnosticError, did_you_mean, has_errors
from engine.snapshot.contract import CHANNEL_VALUES, SERVICE_IDS
from engine.base.jsonfile import write_atomic
from engine.content.lifecycle import APPROVED, DRAFT, REVIEW, STATUSES
from engine.content.locks import content_lock
from engine.content.checks_schema import MISSING_KEY
from engine.content.validate import validate_paths
from engine.content.document import Document
from engine.content.documents import load_document
from engine.base.yamltext import remove_key, render_key, set_key

KIND = "strategy"
HEADER = "# yaml-language-server: $schema=../engine/content/schemas/strategy.schema.json\n"

# The order keys are written in (and CSV columns exported in).
FIELDS = (
    "strategy", "title", "description", "reasons", "services", "measure", "channel", "message",
    "cost", "base_response", "regions", "maintainer", "maintained_on", "status",
)
REQUIRED = ("strategy", "reasons", "measure", "channel", "maintainer", "maintained_on")
LIST_FIELDS = ("reasons", "services", "regions")
NUMBER_FIELDS = ("cost", "base_response")
DATE_FIELDS = ("maintained_on",)

# Codes ST2xx: the knowledge-base commands (ST0xx are the content checks in engine.content.checks).
NOT_FOUND = "ST201"
EXISTS = "ST202"
BAD_VALUE = "ST203"
MISSING = "ST204"
ID_CHANGE = "ST205"
BAD_ID = "ST206"

_INT = re.compile(r"^[+-]?\d+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # fromisoformat alone also takes 20261101


def coerce(field: str, raw: str, list_separator: str = ",") -> Any:
    """A planner's text for `field` as the value stored in YAML; '' means "not set" (None).

    Text that is not a number (cost) or not a date (maintained_on) stays text, so validation
    reports it together with every other problem, at its key. Raises ValueError only for a
    field strategies do not have.
    """
    if field not in FIELDS:
        raise ValueError(f"unknown strategy field '{field}'")
    text = raw.strip()
    if text == "":
        return None
    if field in LIST_FIELDS:
        return [item.strip() for item in text.split(list_separator) if item.strip()]
    if field in NUMBER_FIELDS:
        try:
            number = int(text) if _INT.match(text) else float(text)
        except ValueError:
            return text
        return number if math.isfinite(number) else text
    if field in DATE_FIELDS:
        try:
            return date.fromisoformat(text) if _DATE.match(text) else text
        except ValueError:
            return text
    return text


def parse_options(raw: dict[str, str | None], list_separator: str = ",") -> dict[str, Any]:
    """Command-line option text as field values: options not given (None) are left out, an
    empty option becomes None ("clear this field"). Raises DiagnosticError for bad values."""
    values: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    for name, text in raw.items():
        if text is None:
            continue
        try:
            values[name] = coerce(name, text, list_separator)
        except ValueError as error:
            problems.append(Diagnostic(BAD_VALUE, str(error), path=f"--{name.replace('_', '-')}"))
    if problems:
        raise DiagnosticError(problems)
    return values


def as_text(field: str, value: Any, list_separator: str = "|") -> str:
    """The inverse of `coerce`: a stored value as one CSV cell."""
    if value is None:
        return ""
    if field in LIST_FIELDS and isinstance(value, list):
        return list_separator.join(str(v) for v in value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def ordered(values: dict[str, Any]) -> dict[str, Any]:
    """Set fields in the stable key order (None and unknown keys dropped)."""
    return {f: values[f] for f in FIELDS if values.get(f) is not None}


def render(values: dict[str, Any]) -> str:
    """A whole strategy file: the schema header, then the fields in the stable order."""
    return HEADER + "".join(render_key(k, v) for k, v in ordered(values).items())


def check_id(sid: str, file: str = "", line: int | None = None, column: int | None = None) -> None:
    """Raise DiagnosticError unless `sid` is usable as a file name inside the folder."""
    # The id becomes a file name, so refuse anything that could point outside the directory
    # before touching the disk; the schema then checks the id's form.
    if not sid or sid != Path(sid).name or sid.startswith(".") or "\\" in sid:
        raise DiagnosticError([Diagnostic(
            BAD_ID, f"strategy id '{sid}' cannot be a file name", file=file, line=line, column=column,
            path="strategy", hint="use lower-case letters, digits and _, starting with a letter",
        )])


def strategy_path(directory: str | Path, sid: str) -> Path:
    """Where strategy `sid` lives: DIRECTORY/SID.yaml."""
    check_id(sid)
    return Path(directory) / f"{sid}.yaml"


def validate_text(sid: str, text: str, file: str | Path) -> list[Diagnostic]:
    """Every problem of a strategy file's text, as `rekindle rules validate` sees it (schema,
    message template, date, services), reported at `file`.

    The text is checked in a scratch folder under its own name (the checks tie the id to the
    file stem), so nothing is written where planners look until it is valid.
    """
    check_id(sid, str(file))
    with tempfile.TemporaryDirectory(prefix="rekindle-strategy-") as scratch:
        probe = Path(scratch) / f"{sid}.yaml"
        probe.write_bytes(text.encode("utf-8"))
        _content, diagnostics = validate_paths([probe], strategies_dir=scratch)
    return [replace(d, file=str(file)) if d.file == str(probe) else d for d in diagnostics]


def load_strategies(directory: str | Path) -> tuple[list[Document], list[Diagnostic]]:
    """Every strategy file in `directory` (sorted by id) and the problems of those that are broken."""
    documents: list[Document] = []
    problems: list[Diagnostic] = []
    folder = Path(directory)
    if not folder.is_dir():
        return [], []
    for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
        document, diagnostics = load_document(path, KIND)
        problems.extend(diagnostics)
        if document is not None:
            documents.append(document)
    documents.sort(key=lambda d: d.name)
    return documents, problems


def list_strategies(
    directory: str | Path, status: str | None = None, channel: str | None = None, *,
    reason: str | None = None, service: str | None = None, measure: str | None = None,
    region: str | None = None, maintainer: str | None = None,
) -> tuple[list[Document], list[Diagnostic]]:
    """Strategies filtered by every field of the knowledge base (策略知识库 query), plus the
    problems of unreadable files. Filters AND together:
    - status, channel: equal (an unknown value is an error: a typo would otherwise list nothing);
    - reason: among the strategy's `reasons`;
    - service / region: among its `services` / `regions`, or those are empty (= any service, all cities);
    - measure: a substring of its `measure` (促进措施 is free text);
    - maintainer: equal to its `maintainer`.
    """
    bad = [
        Diagnostic(BAD_VALUE, f"unknown {name} '{value}'", path=f"--{name}",
                   hint=did_you_mean(value, allowed) or f"one of {', '.join(allowed)}")
        for name, value, allowed in (("status", status, STATUSES), ("channel", channel, CHANNEL_VALUES),
                                     ("service", service, SERVICE_IDS))
        if value is not None and value not in allowed
    ]
    if bad:
        raise DiagnosticError(bad)
    documents, problems = load_strategies(directory)

    def listed(data: dict, key: str) -> list:
        value = data.get(key)
        return value if isinstance(value, list) else []

    def keep(data: dict) -> bool:
        return ((status is None or data.get("status") == status)
                and (channel is None or data.get("channel") == channel)
                and (reason is None or reason in listed(data, "reasons"))
                and (service is None or not listed(data, "services") or service in listed(data, "services"))
                and (region is None or not listed(data, "regions") or region in listed(data, "regions"))
                and (measure is None or measure in str(data.get("measure") or ""))
                and (maintainer is None or str(data.get("maintainer") or "") == maintainer))

    chosen = [d for d in documents if isinstance(d.data, dict) and keep(d.data)]
    return chosen, problems


def get_strategy(directory: str | Path, sid: str) -> Document:
    """The loaded strategy `sid`, or DiagnosticError naming the closest ids."""
    path = strategy_path(directory, sid)
    if not path.is_file():
        known = sorted(p.stem for p in Path(directory).glob("*.yaml")) if Path(directory).is_dir() else []
        raise DiagnosticError([Diagnostic(
            NOT_FOUND, f"no strategy '{sid}' in {directory}", file=str(path),
            hint=did_you_mean(sid, known) or "`rekindle strategies list` shows the ids",
        )])
    document, diagnostics = load_document(path, KIND)
    if document is None:
        raise DiagnosticError(diagnostics)
    return document


def _require(values: dict[str, Any], file: str) -> list[Diagnostic]:
    return [
        Diagnostic(MISSING, f"'{f}' is required", file=file, path=f,
                   hint=f"give --{f.replace('_', '-')}")
        for f in REQUIRED if values.get(f) in (None, [], "")
    ]


def add_strategy(
    directory: str | Path, values: dict[str, Any], user: str, today: date | None = None
) -> Path:
    """Write a new draft strategy; maintainer and maintained_on default to `user` and today."""
    with content_lock(directory):
        return _add_strategy(directory, values, user, today)


def _add_strategy(directory: str | Path, values: dict[str, Any], user: str, today: date | None) -> Path:
    values = {k: v for k, v in values.items() if v is not None}
    sid = values.get("strategy") or ""
    path = strategy_path(directory, sid) if sid else Path(directory)
    values.setdefault("maintainer", user)
    values.setdefault("maintained_on", today or date.today())
    values["status"] = DRAFT  # new content starts as a draft; submit/approve move it on
    problems = _require(values, str(path))
    if not sid:
        raise DiagnosticError(problems)
    if path.exists():
        raise DiagnosticError([Diagnostic(
            EXISTS, f"strategy '{sid}' already exists", file=str(path),
            hint=f"change it with `rekindle strategies edit {sid}`",
        )])
    text = render(values)
    # Required fields are reported above with the option to give; drop the schema's copy.
    problems += [d for d in validate_text(sid, text, path) if d.code != MISSING_KEY]
    if has_errors(problems):
        raise DiagnosticError(problems)
    Path(directory).mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"))
    return path


def _same(new: Any, old: Any) -> bool:
    # An empty list and an absent key mean the same ("regions: []" = all cities), and a CSV
    # cell cannot tell them apart: re-importing an unchanged file must not count as an edit.
    empty = (None, [], "")
    return new == old or (new in empty and old in empty)


def apply_changes(text: str, current: dict[str, Any], changes: dict[str, Any]) -> str:
    """`text` with each changed top-level key rewritten (None removes it); other lines kept.

    Content that was in review or approved goes back to draft when anything but the status
    changed, because the approval no longer covers it.
    """
    changed = False
    for field_name in FIELDS:
        if field_name not in changes or field_name == "status":
            continue
        new = changes[field_name]
        if _same(new, current.get(field_name)):
            continue
        changed = True
        if new is None:
            text = remove_key(text, field_name)
        else:
            text = set_key(text, field_name, new, after=FIELDS[: FIELDS.index(field_name)])
    if changed and current.get("status") in (REVIEW, APPROVED):
        text = set_key(text, "status", DRAFT, after=FIELDS[:-1])
    return text


def edit_strategy(
    directory: str | Path, sid: str, changes: dict[str, Any], today: date | None = None
) -> tuple[Path, bool]:
    """Change fields of strategy `sid` (None clears an optional field). Returns (path, changed).

    `maintained_on` becomes today unless given; an approved or reviewed strategy returns to
    draft. The id cannot change (remove and add instead).
    """
    with content_lock(directory):
        return _edit_strategy(directory, sid, changes, today)


def _edit_strategy(directory: str | Path, sid: str, changes: dict[str, Any], today: date | None) -> tuple[Path, bool]:
    document = get_strategy(directory, sid)
    path = document.path
    if changes.get("strategy") not in (None, sid):
        raise DiagnosticError([Diagnostic(
            ID_CHANGE, f"cannot rename strategy '{sid}' to '{changes['strategy']}'", file=str(path),
            path="/strategy", hint="add the new id and remove the old one",
        )])
    if "status" in changes:
        raise DiagnosticError([Diagnostic(
            BAD_VALUE, "status changes only through submit and approve", file=str(path), path="/status",
            hint=f"`rekindle strategies submit {sid}` / `rekindle strategies approve {sid}`",
        )])
    current = document.data if isinstance(document.data, dict) else {}
    changes = {k: v for k, v in changes.items() if k != "strategy"}
    text = path.read_bytes().decode("utf-8")
    new_text = apply_changes(text, current, changes)
    if new_text == text:
        return path, False
    if "maintained_on" not in changes:
        before = FIELDS[: FIELDS.index("maintained_on")]
        new_text = set_key(new_text, "maintained_on", today or date.today(), after=before)
    problems = validate_text(sid, new_text, path)
    if has_errors(problems):
        raise DiagnosticError(problems)
    write_atomic(path, new_text.encode("utf-8"))
    return path, True


def remove_strategy(directory: str | Path, sid: str) -> Path:
    """Delete strategy `sid`'s file (its approval history stays in the database)."""
    path = strategy_path(directory, sid)
    with content_lock(directory):
        if not path.is_file():
            get_strategy(directory, sid)  # raises the not-found diagnostic with suggestions
        path.unlink()
    return path


def row_values(document: Document) -> dict[str, Any]:
    """A strategy's fields in the stable order (for list/export)."""
    data = document.data if isinstance(document.data, dict) else {}
    return {f: data.get(f) for f in FIELDS}
