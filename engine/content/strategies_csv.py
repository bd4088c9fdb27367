"""Import and export the strategy knowledge base as CSV (one row per strategy).

Columns are the strategy fields (`engine.content.strategies.FIELDS`); list fields are '|'-separated;
an empty cell means "not set". Import is all-or-nothing: every row is converted and validated
first, each problem reported at its CSV line (header = line 1) and column, and files are
written only when the whole file is clean. Export writes the same columns sorted by id, so
export → import reproduces the files. Cells a spreadsheet would run as a formula (`=`, `+`, `-`,
`@`, tab, CR first) are exported with a leading `'` (engine.base.csvsafe) and the import removes it.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.base.csvsafe import restore, safe_row, write_private
from engine.base.diagnostics import Diagnostic, DiagnosticError, did_you_mean, has_errors
from engine.content.lifecycle import DRAFT
from engine.content.locks import content_lock
from engine.content.checks_schema import MISSING_KEY
from engine.content.document import Document
from engine.content.strategies import (
    BAD_VALUE,
    EXISTS,
    FIELDS,
    MISSING,
    REQUIRED,
    check_id,
    apply_changes,
    as_text,
    coerce,
    load_strategies,
    render,
    row_values,
    strategy_path,
    validate_text,
)

LIST_SEPARATOR = "|"

# Codes ST3xx: CSV import structure (cell values use the ST2xx codes of engine.content.strategies).
UNKNOWN_COLUMN = "ST301"
MISSING_COLUMN = "ST302"
DUPLICATE_ID = "ST303"
ROW_SHAPE = "ST304"
DUPLICATE_COLUMN = "ST305"
UNREADABLE = "ST306"


@dataclass
class ImportResult:
    """Which strategy ids an import created, updated, or found already identical."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@dataclass
class _Row:
    line: int
    values: dict[str, Any]
    cells: dict[str, str]


def _rows(csv_path: Path) -> tuple[list[str], list[_Row], list[Diagnostic]]:
    """Header and rows with their physical start line; structural problems as diagnostics."""
    file = str(csv_path)
    try:
        text = csv_path.read_bytes().decode("utf-8-sig")  # a BOM from Excel is not part of the header
    except OSError as error:
        return [], [], [Diagnostic(UNREADABLE, f"cannot read file: {error.strerror or error}", file=file)]
    except UnicodeDecodeError as error:
        return [], [], [Diagnostic(UNREADABLE, f"file is not UTF-8 text (byte {error.start})", file=file,
                                   hint="save the CSV as UTF-8")]
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[Diagnostic] = []
    header = [h.strip() for h in next(reader, [])]
    for index, name in enumerate(header, start=1):
        if name in header[: index - 1]:
            problems.append(Diagnostic(
                DUPLICATE_COLUMN, f"column '{name}' appears twice", file=file, line=1, column=index, path=name,
                hint="keep one column per field",
            ))
        elif name not in FIELDS:
            problems.append(Diagnostic(
                UNKNOWN_COLUMN, f"unknown column '{name}'", file=file, line=1, column=index, path=name,
                hint=did_you_mean(name, FIELDS) or f"columns: {', '.join(FIELDS)}",
            ))
    for name in REQUIRED:
        if name not in header:
            problems.append(Diagnostic(
                MISSING_COLUMN, f"missing required column '{name}'", file=file, line=1, path=name,
                hint=f"add a '{name}' column to the header",
            ))
    rows: list[_Row] = []
    previous_end = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:  # e.g. a NUL byte or an unterminated quote at the end
            problems.append(Diagnostic(ROW_SHAPE, f"unreadable CSV: {error}", file=file, line=previous_end + 1))
            break
        start = previous_end + 1  # a quoted cell may span lines; the row starts after the last one
        previous_end = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(Diagnostic(
                ROW_SHAPE, f"row has {len(cells)} cells but the header has {len(header)} columns",
                file=file, line=start, hint="check for a missing or extra comma; quote cells that contain commas",
            ))
            continue
        # Undo the quote our export puts before formula-leading cells, so export → import round-trips.
        rows.append(_Row(start, {}, dict(zip(header, (restore(c) for c in cells)))))
    return header, rows, problems


def _convert(row: _Row, header: list[str], file: str) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    for column, name in enumerate(header, start=1):
        if name not in FIELDS:
            continue
        try:
            row.values[name] = coerce(name, row.cells[name], LIST_SEPARATOR)
        except ValueError as error:
            problems.append(Diagnostic(BAD_VALUE, str(error), file=file, line=row.line, column=column, path=name))
    for name in REQUIRED:
        if name in header and row.values.get(name) in (None, []):
            problems.append(Diagnostic(
                MISSING, f"'{name}' is empty", file=file, line=row.line,
                column=header.index(name) + 1, path=name, hint=f"every strategy needs a {name}",
            ))
    return problems


