"""Vectorised segmentation: rules/segments.yaml evaluated on the whole fact frame at once.

Every fact needs a segment before the packs' scopes can be applied, and asserting millions of
facts into durable_rules only to segment them is the slowest part of a night (~30k facts/s per
core). Segment rules are plain conditions on fact fields, so they are evaluated here with
numpy masks, following the condition semantics of ARCHITECTURE §4 exactly (a comparison on a
missing field is false, except `ne`/`not_in`, which are true, and `exists: false`). The result
must equal the rule engine's: tests/engine/rules/test_vector.py compares both on generated
facts. A condition this module cannot read raises NotVectorisable and the run falls back to
the engine for segmentation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.facts.fields import SET, lookup


class NotVectorisable(ValueError):
    """A condition uses something this evaluator does not implement (the engine must be used)."""


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        raise NotVectorisable(f"field {name!r} is not a column of the fact frame")
    return frame[name]


def _kind_of_column(values: np.ndarray) -> str:
    """'b' bool, 'n' number, 's' text (object columns of str/None)."""
    if values.dtype.kind == "b":
        return "b"
    if values.dtype.kind in "iuf":
        return "n"
    if values.dtype.kind in "OUT" or str(values.dtype) == "str":
        return "s"
    raise NotVectorisable(f"column dtype {values.dtype}")


def _kind_of_value(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "b"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "n"
    if isinstance(value, str):
        return "s"
    return "?"


def _test(frame: pd.DataFrame, name: str, ops: Any) -> np.ndarray:
    if not isinstance(ops, dict):
        ops = {"eq": ops}
    series = _column(frame, name)
    field = lookup(name)
    is_set = field is not None and field.type == SET
    missing = np.asarray(pd.isna(series), dtype=bool)
    values = series.to_numpy()
    mask = np.ones(len(frame), dtype=bool)
    for op, arg in ops.items():
        if is_set:
            if op != "contains":
                raise NotVectorisable(f"{op} on SET field {name}")
            tags = series.fillna("").to_numpy(dtype=object)
            mask &= np.fromiter((arg in t.split("|") for t in tags), dtype=bool, count=len(tags)) \
                if len(tags) else np.zeros(0, dtype=bool)
            continue
        kind = _kind_of_column(values)
        with np.errstate(invalid="ignore"):
            if op in ("eq", "ne", "in", "not_in"):
                allowed = [a for a in (arg if op in ("in", "not_in") else [arg]) if _kind_of_value(a) == kind]
                equal = series.isin(allowed).to_numpy(dtype=bool) if allowed else np.zeros(len(frame), dtype=bool)
                equal = equal & ~missing
                hit = equal if op in ("eq", "in") else ~equal  # types never coerce: true != 1, "3" != 3
            elif op in ("gt", "gte", "lt", "lte"):
                if kind != "n" or _kind_of_value(arg) != "n":
                    hit = np.zeros(len(frame), dtype=bool)  # ordering compares numbers only
                else:
                    hit = ~missing & {"gt": np.greater, "gte": np.greater_equal,
                                      "lt": np.less, "lte": np.less_equal}[op](values, arg)
            elif op == "exists":
                hit = ~missing if arg else missing
            else:
                raise NotVectorisable(f"operator {op}")
        mask &= np.asarray(hit, dtype=bool)
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


def segment_frame(frame: pd.DataFrame, segments: dict) -> pd.DataFrame:
    """`segment`, `reasons` ('|'-joined sorted) and `segment_rules` ('|'-joined, rule order) per row.

    `segments` is the data of rules/segments.yaml: ordered rules (the first match gives the
    segment; every match adds its reason) and a `default` segment.
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
    reason_text, rule_text = [], []
    for bits in uniques.tolist():
        matched = [rules[j] for j in range(len(rules)) if bits >> j & 1]
        reason_text.append("|".join(sorted({r["reason"] for r in matched})))
        rule_text.append("|".join(r["rule"] for r in matched))
    reason_arr = np.array(reason_text, dtype=object)
    rule_arr = np.array(rule_text, dtype=object)
    return pd.DataFrame({"segment": segment, "reasons": reason_arr[codes] if n else reason_arr[:0],
                         "segment_rules": rule_arr[codes] if n else rule_arr[:0]}, index=frame.index)
