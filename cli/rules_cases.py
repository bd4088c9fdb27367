"""`rekindle rules test`: run the packs' example cases and case files (registered on the rules app)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def test(
    paths: Optional[List[Path]] = typer.Argument(None, help="Rule files or folders (default: rules/)."),
    cases: Optional[List[Path]] = typer.Option(None, "--cases", help="Case files (top-level `cases:`), run against all packs."),
    strategies: Optional[Path] = typer.Option(
        None, "--strategies", help="Strategies folder (default: strategies/ beside the rules folder)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per case and line."),
) -> None:
    """Run the example cases of rule packs (用例测试) and case files, as a nightly run decides one fact.

    A pack's `tests:` run against that pack and the contact policy; case files run against all
    packs. Fields a case does not give take neutral defaults; no holdout.

    Example: rekindle rules test rules --cases tests/cases/seed_scenarios.yaml
    """
    from engine.rules.cases import test_paths

    text, code = test_paths(paths or [], cases or [], strategies, as_json)
    typer.echo(text)
    raise typer.Exit(code)


test.__test__ = False  # a CLI command, not a pytest test
