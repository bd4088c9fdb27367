"""`rekindle strategies ...` commands: the strategy knowledge base (策略知识库)."""

from __future__ import annotations

import getpass
import json
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from cli.common import DbOption, JsonOption, fail
from cli.rules_lifecycle import print_result, print_view
from engine.base.diagnostics import DiagnosticError, format_report

app = typer.Typer(no_args_is_help=True)

Dir = Annotated[Path, typer.Option("--dir", help="Folder of strategy files.")]
DbUrl = DbOption  # the one --db option (cli/common.py)
Id = Annotated[str, typer.Argument(help="Strategy id (file stem), e.g. lts_sms_usage_tips.")]


def _opt(help_text: str):
    return Annotated[Optional[str], typer.Option(help=help_text)]


StrategyOpt = _opt("Strategy id: lower-case letters, digits and _.")
Title = _opt("Short title.")
Description = _opt("Longer description.")
Reasons = _opt("Reasons it addresses, comma-separated (required), e.g. silent_3_months,low_use.")
Services = _opt("Services it is limited to, comma-separated (empty = any).")
Measure = _opt("The measure (促进措施), e.g. 短信推送使用指南 (required).")
Channel = _opt("sms, mms, wap_push, outbound_call or account_manager (required).")
Message = _opt("Message template with named fields, e.g. 您的{service_name}有新内容.")
Cost = _opt("Cost per contact in yuan.")
BaseResponse = _opt("Expected response rate 0..1 when no response model exists.")
Regions = _opt("Cities where it may run, comma-separated (empty = all).")
Maintainer = _opt("Who maintains it (default: your user name on add).")
MaintainedOn = _opt("Date maintained, YYYY-MM-DD (default: today).")


def _parse(**raw: Optional[str]) -> dict:
    from engine.content import strategies as strategies_kb

    try:
        return strategies_kb.parse_options(raw)
    except DiagnosticError as error:
        fail(error)


