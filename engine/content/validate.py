"""Validating content: the semantic checks across loaded files (`check_content`), what
`rekindle rules validate` runs (`validate_paths`) and the report it prints (`validation_report`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from engine.base.diagnostics import ERROR, WARNING, Diagnostic, format_report, has_errors, sort_diagnostics
from engine.content.checks import check_all
from engine.content.document import Content
from engine.content.documents import NO_STRATEGIES, UNREADABLE, expand_paths, load_files, yaml_files


def check_content(content: Content) -> list[Diagnostic]:
    """Every semantic check across the loaded files (see the code table in engine.content.checks)."""
    return sort_diagnostics(check_all(content))


def _default_strategies_dir(paths: list[Path]) -> Path | None:
    """strategies/ beside the rules folder of the first path (FILE/../../strategies), else ./strategies."""
    if paths:
        base = paths[0] if paths[0].is_dir() else paths[0].parent
        if (base.parent / "strategies").is_dir():
            return base.parent / "strategies"
    return Path("strategies") if Path("strategies").is_dir() else None


def validate_paths(paths: Iterable[Path | str], strategies_dir: Path | str | None = None) -> tuple[Content, list[Diagnostic]]:
    """Validate files or folders, as `rekindle rules validate` does; diagnostics only for those files.

    Strategy references (and propensity.<strategy> fields) resolve against `strategies_dir`,
    by default strategies/ beside the rules folder; the services catalogue and segmentation
    beside each validated file are loaded as context too. Without any strategies, the
    unknown-strategy checks are skipped with a warning.
    """
    given = [Path(p) for p in paths] or [Path("rules"), Path("strategies")]
    files, diags = expand_paths(given)
    content, found = load_files(files)
    content.files = files
    diags += found
    validated = {str(f) for f in files}

    strategies = Path(strategies_dir) if strategies_dir is not None else _default_strategies_dir(given)
    if strategies_dir is not None and not strategies.is_dir():
        diags.append(Diagnostic(UNREADABLE, "strategies folder not found", file=str(strategies),
                                hint="pass an existing folder to --strategies"))
    context = yaml_files(strategies) if strategies is not None and strategies.is_dir() else []
    for folder in sorted({f.parent for f in files}):
        context += [folder / name for name in ("services.yaml", "segments.yaml") if (folder / name).is_file()]
    loaded = {f.resolve() for f in files}
    context = [p for p in context if p.resolve() not in loaded]
    load_files(context, content)  # context errors belong to other files: not reported here

    if not content.strategies and (strategies is None or not strategies.is_dir()):
        content.strategies_known = False
        users = [d for d in content.documents() if d.kind in ("pack", "cases")]
        if users:
            diags.append(Diagnostic(NO_STRATEGIES, "no strategies folder found; strategy references are not checked",
                                    file=str(users[0].path), hint="pass --strategies DIR", severity=WARNING))
    diags += [d for d in check_content(content) if d.file in validated]
    return content, sort_diagnostics(diags)


def validation_report(content: Content, diagnostics: list[Diagnostic], fmt: str = "text") -> tuple[str, int]:
    """The text (or JSON) `rekindle rules validate` prints, and its exit code (1 on any error)."""
    failed = has_errors(diagnostics)
    if fmt == "json":
        body = {"files": len(content.files), "valid": not failed,
                "errors": sum(d.severity == ERROR for d in diagnostics),
                "warnings": sum(d.severity == WARNING for d in diagnostics),
                "diagnostics": [d.to_dict() for d in sort_diagnostics(diagnostics)]}
        return json.dumps(body, ensure_ascii=False, indent=2), int(failed)
    if failed:
        return format_report(diagnostics), 1
    lines = [d.format() for d in sort_diagnostics(diagnostics)]
    n = len(content.files)
    lines.append(f"All {n} file{'s' if n != 1 else ''} valid.")
    return "\n".join(lines), 0
