"""A worker's pack outcomes and their combinations, numbered once for all its slices.

A worker decides all its slices (phase 1) before it builds any slice's rows (phase 2), so it
keeps every decided slice's outcome in between (engine/night/slicerun.py). Kept per slice — a
partition's own list of templates, its own combinations of them with their final outcomes and
decision texts, and a template id per (fact, pack) — that state grew with the number of slices:
at 300k subscribers one worker's 12 slices kept 112 MB of it, templates (4.3 KB each) 74 MB,
and the 3M night's decide stage grew the process tree by 2.6 GB (docs/SCALE.md, "What the decide
stage keeps"). Here the worker numbers them once:

- `template_id`: a pack template (engine/night/partition.PackTemplate) gets one id per worker.
  The worker's `TemplateMemo` (engine/night/groups.py) hands the same object to every slice that
  meets its group, so a template met in many slices is kept once.
- `combine`: each distinct combination of templates (the template id per pack, -1 where the pack
  has none) gets one id per worker, with what every fact of it shares — its template ids in
  outcome order, the Decider's final outcome, the decision JSON of a fact without a candidate
  (one string per final outcome), whether it holds a treat outcome — worked out once per worker.
- A decided slice then keeps one int32 per fact in scope, its combination id; its template ids
  per pack are the combination's row (`matrix()[combo]`), rebuilt when its rows are built.

So a worker keeps O(distinct outcomes) + 4 bytes per fact in scope between the phases, whatever
its number of slices. Ids depend on the order in which a worker meets outcomes, never on their
content; nothing stored depends on them (tests/engine/night/test_partition.py,
tests/engine/night/test_slices.py).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from engine.base.vocabulary import TREAT
from engine.night.fragments import Template
from engine.night.groups import unique_rows
from engine.night.trace import payload_text


class PackTemplate(NamedTuple):
    """One pack's outcome shared by a group of facts with the same signature in that pack."""

    pack: str
    entry: dict  # pack, decision, reason, options, _raw (the outcome without its tested values: `final`)
    json: Template  # the pack's trace entry as canonical JSON, slots where the fact's values go


class Outcomes:
    """The templates and combinations of templates met by one worker (or one partition)."""

    def __init__(self, decider: Any):
        self.decider = decider  # DeciderAdapter: `final` of a combination's entries
        self.templates: list[PackTemplate] = []
        self._ids: dict[int, int] = {}  # id() of a template (kept alive by `templates`) -> its id
        self.rows: list[tuple[int, ...]] = []  # combination -> template id per pack column, -1 none
        self._combo_of: dict[tuple[int, ...], int] = {}
        self.combos: list[list[int]] = []  # combination -> template ids in outcome order
        self.finals: list[tuple[str, str, str]] = []  # combination -> the Decider's final outcome
        self.texts: list[str] = []  # combination -> decision JSON of a fact without a candidate
        self._text_of: dict[tuple[str, str, str], str] = {}  # final outcome -> its decision JSON
        self._treat: list[bool] = []  # combination -> one of its templates decided treat
        self._matrix = np.zeros((0, 0), dtype=np.int32)
        self._treat_array = np.zeros(0, dtype=bool)

    def template_id(self, template: PackTemplate) -> int:
        at = self._ids.get(id(template))
        if at is None:
            at = self._ids[id(template)] = len(self.templates)
            self.templates.append(template)
        return at

    def combine(self, tids: np.ndarray) -> np.ndarray:
        """Each row's combination id (int32) for a facts × packs array of template ids."""
        if not len(tids):
            return np.zeros(0, dtype=np.int32)
        unique, inverse = unique_rows(tids)
        ids = np.empty(len(unique), dtype=np.int32)
        for n, row in enumerate(map(tuple, unique.tolist())):
            at = self._combo_of.get(row)
            ids[n] = self._add(row) if at is None else at
        return ids[inverse]

    def _add(self, row: tuple[int, ...]) -> int:
        at = self._combo_of[row] = len(self.rows)
        ids = [t for t in row if t >= 0]
        final = self.decider.final([self.templates[t].entry for t in ids])
        key = (final["decision"], final["pack"], final["reason"])
        text = self._text_of.get(key)
        if text is None:
            text = self._text_of[key] = payload_text(dict(
                decision=key[0], pack=key[1], reason=key[2], arbitration="", strategy="", channel="", message="",
                contact={}))
        self.rows.append(row)
        self.combos.append(ids)
        self.finals.append(key)
        self.texts.append(text)
        self._treat.append(any(self.templates[t].entry["decision"] == TREAT for t in ids))
        return at

    def matrix(self, width: int) -> np.ndarray:
        """Combinations × packs template ids (int32): `matrix(width)[combo]` is a slice's `tids`."""
        if self._matrix.shape != (len(self.rows), width):
            self._matrix = np.array(self.rows, dtype=np.int32).reshape(len(self.rows), width)
        return self._matrix

    def treat(self) -> np.ndarray:
        """Per combination: one of its templates decided treat (the fact has a candidate)."""
        if len(self._treat_array) != len(self._treat):
            self._treat_array = np.array(self._treat, dtype=bool)
        return self._treat_array
