"""Train, store and apply the stability model: from a snapshot or from any tabular file.

`train_stability_from_snapshot` builds subscriber features (engine/scoring/features.py) and
joins `churn_labels`; `train_stability_from_table` takes an operator's CSV/Parquet. Both split
off a stratified, seeded held-out set (default 25%), fit `StabilityClassifier` on the rest,
evaluate on the held-out rows and store a versioned artefact with the metrics and rule set.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.scoring.artefacts import data_fingerprint, find_model, load_model, save_model
from engine.scoring.evaluation import evaluate_stability, truth_metrics, truth_path_for
from engine.scoring.features import churn_training_frame
from engine.scoring.stability import StabilityClassifier
from engine.scoring.tabular import CATEGORICAL, NUMERIC, scoring_table, training_table

MODEL_NAME = "stability"
DEFAULT_TEST_SIZE = 0.25
TRAIN_HINT = "run `rekindle models train stability --data DIR --as-of DATE` (or `--table FILE --label COL --id COL`)"


def train_stability(X: pd.DataFrame, y: pd.Series, ids: pd.Series, source: dict, *, test_size: float = DEFAULT_TEST_SIZE,
                    seed: int = 0, truth_file: str | Path | None = None, models_dir=None, refit: bool = True,
                    **params) -> dict:
    """Fit on a stratified split, evaluate on the held-out part, store; returns the artefact metadata.

    With `refit` (default) the stored model is then fitted again, by the same procedure and seed, on
    all rows — the usual practice, so an operator scoring new data gets the model that saw all the
    history; the metrics describe the procedure, measured on rows its evaluation twin never saw.
    """
    y = pd.Series(np.asarray(y).astype(int), index=X.index)
    counts = np.bincount(y, minlength=2)
    if counts.min() < 4:
        raise DiagnosticError([Diagnostic("MD034", f"too few examples of one class to train and evaluate "
                                          f"({counts[1]} churners, {counts[0]} stayers)", hint="give more labelled rows")])
    ids = pd.Series(np.asarray(ids, dtype=object), index=X.index)
    X_train, X_test, y_train, y_test, id_train, id_test = train_test_split(
        X, y, ids, test_size=test_size, stratify=y, random_state=seed)
    model = StabilityClassifier(random_state=seed, **params).fit(X_train, y_train)
    metrics = evaluate_stability(model, X_test, y_test)
    metrics["train_rows"] = int(len(y_train))
    metrics["chosen_model"] = model.chosen_
    metrics["search"] = model.search_results_
    if truth_file is not None:
        truth = truth_metrics(id_test, model.churn_risk(X_test), y_test, truth_file, seed)
        if truth:
            metrics["truth"] = truth
    metrics["evaluated_model"] = "trained on the other rows of the split; the stored model is refit on all rows" if refit \
        else "the stored model"
    if refit:
        model = StabilityClassifier(random_state=seed, **params).fit(X, y)
    kinds = {c: (NUMERIC if c in model.numeric_features_ else CATEGORICAL) for c in X.columns}
    meta = {
        "source": source,
        "data_fingerprint": data_fingerprint(X, y),
        "features": [{"name": c, "kind": kinds[c]} for c in X.columns],
        "metrics": metrics,
        "rules": model.rules(),
        "params": {**model.get_params(), "test_size": test_size, "seed": seed, "refit": refit,
                   "calibration_method": model.calibration_method_},
        "stability_cutoffs": {"low": model.cutoffs_[0], "mid": model.cutoffs_[1]},
    }
    return save_model(MODEL_NAME, model, meta, models_dir)


def train_stability_from_snapshot(data_dir: str | Path, as_of: date, *, models_dir=None,
                                  settings: str | Path | None = None, **kwargs) -> dict:
    """Train on the snapshot's subscriber features and its `churn_labels` table.

    `settings`: the operator's rules/value_stability.yaml; its `stability.indicators` chooses the
    features the model learns from (engine.scoring.value_stability; all of them without the file
    or the key). The chosen list and the settings' hash are stored in the artefact's `source`."""
    from engine.snapshot.loader import load_snapshot  # the loader validates the whole snapshot first
    from engine.base.yamlfile import load_yaml
    from engine.scoring.value_stability import settings_hash, unknown_stability_keys, value_stability_from_doc

    doc = load_yaml(settings) if settings is not None else None
    config = None
    if doc is not None:  # a bad file fails before the long part
        config = value_stability_from_doc(doc)
        if unknown_stability_keys(doc):
            raise DiagnosticError(unknown_stability_keys(doc))
    snapshot = load_snapshot(data_dir)
    if "churn_labels" not in snapshot.tables:
        raise DiagnosticError([Diagnostic("MD035", "the snapshot has no churn_labels table", file=str(data_dir),
                                          hint="add churn_labels.csv (msisdn, churned, observed_on) or train with --table")])
    X, y = churn_training_frame(snapshot.tables, as_of)
    source = {"kind": "snapshot", "data": str(data_dir), "as_of": str(as_of)}
    chosen = config.stability_indicators if config is not None else None
    if chosen is not None:
        X = X[[c for c in X.columns if c in chosen]]  # the features' own order, whatever the file's
        if X.shape[1] == 0:
            raise DiagnosticError([doc.error("MD057", "none of the stability indicators chosen here is in the "
                                             f"snapshot {data_dir} ({', '.join(chosen)})", "stability", "indicators",
                                             hint="choose core indicators too (e.g. tenure_days, arpu), or leave "
                                                  "the key out to train on all of them")])
        source["indicators"] = list(X.columns)
        source["settings"] = settings_hash(config)
    return train_stability(X, y, pd.Series(X.index, index=X.index), source,
                           truth_file=truth_path_for(data_dir), models_dir=models_dir, **kwargs)


def train_stability_from_table(path: str | Path, label: str, id_column: str, *, models_dir=None, **kwargs) -> dict:
    """Train on an operator's table: every column but `label` and `id_column` is a feature."""
    X, y, ids, file = training_table(path, label, id_column)
    source = {"kind": "table", "file": file, "label": label, "id": id_column}
    return train_stability(X, y, ids, source, models_dir=models_dir, **kwargs)


def latest_stability(version: str | None = None, models_dir=None, source_kind: str | None = None) -> tuple[StabilityClassifier, dict]:
    """The stored stability model (a version, or the latest, optionally of one source kind) and its metadata."""
    where = (lambda m: m.get("source", {}).get("kind") == source_kind) if source_kind else None
    try:
        meta = find_model(version, MODEL_NAME, models_dir, where=where)
    except DiagnosticError as exc:
        if version:
            raise
        what = "trained on a snapshot " if source_kind == "snapshot" else ""
        raise DiagnosticError([Diagnostic("MD043", f"no stability model {what}is stored yet", hint=TRAIN_HINT)]) from exc
    return load_model(meta, models_dir), meta


def score_stability_table(path: str | Path, id_column: str, out: str | Path, version: str | None = None,
                          models_dir=None) -> tuple[int, dict]:
    """Write `id,churn_risk,stability` for every row of a tabular file; returns (rows, metadata)."""
    model, meta = latest_stability(version, models_dir)
    kinds = {f["name"]: f["kind"] for f in meta["features"]}
    X, ids = scoring_table(path, id_column, kinds)
    risk = model.churn_risk(X)
    frame = pd.DataFrame({"id": ids.to_numpy(), "churn_risk": np.round(risk, 6), "stability": model.stability(risk)})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    frame.to_csv(tmp, index=False, lineterminator="\n")
    tmp.replace(out)
    return len(frame), meta
