"""`rekindle data generate`: write a realistic sample operator snapshot (样例数据) with its truth."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from cli.common import as_of_date, fail
from engine.base.diagnostics import DiagnosticError


def register(app: typer.Typer) -> None:
    """Add the `generate` command to `app` (the `rekindle data` group)."""

    @app.command("generate")
    def generate_command(
        out: Path = typer.Option(..., "--out", help="directory to write (replaced if it holds a previous snapshot)"),
        as_of: str = typer.Option(..., "--as-of", help="run date YYYY-MM-DD; M0 is its month (partial)"),
        subscribers: int = typer.Option(10_000, "--subscribers", help="number of subscribers"),
        seed: int = typer.Option(42, "--seed", help="random seed; same arguments give byte-identical files"),
        fmt: str = typer.Option("csv", "--format", help="csv or parquet"),
    ) -> None:
        """Generate a sample snapshot: every SPEC §2 table plus truth/ (latent churn and response).

        Example: rekindle data generate --subscribers 20000 --seed 7 --as-of 2026-11-20 --out data/sample
        """
        from engine.generator import generate  # numpy-heavy import only when the command runs

        day = as_of_date(as_of)
        started = time.perf_counter()
        try:
            rows = generate(out, subscribers, seed, day, fmt)
        except DiagnosticError as error:
            fail(error)
        width = max(len(name) for name in rows)
        for name, count in rows.items():
            typer.echo(f"{name:<{width}}  {count:>12,}")
        typer.echo(f"wrote {out} ({fmt}, truth in {out / 'truth'}) in {time.perf_counter() - started:.1f} s")
