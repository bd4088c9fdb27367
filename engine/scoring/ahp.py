"""Analytic Hierarchy Process (AHP 层次分析法): weights from a pairwise comparison matrix.

The operator sets the sensitivity weights Aᵢ and Cᵢ by AHP. A planner writes the matrix as YAML::

    criteria: [fetion, reading, video]
    matrix:
      - [1,     3,   5]
      - ["1/3", 1,   2]
      - ["1/5", "1/2", 1]

Weights are the normalised principal eigenvector; λmax gives the consistency index
CI = (λmax − n)/(n − 1) and the consistency ratio CR = CI / RI with Saaty's random index.
CR ≥ 0.1 means the judgements contradict each other too much to be used.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.base.yamlfile import YamlDoc, load_yaml

# Saaty's random consistency index RI by matrix size n (1..15).
RANDOM_INDEX = {1: 0.0, 2: 0.0, 3: 0.58, 4: 0.90, 5: 1.12, 6: 1.24, 7: 1.32, 8: 1.41, 9: 1.45,
                10: 1.49, 11: 1.51, 12: 1.48, 13: 1.56, 14: 1.57, 15: 1.59}
CR_LIMIT = 0.1
# a_ij · a_ji must be 1; "0.33" against "3" is a rounding, not a contradiction.
RECIPROCAL_TOLERANCE = 0.02

_FRACTION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(?:/\s*([0-9]*\.?[0-9]+))?\s*$")


@dataclass(frozen=True)
class AhpResult:
    """Weights by criterion name and the consistency figures of one comparison matrix."""

    criteria: tuple[str, ...]
    weights: dict[str, float]
    lambda_max: float
    consistency_index: float
    consistency_ratio: float
    random_index: float
    consistent: bool
    # (criterion i, criterion j, a_ij as written, w_i/w_j) of the judgement furthest from the weights
    most_inconsistent: tuple[str, str, float, float] | None = field(default=None)

    def to_dict(self) -> dict:
        """The `--json` document: weights by name, consistency_ratio, consistent, λmax, CI."""
        out = {
            "criteria": list(self.criteria),
            "weights": dict(self.weights),
            "lambda_max": self.lambda_max,
            "consistency_index": self.consistency_index,
            "consistency_ratio": self.consistency_ratio,
            "random_index": self.random_index,
            "consistent": self.consistent,
        }
        if self.most_inconsistent is not None:
            a, b, aij, ratio = self.most_inconsistent
            out["most_inconsistent_pair"] = {"pair": [a, b], "a_ij": aij, "w_i_over_w_j": ratio}
        return out


def ahp_weights(criteria: list[str] | tuple[str, ...], matrix) -> AhpResult:
    """Principal-eigenvector weights, λmax, CI and CR of a positive reciprocal matrix."""
    a = np.asarray(matrix, dtype=float)
    n = a.shape[0]
    if a.shape != (n, n) or len(criteria) != n:
        raise ValueError(f"matrix must be {len(criteria)}x{len(criteria)}, got {a.shape}")
    if n > max(RANDOM_INDEX):
        raise ValueError(f"AHP supports up to {max(RANDOM_INDEX)} criteria, got {n}")
    eigenvalues, eigenvectors = np.linalg.eig(a)
    k = int(np.argmax(eigenvalues.real))
    lambda_max = float(eigenvalues[k].real)
    vector = np.abs(eigenvectors[:, k].real)  # Perron vector: one sign, so abs() is safe
    w = vector / vector.sum()
    ci = (lambda_max - n) / (n - 1) if n > 2 else 0.0
    ci = max(ci, 0.0)  # λmax ≥ n in theory; tiny negatives are round-off
    ri = RANDOM_INDEX[n]
    cr = ci / ri if ri > 0 else 0.0
    consistent = cr < CR_LIMIT
    worst = None
    if n > 2:
        # the judgement whose ratio is furthest (in log terms) from the ratio the weights imply
        dev = np.abs(np.log(a) - np.log(np.outer(w, 1.0 / w)))
        iu = np.triu_indices(n, 1)
        best = int(np.argmax(dev[iu]))
        i, j = int(iu[0][best]), int(iu[1][best])
        worst = (criteria[i], criteria[j], float(a[i, j]), float(w[i] / w[j]))
    return AhpResult(
        criteria=tuple(criteria),
        weights={c: float(x) for c, x in zip(criteria, w)},
        lambda_max=lambda_max,
        consistency_index=float(ci),
        consistency_ratio=float(cr),
        random_index=ri,
        consistent=bool(consistent),
        most_inconsistent=worst,
    )


def _entry(value) -> float | None:
    """A matrix cell as a number: int/float, or a string like "3", "1/3", "0.5"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = _FRACTION.match(value)
        if m:
            num = float(m.group(1))
            den = float(m.group(2)) if m.group(2) is not None else 1.0
            return num / den if den != 0 else None
    return None


