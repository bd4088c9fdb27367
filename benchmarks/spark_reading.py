"""Benchmark the Spark night's snapshot stage alone: files read whole vs in parts (docs/SPARK.md).

    .venv/bin/python benchmarks/spark_reading.py                       # /work/bench/k100/snapshot-100000
    .venv/bin/python benchmarks/spark_reading.py --data DIR --chunks whole,16M,4M --master 'local[2]'

Starts one SparkSession, then reads the snapshot with `engine.spark.reading.read_snapshot` once
per chunk setting (`whole`: every file one binaryFile record, as before issue 14's chunked
reader; `16M`: files larger than 16 MiB read in parts, engine/spark/chunked.py), after one
untimed warm-up read (the session's first Python job starts the executors' daemon). Prints per
setting: seconds, the parts per table file, and the peak summed PSS of the process tree (driver,
JVM, Python workers) during that read; checks every read's tables equal the first one's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from nightly import PeakSampler  # noqa: E402


def _size(text: str) -> int:
    if text == "whole":
        return 1 << 50
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="/work/bench/k100/snapshot-100000")
    parser.add_argument("--chunks", default="whole,16M,4M")
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    import pandas as pd

    import engine.spark  # noqa: F401
    import engine.spark.reading as reading
    from engine.spark.session import session

    parts: dict[str, int] = {}
    real_merge = reading.merge_parts

    def counting(name, file, found, known=None):  # observe how many parts each file was read in
        parts[file.rsplit("/", 1)[-1]] = len(found)
        return real_merge(name, file, found, known)

    reading.merge_parts = counting
    start = time.perf_counter()
    spark = session(args.master)
    report = {"data": args.data, "master": args.master, "session_start_s": round(time.perf_counter() - start, 1),
              "load_before": os.getloadavg()[0]}
    uri = f"file://{Path(args.data).resolve()}"
    reading.read_snapshot(spark, uri, _size("whole"))  # warm-up: JVM and the executors' Python daemon
    first = None
    for setting in args.chunks.split(","):
        parts.clear()
        sampler = PeakSampler(os.getpid())
        sampler.start()
        start = time.perf_counter()
        snapshot, _fingerprint = reading.read_snapshot(spark, uri, _size(setting))
        seconds = time.perf_counter() - start
        sampler.stop()
        if first is None:
            first = snapshot
        else:
            for name, frame in first.tables.items():
                pd.testing.assert_frame_equal(snapshot.tables[name], frame, check_exact=True)
        report[setting] = {"seconds": round(seconds, 1), "parts": dict(sorted(parts.items())),
                           "peak_pss_mb": round(sampler.peak_pss), "load": round(os.getloadavg()[0], 1)}
        print(json.dumps({setting: report[setting]}), flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
