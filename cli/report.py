"""`rekindle report ...` commands."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console

from cli.report_run import run_report
from engine.base.diagnostics import DiagnosticError, format_report
from engine.snapshot.loader import load_snapshot
from engine.outputs.reports import silent_lowuse, to_csv, to_html, to_rich
from engine.outputs.reports.silent_lowuse import load_segments

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
) -> None:
    """沉默与低使用分析报表: the playbook types (long/short silent, three low-use types) and 活跃率 by
    month, city, brand and service, segmented as a night does; complete months only unless
    --include-partial.

    Example: rekindle report silent-lowuse --data demo/snapshot --as-of 2026-11-15 --format html --out report.html
    """
    if fmt not in FORMATS:
        typer.echo(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}", err=True)
        raise typer.Exit(2)
    try:
        segments = load_segments(rules_dir)
        snapshot = load_snapshot(data)
    except DiagnosticError as exc:
        typer.echo(format_report(exc.diagnostics))
        raise typer.Exit(1)
    day = as_of.date()
    frame = silent_lowuse(snapshot, day, segments, include_partial=include_partial)
    if fmt == "table":
        if out:
            with out.open("w", encoding="utf-8") as handle:
                Console(file=handle, width=160).print(to_rich(frame, day))
        else:
            Console(width=max(Console().width, 140)).print(to_rich(frame, day))
        return
    text = to_csv(frame) if fmt == "csv" else to_html(frame, day)
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text, nl=False)
