"""What every command shares: the `--db` and `--json` options, the `--debug` switch, and `fail()`,
the one way a command reports a problem (on stderr, one clear line per problem, the exit code
from engine/base/exitcodes.py).

`RekindleGroup` is the click group of the `rekindle` app: any exception a command lets through
is turned into its line and exit code there (a full traceback only with `--debug` or
REKINDLE_DEBUG=1), so no error reaches the terminal as a 146-line traceback or with payloads.
"""

from __future__ import annotations

import os
import traceback
from datetime import date
from typing import Annotated, NoReturn, Optional

import typer
from typer.core import TyperGroup

from engine.base.diagnostics import DiagnosticError, Refused, format_report
from engine.base.exitcodes import INVALID, REFUSED, classify

# The shared options: declared once here, used by every command that takes them.
DbOption = Annotated[Optional[str], typer.Option("--db", help="database URL (default: SQLite under REKINDLE_HOME)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON document instead of a table")]

_state = {"debug": False}


def set_debug(value: bool) -> None:
    _state["debug"] = bool(value)


def debugging() -> bool:
    return _state["debug"] or os.environ.get("REKINDLE_DEBUG", "") not in ("", "0")


def fail(error: BaseException) -> NoReturn:
    """Print `error` on stderr and exit with its code: diagnostics (sorted, with a count line) →
    1; a refusal → 3; anything else → its line from exitcodes.classify (4 environment, 70 bug)."""
    if isinstance(error, DiagnosticError):
        typer.echo(format_report(error.diagnostics), err=True)
        raise typer.Exit(REFUSED if isinstance(error, Refused) else INVALID)
    code, line = classify(error)
    if debugging():
        typer.echo("".join(traceback.format_exception(error)), err=True)
    typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code)


def wants_json(as_json: bool, fmt: str | None) -> bool:
    """`--json` and `--format json` mean the same (both are accepted where --format exists)."""
    return bool(as_json) or (str(getattr(fmt, "value", fmt) or "").lower() == "json")


class RekindleGroup(TyperGroup):
    """The top-level group: maps any exception of any subcommand to one line and an exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors (2) and exits
            raise
        except KeyboardInterrupt as error:  # Ctrl-C, or SIGTERM during a run (engine/night/workers.py)
            signum = getattr(error, "signum", 2)
            typer.echo(f"error: {error or 'interrupted'}", err=True)
            raise typer.Exit(128 + signum) from None
        except Exception as error:  # noqa: BLE001 - the one place errors become exit codes
            fail(error)


def as_of_date(value: str) -> date:
    """The --as-of option as a date, or a usage error naming the option."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)", param_hint="--as-of") from None
