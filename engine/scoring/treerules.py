"""Export a fitted shallow decision tree as readable rules, one line per leaf.

    IF tenure_days < 270 AND arpu_trend <= 0.8 THEN churn risk 0.41 (n=1,204)

Conditions on the same feature along a path are merged into one bound; one-hot splits read as
`contract = none` / `contract != none`; for features with missing values the side that takes
missing values says so (`or missing`). Leaves are sorted by risk, riskiest first.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.pipeline import Pipeline


def _num(x: float) -> str:
    return f"{x:.4g}" if abs(x) < 1e6 else f"{x:,.0f}"


def _onehot_columns(prep, categorical: list[str]) -> list[tuple[str, str]]:
    """(feature, category label) for each one-hot output column, in output order."""
    if not categorical:
        return []
    encoder = prep.named_transformers_["cat"]
    infrequent = getattr(encoder, "infrequent_categories_", [None] * len(categorical))
    out = []
    for feature, cats, rare in zip(categorical, encoder.categories_, infrequent):
        rare_set = set() if rare is None else {str(c) for c in rare}
        out.extend((feature, str(c)) for c in cats if str(c) not in rare_set)
        if rare is not None:
            out.append((feature, "(other)"))
    return out


class _Path:
    """Conditions collected from the root to one node."""

    def __init__(self):
        self.order: list[str] = []
        self.lower: dict[str, float] = {}  # x > lower
        self.upper: dict[str, float] = {}  # x <= upper
        self.missing: dict[str, bool] = {}  # does this path admit missing values?
        self.eq: dict[str, str] = {}
        self.ne: dict[str, list[str]] = {}
        self.only_missing: set[str] = set()

    def copy(self) -> "_Path":
        p = _Path()
        p.order = list(self.order)
        p.lower, p.upper, p.missing = dict(self.lower), dict(self.upper), dict(self.missing)
        p.eq, p.ne = dict(self.eq), {k: list(v) for k, v in self.ne.items()}
        p.only_missing = set(self.only_missing)
        return p

    def see(self, feature: str) -> None:
        if feature not in self.order:
            self.order.append(feature)


def _numeric_text(f: str, lo: float | None, hi: float | None, integer: bool, missing: bool | None) -> str:
    if integer:
        # x > t ⇔ x ≥ ceil(t) and x ≤ t ⇔ x < floor(t) + 1 for whole-number features
        lo_i = math.floor(lo) + 1 if lo is not None else None
        hi_i = math.floor(hi) + 1 if hi is not None else None
        if lo_i is not None and hi_i is not None:
            text = f"{f} = {lo_i}" if hi_i - lo_i == 1 else f"{lo_i} <= {f} < {hi_i}"
        elif lo_i is not None:
            text = f"{f} >= {lo_i}"
        else:
            text = f"{f} < {hi_i}"
    elif lo is not None and hi is not None:
        text = f"{_num(lo)} < {f} <= {_num(hi)}"
    elif lo is not None:
        text = f"{f} > {_num(lo)}"
    else:
        text = f"{f} <= {_num(hi)}"
    if missing:
        text = f"({text} or {f} missing)"
    return text


def _conditions(path: _Path, integer: set[str], binary: set[str] = frozenset()) -> list[str]:
    out = []
    for f in path.order:
        if f in path.eq:
            out.append(f"{f} = {path.eq[f]}")
        elif f in path.ne:
            vals = sorted(set(path.ne[f]))
            out.append(f"{f} != {vals[0]}" if len(vals) == 1 else f"{f} not in {{{', '.join(vals)}}}")
        elif f in path.only_missing:
            out.append(f"{f} missing")
        elif f not in path.lower and f not in path.upper:
            out.append(f"{f} present")
        elif f in binary:  # 0/1 flags read as equalities: has_contract = 0
            text = f"{f} = {1 if f in path.lower else 0}"
            out.append(f"({text} or {f} missing)" if path.missing.get(f) else text)
        else:
            out.append(_numeric_text(f, path.lower.get(f), path.upper.get(f), f in integer, path.missing.get(f)))
    return out


def tree_rules(pipeline: Pipeline, numeric: list[str], categorical: list[str],
               integer: set[str] = frozenset(), with_missing: set[str] = frozenset(),
               binary: set[str] = frozenset()) -> list[str]:
    """Readable rule lines of a fitted Pipeline(prep=ColumnTransformer(num, cat one-hot), tree)."""
    prep, model = pipeline.named_steps["prep"], pipeline.named_steps["tree"]
    columns = [(f, None) for f in numeric] + _onehot_columns(prep, categorical)
    t = model.tree_
    go_left_missing = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=np.uint8))
    leaves: list[tuple[float, int, str]] = []
    stack = [(0, _Path())]
    while stack:
        node, path = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left == right:  # a leaf
            risk = float(t.value[node][0][1] / t.value[node][0].sum())
            n = int(t.n_node_samples[node])
            conds = _conditions(path, integer, binary)
            when = " AND ".join(conds) if conds else "(all rows)"
            leaves.append((risk, n, f"IF {when} THEN churn risk {risk:.2f} (n={n:,})"))
            continue
        feature, category = columns[t.feature[node]]
        threshold = float(t.threshold[node])
        lp, rp = path.copy(), path.copy()
        lp.see(feature)
        rp.see(feature)
        if category is None and math.isinf(threshold):
            # sklearn's "present vs missing" split: threshold +inf, missing values go right
            lp.missing[feature] = False
            rp.only_missing.add(feature)
        elif category is None:
            lp.upper[feature] = min(threshold, lp.upper.get(feature, math.inf))
            rp.lower[feature] = max(threshold, rp.lower.get(feature, -math.inf))
            if feature in with_missing:
                left_takes = bool(go_left_missing[node])
                lp.missing[feature] = lp.missing.get(feature, True) and left_takes
                rp.missing[feature] = rp.missing.get(feature, True) and not left_takes
        else:  # one-hot column: ≤ 0.5 means "not this category"
            lp.ne.setdefault(feature, []).append(category)
            rp.eq[feature] = category
        stack.append((right, rp))
        stack.append((left, lp))
    leaves.sort(key=lambda r: (-r[0], -r[1], r[2]))
    return [text for _, _, text in leaves]
