"""`rekindle feedback load FILE`: store what the channel systems report back (营销反馈, docs/LOOP.md §2)."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import DbOption, fail
from engine.base.diagnostics import DiagnosticError, format_report

app = typer.Typer(no_args_is_help=True)


@app.command("load")
def load(
    file: Path = typer.Argument(..., help="CSV or Parquet: msisdn, run_id, service, channel, event, event_time[, revenue]"),
    db: DbOption = None,
) -> None:
    """Load delivery / response / conversion / opt-out events 营销反馈 against the stored decisions.

    Loading the same file twice changes nothing; events that match no treated or held-out
    decision are listed (file:line) and not stored; `opted_out` puts the subscriber on the
    do-not-disturb list of later runs.

    Example: rekindle feedback load feedback/2026-11-15.csv
    """
    from engine.loop.feedback import load_feedback

    try:
        result = load_feedback(file, db)
    except DiagnosticError as error:
        fail(error)
    if result.unknown:
        typer.echo(format_report(result.unknown), err=True)
    typer.echo(f"{result.file}: {result.rows:,} rows, {result.stored:,} events stored, "
               f"{result.already:,} already stored, {result.unknown_count:,} matched no decision (not stored)")
