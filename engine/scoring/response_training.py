"""Training and evaluating the response model on the loop's history (`rekindle models train response`).

The history is the database itself: every succeeded run (the latest per as-of) for which some
feedback was loaded gives one row per `treat` or `held_out` decision — the fact exactly as the
rules saw it (the trace's `fact`), the strategy (sent, or the one the control would have got),
treated or held out, and `responded` from the feedback. A decision without a `responded`
event in a run that has feedback counts as a non-response.

Evaluation on held-out history (a seeded 25% split, by subscriber so one person is never on
both sides): ROC AUC of the treated model against the constant per-strategy `base_response`
baseline (a constant ranks nobody above anybody: AUC 0.5 within a strategy), and uplift at k
and the Qini coefficient: the observed treated-minus-control response among the top k% — by
the T-learner's per-subscriber uplift, by what arbitration ranks on (`uplift.<s>`, else
base_response) and by the constant base_response — against the overall uplift (what a
random order gets at any k). The final model is refit
on all rows and stored as a versioned artefact (engine/scoring/artefacts.py) with these
metrics, the rows' fingerprint and the runs it learned from.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sqlalchemy import text

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.scoring.artefacts import data_fingerprint, save_model
from engine.scoring.response import MODEL_NAME, ResponseModel
from engine.store.database import get_engine
from engine.store.read import decisions_with_payloads

TOO_LITTLE = "MD050"
MIN_TREATED = 200
MIN_RESPONSES = 20
TEST_SHARE = 0.25
K_SHARES = (0.1, 0.3, 0.5)


def response_history(db_url: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(facts, labels): one row per treated / held-out decision of the runs with feedback.

    `labels` has run_id, seq, msisdn, pack, strategy, channel, treated, responded.
    """
    with get_engine(db_url).connect() as conn:
        runs = [r.id for r in conn.execute(text(
            "SELECT r.id FROM run r WHERE r.status = 'succeeded' AND EXISTS (SELECT 1 FROM feedback_event f "
            "WHERE f.run_id = r.id) AND r.id = (SELECT r2.id FROM run r2 WHERE r2.status = 'succeeded' AND "
            "r2.as_of = r.as_of ORDER BY r2.started_at DESC, r2.id DESC LIMIT 1) ORDER BY r.as_of"))]
        facts, labels = [], []
        for run_id in runs:
            rows = decisions_with_payloads(  # traces are stored in blocks: engine/store/read.py reads them
                run_id, db_url, columns=("msisdn", "pack", "strategy", "channel", "decision"),
                where="d.decision IN ('treat', 'held_out')")
            responded = {r.seq for r in conn.execute(text(
                "SELECT DISTINCT seq FROM feedback_event WHERE run_id = :r AND event = 'responded'"), {"r": run_id})}
            for r, payload in rows:
                if payload is None:
                    continue  # a decision without its trace (as the inner join did)
                facts.append(json.loads(payload).get("fact") or {})
                labels.append((run_id, r["seq"], r["msisdn"], r["pack"], r["strategy"], r["channel"],
                               r["decision"] == "treat", r["seq"] in responded))
    label_frame = pd.DataFrame(labels, columns=["run_id", "seq", "msisdn", "pack", "strategy", "channel", "treated",
                                                "responded"])
    # the earlier model's outputs are not inputs of the next one
    fact_frame = pd.DataFrame(facts).drop(columns=["propensity", "uplift"], errors="ignore")
    return fact_frame, label_frame


def _split(labels: pd.DataFrame, seed: int) -> np.ndarray:
    """True for test rows: a seeded TEST_SHARE of subscribers."""
    people = np.array(sorted(set(labels["msisdn"])), dtype=object)
    rng = np.random.default_rng(seed)
    test_people = set(people[rng.random(len(people)) < TEST_SHARE])
    return labels["msisdn"].isin(test_people).to_numpy()


