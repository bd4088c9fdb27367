"""`rekindle orders list|review|handle|import`: work orders 工单 (docs/LOOP.md §4)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from cli.common import DbOption, fail
from engine.base.diagnostics import DiagnosticError

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_command(
    run: str = typer.Option("latest", "--run", help="run id (default: the latest)"),
    state: Optional[str] = typer.Option(None, "--state", help="accepted | reviewed | handled"),
    csv: bool = typer.Option(False, "--csv", help="print CSV instead of a table"),
    db: DbOption = None,
) -> None:
    """The run's outbound-call and account-manager orders with their state (受理 / 审核 / 处理).

    Example: rekindle orders list --run latest --state accepted
    """
    from engine.loop.orders import list_orders

    try:
        orders = list_orders(run, state, db)
    except DiagnosticError as error:
        fail(error)
    if csv:
        typer.echo(orders.to_csv(index=False), nl=False)
        return
    table = Table(title=f"{len(orders):,} work orders" + (" (first 50; --csv for all)" if len(orders) > 50 else ""))
    for name in ("order_id", "msisdn", "strategy", "state", "result_code", "by", "at"):
        table.add_column(name, no_wrap=name in ("order_id", "at"))
    for row in orders.head(50).itertuples(index=False):
        table.add_row(row.order_id, row.msisdn, row.strategy, row.state, row.result_code, row.by, str(row.at)[:19])
    Console().print(table)


@app.command("review")
def review(order_id: str = typer.Argument(..., help="<run id>:<seq>"),
           by: str = typer.Option(..., "--by", help="who reviewed it"),
           note: str = typer.Option("", "--note"), at: Optional[str] = typer.Option(None, "--at", help="when (ISO; default now)"),
           db: DbOption = None) -> None:
    """Mark an accepted order reviewed 审核.  Example: rekindle orders review 2026-11-15.ab12:40 --by 李娜"""
    _change(order_id, "reviewed", by, note, "", at, db)


@app.command("handle")
def handle(order_id: str = typer.Argument(..., help="<run id>:<seq>"),
           result: str = typer.Option(..., "--result", help="accepted_offer | interested | declined | unreachable | opted_out"),
           by: str = typer.Option(..., "--by", help="who handled it"),
           note: str = typer.Option("", "--note"), at: Optional[str] = typer.Option(None, "--at", help="when (ISO; default now)"),
           db: DbOption = None) -> None:
    """Record a reviewed order handled 处理 with its result; the result feeds the feedback.

    Example: rekindle orders handle 2026-11-15.ab12:40 --result accepted_offer --by 王强 --note 已办理
    """
    _change(order_id, "handled", by, note, result, at, db)


def _change(order_id, state, by, note, result, at, db) -> None:
    from engine.loop.orders import change_state

    try:
        changed = change_state(order_id, state, by, note, result, at, db)
    except DiagnosticError as error:
        fail(error)
    typer.echo(f"{order_id}: {state}" if changed else f"{order_id}: already {state} (same record), nothing changed")


@app.command("import")
def import_command(file: Path = typer.Argument(..., help="CSV or Parquet: order_id, state, result_code, note, by, at"),
                   db: DbOption = None) -> None:
    """Apply the file the call centre returns (all rows or none).

    Example: rekindle orders import callcentre/2026-11-16.csv
    """
    from engine.loop.orders import import_orders

    try:
        appended, skipped = import_orders(file, db)
    except DiagnosticError as error:
        fail(error)
    typer.echo(f"{file}: {appended:,} state records appended, {skipped:,} already recorded")
