"""`rekindle rules submit | approve | show`: the review lifecycle of packs, the contact policy and segments.

Plain functions with Typer annotations; `cli/rules.py` registers them on the `rules` group.
Who submits and who approves is the OS login running the command (there is no `--by`: a
free-text name proves nothing); the submitter cannot approve (four eyes, exit 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional, TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from cli.common import DbOption, fail
from engine.base.diagnostics import DiagnosticError

if TYPE_CHECKING:  # the engine is imported by each command, so the CLI starts fast
    from engine.content import lifecycle

RulesDir = Annotated[Path, typer.Option("--rules", help="Folder of rule packs.")]
DbUrl = DbOption  # the one --db option (cli/common.py)
Note = Annotated[str, typer.Option("--note", help="A remark kept with the approval record.")]
Reviewed = Annotated[Optional[str], typer.Option(
    "--sha256", help="The content hash you reviewed (from `show`); refused if the file is no longer that content.")]
Name = Annotated[
    str,
    typer.Argument(help="Pack name (file stem, e.g. long_term_silent), contact_policy, segments, or a path."),
]


def print_result(result: lifecycle.LifecycleResult) -> None:
    from engine.content.approvals import format_time
    from engine.content import lifecycle

    label = lifecycle.STATUS_LABELS[result.status]
    if result.changed or result.recorded:
        typer.echo(f"{result.kind} '{result.name}' ({result.path}): {result.previous_status or '(none)'} → {label}")
    else:
        typer.echo(f"{result.kind} '{result.name}' ({result.path}) is already {label}; nothing changed")
    if result.state.approved:
        typer.echo(f"approved by {result.state.by} on {format_time(result.state.at)}; sha256 {result.sha256}")
    else:
        typer.echo(f"sha256 {result.sha256}")


def print_view(view: lifecycle.ContentView) -> None:
    """The file (syntax-highlighted), its status, whether its content is approved, the history."""
    from rich.syntax import Syntax  # here: it loads pygments, which no other command needs

    from engine.content.approvals import format_time
    from engine.content import lifecycle

    console = Console()
    console.print(Syntax(view.text, "yaml", line_numbers=True, word_wrap=True))
    # Plain lines, not rich: they must not wrap mid-sentence, whatever the terminal width.
    typer.echo(f"{view.document.kind} '{view.document.name}' — {view.document.path}")
    typer.echo(lifecycle.status_line(view))
    typer.echo(f"sha256 {view.document.sha256}")
    if not view.history:
        typer.echo("approval history: none")
        return
    table = Table(title="approval history", title_justify="left")
    for column in ("at (UTC)", "action", "by", "sha256", "note"):
        table.add_column(column)
    for event in view.history:
        current = " (current)" if event.sha256 == view.document.sha256 else ""
        table.add_row(format_time(event.at), event.action, event.actor, event.sha256[:12] + current, event.note)
    console.print(table)


def submit(
    pack: Name,
    rules: RulesDir = Path("rules"),
    db: DbUrl = None,
    note: Note = "",
) -> None:
    """Submit a pack for review (预存 → 待审核): sets `status: review` and records it under your login.

    Example: rekindle rules submit long_term_silent --note "December campaign"
    """
    from engine.content.approvals import current_user
    from engine.content import lifecycle

    try:
        result = lifecycle.submit(lifecycle.find_content(pack, rules), current_user(), db, note)
    except DiagnosticError as error:
        fail(error)
    print_result(result)


def approve(
    pack: Name,
    rules: RulesDir = Path("rules"),
    db: DbUrl = None,
    note: Note = "",
    sha256: Reviewed = None,
) -> None:
    """Approve a pack in review (待审核 → 已审核); records your login, UTC time and content hash.

    The pack must validate cleanly and be exactly the content submitted for review (else it goes
    back to draft); whoever submitted it cannot approve it (four eyes). Both refusals exit 3.
    Editing the file afterwards voids the approval.

    Example: rekindle rules approve long_term_silent --sha256 3f9a1c2b
    """
    from engine.content.approvals import current_user
    from engine.content import lifecycle

    try:
        result = lifecycle.approve(lifecycle.find_content(pack, rules), current_user(), db, note,
                                   reviewed_sha256=sha256)
    except DiagnosticError as error:
        fail(error)
    print_result(result)


def show(pack: Name, rules: RulesDir = Path("rules"), db: DbUrl = None) -> None:
    """Show a pack, its status, whether its current content is approved, and its approval history.

    Example: rekindle rules show contact_policy
    """
    from engine.content import lifecycle

    try:
        view = lifecycle.inspect(lifecycle.find_content(pack, rules), db)
    except DiagnosticError as error:
        fail(error)
    print_view(view)
