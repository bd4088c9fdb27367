"""`rekindle facts`: print one subscriber's facts — what the rules see."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cli.common import as_of_date, fail
from engine.base.diagnostics import DiagnosticError


def facts(
    data: Path = typer.Option(..., "--data", help="snapshot folder"),
    as_of: str = typer.Option(..., "--as-of", help="the night's date YYYY-MM-DD (M0 is its month)"),
    msisdn: str = typer.Option(..., "--msisdn", help="the subscriber"),
    rules: Path = typer.Option(Path("rules"), "--rules", help="rules folder (segmentation)"),
    strategies: Path = typer.Option(Path("strategies"), "--strategies", help="strategies folder"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list of fact objects"),
) -> None:
    """The derived facts of one subscriber (one per active subscription, every catalogue field).

    Example: rekindle facts --data snap --as-of 2026-11-15 --msisdn 13800000001 --json
    """
    from engine.outputs.facts_view import subscriber_facts

    try:
        result = subscriber_facts(data, as_of_date(as_of), msisdn, rules, strategies)
    except DiagnosticError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps(result.facts, ensure_ascii=False, indent=2))
        return
    console = Console()
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if not result.facts:
        return
    table = Table(title=f"{msisdn} on {result.as_of} — facts as the rules see them (事实)")
    table.add_column("field")
    for fact in result.facts:
        table.add_column(str(fact["service"]))
    for name in result.facts[0]:
        if name == "msisdn":
            continue
        table.add_row(name, *(_cell(fact.get(name)) for fact in result.facts))
    console.print(table)
    versions = ", ".join(f"{k} {v}" for k, v in sorted(result.model_versions.items()))
    console.print(f"model versions: {versions}")


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return "|".join(value) if value else "∅"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