def uplift_at_k(score: np.ndarray, treated: np.ndarray, y: np.ndarray, share: float) -> float:
    """Observed response rate of treated minus control among the top `share` by `score` (NaN if
    either arm is empty there)."""
    k = max(1, int(round(len(score) * share)))
    top = np.argsort(-score, kind="stable")[:k]
    t, c = treated[top], ~treated[top]
    if not t.any() or not c.any():
        return float("nan")
    return float(y[top][t].mean() - y[top][c].mean())


def qini(score: np.ndarray, treated: np.ndarray, y: np.ndarray, points: int = 10) -> float:
    """Qini coefficient: the mean, over the top 10%, 20%, … 100% by `score`, of the incremental
    responses found there (treated responders − control responders × treated/control) above
    what a random targeting of that share finds, per row of the whole set. 0 for a random or
    constant score; higher is better. NaN without both arms."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    t, yy = treated[order], y[order]
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    r_t, r_c = np.cumsum(yy & t), np.cumsum(yy & ~t)
    if not n_t[-1] or not n_c[-1]:
        return float("nan")
    gain = r_t - np.divide(r_c * n_t, n_c, out=np.zeros(len(order)), where=n_c > 0)
    at = np.maximum(1, np.round(np.linspace(0.1, 1.0, points) * len(order)).astype(int)) - 1
    random = gain[-1] * (at + 1) / len(order)
    return float(np.mean(gain[at] - random) / len(order))


def arbitration_scores(model: ResponseModel, facts: pd.DataFrame, strategies: np.ndarray,
                       base: dict[str, float]) -> np.ndarray:
    """Per row, the incremental response arbitration values the row's strategy with:
    `uplift.<s>` of the model, else the strategy's base_response (engine/night/arbitrate.py)."""
    out = np.array([base.get(s, 0.0) for s in strategies], dtype=float)
    for s in sorted(set(strategies)):
        rows = strategies == s
        learned = model.incremental(facts[rows], s)
        out[rows] = np.where(np.isnan(learned), out[rows], learned)
    return out


def evaluate(model: ResponseModel, facts: pd.DataFrame, labels: pd.DataFrame, base: dict[str, float]) -> dict:
    """Metrics of a model on rows it did not see (module docstring)."""
    treated = labels["treated"].to_numpy(dtype=bool)
    y = labels["responded"].to_numpy(dtype=bool)
    strategies = labels["strategy"].to_numpy(dtype=object)
    response = np.full(len(labels), np.nan)
    uplift = np.full(len(labels), np.nan)
    for s in sorted(set(strategies)):
        rows = strategies == s
        response[rows] = model.response(facts[rows], s)
        uplift[rows] = model.uplift(facts[rows], s)
    ranking = arbitration_scores(model, facts, strategies, base)
    constant = np.array([base.get(s, 0.0) for s in strategies], dtype=float)
    known = ~np.isnan(response)
    out = {"test_rows": int(len(labels)), "test_treated": int(treated.sum()), "test_responses": int(y[treated].sum())}
    sel = treated & known
    base_scores = np.array([base.get(s, 0.0) for s in strategies])
    both = len(set(y[sel])) == 2
    out["roc_auc"] = round(float(roc_auc_score(y[sel], response[sel])), 4) if both else None
    out["roc_auc_base_response"] = round(float(roc_auc_score(y[sel], base_scores[sel])), 4) if both else None
    ok = known
    overall = uplift_at_k(np.zeros(ok.sum()), treated[ok], y[ok], 1.0)
    out["uplift_overall"] = None if np.isnan(overall) else round(overall, 4)
    # by the per-subscriber T-learner, by what arbitration ranks on, by the constant baseline
    for key, score, rows in (("uplift_at_k", uplift, ok), ("uplift_at_k_arbitration", ranking, slice(None)),
                             ("uplift_at_k_base_response", constant, slice(None))):
        out[key] = {}
        for share in K_SHARES:
            value = uplift_at_k(score[rows], treated[rows], y[rows], share)
            out[key][f"{share:.0%}"] = None if np.isnan(value) else round(value, 4)
    for key, score, rows in (("qini", uplift, ok), ("qini_arbitration", ranking, slice(None)),
                             ("qini_base_response", constant, slice(None))):
        value = qini(score[rows], treated[rows], y[rows])
        out[key] = None if np.isnan(value) else round(value, 5)
    return out