def parse_matrix(doc: YamlDoc, *prefix: str | int) -> tuple[list[str], np.ndarray]:
    """Check and read `criteria` and `matrix` at `prefix` in `doc`; every problem is reported."""
    data = doc.data
    for step in prefix:
        data = data[step] if isinstance(data, (dict, list)) else None
    if not isinstance(data, dict):
        raise DiagnosticError([doc.error("MD010", "expected a mapping with 'criteria' and 'matrix'", *prefix)])
    problems: list[Diagnostic] = []
    criteria = data.get("criteria")
    rows = data.get("matrix")
    if not isinstance(criteria, list) or not criteria or not all(isinstance(c, str) and c for c in criteria):
        problems.append(doc.error("MD011", "'criteria' must be a non-empty list of names", *prefix, "criteria",
                                  hint="e.g. criteria: [fetion, reading, video]"))
    elif len(set(criteria)) != len(criteria):
        problems.append(doc.error("MD011", "'criteria' names must be unique", *prefix, "criteria"))
    if not isinstance(rows, list) or not rows:
        problems.append(doc.error("MD012", "'matrix' must be a list of rows", *prefix, "matrix"))
    if problems:
        raise DiagnosticError(problems)
    n = len(criteria)
    if n > max(RANDOM_INDEX):
        raise DiagnosticError([doc.error("MD011", f"at most {max(RANDOM_INDEX)} criteria are supported, got {n}", *prefix, "criteria")])
    if len(rows) != n:
        problems.append(doc.error("MD013", f"matrix is not square: {len(rows)} rows for {n} criteria", *prefix, "matrix",
                                  hint="write one row per criterion"))
    a = np.ones((n, n))
    for i, row in enumerate(rows[:n]):
        if not isinstance(row, list) or len(row) != n:
            got = len(row) if isinstance(row, list) else "not a list"
            problems.append(doc.error("MD013", f"matrix is not square: row {i + 1} ({criteria[i]}) has {got} entries, expected {n}",
                                      *prefix, "matrix", i))
            continue
        for j, cell in enumerate(row):
            x = _entry(cell)
            if x is None or not math.isfinite(x) or x <= 0:
                problems.append(doc.error("MD014", f"entry ({criteria[i]}, {criteria[j]}) = {cell!r} is not a positive number",
                                          *prefix, "matrix", i, j, hint='write a number or a fraction like "1/3"'))
            else:
                a[i, j] = x
    if problems:
        raise DiagnosticError(problems)
    for i in range(n):
        if abs(a[i, i] - 1.0) > 1e-9:
            problems.append(doc.error("MD015", f"diagonal entry ({criteria[i]}, {criteria[i]}) must be 1, got {rows[i][i]!r}",
                                      *prefix, "matrix", i, i))
        for j in range(i + 1, n):
            if abs(a[i, j] * a[j, i] - 1.0) > RECIPROCAL_TOLERANCE:
                problems.append(doc.error(
                    "MD016",
                    f"not reciprocal: ({criteria[i]}, {criteria[j]}) = {rows[i][j]!r} but ({criteria[j]}, {criteria[i]}) = {rows[j][i]!r}",
                    *prefix, "matrix", j, i, hint=f"a_ji must be 1/a_ij; write \"1/{rows[i][j]}\"" if isinstance(rows[i][j], (int, float)) else "a_ji must be 1/a_ij"))
    if problems:
        raise DiagnosticError(problems)
    return list(criteria), a


def ahp_from_doc(doc: YamlDoc, *prefix: str | int) -> AhpResult:
    """AHP result of the matrix at `prefix` in a loaded YAML document."""
    criteria, a = parse_matrix(doc, *prefix)
    return ahp_weights(criteria, a)


def load_ahp_file(path) -> AhpResult:
    """Read a comparison-matrix YAML file and compute its AHP weights and consistency."""
    return ahp_from_doc(load_yaml(path))


def inconsistency_diagnostic(result: AhpResult, doc: YamlDoc, *prefix: str | int) -> Diagnostic:
    """An error naming the judgement to revisit when CR ≥ 0.1."""
    msg = f"inconsistent judgements: CR = {result.consistency_ratio:.3f} (must be < {CR_LIMIT})"
    hint = ""
    if result.most_inconsistent:
        a, b, aij, ratio = result.most_inconsistent
        hint = f"most inconsistent pair ({a}, {b}): a_ij = {aij:.4g} while the weights imply {ratio:.4g}; revisit that judgement"
    return doc.error("MD017", msg, *prefix, "matrix", hint=hint)
