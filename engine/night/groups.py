"""Facts grouped by the signature classes of the fields a pack reads, and the pack outcomes
already decided per group (engine/night/partition.py's "deciding per pack and signature").

`SignatureClasses` gives each fact of a partition the class of each field (engine.rules.signature:
the rules' constants split a field's values into classes), computed on the distinct values of a
column, not per fact, and groups facts that agree on the classes of a set of fields. A class's
label means the same in every slice, so `TemplateMemo` keeps a worker's pack templates by
(pack, labels) from one slice to the next.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.night.fragments import distinct, record_numbers
from engine.rules.conditions import lookup, normalise_fact


class TemplateMemo:
    """Pack templates by (pack, signature classes of the pack's fields), kept across the slices of
    one worker.

    A pack's outcome depends only on the classes of the fields it reads (the module docstring),
    which is why one fact decides for its whole group inside a slice. The classes are the same
    in every slice (engine.rules.signature: the rules' constants split each field), so a group
    met in an earlier slice is not sent to durable_rules again: most groups of a big base recur
    slice after slice. Bounded: it starts over when full (the worker's numbered outcomes,
    engine/night/outcomes.py, still hold the templates its decided slices use; a group met again
    after that is decided again and its template numbered anew).
    """

    LIMIT = 100_000
    UNKNOWN = object()  # `get` of a key not decided yet

    def __init__(self) -> None:
        self._known: dict[tuple, Any] = {}  # None: out of the pack's scope

    def get(self, key: tuple) -> Any:
        """The template of `key`, None when the pack's scope does not hold it, else UNKNOWN."""
        return self._known.get(key, TemplateMemo.UNKNOWN)

    def put(self, key: tuple, template: Any) -> None:
        if len(self._known) >= self.LIMIT:
            self._known.clear()
        self._known[key] = template


class SignatureClasses:
    """Signature classes of a partition's fields, per row, computed on distinct values and cached."""

    def __init__(self, frame: pd.DataFrame, signatures: Any):
        self.frame, self.signatures = frame, signatures
        self._codes: dict[str, tuple[np.ndarray, int]] = {}
        self._labels: dict[str, list] = {}  # field -> the class each code stands for, the same in every slice

    def codes(self, name: str) -> tuple[np.ndarray, int]:
        """(class id per row, number of classes) of field `name`."""
        if name not in self._codes:
            numbers = record_numbers(self.frame, name) if name in self.frame.columns else None
            if name not in self.frame.columns:
                self._codes[name] = (np.zeros(len(self.frame), dtype=np.int64), 1)
                self._labels[name] = [("absent",)]
            elif numbers is not None:
                values, missing = numbers
                if values.dtype.kind == "b":
                    codes, kind = values.astype(np.int64) + 1, "b"
                else:
                    codes, kind = self.signatures.number_codes(name, values, missing), "n"
                original, codes = np.unique(codes, return_inverse=True)
                codes = np.asarray(codes, dtype=np.int64).reshape(-1)
                self._codes[name] = (codes, int(codes.max()) + 1 if len(codes) else 1)
                self._labels[name] = [(kind, c) for c in original.tolist()]
            else:
                codes, table = distinct(self.frame, name, lambda r, name=name: self.signatures.value_class(
                    name, lookup(normalise_fact(r), name)))
                ids: dict[Any, int] = {}
                remap = np.array([ids.setdefault(c, len(ids)) for c in table], dtype=np.int64)
                self._codes[name] = (remap[codes] if len(codes) else codes, max(len(ids), 1))
                self._labels[name] = [("v", c) for c in ids]
        return self._codes[name]

    def labels(self, fields: tuple[str, ...], rows: np.ndarray) -> list[tuple]:
        """The classes of `fields` at each of `rows`, as a key that means the same in any slice."""
        columns = []
        for name in fields:
            codes, _size = self.codes(name)
            labels = self._labels[name]
            columns.append([labels[c] for c in codes[rows].tolist()])
        return list(zip(*columns)) if columns else [()] * len(rows)

    def groups(self, fields: tuple[str, ...], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(group per row of `rows`, first position in `rows` of each group): rows of one group agree
        on the class of every field."""
        key = np.zeros(len(rows), dtype=np.int64)
        span = 1
        for name in fields:
            codes, size = self.codes(name)
            if span * size >= 2**62:  # the mixed-radix key would overflow: compact it first
                _, key = np.unique(key, return_inverse=True)
                key = np.asarray(key, dtype=np.int64).reshape(-1)
                span = int(key.max()) + 1 if len(key) else 1
            key = key * size + codes[rows]
            span *= size
        _, first, groups = np.unique(key, return_index=True, return_inverse=True)
        return np.asarray(groups, dtype=np.int64).reshape(-1), first


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(rows, axis=0, return_inverse=True)` of a 2-D array of whole numbers >= -1 (a
    partition's template ids per pack, -1 where a pack has none): the distinct rows in
    lexicographic order, and each row's index among them.

    One int64 key per row — the columns in mixed radix, the first column most significant, so
    keys sort as the rows do — sorted once, instead of numpy's sort of the rows as structured
    records (the slowest call of the decide stage at 100k subscribers; 6–13× faster on a
    slice's ids). A key that would overflow is first ranked down, as `SignatureClasses.groups` does.
    """
    count, width = rows.shape
    key = np.zeros(count, dtype=np.int64)
    span = 1
    for k in range(width):
        column = rows[:, k].astype(np.int64) + 1  # -1 (no template) sorts first, as 0
        size = int(column.max()) + 1 if count else 1
        if span * size >= 2**62:
            _, key = np.unique(key, return_inverse=True)
            key = np.asarray(key, dtype=np.int64).reshape(-1)
            span = int(key.max()) + 1 if count else 1
        key = key * size + column
        span *= size
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return rows[first], np.asarray(inverse, dtype=np.int64).reshape(-1)

