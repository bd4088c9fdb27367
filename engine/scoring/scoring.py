"""Score a whole snapshot (ARCHITECTURE §3): every model, every subscriber, vectorised.

Returns one row per subscriber (index `msisdn`) with `sensitivity`, `sensitivity_pct`, `data_sensitive`,
`churn_risk`, `stability`, `value`, `value_tier`, `retention_group`, and the versions used:
the stability artefact's content hash, and for the parameterised formulas (sensitivity, value,
retention grid) the hash of their weights, so a trace names exactly what produced a score.
The value version hashes the weights *applied*: an indicator whose optional column the snapshot
lacks drops out (engine.scoring.value), so an old snapshot keeps its old value version.
`value_stability` (rules/value_stability.yaml, engine.scoring.value_stability) sets the value
weights and tiers, fixed stability cut-offs (a version suffix `+cutoffs:LOW/MID`) and the grid.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.scoring.features import OPTIONAL_FEATURES, subscriber_features

CATEGORICAL_OPTIONAL = frozenset({"handset_brand"})
from engine.facts.keys import snapshot_keys
from engine.scoring.retention import RetentionConfig, retention_group
from engine.scoring.sensitivity import SensitivityConfig, compute_sensitivity
from engine.scoring.training import latest_stability
from engine.scoring.value import ValueConfig, value_indicators, value_scores
from engine.scoring.value_stability import ValueStabilityConfig
from engine.facts.fields import SCORE_COLUMNS



def score_snapshot(snapshot, as_of: date, models_dir=None, *, stability_version: str | None = None,
                   sensitivity_config: SensitivityConfig | None = None, value_config: ValueConfig | None = None,
                   retention_config: RetentionConfig | None = None,
                   value_stability: ValueStabilityConfig | None = None,
                   require_stability: bool = True) -> tuple[pd.DataFrame, dict[str, str]]:
    """(scores indexed by msisdn, {model name: version}) for every subscriber of `snapshot`.

    Uses the latest stability model trained on a snapshot (or `stability_version`); raises
    DiagnosticError telling the user to train one when none is stored — unless
    `require_stability` is False (`rekindle facts` before any training): then churn_risk,
    stability and retention_group are missing and the stability version is "none".
    """
    tables = snapshot.tables
    if value_stability is not None:  # the operator's file wins over the code defaults
        value_config = value_config or value_stability.value
        retention_config = retention_config or value_stability.retention
    sensitivity_config = sensitivity_config or SensitivityConfig()
    value_config = value_config or ValueConfig()
    retention_config = retention_config or RetentionConfig()

    try:
        model, meta = latest_stability(stability_version, models_dir,
                                       source_kind=None if stability_version else "snapshot")
    except DiagnosticError:
        if require_stability:
            raise
        model, meta = None, {"version": "none"}
    keys = snapshot_keys(tables, as_of)  # join every table to the subscribers once
    features = subscriber_features(tables, as_of, keys)
    scores = compute_sensitivity(features.index, tables["subscriptions"], tables["usage_monthly"], as_of,
                                 sensitivity_config, keys)[["sensitivity", "sensitivity_pct", "data_sensitive"]]
    if model is None:
        scores["churn_risk"] = float("nan")
        scores["stability"] = None
    else:
        risk = model.churn_risk(_model_input(model, meta, features))
        scores["churn_risk"] = risk
        scores["stability"] = _stability_tiers(model, risk, value_stability)
    indicators = value_indicators(tables, as_of, keys)
    try:
        value_config = value_config.effective(indicators.columns)
    except ValueError as error:
        raise DiagnosticError([Diagnostic("MD056", str(error), file="rules/value_stability.yaml",
                                          hint="weight at least one indicator the snapshot has (value.weights)")]) from None
    scores = scores.join(value_scores(indicators, value_config))
    scores["retention_group"] = (retention_group(scores["value_tier"], scores["stability"], retention_config)
                                 if model is not None else None)
    versions = {
        "sensitivity": sensitivity_config.version(),
        "stability": meta["version"] if value_stability is None or model is None
        else value_stability.stability_version(meta["version"]),
        "value": value_config.version(),
        "retention": retention_config.version(),
    }
    return scores[list(SCORE_COLUMNS)], versions


def _stability_tiers(model, risk, value_stability: ValueStabilityConfig | None):
    """high/mid/low by the model's learned cut-offs, or by the operator's fixed ones."""
    if value_stability is None or value_stability.stability_cutoffs is None:
        return model.stability(risk)
    low, mid = value_stability.stability_cutoffs
    return np.where(risk >= low, "low", np.where(risk >= mid, "mid", "high")).astype(object)


def _model_input(model, meta: dict, features: pd.DataFrame) -> pd.DataFrame:
    """The feature columns the stability model was trained on; a clear error if any is missing."""
    needed = [str(c) for c in model.feature_names_in_]
    # An optional column the snapshot leaves out is unknown in every row (the contract's reading
    # of an empty cell): the model scores with those features missing, as it does for empty cells.
    absent = [c for c in needed if c not in features.columns and c in OPTIONAL_FEATURES]
    if absent:
        features = features.assign(**{c: (None if c in CATEGORICAL_OPTIONAL else np.nan) for c in absent})
    missing = [c for c in needed if c not in features.columns]
    if missing:
        raise DiagnosticError([Diagnostic(
            "MD044", f"stability model {meta['version']} needs features a snapshot does not have: {', '.join(missing[:5])}",
            hint="it was trained on a --table file; run `rekindle models train stability --data DIR --as-of DATE`")])
    return features[needed]