@app.command("list")
def list_(
    dir: Dir = Path("strategies"),
    status: Annotated[Optional[str], typer.Option("--status", help="Only draft, review or approved.")] = None,
    channel: Annotated[Optional[str], typer.Option("--channel", help="Only this channel.")] = None,
    reason: Annotated[Optional[str], typer.Option("--reason", help="Only those serving this reason (沉默/低使用原因).")] = None,
    service: Annotated[Optional[str], typer.Option("--service", help="Only those usable for this service (incl. any-service ones).")] = None,
    measure: Annotated[Optional[str], typer.Option("--measure", help="Only those whose measure (促进措施) contains this text.")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="Only those allowed in this city (incl. all-city ones).")] = None,
    maintainer: Annotated[Optional[str], typer.Option("--maintainer", help="Only those maintained by this person.")] = None,
    format: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    as_json: JsonOption = False,
) -> None:
    """List (query 查询) strategies by any field of the knowledge base; filters combine (AND).

    Example: rekindle strategies list --status approved --channel sms --reason silent_3_months --service reading
    """
    from engine.content import strategies_csv, strategies as strategies_kb

    format = "json" if as_json else format
    if format not in ("table", "csv", "json"):
        raise typer.BadParameter(f"must be table, csv or json, not '{format}'", param_hint="--format")
    try:
        documents, problems = strategies_kb.list_strategies(dir, status, channel, reason=reason, service=service,
                                                            measure=measure, region=region, maintainer=maintainer)
    except DiagnosticError as error:
        fail(error)
    if problems:
        typer.echo(format_report(problems), err=True)
    if format == "csv":
        typer.echo(strategies_csv.to_csv(documents), nl=False)
    elif format == "json":
        rows = [
            {k: (v.isoformat() if isinstance(v, date) else v)
             for k, v in strategies_kb.row_values(d).items() if v is not None}
            for d in documents
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        table = Table(title=f"strategies in {dir} ({len(documents)})", title_justify="left")
        table.add_column("strategy", no_wrap=True)  # ids are what planners type next: never cut them
        for column in ("channel", "status", "reasons", "measure", "maintainer", "maintained_on"):
            table.add_column(column, overflow="fold")
        for document in documents:
            v = strategies_kb.row_values(document)
            table.add_row(*(strategies_kb.as_text(c, v[c], ",") for c in
                            ("strategy", "channel", "status", "reasons", "measure", "maintainer", "maintained_on")))
        Console().print(table)
    if problems:
        raise typer.Exit(1)


@app.command()
def show(strategy: Id, dir: Dir = Path("strategies"), db: DbUrl = None) -> None:
    """Show a strategy, its status, whether its content is approved, and its approval history."""
    from engine.content import lifecycle, strategies as strategies_kb

    try:
        view = lifecycle.inspect(strategies_kb.get_strategy(dir, strategy).path, db, kind=strategies_kb.KIND)
    except DiagnosticError as error:
        fail(error)
    print_view(view)


@app.command()
def add(
    strategy: StrategyOpt = None, title: Title = None, description: Description = None,
    reasons: Reasons = None, services: Services = None, measure: Measure = None, channel: Channel = None,
    message: Message = None, cost: Cost = None, base_response: BaseResponse = None, regions: Regions = None,
    maintainer: Maintainer = None, maintained_on: MaintainedOn = None, dir: Dir = Path("strategies"),
) -> None:
    """Add a draft strategy (maintainer and date default to you and today).

    Example: rekindle strategies add --strategy lts_sms_usage_tips --measure 短信推送使用指南
    --channel sms --reasons silent_3_months
    """
    from engine.content import strategies as strategies_kb

    values = _parse(
        strategy=strategy, title=title, description=description, reasons=reasons, services=services,
        measure=measure, channel=channel, message=message, cost=cost, base_response=base_response,
        regions=regions, maintainer=maintainer, maintained_on=maintained_on,
    )
    try:
        path = strategies_kb.add_strategy(dir, values, getpass.getuser())  # a default label, not an identity
    except DiagnosticError as error:
        fail(error)
    typer.echo(f"added {path} (status draft)")


@app.command()
def edit(
    strategy: Id, title: Title = None, description: Description = None,
    reasons: Reasons = None, services: Services = None, measure: Measure = None, channel: Channel = None,
    message: Message = None, cost: Cost = None, base_response: BaseResponse = None, regions: Regions = None,
    maintainer: Maintainer = None, maintained_on: MaintainedOn = None, dir: Dir = Path("strategies"),
) -> None:
    """Change fields of a strategy; an approved or reviewed strategy goes back to draft.

    An empty value clears an optional field; maintained_on becomes today unless given.
    Example: rekindle strategies edit lts_sms_usage_tips --cost 0.08 --regions 西安,宝鸡
    """
    from engine.content import strategies as strategies_kb

    changes = _parse(
        title=title, description=description, reasons=reasons, services=services, measure=measure,
        channel=channel, message=message, cost=cost, base_response=base_response, regions=regions,
        maintainer=maintainer, maintained_on=maintained_on,
    )
    try:
        before = strategies_kb.get_strategy(dir, strategy).status
        path, changed = strategies_kb.edit_strategy(dir, strategy, changes)
        after = strategies_kb.get_strategy(dir, strategy).status
    except DiagnosticError as error:
        fail(error)
    if not changed:
        typer.echo(f"{path}: nothing changed")
        return
    typer.echo(f"edited {path}" + (f" (status {before} → {after})" if before != after else ""))


@app.command()
def remove(
    strategy: Id, dir: Dir = Path("strategies"),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a strategy file (its approval history stays in the database)."""
    from engine.content import strategies as strategies_kb

    try:
        path = strategies_kb.get_strategy(dir, strategy).path
    except DiagnosticError as error:
        fail(error)
    if not yes and not typer.confirm(f"Remove {path}?"):
        typer.echo("not removed")
        raise typer.Exit(1)
    strategies_kb.remove_strategy(dir, strategy)
    typer.echo(f"removed {path}")


@app.command("import")
def import_(
    csv_file: Annotated[Path, typer.Argument(help="CSV with one strategy per row; lists '|'-separated.")],
    dir: Dir = Path("strategies"),
    update: Annotated[bool, typer.Option("--update", help="Overwrite strategies that already exist.")] = False,
) -> None:
    """Import strategies from CSV; nothing is imported if any row is bad.
    Example: rekindle strategies import strategies.csv --update
    """
    from engine.content import strategies_csv

    try:
        result = strategies_csv.import_csv(csv_file, dir, update)
    except DiagnosticError as error:
        fail(error)
    typer.echo(f"created {len(result.created)}, updated {len(result.updated)}, unchanged {len(result.unchanged)}")


@app.command()
def export(
    csv_file: Annotated[str, typer.Argument(help="Output CSV file ('-' for standard output).")],
    dir: Dir = Path("strategies"),
) -> None:
    """Export all strategies to CSV (sorted by id; re-importable). Example: rekindle strategies export kb.csv"""
    from engine.content import strategies_csv

    try:
        text = strategies_csv.export_csv(dir, None if csv_file == "-" else csv_file)
    except DiagnosticError as error:
        fail(error)
    if csv_file == "-":
        typer.echo(text, nl=False)
    else:
        typer.echo(f"exported {max(text.count(chr(10)) - 1, 0)} strategies to {csv_file}")


@app.command()
def submit(
    strategy: Id, dir: Dir = Path("strategies"), db: DbUrl = None,
    note: Annotated[str, typer.Option("--note", help="A remark kept with the record.")] = "",
) -> None:
    """Submit a strategy for review (预存 → 待审核), recorded under your OS login."""
    from engine.content.approvals import current_user
    from engine.content import lifecycle, strategies as strategies_kb

    try:
        path = strategies_kb.get_strategy(dir, strategy).path
        result = lifecycle.submit(path, current_user(), db, note, kind=strategies_kb.KIND)
    except DiagnosticError as error:
        fail(error)
    print_result(result)


@app.command()
def approve(
    strategy: Id,
    dir: Dir = Path("strategies"), db: DbUrl = None,
    note: Annotated[str, typer.Option("--note", help="A remark kept with the approval.")] = "",
    sha256: Annotated[Optional[str], typer.Option(
        "--sha256", help="The content hash you reviewed (from `show`); refused if the file changed.")] = None,
) -> None:
    """Approve a strategy in review (待审核 → 已审核) under your OS login; records UTC time and hash.

    Refused (exit 3) if you submitted it (four eyes) or it changed since it was submitted (it goes
    back to draft)."""
    from engine.content.approvals import current_user
    from engine.content import lifecycle, strategies as strategies_kb

    try:
        path = strategies_kb.get_strategy(dir, strategy).path
        result = lifecycle.approve(path, current_user(), db, note, kind=strategies_kb.KIND, reviewed_sha256=sha256)
    except DiagnosticError as error:
        fail(error)
    print_result(result)
