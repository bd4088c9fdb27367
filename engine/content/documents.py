"""Loading the planners' YAML content (rule packs, policy, segments, services, strategies, cases).

`load_document` reads one file: YAML with positions (`yamlpos`), its kind, and JSON Schema
errors at the offending key. `load_content` gathers the files of a rules folder and a
strategies folder into a `Content` (engine.content.document). Checking them is
engine.content.validate.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable

from engine.base.diagnostics import Diagnostic, sort_diagnostics
from engine.base.yamlpos import load_yaml
from engine.content.checks_schema import KINDS, schema_diagnostics
from engine.content.document import Content, Document

NOT_CONTENT = "RP003"
UNREADABLE = "RP004"
DEFINED_TWICE = "RP037"
NO_STRATEGIES = "RP041"

# Top-level key that identifies each kind, tried in this order (`services` is also a strategy key).
_KIND_KEYS = (("pack", "pack"), ("policy", "contact_policy"), ("strategy", "strategy"),
              ("cases", "cases"), ("segments", "segments"), ("services", "services"),
              ("sensitivity", "sensitivity"), ("value_stability", "value_stability"))
_KIND_STEMS = {"contact_policy": "contact_policy", "segments": "segments", "services": "services",
               "sensitivity": "sensitivity", "value_stability": "value_stability"}
YAML_SUFFIXES = (".yaml", ".yml")


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

    The kind is inferred from the top-level key (pack/policy/strategy/cases/segments/services/
    sensitivity weights)
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


def expand_paths(paths: Iterable[Path | str]) -> tuple[list[Path], list[Diagnostic]]:
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
    single = {"contact_policy": "policy", "segments": "segments", "services": "services",
              "sensitivity": "sensitivity", "value_stability": "value_stability"}
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
    files, diags = expand_paths(paths if paths is not None else [rules_dir, strategies_dir])
    content, found = load_files(files)
    content.files = files
    return content, sort_diagnostics(diags + found)
