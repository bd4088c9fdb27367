"""Top-level commands of the nightly job: `rekindle run` and `export` (`facts`, `explain`: their own modules)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from cli.common import DbOption, as_of_date, fail
from engine.base.diagnostics import DiagnosticError
from engine.night.slices import DEFAULT_SIZE


def _with_progress(console: Console, options, run_night):
    """Run with a rich progress bar over the run's stages (engine.night.run.STAGES)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from engine.night.run import STAGES

    columns = (TextColumn("[bold]{task.description:<10}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("starting", total=len(STAGES))

        def advance(stage: str) -> None:
            position = STAGES.index(stage) if stage in STAGES else 0
            bar.update(task, description=stage, completed=position)

        return run_night(options, progress=advance)


def run(
    data: str = typer.Option(..., "--data", help="snapshot folder (NAME.csv or NAME.parquet per table); with "
                             "--engine spark also a URI the cluster reads: file:///…, hdfs://…, s3a://…"),
    as_of: str = typer.Option(..., "--as-of", help="decision date YYYY-MM-DD (M0 is its month)"),
    db: DbOption = None,
    out: Optional[Path] = typer.Option(None, "--out", help="channel files folder: new, empty, or one Rekindle made "
                                                          "(default REKINDLE_HOME/runs/<run id>)"),
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes (each takes every Nth slice of the base)"),
    slice_size: int = typer.Option(DEFAULT_SIZE, "--slice-size", min=1,
                                   help="subscribers per slice: bounds a worker's memory; decisions do not depend on it"),
    production: bool = typer.Option(False, "--production", help="refuse packs/strategies/policy not approved as they stand"),
    rules_dir: Path = typer.Option(Path("rules"), "--rules", help="rule packs folder"),
    strategies_dir: Path = typer.Option(Path("strategies"), "--strategies", help="strategies folder"),
    rerun: bool = typer.Option(False, "--rerun", help="store a second run for an as-of date that already has a "
                                                      "succeeded one (labelled as a rerun)"),
    engine: str = typer.Option("local", "--engine", help="local (worker processes on this machine) or spark "
                               "(each slice decided by a Spark executor; docs/SPARK.md)"),
    spark_master: str = typer.Option("local[*]", "--spark-master", help="with --engine spark: local[N], spark://HOST:PORT, "
                                     "yarn or k8s://URL"),
) -> None:
    """Nightly run 夜间批处理: decide every subscriber and service, store decisions and traces, write channel lists.

    Example: rekindle run --data sample --as-of 2026-11-15 --workers 2
             rekindle run --data sample --as-of 2026-11-15 --engine spark --spark-master yarn
    """
    from engine.night.funnel import funnel_tables
    from engine.night.run import RunOptions, run_night
    options = RunOptions(data=data if "://" in data else Path(data), as_of=as_of_date(as_of), db_url=db, out=out, workers=workers, slice_size=slice_size, production=production,
                         rules_dir=rules_dir, strategies_dir=strategies_dir, rerun=rerun, engine=engine,
                         spark_master=spark_master)
    console = Console(stderr=True)
    try:
        if engine == "spark":
            from engine.spark import require

            require()  # PySpark installed, or a diagnostic saying how to install it
        if console.is_terminal:
            result = _with_progress(console, options, run_night)
        else:
            result = run_night(options)
    except DiagnosticError as error:
        fail(error)
    stdout = Console(file=sys.stdout, width=160)
    for table in funnel_tables(result.funnel):
        stdout.print(table)
    seconds = sum(result.timings.values())
    label = " (rerun)" if result.rerun_of else ""
    typer.echo(f"run {result.run_id}{label}: {result.facts} facts, {result.decisions} decisions, "
               f"channel files in {result.out_dir} ({seconds:.1f} s)")


def export(
    run_id: str = typer.Option("latest", "--run", help="run id, or `latest`"),
    channel: Optional[str] = typer.Option(None, "--channel", help="sms, mms, wap_push, outbound_call or account_manager"),
    view: Optional[str] = typer.Option(None, "--view", help="instead of a channel list: silent (沉默用户视图), "
                                       "low-use (低使用量用户视图) or front-desk (前台推荐视图); needs --out FILE.csv|.parquet"),
    out: Optional[Path] = typer.Option(None, "--out", help="file to write (default: print to stdout)"),
    db: DbOption = None,
    force: bool = typer.Option(False, "--force", help="export a run that does not verify (written to the audit log)"),
    slice_size: int = typer.Option(20_000, "--slice-size", min=1,
                                   help="with --view: subscribers whose facts are built at a time (memory follows it; the file does not)"),
) -> None:
    """Channel list 渠道清单: the CSV a channel's system takes (msisdn, service, strategy, message, ...);
    or with --view one of the operator's monthly lists of the run (engine/outputs/views.py).

    The run is verified first (hash chain and signed seal): one that does not verify is refused
    (exit 3) unless --force.
    Examples: rekindle export --run latest --channel outbound_call --out calls.csv
              rekindle export --run latest --view silent --out silent.parquet
    """
    from engine.outputs.export import export_channel, export_text

    if (channel is None) == (view is None) or (view is not None and out is None):
        typer.echo("give either --channel, or --view with --out FILE (.csv or .parquet)", err=True)
        raise typer.Exit(2)
    if view is not None:
        from engine.outputs.views import export_view

        try:
            found, path, rows = export_view(run_id, view, out, db, slice_size=slice_size)
        except DiagnosticError as error:
            fail(error)
        typer.echo(f"{rows} rows of the {view} view of run {found} written to {path}", err=True)
        return
    try:
        if out is None:
            _run, body, warnings = export_text(run_id, channel, db, force=force)
            for line in warnings:
                typer.echo(line, err=True)
            sys.stdout.write(body)
            return
        found, path, rows, warnings = export_channel(run_id, channel, out, db, force=force)
    except DiagnosticError as error:
        fail(error)
    for line in warnings:
        typer.echo(line, err=True)
    typer.echo(f"{rows} rows of run {found} written to {path}", err=True)

