"""`rekindle explain MSISDN`: why a subscriber was (or was not) targeted in a run — the auditor's question."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from cli.common import DbOption, fail
from engine.base.diagnostics import DiagnosticError


def explain(
    msisdn: str = typer.Argument(..., help="the subscriber's number"),
    run: str = typer.Option("latest", "--run", help="run id, or `latest`"),
    service: Optional[str] = typer.Option(None, "--service", help="only this service's fact"),
    db: DbOption = None,
    as_json: bool = typer.Option(False, "--json", help="one JSON document (run, as_of, msisdn, facts[])"),
) -> None:
    """Explain 解释 a subscriber: segment, packs, exclusions 排除, scores, holdout 对照组, arbitration.

    Works from the database alone. Example: rekindle explain 13800000001 --run latest --service reading
    """
    from engine.outputs.explain import explain as explain_subscriber, render

    try:
        doc = explain_subscriber(run, msisdn, service, db)
    except DiagnosticError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    from rich.console import Console  # only for the readable form: `--json` does not pay for rich

    Console(file=sys.stdout, width=140).print(render(doc))
