"""`rekindle rules diff`: what an edit to the packs or strategies does to tonight's audience."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from cli.common import as_of_date, fail
from engine.base.diagnostics import DiagnosticError


def diff(
    base: str = typer.Option(..., "--base",
                             help="the content before the edit: a git revision (e.g. HEAD, main) or a folder"),
    data: Path = typer.Option(..., "--data", help="snapshot folder to decide"),
    as_of: str = typer.Option(..., "--as-of", help="decision date YYYY-MM-DD"),
    rules_dir: Path = typer.Option(Path("rules"), "--rules", help="the edited rules folder"),
    strategies_dir: Path = typer.Option(Path("strategies"), "--strategies", help="the edited strategies folder"),
    as_json: bool = typer.Option(False, "--json", help="counts and every transition as JSON"),
) -> None:
    """Rules diff 规则变更影响: decide a snapshot with the old and the new packs and show who moves.

    No holdouts, caps or capacities (per-fact outcome as `rules test` decides); nothing is stored.
    Needs a trained stability model, like a run. Example:
    rekindle rules diff --base HEAD --data sample --as-of 2026-11-15
    """
    from engine.outputs.rules_diff import diff_table, rules_diff

    when = as_of_date(as_of)
    try:
        result = rules_diff(base, data, when, rules_dir=rules_dir, strategies_dir=strategies_dir)
    except DiagnosticError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    Console(file=sys.stdout, width=160).print(diff_table(result))
