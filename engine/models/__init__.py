"""Models (SPEC §4): AHP weights, data-service sensitivity, stability (churn), value, retention grid."""

from engine.models.ahp import AhpResult, ahp_weights, load_ahp_file
from engine.models.artefacts import ALLOWED_TYPES, data_fingerprint, find_model, list_models, load_model, save_model
from engine.models.features import subscriber_features
from engine.models.retention import RetentionConfig, retention_group
from engine.models.scoring import SCORE_COLUMNS, score_snapshot
from engine.models.sensitivity import SensitivityConfig, compute_sensitivity, load_sensitivity_config
from engine.models.stability import StabilityClassifier
from engine.models.training import (
    latest_stability,
    score_stability_table,
    train_stability,
    train_stability_from_snapshot,
    train_stability_from_table,
)
from engine.models.value import ValueConfig, compute_value

__all__ = [
    "ALLOWED_TYPES", "AhpResult", "RetentionConfig", "SCORE_COLUMNS", "SensitivityConfig", "StabilityClassifier",
    "ValueConfig", "ahp_weights", "compute_sensitivity", "compute_value", "data_fingerprint", "find_model",
    "latest_stability", "list_models", "load_ahp_file", "load_model", "load_sensitivity_config", "retention_group",
    "save_model", "score_snapshot", "score_stability_table", "subscriber_features", "train_stability",
    "train_stability_from_snapshot", "train_stability_from_table",
]