def base_responses(strategies_dir) -> dict[str, float]:
    """Strategy → `base_response` from the strategy files (the constant baseline)."""
    from pathlib import Path

    from engine.base.yamlfile import load_yaml

    out = {}
    for path in sorted(Path(strategies_dir).glob("*.yaml")):
        data = load_yaml(path).data or {}
        if isinstance(data, dict) and data.get("strategy"):
            out[str(data["strategy"])] = float(data.get("base_response") or 0.0)
    return out


def train_response(db_url: str | None = None, models_dir=None, seed: int = 0, strategies_dir="strategies") -> dict:
    """Train, evaluate on held-out history, refit on everything and store; returns the metadata."""
    base_response = base_responses(strategies_dir)
    facts, labels = response_history(db_url)
    treated = labels["treated"].to_numpy(dtype=bool)
    y = labels["responded"].to_numpy(dtype=bool)
    if treated.sum() < MIN_TREATED or y[treated].sum() < MIN_RESPONSES:
        raise DiagnosticError([Diagnostic(
            TOO_LITTLE, f"too little history: {int(treated.sum())} treated decisions with {int(y[treated].sum())} "
            f"responses in runs with feedback (need {MIN_TREATED} and {MIN_RESPONSES})",
            hint="run nights and load their feedback (`rekindle feedback load FILE`) first")])
    test = _split(labels, seed)
    model = ResponseModel(random_state=seed).fit(facts[~test].reset_index(drop=True), labels["strategy"][~test],
                                                 treated[~test], y[~test], labels["pack"][~test], base_response)
    metrics = evaluate(model, facts[test].reset_index(drop=True), labels[test].reset_index(drop=True),
                       base_response or {})
    final = ResponseModel(random_state=seed).fit(facts, labels["strategy"], treated, y, labels["pack"], base_response)
    metrics.update(train_rows=int(len(labels)), treated=int(treated.sum()), control=int((~treated).sum()),
                   responses_treated=int(y[treated].sum()), responses_control=int(y[~treated].sum()),
                   control_model="model" if final.control_model_ is not None else "segment rates")
    fingerprint = data_fingerprint(facts.astype(str), labels["responded"])
    meta = {
        "kind": "response", "method": "two-model (T-learner): calibrated HistGradientBoosting for treated "
        "(strategy as a feature) and for the holdout control; arbitration's uplift per strategy: treated response "
        "rate minus its pack's holdout response rate, the value in its 95% interval nearest to base_response",
        "metrics": metrics, "uplift": final.uplift_table_, "strategies": list(final.strategies_), "runs": sorted(set(labels["run_id"])),
        "training_fingerprint": fingerprint, "params": final.get_params(),
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return save_model(MODEL_NAME, final, meta, models_dir)


def captured_uplift(score: np.ndarray, true_uplift: np.ndarray, share: float) -> float:
    """Share of the oracle's true uplift a targeting by `score` captures when it may contact the
    top `share` of the rows (the same budget for both): Σ uplift of its picks / Σ of the best picks.
    Ties keep row order. Used with a simulator's truth (engine.generator.feedback.unit_truth)."""
    k = max(1, int(round(len(score) * share)))
    picked = true_uplift[np.argsort(-np.asarray(score, dtype=float), kind="stable")[:k]].sum()
    oracle = np.sort(true_uplift)[::-1][:k].sum()
    return float(picked / oracle) if oracle > 0 else float("nan")
