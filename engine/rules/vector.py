"""The vectorised reading of conditions: rules/segments.yaml and the packs' scopes on the whole fact frame.

Every fact needs a segment before the packs' scopes can be applied, and asserting millions of
facts into durable_rules only to segment them is the slowest part of a night (~30k facts/s per
core). Segment rules and scopes are plain conditions on fact fields, so they are read here a
column at a time. This module holds no meaning of its own: every operator is read through
`engine.rules.conditions` (MEANING, `relation`, `check_operator`), the plain reading the compiled
rulesets are held equal to. A column of numbers or bools gets `relation` applied by numpy to the
whole column (the same Python operators, elementwise); any other column (text, category, sets,
mixed objects) gets `check_operator` of each distinct value, taken back to the rows — each
distinct value converted exactly as the rule engine's facts are (`engine.facts.build.column_values`:
SET cells as lists, an empty cell of a SET field is an empty set). tests/engine/rules/test_vector.py
holds the masks equal to per-fact evaluation (hypothesis) and segmentation equal to the rule
engine. A condition on a field that is not a column raises NotVectorisable and the run falls back
to the engine for segmentation.

Scopes (`field: scalar` = eq, `field: [list]` = in, ANDed) are read as the condition
`conditions.scope_condition` gives; a scope field that is not a column holds no fact (every fact
misses it, and eq/in are false on a missing value).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.facts.build import column_values
from engine.facts.fields import SET, lookup
from engine.rules.conditions import MEANING, check_operator, field_tests, relation, scope_condition


class NotVectorisable(ValueError):
    """A condition uses something this evaluator does not implement (the engine must be used)."""


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        raise NotVectorisable(f"field {name!r} is not a column of the fact frame")
    return frame[name]


def _numpy_kind(series: pd.Series) -> str | None:
    """`b`/`n` for a numpy column of bools/numbers (whose present values all share that tag), else None."""
    kind = series.dtype.kind if isinstance(series.dtype, np.dtype) else None
    if kind == "b":
        return "b"
    if kind is not None and kind in "iuf":
        return "n"
    return None


# Object columns whose values share one type tag: hashing cannot merge values the plain reading
# tells apart (True, 1 and 1.0 are one key to a hash table, but a bool never equals a number).
_ONE_TAG = {"string", "boolean", "integer", "floating", "mixed-integer-float", "empty"}


def _renumbered(codes: np.ndarray) -> np.ndarray:
    """Codes renumbered 0, 1, … in order of appearance (missing stays -1)."""
    present = codes >= 0
    out = np.full(len(codes), -1, dtype=np.int64)
    out[present] = pd.factorize(codes[present])[0]
    return out


def _first_rows(codes: np.ndarray) -> np.ndarray | None:
    """The first row of each code, when the codes are numbered in order of appearance; else None."""
    seen = np.maximum.accumulate(codes) if len(codes) else codes
    first = np.flatnonzero(np.r_[True, seen[1:] > seen[:-1]] & (codes >= 0)) if len(codes) else codes
    return first if np.array_equal(codes[first], np.arange(len(first))) and seen[-1:].max(initial=-1) < len(first) \
        else None


def distinct_rows(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, the first row of each code): rows with one code hold values the plain
    reading cannot tell apart (equal, with the same type tag). Missing cells have code -1."""
    codes = pd.factorize(series)[0].astype(np.int64)
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) not in _ONE_TAG:
        tags = pd.factorize(series.map(lambda v: type(v).__name__))[0]
        codes = _renumbered(np.where(codes < 0, -1, codes * (int(tags.max()) + 1) + tags))
    first = _first_rows(codes)
    if first is None:  # factorize numbered them otherwise (not expected): renumber
        codes = _renumbered(codes)
        first = _first_rows(codes)
    return codes, first


