"""Model benchmarks (not part of the test suite).

    # score_snapshot throughput: tile a generated snapshot up to N subscribers and time each stage
    python benchmarks/models.py scoring --data SNAPSHOT_DIR --as-of 2026-11-15 --subscribers 1000000

    # stability AUC vs tuned scikit-learn baselines on any labelled table (e.g. IBM Telco churn)
    python benchmarks/models.py baseline --table telco.csv --label Churn --id customerID

`scoring` needs a stability model trained on a snapshot in REKINDLE_HOME.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np
import pandas as pd


def _tile(tables: dict[str, pd.DataFrame], copies: int) -> dict[str, pd.DataFrame]:
    """`copies` disjoint copies of every table, msisdns suffixed so they stay unique."""
    out = {}
    for name, frame in tables.items():
        if "msisdn" not in frame.columns:
            out[name] = frame
            continue
        parts = []
        for k in range(copies):
            part = frame.copy()
            part["msisdn"] = frame["msisdn"].astype(str) + f"{k:03d}"
            parts.append(part)
        out[name] = pd.concat(parts, ignore_index=True)
    return out


def bench_scoring(data: str, as_of: date, subscribers: int) -> None:
    from engine.snapshot.loader import load_snapshot
    from engine.scoring.features import subscriber_features
    from engine.scoring.scoring import score_snapshot
    from engine.scoring.sensitivity import compute_sensitivity
    from engine.scoring.value import compute_value

    snapshot = load_snapshot(data)
    copies = max(1, round(subscribers / len(snapshot.tables["subscribers"])))
    snapshot.tables = _tile(snapshot.tables, copies)
    n = len(snapshot.tables["subscribers"])
    print(f"{n:,} subscribers, {len(snapshot.tables['usage_monthly']):,} usage rows")
    for label, fn in (
        ("features", lambda: subscriber_features(snapshot.tables, as_of)),
        ("sensitivity", lambda: compute_sensitivity(snapshot.tables["subscribers"]["msisdn"], snapshot.tables["subscriptions"],
                                                    snapshot.tables["usage_monthly"], as_of)),
        ("value", lambda: compute_value(snapshot.tables, as_of)),
        ("score_snapshot (all)", lambda: score_snapshot(snapshot, as_of)),
    ):
        t = time.perf_counter()
        fn()
        print(f"{label:<22} {time.perf_counter() - t:6.1f} s")


def bench_baseline(table: str, label: str, id_column: str, seed: int = 0) -> None:
    """Our StabilityClassifier vs grid-searched HGB and logistic baselines on the same held-out split."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    from engine.scoring.stability import BLANK, StabilityClassifier
    from engine.scoring.tabular import training_table

    X, y, _, _ = training_table(table, label, id_column)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    num = [c for c in X.columns if X[c].dtype == float]
    cat = [c for c in X.columns if c not in num]
    fill = lambda f: f.assign(**{c: f[c].fillna(BLANK).astype(str) for c in cat})  # noqa: E731
    t = time.perf_counter()
    ours = StabilityClassifier(random_state=seed).fit(X_tr, y_tr)
    print(f"ours ({ours.chosen_['model']}, {ours.calibration_method_}): AUC {roc_auc_score(y_te, ours.churn_risk(X_te)):.4f}"
          f"  [{time.perf_counter() - t:.0f} s]")
    lr = Pipeline([("prep", ColumnTransformer([
        ("num", Pipeline([("imp", SimpleImputer(strategy="median")), ("sc", StandardScaler())]), num),
        ("cat", OneHotEncoder(handle_unknown="ignore"), cat)])), ("m", LogisticRegression(max_iter=5000))])
    lr_grid = GridSearchCV(lr, {"m__C": [0.001, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 100]}, scoring="roc_auc", cv=5).fit(fill(X_tr), y_tr)
    print(f"baseline logistic (C={lr_grid.best_params_['m__C']}): AUC {roc_auc_score(y_te, lr_grid.predict_proba(fill(X_te))[:, 1]):.4f}")
    hgb = Pipeline([("prep", ColumnTransformer([("num", "passthrough", num),
                                                ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan), cat)])),
                    ("m", HistGradientBoostingClassifier(categorical_features=[False] * len(num) + [True] * len(cat), random_state=seed,
                                                         early_stopping=True))])
    grid = {"m__learning_rate": [0.02, 0.05, 0.1], "m__max_leaf_nodes": [7, 15, 31], "m__min_samples_leaf": [20, 50, 100],
            "m__l2_regularization": [0.0, 1.0]}
    hgb_grid = GridSearchCV(hgb, grid, scoring="roc_auc", cv=3).fit(fill(X_tr), y_tr)
    print(f"baseline HGB ({hgb_grid.best_params_}): AUC {roc_auc_score(y_te, hgb_grid.predict_proba(fill(X_te))[:, 1]):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scoring")
    s.add_argument("--data", required=True)
    s.add_argument("--as-of", default="2026-11-15")
    s.add_argument("--subscribers", type=int, default=1_000_000)
    b = sub.add_parser("baseline")
    b.add_argument("--table", required=True)
    b.add_argument("--label", required=True)
    b.add_argument("--id", required=True)
    opts = parser.parse_args()
    if opts.cmd == "scoring":
        bench_scoring(opts.data, date.fromisoformat(opts.as_of), opts.subscribers)
    else:
        bench_baseline(opts.table, opts.label, opts.id)


if __name__ == "__main__":
    main()
