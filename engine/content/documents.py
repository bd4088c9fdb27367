"""Loading the planners' YAML content (rule packs, policy, segments, services, strategies, cases).

`load_document` reads one file: YAML with positions (`yamlpos`), its kind, and JSON Schema
errors at the offending key. `load_content` gathers the files of a rules folder and a
strategies folder into a `Content`; `check_content` runs the semantic checks across them
(`engine.content.checks`); `validate_paths` is what `rekindle rules validate` runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from engine.base.diagnostics import ERROR, WARNING, Diagnostic, format_report, has_errors, sort_diagnostics
from engine.content.checks_schema import KINDS, schema_diagnostics
from engine.base.yamlpos import load_yaml

NOT_CONTENT = "RP003"
UNREADABLE = "RP004"
DEFINED_TWICE = "RP037"
NO_STRATEGIES = "RP041"

# Top-level key that identifies each kind, tried in this order (`services` is also a strategy key).
_KIND_KEYS = (("pack", "pack"), ("policy", "contact_policy"), ("strategy", "strategy"),
              ("cases", "cases"), ("segments", "segments"), ("services", "services"))
_KIND_STEMS = {"contact_policy": "contact_policy", "segments": "segments", "services": "services"}
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class Document:
    """One loaded content file: plain data plus the position of every key and value."""

    kind: str  # "pack" | "contact_policy" | "segments" | "services" | "strategy" | "cases"
    name: str  # pack / strategy id, or the file stem
    path: Path
    data: Any  # plain Python as safe-loaded from YAML (dates stay datetime.date)
    sha256: str  # hex sha256 of the file bytes
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)  # JSON pointer -> key (line, column)
    value_positions: dict[str, tuple[int, int]] = field(default_factory=dict)  # JSON pointer -> value start

    def position(self, path: str) -> tuple[int | None, int | None]:
        """(line, column) of the key at `path`, else of its nearest known ancestor."""
        return _nearest(self.positions, path)

    def value_position(self, path: str) -> tuple[int | None, int | None]:
        """(line, column) where the value at `path` starts, else of its nearest known ancestor."""
        return _nearest(self.value_positions, path)

    @property
    def status(self) -> str | None:
        """The lifecycle status (draft/review/approved) when the file has one."""
        value = self.data.get("status") if isinstance(self.data, dict) else None
        return value if isinstance(value, str) else None


def _nearest(positions: dict[str, tuple[int, int]], path: str) -> tuple[int | None, int | None]:
    while True:
        if path in positions:
            return positions[path]
        if not path:
            return (None, None)
        path = path.rsplit("/", 1)[0]


@dataclass
class Content:
    """Every content document of one validation or run, by kind."""

    packs: dict[str, Document] = field(default_factory=dict)
    policy: Document | None = None
    segments: Document | None = None
    services: Document | None = None
    strategies: dict[str, Document] = field(default_factory=dict)
    cases: dict[str, Document] = field(default_factory=dict)  # case files (top-level `cases:`), by stem
    strategies_known: bool = True  # False: no strategies folder was found, so references are not checked
    files: list[Path] = field(default_factory=list)  # the files validated (not context loaded beside them)

    def documents(self) -> list[Document]:
        """All documents, in a stable order (by path)."""
        docs = [*self.packs.values(), *self.strategies.values(), *self.cases.values()]
        docs += [d for d in (self.policy, self.segments, self.services) if d is not None]
        return sorted(docs, key=lambda d: str(d.path))


def _kind_of(data: Any, path: Path) -> str | None:
    if isinstance(data, dict):
        for key, kind in _KIND_KEYS:
            if key in data:
                return kind
    return _KIND_STEMS.get(path.stem)


def _name_of(kind: str, data: dict, path: Path) -> str:
    value = data.get(kind) if kind in ("pack", "strategy") else None
    return value if isinstance(value, str) and value else path.stem


def load_document(path: Path | str, kind: str | None = None) -> tuple[Document | None, list[Diagnostic]]:
    """Load one content file with positions and check it against its JSON Schema.

    The kind is inferred from the top-level key (pack/policy/strategy/cases/segments/services)
    or the file name. Returns (None, diagnostics) when the file cannot be read as content.
    """
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        return None, [Diagnostic(UNREADABLE, f"cannot read file: {error.strerror or error}", file=file)]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return None, [Diagnostic(UNREADABLE, f"file is not UTF-8 text (byte {error.start})", file=file,
                                 hint="save it as UTF-8")]
    loaded = load_yaml(text, file)
    diags = list(loaded.diagnostics)
    if loaded.data is None:
        if not diags:
            diags.append(Diagnostic(NOT_CONTENT, "file is empty", file=file, line=1, column=1))
        return None, diags
    kind = kind or _kind_of(loaded.data, path)
    if not isinstance(loaded.data, dict) or kind is None or kind not in KINDS:
        keys = ", ".join(key for key, _ in _KIND_KEYS)
        diags.append(Diagnostic(NOT_CONTENT, f"cannot tell what this file is; it needs one of the top-level keys {keys}",
                                file=file, line=1, column=1))
        return None, diags
    doc = Document(kind=kind, name=_name_of(kind, loaded.data, path), path=path, data=loaded.data,
                   sha256=hashlib.sha256(raw).hexdigest(), positions=loaded.key_positions,
                   value_positions=loaded.value_positions)
    diags.extend(schema_diagnostics(doc))
    return doc, diags


def yaml_files(directory: Path) -> list[Path]:
    """The YAML files directly inside a folder, sorted (hidden files skipped)."""
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and p.suffix in YAML_SUFFIXES and not p.name.startswith("."))


def _expand(paths: Iterable[Path | str]) -> tuple[list[Path], list[Diagnostic]]:
    files: list[Path] = []
    diags: list[Diagnostic] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = yaml_files(path)
        elif path.is_file():
            found = [path]
        else:
            diags.append(Diagnostic(UNREADABLE, "no such file or folder", file=str(path)))
            continue
        for f in found:
            if f.resolve() not in seen:
                seen.add(f.resolve())
                files.append(f)
    return files, diags


def _add(content: Content, doc: Document) -> list[Diagnostic]:
    """File a document under its kind; a second definition of the same thing is an error."""
    single = {"contact_policy": "policy", "segments": "segments", "services": "services"}
    if doc.kind in single:
        earlier = getattr(content, single[doc.kind])
        if earlier is None:
            setattr(content, single[doc.kind], doc)
            return []
    else:
        table = {"pack": content.packs, "strategy": content.strategies, "cases": content.cases}[doc.kind]
        earlier = table.get(doc.name)
        if earlier is None:
            table[doc.name] = doc
            return []
    line, column = doc.position("/" + {"contact_policy": "policy"}.get(doc.kind, doc.kind))
    return [Diagnostic(DEFINED_TWICE, f"{doc.kind} '{doc.name}' is defined twice (also in {earlier.path})",
                       file=str(doc.path), line=line, column=column, hint="keep one file per name")]


def load_files(files: Iterable[Path], content: Content | None = None) -> tuple[Content, list[Diagnostic]]:
    """Load the given files into `content` (a new one by default)."""
    content = content or Content()
    diags: list[Diagnostic] = []
    for path in files:
        doc, found = load_document(path)
        diags.extend(found)
        if doc is not None:
            diags.extend(_add(content, doc))
    return content, diags


def load_content(rules_dir: Path | str = "rules", strategies_dir: Path | str = "strategies",
                 paths: Iterable[Path | str] | None = None) -> tuple[Content, list[Diagnostic]]:
    """Load a rules folder and a strategies folder (or just `paths`, files or folders).

    Returns YAML and schema diagnostics only; run `check_content` for the semantic checks.
    """
    files, diags = _expand(paths if paths is not None else [rules_dir, strategies_dir])
    content, found = load_files(files)
    content.files = files
    return content, sort_diagnostics(diags + found)


def check_content(content: Content) -> list[Diagnostic]:
    """Every semantic check across the loaded files (see the code table in engine.content.checks)."""
    from engine.content.checks import check_all  # checks imports this module's types

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
    files, diags = _expand(given)
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
