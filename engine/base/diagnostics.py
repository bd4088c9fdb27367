"""One diagnostic shape for every file a person edits or hands us (packs, policies, strategies, CSVs).

Printed like ruff's concise form::

    rules/long_term_silent.yaml:14:11: error[RP012] /target/0/when/all/0: unknown field 'months_silnt' (did you mean 'months_silent'?)

All problems are collected, sorted by file and line, and reported together with a count line.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass
from typing import Iterable

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    code: str  # stable code, e.g. "RP012" (rule packs) or "DC003" (data contract)
    message: str  # what is wrong, naming the bad value
    file: str = ""
    line: int | None = None  # 1-based; for CSV files the physical line (header = 1)
    column: int | None = None  # 1-based
    path: str = ""  # key path in a YAML file ("/target/0/when") or a CSV column name
    hint: str = ""  # what to do about it
    severity: str = ERROR

    def sort_key(self) -> tuple:
        return (self.file, self.line or 0, self.column or 0, self.code, self.path, self.message)

    def format(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        path = f" {self.path}:" if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}: {self.severity}[{self.code}]{path} {self.message}{hint}"

    def to_dict(self) -> dict:
        return asdict(self)


class DiagnosticError(Exception):
    """Raised when a file (or a set of files) has errors. Carries every diagnostic found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = sort_diagnostics(diagnostics)
        super().__init__(format_report(self.diagnostics))


class Refused(DiagnosticError):
    """A request that is valid but not allowed now: another run holds the lock, content is not
    approved, four eyes (the submitter approving their own work), content changed since review,
    a second run for the same date without --rerun. Exit code 3
    (engine/base/exitcodes.py). Built from diagnostics, or from one message (code RF001)."""

    def __init__(self, diagnostics: Iterable[Diagnostic] | str, hint: str = "", code: str = "RF001"):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(code, diagnostics, hint=hint)]
        super().__init__(diagnostics)

    def lines(self) -> list[str]:
        """One line per refusal: 'refused: message (hint)'."""
        return [f"refused: {d.message}" + (f" ({d.hint})" if d.hint else "") for d in self.diagnostics]


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=Diagnostic.sort_key)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity == ERROR for d in diagnostics)


def count_line(diagnostics: list[Diagnostic]) -> str:
    errors = sum(d.severity == ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    parts = [f"{errors} error{'s' if errors != 1 else ''}"]
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return "Found " + ", ".join(parts) + "."


def format_report(diagnostics: Iterable[Diagnostic], fmt: str = "text") -> str:
    """Sorted diagnostics with a closing count line (text), or a JSON document (fmt="json")."""
    diags = sort_diagnostics(diagnostics)
    if fmt == "json":
        return json.dumps(
            {"diagnostics": [d.to_dict() for d in diags], "errors": sum(d.severity == ERROR for d in diags)},
            ensure_ascii=False,
            indent=2,
        )
    return "\n".join([d.format() for d in diags] + [count_line(diags)])


def did_you_mean(name: str, known: Iterable[str], n: int = 3) -> str:
    """A hint naming the closest known names, or '' when nothing is close."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=n, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
