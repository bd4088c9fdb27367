"""Benchmark the sample operator generator: wall seconds, CPU seconds and peak RSS per size.

    .venv/bin/python benchmarks/generate.py                 # 200k and 1M subscribers, CSV
    .venv/bin/python benchmarks/generate.py 50000 --format parquet

Each size runs in a fresh child process so peak RSS (ru_maxrss) belongs to that size alone.
The target is 1M subscribers in under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def _child(subscribers: int, fmt: str, seed: int) -> None:
    from engine.generator import generate

    with tempfile.TemporaryDirectory() as tmp:
        start, cpu = time.perf_counter(), time.process_time()
        rows = generate(Path(tmp) / "snapshot", subscribers, seed, date(2026, 11, 20), fmt)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        size = sum(p.stat().st_size for p in (Path(tmp) / "snapshot").rglob("*") if p.is_file())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"subscribers": subscribers, "format": fmt, "seconds": round(wall, 2),
                      "cpu_seconds": round(cpu, 2), "peak_rss_mb": round(peak_mb), "disk_mb": round(size / 2**20),
                      "rows": rows}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[200_000, 1_000_000])
    parser.add_argument("--format", default="csv", choices=["csv", "parquet"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.sizes[0], args.format, args.seed)
        return
    print(f"{'subscribers':>12} {'format':>8} {'seconds':>8} {'cpu s':>8} {'peak RSS MB':>12} {'disk MB':>8}  rows")
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, str(n), "--format", args.format, "--seed", str(args.seed), "--child"],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        rows = ", ".join(f"{k}={v}" for k, v in r["rows"].items())
        print(f"{r['subscribers']:>12} {r['format']:>8} {r['seconds']:>8} {r['cpu_seconds']:>8} {r['peak_rss_mb']:>12} {r['disk_mb']:>8}  {rows}")


if __name__ == "__main__":
    main()
