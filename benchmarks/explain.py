"""Benchmark `rekindle explain MSISDN` from the shell (issue 9: under 0.5 s wall on the demo database).

    .venv/bin/python benchmarks/explain.py --home demo/home            # after `make demo`
    .venv/bin/python benchmarks/explain.py --home /some/home --msisdn 13000087946 --repeat 9

Runs the console script next to this interpreter (`.venv/bin/rekindle`, what an auditor types) as a
new process, `--repeat` times for the readable form and for `--json`, against the latest run of the
SQLite store under `--home` (REKINDLE_HOME), and prints one JSON report: wall seconds (median, min)
and CPU seconds (user, sys: the child's rusage) of each form, and what one call imported — how many
modules, and per top-level package the import time of its own modules (one extra run under
`python -X importtime`, which inflates those figures but ranks them right). The default subscriber
is the first treated one of the latest run. Wall time depends on the machine's load (the report
prints the load average); CPU seconds much less.

Bytecode: a shell normally caches compiled modules (`__pycache__`); with PYTHONDONTWRITEBYTECODE=1
(set on some shared machines) the project's own modules are compiled on every call (~0.05 s more).
The benchmark keeps the caller's environment and reports which case it measured
(`project_bytecode_cached`: engine/outputs/__pycache__ holds explain's compiled module).

Measured 2026-11-30 on the 20k demo database (35,134 decisions), subscriber 13000087946, 2-core
machine at load ~3, `nice -n 15`, median of 7 (wall s / user s):
                                     readable        --json       modules imported
  typer 0.29.2, no project bytecode  0.587 / 0.514   0.436 / 0.380   342 (pydantic: ~70 ms)
  typer 0.28.0, no project bytecode  0.369 / 0.310   0.197 / 0.172   240
  typer 0.29.2, bytecode cached      0.578 / 0.488   0.356 / 0.283
  typer 0.28.0, bytecode cached      0.321 / 0.269   0.253 / 0.197
pyproject.toml keeps typer below 0.29 (0.29 converts options through pydantic).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Packages `rekindle explain` must not import on an SQLite store (tests/cli/test_startup.py's HEAVY).
HEAVY = ("sqlalchemy", "sqlmodel", "pandas", "numpy", "pyarrow", "sklearn", "skops", "durable_rules", "yaml",
         "psycopg", "starlette", "pydantic", "pygments")


def _database(home: Path) -> Path:
    for name in ("rekindle.db", "rekindle.sqlite"):
        if (home / name).exists():
            return home / name
    raise SystemExit(f"{home}: no rekindle.db (run `make demo`, or pass the REKINDLE_HOME of a stored night)")


def _treated(db: Path) -> str:
    """The first treated subscriber of the latest run (msisdn order)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT msisdn FROM decision WHERE decision = 'treat' AND run_id = (SELECT id FROM run "
                          "WHERE status = 'succeeded' ORDER BY started_at DESC, id DESC LIMIT 1) "
                          "ORDER BY msisdn LIMIT 1").fetchone()
    finally:
        con.close()
    if row is None:
        raise SystemExit(f"{db}: the latest run has no treated subscriber; pass --msisdn")
    return row[0]


def _one(argv: list[str], env: dict) -> tuple[float, float, float]:
    """(wall, user, sys) seconds of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    err = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} exited {code}: {err[-2000:]}")
    return wall, usage.ru_utime, usage.ru_stime


def _series(argv: list[str], env: dict, repeat: int) -> dict:
    _one(argv, env)  # warm the page cache (and the bytecode cache, when it is written)
    runs = [_one(argv, env) for _ in range(repeat)]
    walls, users, syss = zip(*runs)
    return {"wall_median_s": round(statistics.median(walls), 3), "wall_min_s": round(min(walls), 3),
            "user_median_s": round(statistics.median(users), 3), "sys_median_s": round(statistics.median(syss), 3),
            "runs": repeat}


def _imports(script: Path, args: list[str], env: dict) -> dict:
    """Packages one call imported, each with the import time of its own modules (ms of `self`
    time under -X importtime, summed per top-level package: `cli` does not hide the typer it imports)."""
    out = subprocess.run([sys.executable, "-X", "importtime", str(script), *args], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    own: dict[str, float] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, _cumulative, name = line[len("import time:"):].split("|")
        if not self_us.strip().isdigit():
            continue  # the header line
        package = name.strip().split(".")[0]
        own[package] = own.get(package, 0.0) + int(self_us) / 1000
    ranked = sorted(own.items(), key=lambda kv: -kv[1])
    return {"modules": sum(1 for line in out.stderr.splitlines() if line.startswith("import time:")) - 1,
            "self_ms_by_package": {name: round(ms, 1) for name, ms in ranked[:15]},
            "heavy_imported": sorted(set(own) & set(HEAVY))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=ROOT / "demo" / "home", help="REKINDLE_HOME with a stored night")
    parser.add_argument("--msisdn", help="subscriber to explain (default: the first treated one)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    script = Path(sys.executable).parent / "rekindle"
    if not script.exists():
        raise SystemExit(f"{script}: no console script next to this interpreter (`make install`)")
    db = _database(args.home)
    msisdn = args.msisdn or _treated(db)
    env = {**os.environ, "REKINDLE_HOME": str(args.home)}
    readable = _series([str(script), "explain", msisdn], env, args.repeat)
    as_json = _series([str(script), "explain", msisdn, "--json"], env, args.repeat)
    cached = any((ROOT / "engine" / "outputs" / "__pycache__").glob("explain.*.pyc"))
    report = {"database": str(db), "msisdn": msisdn, "project_bytecode_cached": cached,
              "readable": readable, "json": as_json,
              "imports_readable": _imports(script, ["explain", msisdn], env),
              "load_average_1m": round(os.getloadavg()[0], 2)}
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
