"""`rekindle report ...` commands."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console

from cli.report_run import run_report
from cli.common import fail
from engine.base.csvsafe import write_private
from engine.base.diagnostics import DiagnosticError
from engine.snapshot.loader import load_snapshot
from engine.outputs.reports import silent_lowuse, to_csv, to_html, to_rich

app = typer.Typer(no_args_is_help=True)
app.command("run")(run_report)  # written in cli/report_run.py

FORMATS = ("table", "csv", "html")


@app.command("silent-lowuse")
def silent_lowuse_report(
    data: Path = typer.Option(..., "--data", help="snapshot directory"),
    as_of: datetime = typer.Option(..., "--as-of", formats=["%Y-%m-%d"], help="run date YYYY-MM-DD (M0 = its month)"),
    fmt: str = typer.Option("table", "--format", help="table | csv | html"),
    out: Path | None = typer.Option(None, "--out", help="write to this file instead of the terminal"),
) -> None:
    """Silent (沉默) and low-use (低使用) subscriptions and 活跃率 by month, city, brand and service.

    Example: rekindle report silent-lowuse --data demo/snapshot --as-of 2026-11-15 --format html --out report.html
    """
    if fmt not in FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(FORMATS)}, not {fmt!r}", param_hint="--format")
    try:
        snapshot = load_snapshot(data, tables=["subscribers", "subscriptions", "usage_monthly"])
    except DiagnosticError as exc:
        fail(exc)
    day = as_of.date()
    frame = silent_lowuse(snapshot, day)
    if fmt == "table":
        if out:
            buffer = io.StringIO()
            Console(file=buffer, width=160).print(to_rich(frame, day))
            write_private(out, buffer.getvalue())  # 0600, atomic
        else:
            Console().print(to_rich(frame, day))
        return
    text = to_csv(frame) if fmt == "csv" else to_html(frame, day)
    if out:
        write_private(out, text)  # 0600, atomic
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text, nl=False)