def _at_cell(diagnostic: Diagnostic, row: _Row, header: list[str], file: str) -> Diagnostic:
    """A diagnostic about the row's YAML rendering, moved onto the CSV line and column."""
    key = diagnostic.path.strip("/").split("/")[0]
    column = header.index(key) + 1 if key in header else None
    return replace(diagnostic, file=file, line=row.line, column=column, path=key or diagnostic.path)


def _plan(csv_path: Path, directory: Path, update: bool) -> tuple[dict[str, tuple[Path, str, str]], list[Diagnostic]]:
    """For each row, (target path, new file text, 'created'|'updated'|'unchanged'); or problems."""
    file = str(csv_path)
    header, rows, problems = _rows(csv_path)
    if not header or any(d.code in (MISSING_COLUMN, DUPLICATE_COLUMN, UNREADABLE) for d in problems):
        return {}, problems  # without the required columns the rows cannot be read
    existing = {d.name: d for d in load_strategies(directory)[0]}
    first_line: dict[str, int] = {}
    plan: dict[str, tuple[Path, str, str]] = {}
    id_column = header.index("strategy") + 1
    for row in rows:
        row_problems = _convert(row, header, file)
        sid = row.values.get("strategy")
        if sid:
            try:
                check_id(sid, file, row.line, id_column)
            except DiagnosticError as error:
                row_problems.extend(error.diagnostics)
                sid = None
        if sid and sid in first_line:
            row_problems.append(Diagnostic(
                DUPLICATE_ID, f"strategy '{sid}' appears twice", file=file, line=row.line, column=id_column,
                path="strategy", hint=f"first on line {first_line[sid]}; keep one row per strategy",
            ))
        elif sid:
            first_line[sid] = row.line
        if sid and sid in existing and not update:
            row_problems.append(Diagnostic(
                EXISTS, f"strategy '{sid}' already exists in {directory}", file=file, line=row.line,
                column=id_column, path="strategy", hint="pass --update to overwrite existing strategies",
            ))
        if not sid:
            problems.extend(row_problems)
            continue
        if sid in existing:
            document = existing[sid]
            target = document.path
            old = target.read_bytes().decode("utf-8")
            # A row is the whole strategy: an empty cell clears that field, a column missing
            # from the header keeps it. Status is not imported onto existing strategies (it
            # changes through submit/approve, and a content change demotes it to draft).
            changes = {k: v for k, v in row.values.items() if k not in ("strategy", "status")}
            text = apply_changes(old, document.data if isinstance(document.data, dict) else {}, changes)
            action = "unchanged" if text == old else "updated"
        else:
            target = strategy_path(directory, sid)
            text, action = render({**row.values, "status": row.values.get("status") or DRAFT}), "created"
        # Required fields were reported per cell above; the schema's copy of them has no column.
        found = [d for d in validate_text(sid, text, target) if d.code != MISSING_KEY]
        row_problems.extend(_at_cell(d, row, header, file) for d in found)
        problems.extend(row_problems)
        if not row_problems:
            plan[sid] = (target, text, action)
    return plan, problems


def import_csv(csv_path: str | Path, directory: str | Path, update: bool = False) -> ImportResult:
    """Create (and with `update`, overwrite) strategies from a CSV file; nothing on any error."""
    csv_path, directory = Path(csv_path), Path(directory)
    with content_lock(directory):  # the plan compares with the files; nobody may change them meanwhile
        return _import(csv_path, directory, update)


def _import(csv_path: Path, directory: Path, update: bool) -> ImportResult:
    plan, problems = _plan(csv_path, directory, update)
    if has_errors(problems):
        raise DiagnosticError(problems)
    directory.mkdir(parents=True, exist_ok=True)
    result = ImportResult()
    # Stage every file first, then move them in: a failure while writing leaves the directory
    # as it was instead of half imported.
    with tempfile.TemporaryDirectory(dir=directory, prefix=".import-") as staging:
        staged: list[tuple[Path, Path]] = []
        for sid in sorted(plan):
            target, text, action = plan[sid]
            getattr(result, action).append(sid)
            if action == "unchanged":
                continue
            temp = Path(staging) / target.name
            temp.write_bytes(text.encode("utf-8"))
            staged.append((temp, target))
        for temp, target in staged:
            os.replace(temp, target)
    return result


def to_csv(documents: list[Document]) -> str:
    """Strategies as CSV text: columns = FIELDS, lists '|'-joined, rows sorted by id."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    for document in sorted(documents, key=lambda d: d.name):
        values = row_values(document)
        writer.writerow(safe_row(as_text(f, values[f], LIST_SEPARATOR) for f in FIELDS))
    return buffer.getvalue()


def export_csv(directory: str | Path, out: str | Path | None = None) -> str:
    """All strategies as CSV text (sorted by id); also written to `out` if given.

    Refuses (DiagnosticError) when any strategy file is broken, so an export is never partial.
    """
    documents, problems = load_strategies(directory)
    if has_errors(problems):
        raise DiagnosticError(problems)
    text = to_csv(documents)
    if out is not None:
        write_private(out, text)  # 0600, atomic
    return text
