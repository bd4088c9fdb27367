"""`rekindle audit ...` commands: verify a run's hash chain, replay one subscriber's decisions."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from cli.common import DbOption, fail
from engine.base.exitcodes import FINDINGS
from engine.base.diagnostics import DiagnosticError

app = typer.Typer(no_args_is_help=True)


@app.command("verify")
def verify(
    run: str = typer.Option("latest", "--run", help="run id, or `latest`"),
    db: DbOption = None,
) -> None:
    """Verify 校验 a run's hash chain: any changed, deleted or reordered decision or trace fails (exit 1).

    Example: rekindle audit verify --run latest
    """
    from engine.outputs.audit import verify_run

    try:
        report = verify_run(run, db)
    except DiagnosticError as error:
        fail(error)
    typer.echo(report.describe())
    typer.echo(report.settings_text(), err=True)  # context for people; stdout stays the one verdict line
    if not report.ok:
        raise typer.Exit(FINDINGS)


@app.command("replay")
def replay(
    run: str = typer.Option(..., "--run", help="run id, or `latest`"),
    msisdn: str = typer.Option(..., "--msisdn", help="the subscriber to re-decide"),
    db: DbOption = None,
    rules_dir: Path = typer.Option(Path("rules"), "--rules", help="rules folder (its git history is searched too)"),
    strategies_dir: Path = typer.Option(Path("strategies"), "--strategies", help="strategies folder"),
) -> None:
    """Replay 重放: re-decide a subscriber from the inputs stored in its traces, with the run's pack versions.

    Compares each fact's pack outcome (before holdout and arbitration) stored vs replayed; exit 1 on
    a mismatch or when a stored content version cannot be found (in the folders or their git history).
    Example: rekindle audit replay --run latest --msisdn 13800000001
    """
    from engine.outputs.audit import replay as replay_subscriber, replay_table

    try:
        report = replay_subscriber(run, msisdn, db, rules_dir=rules_dir, strategies_dir=strategies_dir)
    except DiagnosticError as error:
        fail(error)
    Console(file=sys.stdout, width=160).print(replay_table(report))
    typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(FINDINGS)
