"""Trace storage on a stored run: bytes per decision by table, the CPU cost of compressing its
traces into blocks, and the time of `explain` / `audit verify` on it.

    .venv/bin/python benchmarks/trace_blocks.py --db sqlite:////tmp/bench.db            # latest run
    .venv/bin/python benchmarks/trace_blocks.py --db sqlite:////tmp/bench.db --codecs   # + block sizes/levels

Reads the run's payloads back (engine.store.read), then:
- `encode`: CPU seconds to encode every block of the run as the writer does (engine.store.blocks:
  zstd at LEVEL, TRACE_BLOCK payloads a block) — the compression cost inside the rows stage;
- `explain_shell_s`: wall seconds of `rekindle explain MSISDN` from the shell (a new process:
  Python start, imports, one lookup), for a few subscribers spread over the run;
- `verify_s`: `audit verify` of the whole chain, in this process;
- with `--codecs`, bytes a payload and µs a payload for other block sizes and zstd levels;
- on SQLite, the bytes each table and index takes (the `dbstat` table), per decision.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]


def _encode_seconds(payloads: list[str], size: int, level: int) -> tuple[float, int]:
    import zstandard

    start, stored = time.process_time(), 0
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
    for i in range(0, len(payloads), size):
        stored += len(compressor.compress("\n".join(payloads[i:i + size]).encode("utf-8")))
    return time.process_time() - start, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--run", default="latest")
    parser.add_argument("--codecs", action="store_true")
    parser.add_argument("--explains", type=int, default=5)
    args = parser.parse_args()

    from sqlalchemy import text

    from engine.outputs.audit import verify_run
    from engine.store import blocks
    from engine.store.database import get_engine
    from engine.store.read import resolve_run, stored_traces

    info = resolve_run(args.run, args.db)
    engine = get_engine(args.db)
    with engine.connect() as conn:
        payloads = [p for _seq, p, _prev, _hash in stored_traces(conn, info.id)]
        msisdns = [r[0] for r in conn.execute(text("SELECT msisdn FROM decision WHERE run_id = :r ORDER BY seq"),
                                              {"r": info.id})]
        tables = {}
        if engine.dialect.name == "sqlite":
            tables = {name: round(size / len(payloads), 1) for name, size in conn.exec_driver_sql(
                "SELECT name, sum(pgsize) FROM dbstat GROUP BY name HAVING sum(pgsize) > 65536 ORDER BY 2 DESC")}
    n = len(payloads)
    cpu, stored = _encode_seconds(payloads, blocks.TRACE_BLOCK, blocks.LEVEL)
    report = {"run": info.id, "decisions": n, "raw_payload_bytes": round(sum(len(p.encode()) for p in payloads) / n, 1),
              "encode": {"block": blocks.TRACE_BLOCK, "level": blocks.LEVEL, "cpu_s": round(cpu, 2),
                         "us_per_decision": round(cpu / n * 1e6, 1), "bytes_per_decision": round(stored / n, 1)},
              "sqlite_bytes_per_decision_by_table": tables}
    if args.codecs:
        report["codecs"] = []
        for level in (1, 3, 7):
            for size in (64, 128, 256, 512):
                cpu, stored = _encode_seconds(payloads, size, level)
                report["codecs"].append({"level": level, "block": size, "bytes": round(stored / n, 1),
                                         "us": round(cpu / n * 1e6, 1)})
    env = dict(os.environ)
    rekindle = [str(Path(sys.executable).with_name("rekindle"))]
    times = []
    for msisdn in msisdns[:: max(1, len(msisdns) // args.explains)][:args.explains]:
        start = time.perf_counter()
        done = subprocess.run([*rekindle, "explain", msisdn, "--run", info.id, "--db", args.db], env=env,
                              capture_output=True, text=True)
        times.append(round(time.perf_counter() - start, 3))
        if done.returncode != 0:
            raise SystemExit(f"explain {msisdn} failed: {done.stderr}")
    report["explain_shell_s"] = times
    start = time.perf_counter()
    verified = verify_run(info.id, args.db)
    report["verify_s"] = round(time.perf_counter() - start, 2)
    report["verify_ok"] = verified.ok
    report["load_average_1m"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
