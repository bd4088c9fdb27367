"""Benchmark loading a snapshot alone: seconds and peak memory, whole files against parts.

    .venv/bin/python benchmarks/loading.py --snapshot /work/bench/k1m/snapshot-1000000 --part-bytes 0 67108864
    .venv/bin/python benchmarks/loading.py --snapshot SNAP --part-bytes 0 --code /tmp/old-tree

Each (snapshot, part size) runs `engine.snapshot.loader.load_snapshot` in a fresh child process
with REKINDLE_LOAD_PART_BYTES set to the part size (0 = every file read whole: the variable is
set above any file's size), so its peak belongs to that load alone. Printed per run: wall
seconds, the child's peak RSS and PSS during the load (RSS from /proc/self/statm every 20 ms,
PSS from /proc/self/smaps_rollup every 0.1 s), RSS after the load and after
`engine.base.memory.release_unused`, the tables' own size (deep), and a digest of every table
(values, dtypes, categories in order, row order) so runs of different part sizes or code
versions can be compared for identical frames. `--code DIR` runs another checkout's `engine`
(e.g. a `git archive` extracted to DIR). Run big snapshots under a cap, one at a time:
`(ulimit -v 12000000; nice -n 15 .venv/bin/python benchmarks/loading.py ...)`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHOLE = 1 << 62  # larger than any file: every table read whole
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / 2**20


def _pss_mb() -> float:
    with open("/proc/self/smaps_rollup") as handle:
        for line in handle:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _Peak(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.rss = self.pss = 0.0
        self.stop_flag = threading.Event()

    def run(self) -> None:
        tick = 0
        while not self.stop_flag.is_set():
            self.rss = max(self.rss, _rss_mb())
            if tick % 5 == 0:
                self.pss = max(self.pss, _pss_mb())
            tick += 1
            time.sleep(0.02)


def _digest(frame) -> str:
    """Values (row by row, in order), dtypes and categories (in order) of one table."""
    import pandas as pd

    h = hashlib.sha256()
    h.update(json.dumps([[c, str(t)] for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            h.update(json.dumps(list(map(str, frame[name].cat.categories))).encode())
            h.update(frame[name].cat.codes.to_numpy().tobytes())
    return h.hexdigest()[:16]


def _child(snapshot: Path) -> None:
    peak = _Peak()
    peak.start()
    from engine.base.memory import release_unused
    from engine.snapshot.loader import load_snapshot

    release_unused()
    figures = {"start_rss_mb": round(_rss_mb())}
    peak.rss = peak.pss = 0.0
    started = time.perf_counter()
    loaded = load_snapshot(snapshot)
    figures["load_s"] = round(time.perf_counter() - started, 1)
    figures["peak_rss_mb"], figures["peak_pss_mb"] = round(max(peak.rss, _rss_mb())), round(max(peak.pss, _pss_mb()))
    figures["after_rss_mb"] = round(_rss_mb())
    release_unused()
    figures["released_rss_mb"] = round(_rss_mb())
    figures["tables_mb"] = round(sum(f.memory_usage(deep=True).sum() for f in loaded.tables.values()) / 2**20)
    figures["digests"] = {name: _digest(frame) for name, frame in loaded.tables.items()}
    peak.stop_flag.set()
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", type=Path, action="append", required=True)
    parser.add_argument("--part-bytes", type=int, nargs="+", default=[0], help="0 = every file whole")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose engine is run")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    for snapshot in args.snapshot:
        for size in args.part_bytes:
            env = dict(os.environ, PYTHONPATH=str(args.code.resolve()), REKINDLE_LOAD_PART_BYTES=str(size or WHOLE))
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--snapshot", str(snapshot),
                                  "--child", str(snapshot)], env=env, cwd=args.code, capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"{snapshot} part bytes {size}: child failed ({out.returncode})\n{out.stderr[-3000:]}")
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps({"snapshot": str(snapshot), "part_bytes": size or "whole", "code": str(args.code),
                              **figures}), flush=True)


if __name__ == "__main__":
    main()
