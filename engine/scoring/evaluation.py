"""Held-out evaluation of churn models in the operator's terms.

For an alert list holding the riskiest k% of subscribers:
coverage 覆盖率 = churners on the list / all churners; hit rate 命中率 = churners on the list /
list size. Plus ROC AUC, and how well the readable tree agrees with the strong model.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

ALERT_SHARES = (0.05, 0.10, 0.20)


def _auc(y, score) -> float | None:
    y = np.asarray(y)
    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else None


def _spearman(a, b) -> float:
    return float(pd.Series(np.asarray(a, dtype=float)).rank().corr(pd.Series(np.asarray(b, dtype=float)).rank()))


def alert_metrics(y, risk, shares=ALERT_SHARES) -> dict[str, dict]:
    """Coverage, hit rate and lift of alert lists of the riskiest `share` of rows."""
    y = np.asarray(y).astype(int)
    order = np.argsort(-np.asarray(risk, dtype=float), kind="stable")  # ties keep row order
    churners = int(y.sum())
    base_rate = churners / len(y) if len(y) else 0.0
    out = {}
    for share in shares:
        size = max(1, math.ceil(share * len(y)))
        hits = int(y[order[:size]].sum())
        hit_rate = hits / size
        out[f"{share:.0%}"] = {
            "list_size": size,
            "churners_on_list": hits,
            "coverage": hits / churners if churners else 0.0,
            "hit_rate": hit_rate,
            "lift": hit_rate / base_rate if base_rate else 0.0,
        }
    return out


def evaluate_stability(model, X_test: pd.DataFrame, y_test) -> dict:
    """ROC AUC, alert-list measures and tree agreement of a fitted StabilityClassifier."""
    y = np.asarray(y_test).astype(int)
    risk = model.churn_risk(X_test)
    tree = model.tree_risk(X_test)
    top_decile = risk >= np.quantile(risk, 0.9)
    return {
        "test_rows": int(len(y)),
        "churn_rate": float(y.mean()) if len(y) else 0.0,
        "roc_auc": _auc(y, risk),
        "alert": alert_metrics(y, risk),
        "tree_roc_auc": _auc(y, tree),
        "tree_agreement": {
            # can the readable rules find the strong model's riskiest 10%?
            "auc_vs_strong_top_decile": _auc(top_decile.astype(int), tree),
            "spearman": _spearman(tree, risk),
        },
    }


def truth_path_for(data_dir: str | Path) -> Path | None:
    """The generator's truth file (truth/churn.csv) beside or inside a snapshot directory."""
    data_dir = Path(data_dir)
    for candidate in (data_dir / "truth" / "churn.csv", data_dir.parent / "truth" / "churn.csv"):
        if candidate.is_file():
            return candidate
    return None


def truth_metrics(ids, risk, y_test, truth_file: str | Path, seed: int = 0) -> dict | None:
    """Agreement with the generator's true churn probabilities on the held-out rows."""
    truth = pd.read_csv(truth_file, dtype={"msisdn": str})
    p = truth.drop_duplicates("msisdn").set_index("msisdn")["p_churn"].reindex(pd.Index(ids).astype(str))
    known = p.notna().to_numpy()
    if known.sum() < 2:
        return None
    p_known, risk_known = p.to_numpy()[known], np.asarray(risk)[known]
    draws = (np.random.default_rng(seed).random(len(p_known)) < p_known).astype(int)
    return {
        "file": str(truth_file),
        "rows": int(known.sum()),
        "spearman_vs_p_churn": _spearman(p_known, risk_known),
        "roc_auc_vs_truth_draws": _auc(draws, risk_known),
        # the best any model could do on those draws and on the observed labels
        "truth_roc_auc_vs_draws": _auc(draws, p_known),
        "truth_roc_auc_vs_labels": _auc(np.asarray(y_test)[known], p_known),
    }
