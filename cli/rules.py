"""`rekindle rules ...` commands: validate content files and print the field catalogue."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from cli import rules_cases, rules_diff, rules_lifecycle
from cli.common import JsonOption, wants_json

app = typer.Typer(no_args_is_help=True)


class ReportFormat(str, Enum):
    text = "text"
    json = "json"


class TableFormat(str, Enum):
    table = "table"
    json = "json"


@app.command("validate")
def validate(
    paths: Optional[List[Path]] = typer.Argument(None, help="Files or folders (default: rules/ and strategies/)."),
    strategies: Optional[Path] = typer.Option(
        None, "--strategies", help="Strategies folder for references (default: strategies/ beside the rules folder)."
    ),
    fmt: ReportFormat = typer.Option(ReportFormat.text, "--format", help="text or json."),
    as_json: JsonOption = False,
) -> None:
    """Check rule packs, contact policy, segments, services, strategies and case files (校验规则包).

    Example: rekindle rules validate rules/long_term_silent.yaml --strategies strategies
    """
    from engine.content.validate import validate_paths, validation_report

    content, diagnostics = validate_paths(paths or [], strategies)
    text, code = validation_report(content, diagnostics, "json" if wants_json(as_json, fmt) else fmt.value)
    typer.echo(text)
    raise typer.Exit(code)


@app.command("fields")
def fields(fmt: TableFormat = typer.Option(TableFormat.table, "--format", help="table or json."),
           as_json: JsonOption = False) -> None:
    """The field catalogue (字段目录): every field a rule condition may use, its type and values."""
    from engine.content.catalogue import fields_report

    fields_report("json" if wants_json(as_json, fmt) else fmt.value)


@app.command("compile")
def compile_(
    rules_dir: Path = typer.Option(Path("rules"), "--rules", help="Rules folder."),
    strategies_dir: Path = typer.Option(Path("strategies"), "--strategies", help="Strategies folder."),
    out: Path = typer.Option(Path("compiled-rules.json"), "--out", help="Where to write the compiled artefact."),
) -> None:
    """Compile the packs, contact policy and segmentation once (编译规则包); print the artefact's sha256.

    Example: rekindle rules compile --out build/compiled-rules.json
    """
    from cli.common import fail
    from engine.base.diagnostics import DiagnosticError
    from engine.night.run import compile_content

    try:
        digest = compile_content(rules_dir, strategies_dir, out)
    except DiagnosticError as error:
        fail(error)
    typer.echo(f"{digest}  {out}")


# The review lifecycle (submit / approve / show) lives in cli/rules_lifecycle.py.
app.command("submit")(rules_lifecycle.submit)
app.command("approve")(rules_lifecycle.approve)
app.command("show")(rules_lifecycle.show)
# Pack tests and case files (rules test) live in cli/rules_cases.py.
app.command("test")(rules_cases.test)
# Rule-change impact (rules diff) lives in cli/rules_diff.py.
app.command("diff")(rules_diff.diff)
