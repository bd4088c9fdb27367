"""What every command shares: turning a DiagnosticError into the printed report and exit 1,
and reading the --as-of date."""

from __future__ import annotations

from datetime import date
from typing import NoReturn

import typer

from engine.base.diagnostics import DiagnosticError, Refused, format_report


def fail(error: DiagnosticError) -> NoReturn:
    """Print every diagnostic (sorted, with a count line) on stderr; exit 3 for a refusal
    (engine.base.diagnostics.Refused), 1 for invalid input."""
    typer.echo(format_report(error.diagnostics), err=True)
    raise typer.Exit(3 if isinstance(error, Refused) else 1)


def as_of_date(value: str) -> date:
    """The --as-of option as a date, or a usage error naming the option."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)", param_hint="--as-of") from None
