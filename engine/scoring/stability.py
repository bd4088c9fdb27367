"""The stability (churn) model 稳定度: a readable shallow tree plus a calibrated strong model.

`StabilityClassifier` follows scikit-learn's estimator contract (parameters only in `__init__`,
learned attributes end in `_`, `fit` returns `self`). `fit`:

1. a decision tree (depth ≤ 4, leaves of at least `tree_min_leaf_share` of the rows) whose
   leaves become the exported rule set (`rules()`);
2. a strong model chosen by cross-validated ROC AUC between a seeded small search over
   HistGradientBoosting (learning_rate, max_leaf_nodes, l2_regularization, min_samples_leaf,
   early stopping) and a logistic-regression pipeline (imputation + one-hot + scaling, C
   searched), then calibrated (CalibratedClassifierCV, isotonic on ≥ 10k rows else sigmoid);
3. stability tier cut-offs on churn risk: by default the riskiest 20% of the training rows are
   `low`, the next 30% `mid`, the rest `high`; fixed thresholds may be given instead.

Everything learned is plain scikit-learn/numpy state, so skops can store it behind a type
allow-list (engine/scoring/artefacts.py).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted

from engine.scoring.threads import single_threaded
from engine.scoring.treerules import tree_rules

BLANK = "(blank)"  # categorical missing value, readable in rules
STABILITY_LEVELS = ("high", "mid", "low")
HGB_GRID = {
    "learning_rate": (0.03, 0.06, 0.1),
    "max_leaf_nodes": (7, 15, 31),
    "l2_regularization": (0.0, 1.0, 10.0),
    "min_samples_leaf": (20, 50, 100),
}
LR_C = (0.01, 0.1, 1.0, 10.0)
# Rows scored at a time: a whole base's model input encoded at once cost ~1 GB at 1M subscribers.
# One thread and blocks of 262,144 rows scored 1M subscribers in 24 s here; 31.5 s whole with the
# default threads, 83 s in blocks of 65,536 with them (load 5-7; the same values every way).
PREDICT_ROWS = 262_144


def _hgb_pipeline(numeric: list[str], categorical: list[str], params: dict, seed: int) -> Pipeline:
    prep = ColumnTransformer([
        ("num", "passthrough", numeric),
        # HistGradientBoosting handles at most 255 categories; rare ones are pooled.
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                               encoded_missing_value=np.nan, max_categories=200), categorical),
    ])
    mask = [False] * len(numeric) + [True] * len(categorical)
    model = HistGradientBoostingClassifier(
        max_iter=500, early_stopping=True, validation_fraction=0.1, n_iter_no_change=20,
        categorical_features=mask if categorical else None, random_state=seed, **params)
    return Pipeline([("prep", prep), ("model", model)])


def _lr_pipeline(numeric: list[str], categorical: list[str], c: float) -> Pipeline:
    prep = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)),
                          ("scale", StandardScaler())]), numeric),
        ("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, max_categories=50,
                              sparse_output=False), categorical),
    ])
    return Pipeline([("prep", prep), ("model", LogisticRegression(C=c, max_iter=3000))])


class StabilityClassifier(ClassifierMixin, BaseEstimator):
    """Churn risk from a table of features (numeric float columns, categorical object columns)."""

    def __init__(self, random_state: int = 0, hgb_candidates: int = 6, cv_folds: int = 3,
                 tree_max_depth: int = 4, tree_min_leaf_share: float = 0.03,
                 calibration: str = "auto", low_share: float = 0.2, mid_share: float = 0.3,
                 cutoffs: tuple[float, float] | None = None, max_search_rows: int = 60_000):
        self.random_state = random_state
        self.hgb_candidates = hgb_candidates
        self.cv_folds = cv_folds
        self.tree_max_depth = tree_max_depth
        self.tree_min_leaf_share = tree_min_leaf_share
        self.calibration = calibration
        self.low_share = low_share
        self.mid_share = mid_share
        self.cutoffs = cutoffs
        self.max_search_rows = max_search_rows

    # -- preparation -------------------------------------------------------------------------
    def _prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        """Columns in training order; numeric float (NaN missing), categorical str (BLANK missing)."""
        out = {}
        for name in self.numeric_features_:
            out[name] = pd.to_numeric(X[name], errors="coerce").astype(float).to_numpy()
        for name in self.categorical_features_:
            col = X[name]
            out[name] = np.where(col.isna().to_numpy(), BLANK, col.astype(str).to_numpy()).astype(object)
        return pd.DataFrame(out, columns=self.numeric_features_ + self.categorical_features_)

    def _candidates(self) -> list[tuple[str, dict, Pipeline]]:
        rng = np.random.default_rng(self.random_state)
        grid = [dict(zip(HGB_GRID, combo)) for combo in itertools.product(*HGB_GRID.values())]
        picks = rng.choice(len(grid), size=min(self.hgb_candidates, len(grid)), replace=False) if self.hgb_candidates else []
        out = []
        for i in sorted(int(p) for p in picks):
            params = grid[i]
            out.append(("hist_gradient_boosting", params, _hgb_pipeline(self.numeric_features_, self.categorical_features_, params, self.random_state)))
        for c in LR_C:
            out.append(("logistic_regression", {"C": c}, _lr_pipeline(self.numeric_features_, self.categorical_features_, c)))
        return out

    # -- fitting -----------------------------------------------------------------------------
    @single_threaded  # engine/scoring/threads.py: 10-40x faster on the shared box, same results
    def fit(self, X: pd.DataFrame, y) -> "StabilityClassifier":
        """Fit the rule tree, search and calibrate the strong model, and set tier cut-offs."""
        return self._fit(X, y)

    def _fit(self, X: pd.DataFrame, y) -> "StabilityClassifier":
        y = np.asarray(y).astype(int)
        if set(np.unique(y)) != {0, 1}:
            raise ValueError("labels must contain both 0 (stayed) and 1 (churned)")
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.numeric_features_ = [str(c) for c in X.columns if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])]
        self.categorical_features_ = [str(c) for c in X.columns if str(c) not in self.numeric_features_]
        self.classes_ = np.array([0, 1])
        data = self._prepare(X)
        numeric = data[self.numeric_features_]
        self.integer_features_ = [c for c in self.numeric_features_
                                  if bool(np.all(np.isnan(numeric[c]) | (numeric[c] == np.round(numeric[c]))))]
        self.missing_features_ = [c for c in self.numeric_features_ if bool(np.isnan(numeric[c]).any())]
        self.binary_features_ = [c for c in self.integer_features_ if set(np.unique(numeric[c].dropna())) <= {0.0, 1.0}]

        self._fit_tree(data, y)

        search_X, search_y = data, y
        if len(data) > self.max_search_rows:  # search on a stratified sample; the final fit uses all rows
            search_X, _, search_y, _ = train_test_split(data, y, train_size=self.max_search_rows,
                                                        stratify=y, random_state=self.random_state)
        folds = StratifiedKFold(self.cv_folds, shuffle=True, random_state=self.random_state)
        scores = []
        for kind, params, pipe in self._candidates():
            auc = cross_val_score(pipe, search_X, search_y, cv=folds, scoring="roc_auc", error_score="raise")
            scores.append({"model": kind, "params": params, "cv_auc": float(np.mean(auc))})
        best = max(range(len(scores)), key=lambda i: (scores[i]["cv_auc"], -i))
        self.search_results_ = scores
        self.chosen_ = dict(scores[best])
        kind, params, pipe = self._candidates()[best]
        method = self.calibration if self.calibration != "auto" else ("isotonic" if len(data) >= 10_000 else "sigmoid")
        # ensemble=False: one model refit on all rows, calibrated on out-of-fold predictions, so
        # a sigmoid map keeps the model's ranking (and AUC) exactly.
        self.strong_ = CalibratedClassifierCV(clone(pipe), method=method, ensemble=False,
                                              cv=StratifiedKFold(self.cv_folds, shuffle=True, random_state=self.random_state))
        self.strong_.fit(data, y)
        self.calibration_method_ = method

        risk = self.strong_.predict_proba(data)[:, 1]
        if self.cutoffs is not None:
            low, mid = (float(v) for v in self.cutoffs)
        else:
            low = float(np.quantile(risk, 1.0 - self.low_share))
            mid = float(np.quantile(risk, 1.0 - self.low_share - self.mid_share))
        if mid > low:
            raise ValueError(f"stability cut-offs must satisfy mid ({mid}) ≤ low ({low})")
        self.cutoffs_ = (low, mid)
        return self

    def _fit_tree(self, data: pd.DataFrame, y: np.ndarray) -> None:
        prep = ColumnTransformer([
            ("num", "passthrough", self.numeric_features_),
            ("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.01, max_categories=15,
                                  sparse_output=False), self.categorical_features_),
        ])
        min_leaf = max(5, math.ceil(self.tree_min_leaf_share * len(data)))
        tree = DecisionTreeClassifier(max_depth=self.tree_max_depth, min_samples_leaf=min_leaf, random_state=self.random_state)
        self.tree_ = Pipeline([("prep", prep), ("tree", tree)]).fit(data, y)

    # -- prediction --------------------------------------------------------------------------
    @single_threaded  # engine/scoring/threads.py: faster here, and the values do not depend on it
    def predict_proba(self, X: pd.DataFrame, rows: int = PREDICT_ROWS) -> np.ndarray:
        """Calibrated [P(stay), P(churn)] from the strong model, `rows` rows at a time: every step
        of the pipeline (impute, encode, scale, trees or a linear model, calibration) works row by
        row, so blocks give the whole frame's values, without a whole base's encoded copy at once."""
        check_is_fitted(self, "strong_")
        rows = max(int(rows), 1)
        if len(X) <= rows:
            return self.strong_.predict_proba(self._prepare(X))
        return np.concatenate([self.strong_.predict_proba(self._prepare(X.iloc[at:at + rows]))
                               for at in range(0, len(X), rows)])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def churn_risk(self, X: pd.DataFrame, rows: int = PREDICT_ROWS) -> np.ndarray:
        """P(churn) 0..1 per row."""
        return self.predict_proba(X, rows)[:, 1]

    def tree_risk(self, X: pd.DataFrame) -> np.ndarray:
        """The rule tree's churn rate of the leaf each row falls in."""
        check_is_fitted(self, "tree_")
        return self.tree_.predict_proba(self._prepare(X))[:, 1]

    def stability(self, risk: np.ndarray) -> np.ndarray:
        """Tier per risk: ≥ low cut-off → low, ≥ mid cut-off → mid, else high."""
        check_is_fitted(self, "cutoffs_")
        low, mid = self.cutoffs_
        risk = np.asarray(risk, dtype=float)
        return np.where(risk >= low, "low", np.where(risk >= mid, "mid", "high")).astype(object)

    def rules(self) -> list[str]:
        """The tree's leaves as readable IF … THEN lines, riskiest first."""
        check_is_fitted(self, "tree_")
        return tree_rules(self.tree_, self.numeric_features_, self.categorical_features_,
                          set(self.integer_features_), set(self.missing_features_),
                          set(getattr(self, "binary_features_", ())))
