"""`rekindle report run`: one stored night's funnel per pack and channel, and its decision counts."""

from __future__ import annotations

import sys
from enum import Enum

import typer
from rich.console import Console

from cli.common import DbOption, JsonOption, fail, wants_json
from engine.base.diagnostics import DiagnosticError


class RunReportFormat(str, Enum):
    table = "table"
    csv = "csv"
    html = "html"
    json = "json"


def run_report(
    run: str = typer.Option("latest", "--run", help="run id, or `latest`"),
    db: DbOption = None,
    fmt: RunReportFormat = typer.Option(RunReportFormat.table, "--format", help="table, csv, html or json"),
    mask: bool = typer.Option(False, "--mask", help="show example msisdns masked, e.g. 139****5678"),
    as_json: JsonOption = False,
) -> None:
    """Run report 运行报告: funnel 漏斗 per pack and channel, decision counts, example subscribers.

    `--format json` adds `examples` (smallest msisdn with a treat, excluded, held-out ... decision)
    to pick whom to explain. Example: rekindle report run --run latest --format html > run.html
    """
    from engine.outputs.reports import run_report as report_module

    try:
        report = report_module.run_report(run, db, mask=mask)
    except DiagnosticError as error:
        fail(error)
    if wants_json(as_json, fmt):
        typer.echo(report_module.to_json(report))
    elif fmt == RunReportFormat.csv:
        typer.echo(report_module.to_csv(report), nl=False)
    elif fmt == RunReportFormat.html:
        typer.echo(report_module.to_html(report))
    else:
        Console(file=sys.stdout, width=160).print(report_module.to_rich(report))
