"""The response model: `propensity.<strategy>` and `uplift.<strategy>` (SPEC §3–4, docs/LOOP.md §5).

`ResponseModel` learns, from the stored decisions of earlier runs and the feedback loaded for
them (engine/scoring/response_training.py):

- the chance that a fact responds when treated with strategy s — `response(facts, s)`, which
  the night publishes as the fact field `propensity.<s>` (a calibrated response model);
- the chance it responds when held out — `control_response(facts)`, from the holdout, so that
  `uplift(facts, s)` = response − control response is the per-subscriber two-model (T-learner)
  estimate of what the contact adds;
- what arbitration ranks on: the **incremental response** of each strategy,
  `incremental(facts, s)` — the strategy's treated response rate minus its pack's holdout
  response rate, held to the value in its 95% interval nearest to the planner's
  `base_response` (`strategy_uplift`), published as `uplift.<s>`; EV = uplift × value ×
  value_scale − cost (engine/night/arbitrate.py). A strategy with too little history keeps
  its `base_response`.

Why arbitration ranks on uplift, not on response: a response model ranks sure things first —
subscribers who come back without contact (the retention_care pack's stable 放心/用心, ~20%
respond when held out) look like the best targets while the contact adds ~2 points. Why the
per-strategy difference and not the T-learner's per-subscriber difference: measured on the
sample operator's loop (three nights, 5.5k decisions, ~800 of them held out; docs/LOOP.md §5),
the T-learner's uplift captured 0.53 of the oracle's true uplift at a 30% budget (mean of 10
subscriber splits) against 0.83 for the constant base_response: its control model learns from
a few hundred held-out rows and its noise swamps the ranking. The per-strategy difference
pools every treated and held-out row of a strategy and its pack and captured 0.84 (0.77 vs 0.70
without the care rows). The per-subscriber models stay (propensity, the trace, the evaluation)
for when the history is large enough for them to win.

Two models, not class transformation. The class-transformation trick (Z = Y·T + (1−Y)(1−T))
needs one known treatment probability; here the control share differs by pack (5%, 10%) and
the universal 2%, so it would need per-row reweighting with a control of a few percent, and
it gives no response probability.

Each model is a HistGradientBoostingClassifier on the fact fields the rules saw (the trace's
`fact`), with the strategy as a categorical feature for the treated model, calibrated by
sigmoid (Platt) on out-of-fold predictions (3 folds) so its output reads as a probability. A control group too small
for a model (fewer than MIN_CONTROL_ROWS rows or MIN_POSITIVES responders) is read as a
smoothed response rate per segment instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

from engine.scoring.threads import single_threaded

MODEL_NAME = "response"
PROPENSITY_PREFIX = "propensity."
UPLIFT_PREFIX = "uplift."
NUMERIC = ("uses_m0", "uses_m1", "uses_m2", "uses_m3", "months_silent", "traffic_mb_3m", "paid_3m", "tenure_days",
           "ordered_days", "arpu", "arpu_trend", "contract_months_left", "handset_changed_days", "days_since_contact",
           "contacts_30d", "sensitivity", "sensitivity_pct", "churn_risk", "value")
FLAGS = ("used_in_3m", "has_data_spend", "bundled", "account_manager", "os_changed", "to_smartphone")
CATEGORICAL = ("service", "billing", "device_os", "segment", "stability", "value_tier", "retention_group", "city",
               "brand", "plan")
MISSING = "<missing>"
MIN_CONTROL_ROWS = 200
MIN_POSITIVES = 20
SMOOTHING = 20.0  # pseudo-rows pulling a segment's control rate towards the overall rate
MIN_CELL_TREATED = 30  # a strategy's uplift needs this many treated decisions ...
MIN_CELL_CONTROL = 30  # ... and this many held-out ones in its pack; else base_response applies
INTERVAL_Z = 1.959964  # the 95% interval (as `rekindle report campaign`) the planner's estimate is tested against


def _tags(value) -> list[str]:
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    if isinstance(value, str):
        return [t for t in value.split("|") if t]
    return []


class ResponseModel(ClassifierMixin, BaseEstimator):
    """Two calibrated models: response when treated (by strategy) and when held out (module docstring)."""

    def __init__(self, random_state: int = 0, max_iter: int = 40, learning_rate: float = 0.08,
                 max_leaf_nodes: int = 7, min_samples_leaf: int = 40, calibration_folds: int = 3):
        self.random_state = random_state
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.calibration_folds = calibration_folds

    # -- features ----------------------------------------------------------------------------
    def _matrix(self, facts: pd.DataFrame, strategy=None) -> np.ndarray:
        """Numeric matrix: numbers (NaN missing), flags 0/1, categories as codes of the training
        vocabulary (unknown → the missing code), preference tags multi-hot, then the strategy code."""
        n = len(facts)
        cols = []
        for name in self.numeric_:
            values = facts[name] if name in facts.columns else pd.Series(np.nan, index=facts.index)
            cols.append(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float))
        for name in FLAGS:
            values = facts[name] if name in facts.columns else pd.Series(False, index=facts.index)
            cols.append(values.fillna(False).astype(bool).to_numpy(dtype=float))
        for name in CATEGORICAL:
            values = facts[name] if name in facts.columns else pd.Series(None, index=facts.index)
            text = values.where(values.notna(), MISSING).astype(str)
            cols.append(pd.Index(self.vocab_[name]).get_indexer(text).astype(float))
        tags = facts["preferences"] if "preferences" in facts.columns else pd.Series([[]] * n, index=facts.index)
        sets = [set(_tags(v)) for v in tags]
        for tag in self.tags_:
            cols.append(np.fromiter((tag in s for s in sets), dtype=float, count=n))
        if strategy is not None:
            codes = pd.Index(self.strategies_).get_indexer(np.broadcast_to(np.asarray(strategy, dtype=object), (n,)))
            cols.append(codes.astype(float))
        matrix = np.column_stack(cols) if cols else np.zeros((n, 0))
        for j in range(len(self.numeric_) + len(FLAGS), len(self.numeric_) + len(FLAGS) + len(CATEGORICAL)):
            matrix[matrix[:, j] < 0, j] = 0  # unknown category → the missing code (0 after sorting)
        if strategy is not None:
            matrix[matrix[:, -1] < 0, -1] = np.nan
        return matrix

    def _categorical_mask(self, with_strategy: bool) -> np.ndarray:
        # a category column with one value (a field absent from the history) is a constant, not a category
        categories = [len(self.vocab_[name]) > 1 for name in CATEGORICAL]
        mask = [False] * (len(self.numeric_) + len(FLAGS)) + categories + [False] * len(self.tags_)
        return np.array(mask + ([len(self.strategies_) > 1] if with_strategy else []))

    def _classifier(self, with_strategy: bool) -> CalibratedClassifierCV:
        hgb = HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf, categorical_features=self._categorical_mask(with_strategy),
            random_state=self.random_state)
        # ensemble=False: one booster (refit on all rows) behind a sigmoid fitted on out-of-fold
        # predictions — a third of the prediction cost of averaging the fold models, which the
        # night pays per fact and strategy
        return CalibratedClassifierCV(hgb, method="sigmoid", cv=self.calibration_folds, ensemble=False)

    # -- fitting -----------------------------------------------------------------------------
    @single_threaded
    def fit(self, facts: pd.DataFrame, strategies, treated, y, packs=None,
            base_response: dict[str, float] | None = None) -> "ResponseModel":
        """`facts`: one row per decision (fact fields); `strategies`: the strategy treated with
        (or that the control would have got); `treated`: bool; `y`: responded (bool); `packs`:
        the deciding pack (its holdout is the strategy's control; None: one pooled control);
        `base_response`: strategy → the planner's estimate (the strategy files' `base_response`),
        which a strategy's uplift moves away from only as far as its interval requires
        (`strategy_uplift`; None: the measured difference as it is).

        Single-threaded (engine/scoring/threads.py), as the predictions."""
        return self._fit(facts, strategies, treated, y, packs, base_response)

    @single_threaded
    def _predict(self, model, matrix: np.ndarray) -> np.ndarray:
        return model.predict_proba(matrix)[:, 1]

    def _fit(self, facts: pd.DataFrame, strategies, treated, y, packs, base_response) -> "ResponseModel":
        strategies = np.asarray(strategies, dtype=object)
        treated = np.asarray(treated, dtype=bool)
        y = np.asarray(y, dtype=bool)
        # numeric fields the history holds (a field never filled cannot be binned, nor learned from)
        self.numeric_ = [name for name in NUMERIC if name in facts.columns
                         and pd.to_numeric(facts[name], errors="coerce").notna().any()]
        self.vocab_ = {}
        for name in CATEGORICAL:
            values = facts[name] if name in facts.columns else pd.Series(None, index=facts.index)
            seen = set(values.where(values.notna(), MISSING).astype(str))
            self.vocab_[name] = [MISSING] + sorted(seen - {MISSING})
        tags = facts["preferences"] if "preferences" in facts.columns else pd.Series([], dtype=object)
        self.tags_ = sorted({t for v in tags for t in _tags(v)})
        self.strategies_ = sorted(set(strategies[treated]))
        self.treated_model_ = self._classifier(True).fit(self._matrix(facts[treated], strategies[treated]), y[treated])
        control = ~treated
        self.control_rate_ = float((y[control].sum() + 1.0) / (control.sum() + 2.0))
        segments = (facts["segment"] if "segment" in facts.columns else pd.Series(MISSING, index=facts.index))
        segments = segments.where(segments.notna(), MISSING).astype(str).to_numpy()
        rates = pd.DataFrame({"segment": segments[control], "y": y[control]}).groupby("segment")["y"].agg(["sum", "count"])
        self.control_segment_rates_ = {str(s): float((r["sum"] + SMOOTHING * self.control_rate_) / (r["count"] + SMOOTHING))
                                       for s, r in rates.iterrows()}
        big = control.sum() >= MIN_CONTROL_ROWS and y[control].sum() >= MIN_POSITIVES
        big = big and (control.sum() - y[control].sum()) >= MIN_POSITIVES
        self.control_model_ = self._classifier(False).fit(self._matrix(facts[control]), y[control]) if big else None
        self.n_treated_, self.n_control_ = int(treated.sum()), int(control.sum())
        self.uplift_table_ = strategy_uplift(strategies, treated, y, packs, base_response)
        return self

    # -- predictions -------------------------------------------------------------------------
    def response(self, facts: pd.DataFrame, strategy: str) -> np.ndarray:
        """P(respond | treated with `strategy`), calibrated; NaN for a strategy not seen in training."""
        check_is_fitted(self, "treated_model_")
        if strategy not in self.strategies_:
            return np.full(len(facts), np.nan)
        if not len(facts):
            return np.zeros(0)
        return self._predict(self.treated_model_, self._matrix(facts, strategy))

    def responses(self, facts: pd.DataFrame) -> dict[str, np.ndarray]:
        """`response` for every strategy the model knows, from one feature matrix and one
        prediction over all (fact, strategy) pairs (what the night calls)."""
        check_is_fitted(self, "treated_model_")
        n, k = len(facts), len(self.strategies_)
        if not n or not k:
            return {s: np.zeros(n) for s in self.strategies_}
        base = self._matrix(facts, self.strategies_[0])
        stacked = np.tile(base, (k, 1))
        stacked[:, -1] = np.repeat(np.arange(k, dtype=float), n)
        p = self._predict(self.treated_model_, stacked)
        return {s: p[i * n:(i + 1) * n] for i, s in enumerate(self.strategies_)}

    def control_response(self, facts: pd.DataFrame) -> np.ndarray:
        """P(respond | held out): the control model, or the smoothed segment rate."""
        check_is_fitted(self, "treated_model_")
        if self.control_model_ is not None and len(facts):
            return self._predict(self.control_model_, self._matrix(facts))
        segments = facts["segment"] if "segment" in facts.columns else pd.Series(MISSING, index=facts.index)
        return segments.astype(object).map(self.control_segment_rates_).fillna(self.control_rate_).to_numpy(dtype=float)

    def uplift(self, facts: pd.DataFrame, strategy: str) -> np.ndarray:
        """Estimated incremental response of treating with `strategy` (two-model difference)."""
        return self.response(facts, strategy) - self.control_response(facts)

    def incremental(self, facts: pd.DataFrame, strategy: str) -> np.ndarray:
        """What arbitration ranks on: the strategy's incremental response (uplift) measured
        against its pack's holdout (`strategy_uplift`), per fact; NaN when the history holds too
        little of the strategy or its control (base_response applies then)."""
        cell = getattr(self, "uplift_table_", {}).get(strategy)
        return np.full(len(facts), np.nan if cell is None else cell["uplift"])

    def incrementals(self, facts: pd.DataFrame) -> dict[str, np.ndarray]:
        """`incremental` for every strategy with an estimate (what the night calls)."""
        return {s: self.incremental(facts, s) for s in sorted(getattr(self, "uplift_table_", {}))}

    def predict_proba(self, facts: pd.DataFrame, strategy: str) -> np.ndarray:
        p = self.response(facts, strategy)
        return np.column_stack([1 - p, p])


def strategy_uplift(strategies, treated, y, packs=None, base_response=None) -> dict[str, dict]:
    """Per strategy: its treated response rate minus the response rate of its pack's holdout,
    moved from the planner's `base_response` only as far as the evidence requires.

    The holdout is drawn by hash among the pack's candidates, so within a pack the difference
    of the two arms' rates is an unbiased estimate of what the contact adds (the same estimate
    `rekindle report campaign` shows): `estimate`, with its standard error `se` and 95% interval
    `low`..`high`. Rates carry half a pseudo-response (Jeffreys) so that an arm without
    responders is not read as exactly 0.

    `uplift`, what arbitration ranks on, is the value within that interval nearest to the
    strategy's `base_response` (when one is given): the planner's estimate stands while the
    history cannot rule it out, and otherwise moves to the interval's near end. Why not the
    estimate itself: on the sample operator's loop (three monthly nights on 3k subscribers) a
    pack's holdout is a few dozen rows (monthly_low_use 62, long_term_silent 76), or rows that
    respond 20% of the time without contact (retention_care), so the estimates carry standard
    errors of 0.02-0.06 for uplifts of 0.02-0.10 — larger than the planner's errors — and
    ranking on them captured 0.800 of the oracle's true uplift at a 30% budget against 0.828
    for base_response, and as little as 0.487 in one case (mean over 20 feedback draws × 3
    subscriber splits; this rule: 0.833, never more than 0.06 below; docs/LOOP.md §5).
    Where the history is decisive (retention, whose holdout never responds, 180 rows at 0)
    the estimate replaces the planner's; as the history grows the interval narrows and
    `uplift` becomes the estimate. Without `base_response` (or for a strategy it does not
    list) `uplift` is the estimate.

    A strategy with fewer than MIN_CELL_TREATED treated rows, or whose pack's control has
    fewer than MIN_CELL_CONTROL, gets no entry (its `base_response` applies). Plain floats,
    ints and strings: the artefact stays within the skops allow-list.
    """
    strategies = np.asarray(strategies, dtype=object)
    treated = np.asarray(treated, dtype=bool)
    y = np.asarray(y, dtype=bool)
    packs = np.full(len(strategies), "", dtype=object) if packs is None else np.asarray(packs, dtype=object)
    base_response = base_response or {}
    arms = pd.DataFrame({"strategy": strategies.astype(str), "pack": packs.astype(str), "treated": treated, "y": y})
    control = arms[~arms["treated"]].groupby("pack")["y"].agg(["sum", "count"])
    table = {}
    for (strategy, pack), cell in arms[arms["treated"]].groupby(["strategy", "pack"], sort=True)["y"].agg(
            ["sum", "count"]).iterrows():
        if (strategy in table and table[strategy]["treated"] >= int(cell["count"])) or pack not in control.index:
            continue  # (a strategy listed by two packs: the pack with more treated rows)
        n_t, k_t = int(cell["count"]), int(cell["sum"])
        n_c, k_c = int(control.loc[pack, "count"]), int(control.loc[pack, "sum"])
        if n_t < MIN_CELL_TREATED or n_c < MIN_CELL_CONTROL:
            continue
        p_t, p_c = (k_t + 0.5) / (n_t + 1.0), (k_c + 0.5) / (n_c + 1.0)
        se = float(np.sqrt(p_t * (1 - p_t) / (n_t + 1.0) + p_c * (1 - p_c) / (n_c + 1.0)))
        estimate = float(p_t - p_c)
        low, high = estimate - INTERVAL_Z * se, estimate + INTERVAL_Z * se
        prior = base_response.get(str(strategy))
        uplift = estimate if prior is None else min(max(float(prior), low), high)
        source = "measured" if prior is None or uplift != float(prior) else "base_response"
        table[str(strategy)] = {"uplift": round(uplift, 6), "estimate": round(estimate, 6), "se": round(se, 6),
                                "low": round(low, 6), "high": round(high, 6), "source": source, "pack": str(pack),
                                "treated": n_t, "treated_responses": k_t, "control": n_c, "control_responses": k_c}
    return table


def latest_response(models_dir=None) -> tuple[ResponseModel | None, dict | None]:
    """The newest stored response model and its metadata, or (None, None) when none is stored."""
    from engine.base.diagnostics import DiagnosticError
    from engine.scoring.artefacts import find_model, load_model

    try:
        meta = find_model(None, MODEL_NAME, models_dir)
    except DiagnosticError:
        return None, None
    return load_model(meta, models_dir), meta


def add_propensity(frame: pd.DataFrame, models_dir=None,
                   loaded: tuple[ResponseModel | None, dict | None] | None = None) -> str | None:
    """Add `propensity.<s>` (response when treated) and `uplift.<s>` (the incremental response
    arbitration ranks on) for every strategy of the latest response model to the fact frame (in
    place) and return the model's version; None (frame untouched) when no model is stored, so
    arbitration falls back to each strategy's `base_response`. `loaded`: what `latest_response`
    returned, when the caller loaded it once for many frames (a night's slices)."""
    model, meta = loaded if loaded is not None else latest_response(models_dir)
    if model is None:
        return None
    for strategy, values in model.responses(frame).items():
        frame[f"{PROPENSITY_PREFIX}{strategy}"] = np.round(values, 6)
    for strategy, values in model.incrementals(frame).items():
        frame[f"{UPLIFT_PREFIX}{strategy}"] = np.round(values, 6)
    return meta["version"]
