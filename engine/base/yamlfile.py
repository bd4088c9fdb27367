"""Model configuration files (AHP matrices, sensitivity weights) read with the shared YAML loader.

The same position-keeping safe loader as the rule packs (engine/base/yamlpos.py): never a
loader that can build arbitrary objects, duplicate keys refused, and every error names the
file and line of the offending value.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.base.yamlpos import Position, join_pointer
from engine.base.yamlpos import load_yaml as load_positions


@dataclass(frozen=True)
class YamlDoc:
    """A loaded YAML document (or a part of one): plain data plus the line of each value."""

    file: str
    data: Any
    positions: dict[str, Position] = field(default_factory=dict, repr=False)
    prefix: str = ""  # JSON pointer of this part within the file

    def _pointer(self, path: tuple[str | int, ...]) -> str:
        pointer = self.prefix
        for step in path:
            pointer = join_pointer(pointer, step)
        return pointer

    def line(self, *path: str | int) -> int | None:
        """1-based line of the value at `path` (keys and list indexes); nearest parent if absent."""
        pointer = self._pointer(path)
        while True:
            if pointer in self.positions:
                return self.positions[pointer][0]
            if not pointer:
                return None
            pointer = pointer.rsplit("/", 1)[0]

    def error(self, code: str, message: str, *path: str | int, hint: str = "") -> Diagnostic:
        """A diagnostic pointing at the value at `path`."""
        key_path = "/" + "/".join(str(p) for p in path) if path else ""
        return Diagnostic(code, message, file=self.file, line=self.line(*path), path=key_path, hint=hint)

    def sub(self, *path: str | int) -> "YamlDoc":
        """The document restricted to the value at `path` (line numbers stay file-relative)."""
        data = self.data
        for step in path:
            data = data[step]
        return YamlDoc(self.file, data, self.positions, self._pointer(path))


def load_yaml(path: str | Path) -> YamlDoc:
    """Read a YAML file with the safe loader; raises DiagnosticError (MD001) on unreadable YAML."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise DiagnosticError([Diagnostic("MD001", f"cannot read file: {reason}", file=str(path))]) from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, file: str = "<input>") -> YamlDoc:
    """Parse YAML text with the safe loader; syntax errors and duplicate keys raise DiagnosticError."""
    loaded = load_positions(text, file)
    if loaded.diagnostics:  # model files report YAML problems (syntax, duplicate keys) as MD001
        raise DiagnosticError([replace(d, code="MD001") for d in loaded.diagnostics])
    positions = {**loaded.key_positions, **loaded.value_positions}
    return YamlDoc(file, loaded.data, positions)
