"""Safe YAML loading that remembers where each value came from, for model configuration files.

Model files (AHP matrices, sensitivity weights, value weights) are small; we load them with
`yaml.SafeLoader` (never a loader that can build arbitrary objects) and keep the composed node
tree beside the data so every error can name the file and line of the offending value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.diagnostics import Diagnostic, DiagnosticError


@dataclass(frozen=True)
class YamlDoc:
    """A loaded YAML document: plain data plus the node tree for line lookups."""

    file: str
    data: Any
    node: yaml.Node | None

    def line(self, *path: str | int) -> int | None:
        """1-based line of the value at `path` (keys and list indexes); nearest parent if absent."""
        node = self.node
        line = node.start_mark.line + 1 if node is not None else None
        for step in path:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == str(step):
                        child = value
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
                child = node.value[step]
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return line

    def error(self, code: str, message: str, *path: str | int, hint: str = "") -> Diagnostic:
        """A diagnostic pointing at the value at `path`."""
        key_path = "/" + "/".join(str(p) for p in path) if path else ""
        return Diagnostic(code, message, file=self.file, line=self.line(*path), path=key_path, hint=hint)

    def sub(self, *path: str | int) -> "YamlDoc":
        """The document restricted to the value at `path` (line numbers stay file-relative)."""
        node = self.node
        data = self.data
        for step in path:
            data = data[step]
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if k.value == str(step)), node)
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                node = node.value[step]
        return YamlDoc(self.file, data, node)


def load_yaml(path: str | Path) -> YamlDoc:
    """Read a YAML file with the safe loader; raises DiagnosticError (MD001) on unreadable YAML."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DiagnosticError([Diagnostic("MD001", f"cannot read file: {exc.strerror or exc}", file=str(path))]) from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, file: str = "<input>") -> YamlDoc:
    """Parse YAML text with the safe loader, keeping nodes for line lookups."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DiagnosticError(
            [Diagnostic("MD001", f"not valid YAML: {getattr(exc, 'problem', None) or exc}", file=file,
                        line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None)]
        ) from None
    return YamlDoc(file, data, node)
