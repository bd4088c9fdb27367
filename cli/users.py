"""`rekindle users add/remove/passwd/list`: who may log in to the audit console, with which role."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from cli.common import fail
from engine.base.diagnostics import DiagnosticError

app = typer.Typer(no_args_is_help=True)

DbUrl = typer.Option(None, "--db", help="database URL (default: SQLite under REKINDLE_HOME)")
Stdin = typer.Option(False, "--password-stdin", help="read the password from the first line of standard input")


def _password(from_stdin: bool) -> str:
    """The new password: one line of stdin, or typed twice at a hidden prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@app.command("add")
def add(
    username: str = typer.Argument(..., help="login name (lowercase letters, digits, . _ -)"),
    role: str = typer.Option(..., "--role", help="auditor 审计 | supervisor 主管 | planner 策划"),
    password_stdin: bool = Stdin,
    db: Optional[str] = DbUrl,
) -> None:
    """Add a console user. Example: rekindle users add wang.li --role auditor"""
    from engine.console.accounts import add_user

    try:
        user = add_user(username, role, _password(password_stdin), db)
    except DiagnosticError as error:
        fail(error)
    typer.echo(f"added {user.username} ({user.role})")


@app.command("remove")
def remove(username: str = typer.Argument(...), db: Optional[str] = DbUrl) -> None:
    """Remove a console user and end their sessions (their page views stay on record)."""
    from engine.console.accounts import remove_user

    try:
        remove_user(username, db)
    except DiagnosticError as error:
        fail(error)
    typer.echo(f"removed {username}")


@app.command("passwd")
def passwd(username: str = typer.Argument(...), password_stdin: bool = Stdin, db: Optional[str] = DbUrl) -> None:
    """Set a new password for a console user (their open sessions end)."""
    from engine.console.accounts import set_password

    try:
        set_password(username, _password(password_stdin), db)
    except DiagnosticError as error:
        fail(error)
    typer.echo(f"password of {username} changed")


@app.command("list")
def list_(db: Optional[str] = DbUrl) -> None:
    """List console users and their roles."""
    from engine.console.accounts import list_users

    for user in list_users(db):
        typer.echo(f"{user.username}\t{user.role}")
