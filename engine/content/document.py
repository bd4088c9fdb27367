"""The in-memory shape of the planners' content: one `Document` per file (plain data plus the
position of every key and value) and `Content`, every document of one validation or run by kind.

Loading is `engine.content.documents`; checking is `engine.content.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Document:
    """One loaded content file: plain data plus the position of every key and value."""

    kind: str  # "pack" | "contact_policy" | "segments" | "services" | "strategy" | "cases" | "sensitivity" | "value_stability"
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
    sensitivity: Document | None = None  # rules/sensitivity.yaml: the operator's weights (defaults without it)
    value_stability: Document | None = None  # rules/value_stability.yaml: value weights, tiers (defaults without it)
    strategies: dict[str, Document] = field(default_factory=dict)
    cases: dict[str, Document] = field(default_factory=dict)  # case files (top-level `cases:`), by stem
    strategies_known: bool = True  # False: no strategies folder was found, so references are not checked
    files: list[Path] = field(default_factory=list)  # the files validated (not context loaded beside them)

    def documents(self) -> list[Document]:
        """All documents, in a stable order (by path)."""
        docs = [*self.packs.values(), *self.strategies.values(), *self.cases.values()]
        docs += [d for d in (self.policy, self.segments, self.services, self.sensitivity,
                                   self.value_stability) if d is not None]
        return sorted(docs, key=lambda d: str(d.path))
