"""Top-level commands of the nightly job: `rekindle run`, `facts`, `explain`, `export`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the top-level commands to the main app."""
