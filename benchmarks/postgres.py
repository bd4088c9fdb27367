"""Benchmark the same night into SQLite and into PostgreSQL: seconds, stage times, bytes per decision.

    .venv/bin/python benchmarks/postgres.py                          # 100k subscribers, --workers 2
    .venv/bin/python benchmarks/postgres.py --subscribers 1000000 --keep /tmp/bench
    .venv/bin/python benchmarks/postgres.py --db postgresql+psycopg://me@dbhost/bench   # an existing server

Generates N subscribers (and trains the stability model on a separate small snapshot) like
benchmarks/nightly.py, then runs one night per target with the shipped rules/ and strategies/:

- sqlite: a fresh file; its size (with -wal) is the stored bytes;
- postgresql (COPY): a fresh database on a throwaway server (tests/pgserver.py: initdb + pg_ctl,
  as the `postgres` user when run as root, Unix socket in a temp folder, fsync off like a test
  server), or on `--db URL`; stored bytes = pg_database_size minus that of an empty database
  with our schema (the catalogue's ~7 MB are not the run's);
- postgresql (executemany), with `--executemany`: the same with COPY replaced by the driver's
  executemany, to show what COPY buys.

Prints one JSON object: per target run_seconds, stages (from RunResult.timings), peak PSS of
the run's process tree (the PostgreSQL server's own processes are not in it), stored MB and
bytes per decision, and the readers: one `explain` (first call in a fresh engine) and
`audit verify` over the whole chain (seconds, peak PSS of the benchmark process). Run big nights under a memory cap:
`(ulimit -v 8000000; .venv/bin/python benchmarks/postgres.py --subscribers 300000)`.

Measured 2026-11-30, 100k subscribers, --workers 2, on the shared 2-core machine at load 12-15
(all figures ~10x slower than a quiet machine; compare the columns, not the absolute seconds):
166,498 decisions; run 1030 s SQLite / 1235 s PostgreSQL COPY / 1441 s PostgreSQL executemany;
store stage 160 s / 118 s / 282 s; stored 619 MB = 3,897 B per decision (SQLite) vs 360 MB =
2,266 B per decision (PostgreSQL: TOAST compresses the trace payloads); peak tree PSS 1683 /
1860 / 1895 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).resolve().parent)]

from nightly import AS_OF, TRAIN_SUBSCRIBERS, PeakSampler  # noqa: E402  (benchmarks/nightly.py)


def _inputs(base: Path, subscribers: int) -> tuple[Path, Path]:
    from engine.generator import generate
    from engine.scoring.training import train_stability_from_snapshot

    data, models = base / f"snapshot-{subscribers}", base / "models"
    if not data.exists():
        generate(data, subscribers, 42, AS_OF)
    if not models.exists():
        train_data = base / "training-snapshot"
        if not train_data.exists():
            generate(train_data, min(subscribers, TRAIN_SUBSCRIBERS), 43, AS_OF)
        train_stability_from_snapshot(train_data, AS_OF, models_dir=models)
    return data, models


def _night(db_url: str, data: Path, models: Path, out: Path, workers: int) -> dict:
    from engine.night.run import RunOptions, run_night
    from engine.store.database import dispose_all

    options = RunOptions(data=data, as_of=AS_OF, db_url=db_url, out=out, workers=workers, rules_dir=ROOT / "rules",
                         strategies_dir=ROOT / "strategies", models_dir=models)
    sampler = PeakSampler(os.getpid())
    sampler.start()
    start = time.perf_counter()
    result = run_night(options)
    seconds = time.perf_counter() - start
    sampler.stop()
    dispose_all()
    report = {"run_seconds": round(seconds, 2), "stages": result.timings, "facts": result.facts,
              "decisions": result.decisions, "peak_tree_pss_mb": round(sampler.peak_pss)}
    report.update(_readers(db_url, result.run_id))
    return report


def _readers(db_url: str, run_id: str) -> dict:
    """Seconds (and the process's peak PSS) of `audit verify` over the whole run and of one `explain`."""
    from engine.outputs.explain import explain
    from engine.outputs.reports.run_report import run_report
    from engine.store.verify import verify_chain
    from engine.store.database import dispose_all

    msisdn = run_report(run_id, db_url)["examples"]["treat"]
    dispose_all()
    start = time.perf_counter()
    explain(run_id, msisdn, db_url=db_url)
    explained = time.perf_counter() - start
    sampler = PeakSampler(os.getpid())
    sampler.start()
    start = time.perf_counter()
    verified = verify_chain(run_id, db_url)
    seconds = time.perf_counter() - start
    sampler.stop()
    dispose_all()
    return {"explain_seconds": round(explained, 3), "verify_seconds": round(seconds, 2), "verify_ok": verified.ok,
            "verify_peak_pss_mb": round(sampler.peak_pss)}


def _executemany(conn, table, columns, rows) -> None:
    """The pre-COPY write path: one parametrised INSERT per row through the driver's executemany."""
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    conn.exec_driver_sql(sql, list(rows))


def _sized(report: dict, stored_bytes: int) -> dict:
    report["stored_mb"] = round(stored_bytes / 2**20, 1)
    report["bytes_per_decision"] = round(stored_bytes / max(report["decisions"], 1))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep the snapshot and models in (reused)")
    parser.add_argument("--db", default=None, help="an existing PostgreSQL server's URL (its user may CREATE DATABASE)")
    parser.add_argument("--executemany", action="store_true", help="also measure PostgreSQL without COPY")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()

    from pgserver import ENV_URL, PgServer

    import engine.store.write as write
    from engine.store.database import get_engine, dispose_all

    if args.db:
        os.environ[ENV_URL] = args.db
    report: dict = {"subscribers": args.subscribers, "workers": args.workers}
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        start = time.perf_counter()
        data, models = _inputs(base, args.subscribers)
        report["inputs_seconds"] = round(time.perf_counter() - start, 2)
        os.environ["REKINDLE_HOME"] = str(Path(tmp) / "home")

        if not args.skip_sqlite:
            path = Path(tmp) / "bench.db"
            night = _night(f"sqlite:///{path}", data, models, Path(tmp) / "lists-sqlite", args.workers)
            wal = path.with_name(path.name + "-wal")
            report["sqlite"] = _sized(night, path.stat().st_size + (wal.stat().st_size if wal.exists() else 0))

        start = time.perf_counter()
        server = PgServer.start()
        report["pg_server_start_seconds"] = round(time.perf_counter() - start, 2)
        try:
            empty = server.create_database("bench_empty")
            get_engine(empty)  # our schema, no rows: the baseline
            dispose_all()
            baseline = server.database_bytes("bench_empty")
            targets = [("postgresql_copy", None)] + ([("postgresql_executemany", _executemany)]
                                                     if args.executemany else [])
            for name, writer in targets:
                url = server.create_database(f"bench_{name}")
                real = write.write_batch
                if writer is not None:
                    write.write_batch = writer
                try:
                    night = _night(url, data, models, Path(tmp) / f"lists-{name}", args.workers)
                finally:
                    write.write_batch = real
                dispose_all()
                report[name] = _sized(night, server.database_bytes(f"bench_{name}") - baseline)
                server.drop_database(f"bench_{name}")
        finally:
            dispose_all()
            server.stop()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
