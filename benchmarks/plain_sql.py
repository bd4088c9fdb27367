"""Issue 12's comparison: the same night in plain SQL (DuckDB, 2 threads, no traces), timed and held to the engine.

    .venv/bin/python benchmarks/plain_sql.py scores --data DIR --models DIR --out scores.parquet
    .venv/bin/python benchmarks/plain_sql.py run --data DIR --scores scores.parquet [--out decisions.parquet]
    .venv/bin/python benchmarks/plain_sql.py engine --data DIR --models DIR --db PATH.db   # the engine's night, kept
    .venv/bin/python benchmarks/plain_sql.py compare --plain decisions.parquet --db PATH.db

`run` is the benchmark: the plain SQL night (benchmarks/plain_sql_night.py — facts, segment,
the packs' rules translated from rules/*.yaml by benchmarks/plain_sql_rules.py, exclusions,
holdouts, a global capacity fill with window functions) in a fresh in-memory DuckDB with 2
threads; it prints seconds, peak memory of the process (PSS, sampled every 0.1 s like
benchmarks/nightly.py) and the count of each decision. It reads the scores the engine
computed (`scores`: load the snapshot and score it with the engine's models, timed on its own):
the model scores are scikit-learn models and quantile tiers, not re-derived in SQL.

`engine` runs the engine's night (`run_night`, --workers 2) into a SQLite file that is kept;
`compare` says how many facts get the same decision class (treat / excluded / not_selected /
held_out / lost) and, when both treat, the same strategy, pack and channel — and tabulates the
rest by (engine decision, reason) → (plain decision, reason), so the differences can be read.
Every command prints one JSON object. Run under a memory cap and `nice`, and note the load:
`(ulimit -v 6000000; nice -n 15 .venv/bin/python benchmarks/plain_sql.py run ...)`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from nightly import AS_OF, PeakSampler, _cpu_seconds  # noqa: E402  (benchmarks/nightly.py)

SCORE_COLUMNS = ("sensitivity", "sensitivity_pct", "data_sensitive", "churn_risk", "stability", "value",
                 "value_tier", "retention_group")


def load_content(rules: Path, strategies: Path) -> dict:
    """The packs, policy, segmentation, strategies and data services as plain data, loaded and
    checked by the engine's own loader (safe YAML with positions; a bad file is a DiagnosticError)."""
    from engine.night.run import load_run_content

    content = load_run_content(rules, strategies)
    services = content.services.data.get("services", []) if content.services is not None else []
    return {"packs": {name: doc.data for name, doc in content.packs.items()},
            "policy": content.policy.data, "segments": content.segments.data,
            "strategies": {name: doc.data for name, doc in content.strategies.items()},
            "data_services": sorted(s["service"] for s in services if s.get("data_service"))}


def engine_scores(data: Path, models: Path, out: Path, rules: Path = ROOT / "rules",
                  strategies: Path = ROOT / "strategies", as_of: date = AS_OF) -> dict:
    """Score the snapshot with the engine (engine.night.prepare.score_base) and write msisdn +
    SCORE_COLUMNS to `out` (Parquet, written to a temp file and renamed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.night.prepare import score_base
    from engine.night.run import load_run_content
    from engine.snapshot.loader import load_snapshot

    start = time.perf_counter()
    content = load_run_content(rules, strategies)
    snapshot = load_snapshot(data)
    loaded = time.perf_counter() - start
    scores, versions = score_base(snapshot, as_of, content, models)
    table = pa.table({"msisdn": pa.array(scores.index.astype(str).tolist(), pa.string()),
                      **{c: pa.array(scores[c].tolist()) for c in SCORE_COLUMNS}})
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, out)
    return {"subscribers": len(scores), "load_seconds": round(loaded, 2),
            "score_seconds": round(time.perf_counter() - start - loaded, 2), "model_versions": versions}


def stored_scores(db_url: str, run_id: str, out: Path) -> int:
    """The scores a stored run used, read back from its traces (each payload's fact holds its
    subscriber's scores), written like `engine_scores`; the number of subscribers. Every fact in
    some pack's scope has a decision row, and scopes read no score, so these are all the scores
    the plain night needs — without scoring the snapshot again (the test's shortcut)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine.store.read import decision_records

    seen: dict[str, dict] = {}
    for record in decision_records(run_id, db_url):
        fact = record["payload"]["fact"]
        seen.setdefault(record["decision"]["msisdn"], {c: fact.get(c) for c in SCORE_COLUMNS})
    people = sorted(seen)
    table = pa.table({"msisdn": pa.array(people, pa.string()),
                      **{c: pa.array([seen[m][c] for m in people]) for c in SCORE_COLUMNS}})
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, out)
    return len(people)


def run_plain(data: Path, scores: Path, out: Path | None = None, threads: int = 2, rules: Path = ROOT / "rules",
              strategies: Path = ROOT / "strategies", as_of: date = AS_OF, memory_limit: str | None = None) -> dict:
    """The benchmark: the plain SQL night, timed (content loading excluded), with its peak PSS."""
    from plain_sql_night import plain_night

    content = load_content(rules, strategies)
    sampler = PeakSampler(os.getpid())
    sampler.start()
    cpu, start = time.process_time(), time.perf_counter()
    counts = plain_night(data, as_of, content, scores, threads=threads, out=out, memory_limit=memory_limit)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    sampler.stop()
    # CPU seconds (all DuckDB threads) depend less on the machine's load than wall seconds
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 1), "peak_pss_mb": round(sampler.peak_pss),
            "threads": threads, "memory_limit": memory_limit, "counts": counts, "load_average_1m": os.getloadavg()[0]}


