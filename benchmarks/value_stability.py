"""Value × stability quality before/after the optional columns (issue 10 §3), on generated data.

    python benchmarks/value_stability.py --subscribers 20000 --seed 7 --as-of 2026-11-15

Generates a snapshot (or reads --data DIR, which must hold truth/), then:
- stability: trains `StabilityClassifier` on the same stratified 75% split twice — core features
  only (what an old snapshot gives) and with the optional columns — and prints ROC AUC, the
  tree's AUC, and coverage / hit rate / lift of the riskiest 10% and 20% on the held-out 25%;
- value: scores value with the code defaults (core indicators) and with rules/value_stability.yaml
  (all nine) and compares each against truth/value.csv: Spearman correlation, and the share of
  the truly most valuable 20% that the `high` tier catches (precision = recall at equal size).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd


def _stability(tables, as_of: date, seed: int) -> None:
    from sklearn.model_selection import train_test_split

    from engine.scoring.evaluation import evaluate_stability
    from engine.scoring.features import FEATURES, churn_training_frame
    from engine.scoring.stability import StabilityClassifier

    X, y = churn_training_frame(tables, as_of)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    print(f"stability: {len(X_tr):,} train / {len(X_te):,} held-out rows, churn rate {y.mean():.3f}")
    for label, columns in (("core features (old snapshot)", list(FEATURES)), ("with optional columns", list(X.columns))):
        t = time.perf_counter()
        model = StabilityClassifier(random_state=seed).fit(X_tr[columns], y_tr)
        m = evaluate_stability(model, X_te[columns], y_te)
        print(f"  {label:<30} AUC {m['roc_auc']:.4f}  tree AUC {m['tree_roc_auc']:.4f}  "
              + "  ".join(f"top {k}: coverage {v['coverage']:.3f} hit {v['hit_rate']:.3f} lift {v['lift']:.2f}"
                          for k, v in m["alert"].items() if k in ("10%", "20%"))
              + f"  ({time.perf_counter() - t:.0f} s, {len(columns)} features, {model.chosen_['model']})")


def _value(tables, as_of: date, truth: pd.Series) -> None:
    from engine.scoring.value import ValueConfig, value_indicators, value_scores
    from engine.scoring.value_stability import load_value_stability

    indicators = value_indicators(tables, as_of)
    shipped = load_value_stability(Path(__file__).resolve().parents[1] / "rules" / "value_stability.yaml").value
    true = truth.reindex(indicators.index).to_numpy(dtype=float)
    top = true >= np.quantile(true, 0.8)
    print(f"value vs truth/value.csv ({len(true):,} subscribers):")
    for label, config in (("code defaults (core five)", ValueConfig()), ("rules/value_stability.yaml", shipped)):
        scores = value_scores(indicators, config)
        rho = pd.Series(scores["value"].to_numpy()).corr(pd.Series(true), method="spearman")
        high = scores["value_tier"].to_numpy() == "high"
        caught = (high & top).sum() / max(top.sum(), 1)
        print(f"  {label:<28} Spearman {rho:.4f}  true top-20% in high tier {caught:.3f}  "
              f"(high tier size {high.mean():.3f}; {config.version()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data")
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", default="2026-11-15")
    args = parser.parse_args()
    as_of = date.fromisoformat(args.as_of)

    from engine.generator.snapshot import generate
    from engine.snapshot.loader import load_snapshot

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "snapshot"
        if not args.data:
            generate(data, args.subscribers, args.seed, as_of)
        snapshot = load_snapshot(data)
        truth = pd.read_csv(data / "truth" / "value.csv", dtype={"msisdn": str}).set_index("msisdn")["true_value"]
    _value(snapshot.tables, as_of, truth)
    _stability(snapshot.tables, as_of, args.seed)


if __name__ == "__main__":
    main()
