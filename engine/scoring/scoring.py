"""Score a whole snapshot (ARCHITECTURE §3): every model, every subscriber, vectorised.

Returns one row per subscriber (index `msisdn`) with `sensitivity`, `sensitivity_pct`, `data_sensitive`,
`churn_risk`, `stability`, `value`, `value_tier`, `retention_group`, and the versions used:
the stability artefact's content hash, and for the parameterised formulas (sensitivity, value,
retention grid) the hash of their weights, so a trace names exactly what produced a score.
The value version hashes the weights *applied*: an indicator whose optional column the snapshot
lacks drops out (engine.scoring.value), so an old snapshot keeps its old value version.
`value_stability` (rules/value_stability.yaml, engine.scoring.value_stability) sets the value
weights and tiers, fixed stability cut-offs (a version suffix `+cutoffs:LOW/MID`) and the grid.

Two steps (engine/scoring/parts.py): `score_part` gives the raw parts of some subscribers from
their own rows (the stability model's risk and tier, value indicators, the sensitivity's inputs);
`score_whole` runs the base-wide steps once on the whole base's raw parts (percentile ranks,
value tiers, the sensitivity's frequency bands, the retention grid). `score_snapshot` is both on
a whole snapshot; a local night runs `score_part` slice by slice (engine/night/slicescore.py) so
that it never holds the base's tables next to the scorer's working set. Either way the scores
are the same, bit for bit (tests/engine/night/test_slicescore.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.facts.fields import SCORE_COLUMNS
from engine.facts.keys import snapshot_keys
from engine.scoring.features import OPTIONAL_FEATURES, subscriber_features
from engine.scoring.parts import RawParts, indicator_frame, level_codes
from engine.scoring.retention import RetentionConfig, retention_group
from engine.scoring.sensitivity import SensitivityConfig, sensitivity_inputs, sensitivity_scores
from engine.scoring.training import latest_stability
from engine.scoring.value import ValueConfig, raw_indicators, value_scores
from engine.scoring.value_stability import ValueStabilityConfig

CATEGORICAL_OPTIONAL = frozenset({"handset_brand"})


@dataclass(frozen=True)
class Scorer:
    """What scoring a base uses in every part: the stability model (None without one) and the formulas."""

    as_of: date
    model: Any
    meta: dict
    sensitivity: SensitivityConfig
    value: ValueConfig
    retention: RetentionConfig
    value_stability: ValueStabilityConfig | None


def scorer(as_of: date, models_dir=None, *, stability_version: str | None = None,
           sensitivity_config: SensitivityConfig | None = None, value_config: ValueConfig | None = None,
           retention_config: RetentionConfig | None = None, value_stability: ValueStabilityConfig | None = None,
           require_stability: bool = True) -> Scorer:
    """The model and formulas `score_snapshot` applies (its arguments; see there)."""
    if value_stability is not None:  # the operator's file wins over the code defaults
        value_config = value_config or value_stability.value
        retention_config = retention_config or value_stability.retention
    try:
        model, meta = latest_stability(stability_version, models_dir,
                                       source_kind=None if stability_version else "snapshot")
    except DiagnosticError:
        if require_stability:
            raise
        model, meta = None, {"version": "none"}
    return Scorer(as_of, model, meta, sensitivity_config or SensitivityConfig(), value_config or ValueConfig(),
                  retention_config or RetentionConfig(), value_stability)


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
    The raw parts of the whole base, then the base-wide steps (a night does the raw parts slice
    by slice: engine/night/slicescore.py).
    """
    using = scorer(as_of, models_dir, stability_version=stability_version, sensitivity_config=sensitivity_config,
                   value_config=value_config, retention_config=retention_config, value_stability=value_stability,
                   require_stability=require_stability)
    return score_whole(using, subscriber_index(snapshot.tables), score_part(using, snapshot.tables))


def subscriber_index(tables: dict[str, pd.DataFrame]) -> pd.Index:
    """The scores' index: the subscribers' msisdns in file order (as snapshot_keys makes it)."""
    return pd.Index(tables["subscribers"]["msisdn"].astype(str), name="msisdn")


def score_part(using: Scorer, tables: dict[str, pd.DataFrame]) -> RawParts:
    """The raw parts of the subscribers of `tables` (all their rows, any other subscriber's rows
    or none): churn risk and tier, value indicators, the sensitivity's inputs."""
    keys = snapshot_keys(tables, using.as_of)  # join every table to the subscribers once
    if using.model is None:
        risk = stability = None
    else:
        features = subscriber_features(tables, using.as_of, keys)
        model_input = _model_input(using.model, using.meta, features)  # checked even for no rows
        # a part without subscribers (a scikit-learn model refuses zero rows) has no risks
        risk = using.model.churn_risk(model_input) if len(model_input) else np.zeros(0)
        del model_input
        del features
        stability = level_codes(_stability_tiers(using.model, risk, using.value_stability))
    sensitivity = sensitivity_inputs(tables["subscriptions"], tables["usage_monthly"], keys, using.sensitivity)
    indicators, filled = raw_indicators(tables, using.as_of, keys)
    return RawParts(len(keys.index), risk, stability, {name: indicators[name].to_numpy() for name in indicators.columns},
                    filled, sensitivity)


def score_whole(using: Scorer, index: pd.Index, parts: RawParts) -> tuple[pd.DataFrame, dict[str, str]]:
    """The base-wide steps on the whole base's raw parts (`index`: its msisdns, file order): the
    sensitivity's frequency bands and percentile rank, the value's percentile ranks and tiers,
    the retention grid; (scores indexed by msisdn, versions) as `score_snapshot` returns them."""
    if len(index) != parts.size:
        raise ValueError(f"{parts.size} subscribers' raw parts for an index of {len(index)}")
    scores, versions = score_positions(using, parts)
    return scores.set_axis(index), versions


def score_positions(using: Scorer, parts: RawParts) -> tuple[pd.DataFrame, dict[str, str]]:
    """`score_whole` with the scores indexed by position (0..n-1, the subscribers file order):
    the same values, bit for bit (no step reads the index), without the msisdns. Why: joining
    frames indexed by 3M msisdns hashed them although both sides are in the same order; a night
    (engine/night/slicescore.py) puts each slice's msisdns on its own rows only."""
    index = pd.RangeIndex(parts.size)
    scores = sensitivity_scores(index, parts.sensitivity, using.sensitivity)
    if using.model is None:
        scores["churn_risk"] = float("nan")
        scores["stability"] = None
    else:
        scores["churn_risk"] = parts.churn_risk
        scores["stability"] = parts.stability_tiers()
    indicators = indicator_frame(parts, index)
    try:
        value_config = using.value.effective(indicators.columns)
    except ValueError as error:
        raise DiagnosticError([Diagnostic("MD056", str(error), file="rules/value_stability.yaml",
                                          hint="weight at least one indicator the snapshot has (value.weights)")]) from None
    value = value_scores(indicators, value_config)  # the same positions: its columns, not a join
    del indicators
    scores["value"], scores["value_tier"] = value["value"], value["value_tier"]
    del value
    scores["retention_group"] = (retention_group(scores["value_tier"], scores["stability"], using.retention)
                                 if using.model is not None else None)
    versions = {
        "sensitivity": using.sensitivity.version(),
        "stability": using.meta["version"] if using.value_stability is None or using.model is None
        else using.value_stability.stability_version(using.meta["version"]),
        "value": value_config.version(),
        "retention": using.retention.version(),
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