def run_engine(data: Path, models: Path, db: Path, workers: int = 2, rules: Path = ROOT / "rules",
               strategies: Path = ROOT / "strategies", as_of: date = AS_OF) -> dict:
    """The engine's night into the SQLite file `db` (kept, for `compare`)."""
    from engine.night.run import RunOptions, run_night

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("REKINDLE_HOME", str(Path(tmp) / "home"))
        options = RunOptions(data=data, as_of=as_of, db_url=f"sqlite:///{db}", out=Path(tmp) / "lists",
                             workers=workers, rules_dir=rules, strategies_dir=strategies, models_dir=models)
        cpu, start = _cpu_seconds(), time.perf_counter()
        result = run_night(options)
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    return {"run_id": result.run_id, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 1), "facts": result.facts,
            "decisions": result.decisions, "stages": result.timings, "load_average_1m": os.getloadavg()[0]}


def compare(plain: Path, db: Path, run_id: str | None = None, top: int = 12) -> dict:
    """Agreement of the plain SQL decisions with the engine's stored ones (module docstring)."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        import sqlite3

        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as lite:
            run = run_id or lite.execute("SELECT id FROM run WHERE status = 'succeeded' ORDER BY started_at DESC "
                                         "LIMIT 1").fetchone()[0]
            rows = lite.execute("SELECT msisdn, service, pack, decision, reason, strategy, channel FROM decision "
                                "WHERE run_id = ?", (run,)).fetchall()
        import pyarrow as pa

        names = ["msisdn", "service", "pack", "decision", "reason", "strategy", "channel"]
        engine = pa.table({n: pa.array([r[i] for r in rows], pa.string()) for i, n in enumerate(names)})
        con.register("engine", engine)
        con.execute(f"CREATE VIEW plain AS SELECT * FROM read_parquet('{plain}')")
        joined = """FROM engine e FULL OUTER JOIN plain p ON p.msisdn = e.msisdn AND p.service = e.service"""
        total, both, same_class, same_reason, same_all = con.execute(f"""
            SELECT count(*), count(*) FILTER (WHERE e.msisdn IS NOT NULL AND p.msisdn IS NOT NULL),
                   count(*) FILTER (WHERE e.decision = p.decision),
                   count(*) FILTER (WHERE e.decision = p.decision AND e.pack = p.pack AND e.reason = p.reason),
                   count(*) FILTER (WHERE e.decision = p.decision AND e.pack = p.pack AND
                                    (e.decision <> 'treat' OR (e.strategy = p.strategy AND e.channel = p.channel)))
            {joined}""").fetchone()
        by_decision: dict[str, dict[str, int]] = {}
        for side in ("engine", "plain"):
            for d, n in con.execute(f"SELECT decision, count(*) FROM {side} GROUP BY 1").fetchall():
                by_decision.setdefault(d, {"engine": 0, "plain": 0})[side] = n
        by_decision = dict(sorted(by_decision.items()))
        differ = con.execute(f"""
            SELECT coalesce(e.decision, '-') || ' ' || coalesce(e.reason, '') || ' ' || coalesce(e.pack, ''),
                   coalesce(p.decision, '-') || ' ' || coalesce(p.reason, '') || ' ' || coalesce(p.pack, ''), count(*)
            {joined} WHERE e.decision IS DISTINCT FROM p.decision OR e.pack IS DISTINCT FROM p.pack
               OR (e.decision = 'treat' AND (e.strategy <> p.strategy OR e.channel <> p.channel))
            GROUP BY 1, 2 ORDER BY 3 DESC LIMIT {int(top)}""").fetchall()
        return {"run_id": run, "rows_either": total, "rows_both": both, "same_decision": same_class,
                "same_decision_pack_reason": same_reason,
                "same_decision_pack_strategy": same_all,
                "agreement": round(same_all / max(total, 1), 6), "by_decision": by_decision,
                "differences": [{"engine": e, "plain": p, "facts": n} for e, p, n in differ]}
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scores", help="the engine's scores of a snapshot, to Parquet")
    s.add_argument("--data", type=Path, required=True)
    s.add_argument("--models", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run", help="the plain SQL night (the benchmark)")
    r.add_argument("--data", type=Path, required=True)
    r.add_argument("--scores", type=Path, required=True)
    r.add_argument("--out", type=Path, default=None, help="write the decisions here (Parquet)")
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--memory-limit", default=None, help="DuckDB's memory_limit, e.g. 500MB (it spills beyond)")
    e = sub.add_parser("engine", help="the engine's night into a kept SQLite file")
    e.add_argument("--data", type=Path, required=True)
    e.add_argument("--models", type=Path, required=True)
    e.add_argument("--db", type=Path, required=True)
    e.add_argument("--workers", type=int, default=2)
    c = sub.add_parser("compare", help="agreement of plain SQL decisions with the engine's")
    c.add_argument("--plain", type=Path, required=True)
    c.add_argument("--db", type=Path, required=True)
    c.add_argument("--run", default=None)
    args = parser.parse_args()
    if args.command == "scores":
        report = engine_scores(args.data, args.models, args.out)
    elif args.command == "run":
        report = run_plain(args.data, args.scores, args.out, args.threads, memory_limit=args.memory_limit)
    elif args.command == "engine":
        report = run_engine(args.data, args.models, args.db, args.workers)
    else:
        report = compare(args.plain, args.db, args.run)
    print(json.dumps(report, indent=2, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
