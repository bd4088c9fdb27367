"""`rekindle data ...` commands."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cli.common import fail
from engine.base.diagnostics import DiagnosticError
from engine.snapshot.loader import check_snapshot

app = typer.Typer(no_args_is_help=True)


@app.command("check")
def check(
    directory: Path = typer.Argument(..., help="snapshot directory with NAME.csv or NAME.parquet per table"),
) -> None:
    """Validate a snapshot against the data contract (数据检查); list every problem or the table sizes.

    Example: rekindle data check demo/snapshot
    """
    try:
        sizes = check_snapshot(directory)
    except DiagnosticError as exc:
        fail(exc)
    table = Table(title=f"{directory}: valid")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in sizes.items():
        table.add_row(name, f"{rows:,}")
    Console().print(table)


# `data generate` (the sample operator) lives in cli/generate.py.
from cli import generate as _generate  # noqa: E402  (registered after this module's own commands)

_generate.register(app)
