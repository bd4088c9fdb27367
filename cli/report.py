"""`rekindle report ...` commands."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console

from cli.report_run import run_report
from cli.common import fail
from engine.base.diagnostics import DiagnosticError

app = typer.Typer(no_args_is_help=True)
app.command("run")(run_report)  # written in cli/report_run.py

FORMATS = ("table", "csv", "html")


@app.command("silent-lowuse")
def silent_lowuse_report(
    data: Path = typer.Option(..., "--data", help="snapshot directory"),
    as_of: datetime = typer.Option(..., "--as-of", formats=["%Y-%m-%d"], help="run date YYYY-MM-DD (M0 = its month)"),
    fmt: str = typer.Option("table", "--format", help="table | csv | html"),
    out: Path | None = typer.Option(None, "--out", help="write to this file instead of the terminal"),
    rules_dir: Path = typer.Option(Path("rules"), "--rules", help="rules folder whose segments.yaml classifies the facts"),
    include_partial: bool = typer.Option(False, "--include-partial",
                                         help="also count the as-of month, which is incomplete (labelled partial)"),
    slice_size: int = typer.Option(20_000, "--slice-size", min=1,
                                   help="subscribers whose facts are built at a time (memory follows it; the report does not)"),
) -> None:
    """沉默与低使用分析报表: the playbook types (long/short silent, three low-use types) and 活跃率 by
    month, city, brand and service, segmented as a night does; complete months only unless
    --include-partial.

    Example: rekindle report silent-lowuse --data demo/snapshot --as-of 2026-11-15 --format html --out report.html
    """
    from engine.base.csvsafe import write_private
    from engine.outputs.reports import silent_lowuse, to_csv, to_html, to_rich
    from engine.outputs.reports.silent_lowuse import load_segments
    from engine.snapshot.loader import load_snapshot

    if fmt not in FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(FORMATS)}, not {fmt!r}", param_hint="--format")
    try:
        segments = load_segments(rules_dir)
        snapshot = load_snapshot(data)
    except DiagnosticError as exc:
        fail(exc)
    day = as_of.date()
    frame = silent_lowuse(snapshot, day, segments, include_partial=include_partial, slice_size=slice_size)
    if fmt == "table":
        if out:
            buffer = io.StringIO()
            Console(file=buffer, width=160).print(to_rich(frame, day))
            write_private(out, buffer.getvalue())  # 0600, atomic
        else:
            Console(width=max(Console().width, 140)).print(to_rich(frame, day))
        return
    text = to_csv(frame) if fmt == "csv" else to_html(frame, day)
    if out:
        write_private(out, text)  # 0600, atomic
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text, nl=False)


@app.command("campaign")
def campaign_report_command(
    run: str | None = typer.Option(None, "--run", help="run id (default: the latest; or use --from/--to)"),
    date_from: str | None = typer.Option(None, "--from", help="first as-of date YYYY-MM-DD of the runs to evaluate"),
    date_to: str | None = typer.Option(None, "--to", help="last as-of date YYYY-MM-DD"),
    fmt: str = typer.Option("table", "--format", help="table | csv | html"),
    out: Path | None = typer.Option(None, "--out", help="write to this file instead of the terminal"),
    db: str | None = typer.Option(None, "--db", help="database URL (default: SQLite under REKINDLE_HOME)"),
) -> None:
    """营销评估: per pack, strategy and channel, treated vs holdout control — uplift with a 95% CI,
    incremental conversions and revenue, cost, ROI, and the 20% dispatch success target.

    Example: rekindle report campaign --from 2026-11-15 --to 2026-11-17 --format html --out campaign.html
    """
    from cli.common import as_of_date, fail
    from engine.outputs.reports.campaign import campaign_report, to_csv
    from engine.outputs.reports.campaign_view import to_html as campaign_html, to_rich as campaign_rich

    if fmt not in FORMATS:
        typer.echo(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}", err=True)
        raise typer.Exit(2)
    if run and (date_from or date_to):
        typer.echo("give either --run or --from/--to, not both", err=True)
        raise typer.Exit(2)
    try:
        report = campaign_report(run, as_of_date(date_from) if date_from else None,
                                 as_of_date(date_to) if date_to else None, db)
    except DiagnosticError as exc:
        fail(exc)
    if fmt == "table":
        console = Console(file=out.open("w", encoding="utf-8"), width=200) if out else Console()
        console.print(campaign_rich(report))
        return
    text = to_csv(report) if fmt == "csv" else campaign_html(report)
    if out:
        tmp = out.parent / f".{out.name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text, nl=False)
