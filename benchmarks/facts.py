"""Benchmark the input and fact stages alone: load + facts + score, seconds and peak memory.

    .venv/bin/python benchmarks/facts.py --subscribers 100000 300000 1000000 --keep /tmp/snapshots
    .venv/bin/python benchmarks/facts.py --subscribers 100000 --keep /tmp/snapshots --code /tmp/old-tree

Each size runs in a fresh child process (so peak figures belong to that size alone) that loads
the snapshot (engine.snapshot.loader.load_snapshot), builds the facts of the whole base
(engine.facts.build.build_facts), then scores it (engine.scoring.scoring.score_snapshot, with a
stability model trained once on a 20k snapshot). Printed per stage: wall seconds, the process's
PSS when the stage ends and its peak during the stage, and the peak RSS/PSS of the whole child
(sampled every 0.05 s from /proc/self/smaps_rollup; PSS is what forked workers sharing the
pages would count once).
`--partitions K` also builds the facts in K subscriber partitions (when the code has them) and
reports that stage's seconds and peak. `--code DIR` runs another checkout's `engine` (e.g. a
`git archive main` extracted to DIR) with the same script: the before/after comparison of
docs/SCALE.md. Snapshots are generated with seed 42 as of 2026-11-20 (as benchmarks/nightly.py);
generate big ones under a memory cap: `(ulimit -v 8000000; python benchmarks/facts.py ...)`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 20)
TRAIN_SUBSCRIBERS = 20_000


def _memory_mb() -> tuple[float, float]:
    """(RSS, PSS) of this process in MB."""
    rss = pss = 0
    with open("/proc/self/smaps_rollup") as handle:
        for line in handle:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss / 1024, pss / 1024


class _Peak(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.rss = self.pss = 0.0
        self.stop_flag = threading.Event()
        self.stage_pss = 0.0  # peak since the last `stage_peak()`

    def run(self) -> None:
        while not self.stop_flag.is_set():
            rss, pss = _memory_mb()
            self.rss, self.pss, self.stage_pss = max(self.rss, rss), max(self.pss, pss), max(self.stage_pss, pss)
            time.sleep(0.05)

    def stage_peak(self) -> float:
        """The peak PSS since the previous call (the stage that just ended), then start again."""
        peak, self.stage_pss = max(self.stage_pss, _memory_mb()[1]), 0.0
        return peak


def _child(data: Path, models: Path, partitions: int) -> None:
    peak = _Peak()
    peak.start()
    figures: dict = {"start_pss_mb": round(_memory_mb()[1])}
    time.sleep(0.1)
    peak.stage_peak()

    def stage(name: str, started: float) -> None:
        figures[f"{name}_s"] = round(time.perf_counter() - started, 2)
        figures[f"{name}_pss_mb"] = round(_memory_mb()[1])
        figures[f"{name}_peak_pss_mb"] = round(peak.stage_peak())

    from engine.facts.build import build_facts
    from engine.scoring.scoring import score_snapshot
    from engine.snapshot.loader import load_snapshot

    started = time.perf_counter()
    snapshot = load_snapshot(data)
    stage("load", started)
    figures["tables_mb"] = round(sum(int(f.memory_usage(deep=True).sum()) for f in snapshot.tables.values()) / 2**20)
    figures["object_columns"] = sum(str(t) == "object" for f in snapshot.tables.values() for t in f.dtypes)
    started = time.perf_counter()
    facts = build_facts(snapshot, AS_OF)
    stage("facts", started)
    figures["facts"] = len(facts)
    figures["facts_mb"] = round(int(facts.memory_usage(deep=True).sum()) / 2**20)
    del facts
    if partitions > 1:
        from engine.facts.build import subscriber_partitions

        started = time.perf_counter()
        rows = 0
        for part in subscriber_partitions(snapshot, partitions):
            rows += len(build_facts(snapshot, AS_OF, subscribers=part))
        stage(f"facts_{partitions}_partitions", started)
    started = time.perf_counter()
    scores, _versions = score_snapshot(snapshot, AS_OF, models)
    stage("score", started)
    peak.stop_flag.set()
    peak.join()
    figures["peak_rss_mb"] = round(max(peak.rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    figures["peak_pss_mb"] = round(peak.pss)
    print(json.dumps(figures))


def _prepare(base: Path, subscribers: int) -> tuple[Path, Path]:
    from engine.generator import generate
    from engine.scoring.training import train_stability_from_snapshot

    data, models = base / f"snapshot-{subscribers}", base / "models"
    if not data.exists():
        generate(data, subscribers, 42, AS_OF)
    if not models.exists():
        train = base / "training-snapshot"
        if not train.exists():
            generate(train, TRAIN_SUBSCRIBERS, 43, AS_OF)
        train_stability_from_snapshot(train, AS_OF, models_dir=models)
    return data, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--keep", type=Path, required=True, help="folder holding (or receiving) the snapshots and model")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose engine is measured")
    parser.add_argument("--partitions", type=int, default=0, help="also build facts in this many partitions")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.partitions)
        return
    args.keep.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(args.code.resolve()))
    for n in args.subscribers:
        data, models = _prepare(args.keep, n)
        child = subprocess.run([sys.executable, __file__, "--keep", str(args.keep), "--partitions", str(args.partitions),
                                "--child", str(data), str(models)], cwd=args.code, env=env,
                               capture_output=True, text=True)
        if child.returncode:  # e.g. MemoryError under a `ulimit -v` cap: a figure too
            lines = child.stderr.strip().splitlines() or [f"exit status {child.returncode}"]
            figures = {"failed": lines[-1][:200]}
        else:
            figures = json.loads(child.stdout.strip().splitlines()[-1])
        print(json.dumps({"subscribers": n, "code": str(args.code), **figures,
                          "load_average_1m": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
