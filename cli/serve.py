"""`rekindle serve`: the read-only audit console 审计控制台 in a browser, behind a login."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (loopback by default)"),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="TCP port"),
    db: Optional[str] = typer.Option(None, "--db", help="database URL (default: SQLite under REKINDLE_HOME)"),
    rules_dir: Path = typer.Option(Path("rules"), "--rules", help="rule packs folder (for the packs pages)"),
    strategies_dir: Path = typer.Option(Path("strategies"), "--strategies", help="strategies folder"),
) -> None:
    """Serve the audit console 审计控制台: runs, subscribers' decisions, packs and strategies.

    Users come from `rekindle users add`. Example: rekindle serve --port 8080, then open http://127.0.0.1:8080/
    """
    from engine.console.server import serve as run_server

    run_server(host, port, db, rules_dir, strategies_dir)

