"""`rekindle data ...` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from cli.common import fail
from engine.base.diagnostics import DiagnosticError

app = typer.Typer(no_args_is_help=True)


@app.command("check")
def check(
    directory: Path = typer.Argument(..., help="snapshot directory with NAME.csv or NAME.parquet per table"),
) -> None:
    """Validate a snapshot against the data contract (数据检查); list every problem or the table sizes.

    Example: rekindle data check demo/snapshot
    """
    from engine.snapshot.loader import check_snapshot

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


@app.command("feedback")
def feedback(
    data: Path = typer.Option(..., "--data", help="the generated snapshot folder (with truth/)"),
    run: str = typer.Option(..., "--run", help="run id (or `latest`)"),
    out: Path = typer.Option(..., "--out", help="feedback file to write (.csv or .parquet)"),
    seed: int = typer.Option(0, "--seed", help="random seed; same run and seed give an identical file"),
    db: Optional[str] = typer.Option(None, "--db", help="database URL (default: SQLite under REKINDLE_HOME)"),
) -> None:
    """Simulate the feedback file 营销反馈 the channel systems would return for a run, drawn from truth/.

    Example: rekindle data feedback --data demo/snapshot --run latest --out demo/feedback.csv
    """
    from cli.common import fail
    from engine.generator.feedback import simulate_feedback

    try:
        counts = simulate_feedback(data, run, out, db, seed)
    except DiagnosticError as error:
        fail(error)
    typer.echo(f"wrote {out}: " + ", ".join(f"{n:,} {e}" for e, n in counts.items()))