def operator_mask(series: pd.Series, op: str, expected: Any) -> np.ndarray:
    """Which rows of one fact-frame column pass `OP: expected` (conditions.check_operator's reading)."""
    if op not in MEANING:
        raise NotVectorisable(f"operator {op}")
    name, negated = MEANING[op]
    kind = _numpy_kind(series)
    field = lookup(str(series.name))
    if kind is not None and not (field is not None and field.type == SET):
        values = series.to_numpy()
        missing = np.isnan(values) if values.dtype.kind == "f" else np.zeros(len(values), dtype=bool)
        if name == "exists":
            return ~missing if expected else missing
        with np.errstate(invalid="ignore"):
            hit = ~missing & np.asarray(relation(op, expected, values, kind), dtype=bool)
        return ~hit if negated else hit
    # Texts, categories, sets, objects: the plain reading of each distinct value, by code, each
    # value converted as the rule engine's facts are (engine.facts.build.column_values; the last
    # verdict is a missing cell's: an empty set in a SET field).
    codes, first = distinct_rows(series)
    cells = pd.concat([series.iloc[first], pd.Series([None], dtype=series.dtype)], ignore_index=True)
    plain, missing = column_values(str(series.name), cells.rename(series.name))
    gaps = np.zeros(len(plain), dtype=bool) if missing is None else missing
    verdicts = np.fromiter((check_operator(op, expected, None if gap else value)
                            for value, gap in zip(plain, gaps.tolist())), dtype=bool, count=len(plain))
    return verdicts[codes]  # code -1 (missing) takes the last verdict


def _test(frame: pd.DataFrame, name: str, ops: Any) -> np.ndarray:
    series = _column(frame, name)
    mask = np.ones(len(frame), dtype=bool)
    for op, arg in field_tests(ops):
        mask &= operator_mask(series, op, arg)
    return mask


def condition_mask(frame: pd.DataFrame, cond: dict) -> np.ndarray:
    """Boolean array: which rows of `frame` satisfy the condition (ARCHITECTURE §4 semantics)."""
    if not isinstance(cond, dict) or len(cond) != 1:
        raise NotVectorisable(f"not a condition: {cond!r}")
    (key, arg), = cond.items()
    if key == "all":
        mask = np.ones(len(frame), dtype=bool)
        for sub in arg:
            mask &= condition_mask(frame, sub)
        return mask
    if key == "any":
        mask = np.zeros(len(frame), dtype=bool)
        for sub in arg:
            mask |= condition_mask(frame, sub)
        return mask
    if key == "not":
        return ~condition_mask(frame, arg)
    return _test(frame, key, arg)


def scope_mask(frame: pd.DataFrame, scope: dict) -> np.ndarray:
    """Which rows of `frame` are inside a pack's scope (`conditions.scope_condition`'s reading)."""
    if any(name not in frame.columns for name in scope):
        return np.zeros(len(frame), dtype=bool)  # every fact misses that field: eq/in are false
    return condition_mask(frame, scope_condition(scope))


def segment_frame(frame: pd.DataFrame, segments: dict) -> pd.DataFrame:
    """`segment`, `reasons` ('|'-joined sorted: a SET field) and `segment_rules` per row.

    `segments` is the data of rules/segments.yaml: ordered rules (the first match gives the
    segment; every match adds its reason) and a `default` segment. `segment_rules` holds the ids
    of the rules that matched as a tuple in rule order — the one form segmentation results take
    in a frame (engine.rules.decide.Decider.segment_frame gives the same), written to the trace
    as a list (engine/night/partition.py); facts with the same matches share one tuple.
    """
    rules = segments.get("segments") or []
    n = len(frame)
    segment = np.full(n, segments.get("default", "active"), dtype=object)
    decided = np.zeros(n, dtype=bool)
    pattern = np.zeros(n, dtype=np.int64)  # bit j set: rule j matched
    for j, rule in enumerate(rules):
        hit = condition_mask(frame, rule["when"])
        segment[hit & ~decided] = rule["segment"]
        decided |= hit
        pattern |= hit.astype(np.int64) << j
    codes, uniques = pd.factorize(pattern)
    reason_arr = np.empty(len(uniques), dtype=object)
    rule_arr = np.empty(len(uniques), dtype=object)
    for k, bits in enumerate(uniques.tolist()):
        matched = [rules[j] for j in range(len(rules)) if bits >> j & 1]
        reason_arr[k] = "|".join(sorted({r["reason"] for r in matched}))
        rule_arr[k] = tuple(r["rule"] for r in matched)
    return pd.DataFrame({"segment": segment, "reasons": reason_arr[codes] if n else reason_arr[:0],
                         "segment_rules": rule_arr[codes] if n else rule_arr[:0]}, index=frame.index)
