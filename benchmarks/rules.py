"""Benchmark of the rule back-end on the shipped packs: compile time and facts per second.

Run: .venv/bin/python benchmarks/rules.py [N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from engine.facts.fields import NEUTRAL_DEFAULTS
from engine.rules.rete import RuleEngine
from engine.rules.compiler import compile_pack, compile_policy, compile_segments
from engine.content.documents import load_content
from engine.rules.decide import Decider

ROOT = Path(__file__).resolve().parents[1]


def synthetic_facts(n: int, seed: int = 7) -> pd.DataFrame:
    """n plausible facts (all catalogue fields; SET fields '|'-joined as in the fact frame)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({k: [v] * n for k, v in NEUTRAL_DEFAULTS.items() if not isinstance(v, list)})
    uses = rng.choice([0, 0, 0, 1, 2, 3, 5, 12], size=(n, 4))
    for i in range(4):
        frame[f"uses_m{i}"] = uses[:, i]
    silent = (uses[:, 1:] == 0)
    frame["months_silent"] = np.where(silent[:, 0], 1 + silent[:, 1] * (1 + silent[:, 2] * rng.integers(1, 4, n)), 0)
    frame["used_in_3m"] = uses[:, 1:].sum(axis=1) > 0
    frame["has_data_spend"] = rng.random(n) < 0.6
    frame["service"] = rng.choice(["reading", "fetion", "mailbox139", "video", "gprs", "sms", "music_club"], n)
    frame["billing"] = rng.choice(["monthly", "monthly", "per_use", "free"], n)
    frame["bundled"] = rng.random(n) < 0.5
    frame["paid_3m"] = np.round(rng.choice([0.0, 0.0, 2.0, 6.0, 12.0], n), 2)
    frame["ordered_days"] = rng.integers(10, 2000, n)
    frame["tenure_days"] = rng.integers(30, 4000, n)
    frame["sensitivity_pct"] = np.round(rng.random(n) * 100, 1)
    frame["data_sensitive"] = frame["sensitivity_pct"] >= 80  # rules/sensitivity.yaml: top 20%
    frame["fee_share"] = np.round(rng.random(n) * 0.1, 4)
    frame["account_manager"] = rng.random(n) < 0.1
    frame["device_os"] = rng.choice(["android", "ios", "feature", "symbian"], n)
    frame["handset_changed_days"] = np.where(rng.random(n) < 0.3, rng.integers(1, 400, n), np.nan)
    frame["days_since_contact"] = np.where(rng.random(n) < 0.4, rng.integers(1, 200, n), np.nan)
    frame["retention_group"] = rng.choice(["操心", "关心", "放心", "用心"], n)
    frame["on_list"] = rng.choice(["", "", "", "", "dnd", "dual_sim", "red|card_farming"], n)
    frame["preferences"] = ""
    frame["msisdn"] = [f"1380000{i:05d}" for i in range(n)]
    return frame


def benchmark(n: int = 20000) -> dict:
    """Compile time and throughput on the shipped rules/ and strategies/ with n synthetic facts."""
    content, _ = load_content(ROOT / "rules", ROOT / "strategies")
    start = time.perf_counter()
    compiled = [compile_pack(d) for d in content.packs.values()]
    compiled += [compile_segments(content.segments), compile_policy(content.policy)]
    compile_s = time.perf_counter() - start
    rulesets = [rs for p in compiled for rs in p.rulesets]
    start = time.perf_counter()
    engine = RuleEngine(rulesets)
    load_s = time.perf_counter() - start
    frame = synthetic_facts(n)
    decider = Decider(content)
    records = frame.to_dict("records")

    start = time.perf_counter()
    fires = sum(len(engine.fired(r)) for r in records)
    raw_s = time.perf_counter() - start

    start = time.perf_counter()
    segmented = decider.segment_frame(frame)
    segment_s = time.perf_counter() - start
    frame = frame.assign(segment=segmented["segment"], reasons=segmented["reasons"])

    start = time.perf_counter()
    decided = decider.decide_frame(frame)
    decide_s = time.perf_counter() - start
    engine.close()
    decider.close()
    return {
        "facts": n, "rules": sum(len(p.rules) for p in compiled), "rulesets": len(rulesets),
        "compile_ms": round(compile_s * 1000, 2), "engine_load_ms": round(load_s * 1000, 2),
        "all_rulesets_facts_per_s": round(n / raw_s), "fires_per_fact": round(fires / n, 2),
        "segment_facts_per_s": round(n / segment_s),
        "decide_frame_facts_per_s": round(n / decide_s),
        "in_scope_share": round(decided["row"].nunique() / n, 3),
        "decisions": decided["decision"].value_counts().to_dict(),
    }


if __name__ == "__main__":
    print(benchmark(int(sys.argv[1]) if len(sys.argv) > 1 else 20000))
