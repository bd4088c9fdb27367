"""Dump everything a night decides and stores as one canonical, sorted text, to compare code versions.

    .venv/bin/python benchmarks/equality.py --subscribers 20000 --out /tmp/eq-before.txt
    (change the code)
    .venv/bin/python benchmarks/equality.py --subscribers 20000 --out /tmp/eq-after.txt
    cmp /tmp/eq-before.txt /tmp/eq-after.txt

A small base goes through the same paths as a large one with many small slices and the snapshot
read in parts: `REKINDLE_LOAD_PART_BYTES=100000 .venv/bin/python benchmarks/equality.py
--subscribers 3000 --slice-size 500 --out …`.

Generates a snapshot (seed 7, as of 2026-11-15, the same as `rekindle data generate --subscribers
N --seed 7 --as-of 2026-11-15`), trains stability on it, runs one night with the shipped rules/
and strategies/, then writes: every decision row, every trace payload exactly as the store gives
it back (read through engine.store.read, so a compact storage form is decoded the way explain
and audit read it), the explain document of every --explain-every'th subscriber, the five channel
files, the out-of-scope rows, the funnel and the `audit verify` result. The run id (random) is
replaced by RUN so two runs of the same code compare equal; chain hashes are replaced by their
verification result for the same reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--slice-size", type=int, default=None,
                        help="subscribers per slice (small values make many slices of a small base)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep the snapshot and models in (reused)")
    parser.add_argument("--explain-every", type=int, default=20)
    args = parser.parse_args()

    from sqlalchemy import text

    from engine.generator import generate
    from engine.night.run import RunOptions, run_night
    from engine.outputs.audit import verify_run
    from engine.outputs.explain import explain
    from engine.scoring.training import train_stability_from_snapshot
    from engine.store.database import get_engine
    from engine.store.read import decision_records, scope_rows

    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        data, models = base / f"eq-snapshot-{args.subscribers}", base / f"eq-models-{args.subscribers}"
        if not data.exists():
            generate(data, args.subscribers, 7, AS_OF)
        if not models.exists():
            train_stability_from_snapshot(data, AS_OF, models_dir=models)
        os.environ["REKINDLE_HOME"] = str(Path(tmp) / "home")
        db_url = f"sqlite:///{Path(tmp) / 'eq.db'}"
        options = RunOptions(data=data, as_of=AS_OF, db_url=db_url, out=Path(tmp) / "lists", workers=args.workers,
                             rules_dir=ROOT / "rules", strategies_dir=ROOT / "strategies", models_dir=models)
        if args.slice_size:
            options = dataclasses.replace(options, slice_size=args.slice_size)
        start = time.perf_counter()
        result = run_night(options)
        seconds = time.perf_counter() - start
        run_id = result.run_id
        lines: list[str] = [f"facts {result.facts} decisions {result.decisions}",
                            "funnel " + json.dumps(result.funnel, sort_keys=True, ensure_ascii=False)]
        engine = get_engine(db_url)
        with engine.connect() as conn:
            lines += [f"oos {tuple(r)}" for r in scope_rows(conn, run_id)]  # either storage format
            msisdns = [r[0] for r in conn.execute(text("SELECT DISTINCT msisdn FROM decision WHERE run_id = :r "
                                                       "ORDER BY msisdn"), {"r": run_id})]
        for record in decision_records(run_id, db_url):
            lines.append("decision " + json.dumps(record["decision"], ensure_ascii=False))
            lines.append("trace " + json.dumps(record["payload"], sort_keys=True, ensure_ascii=False))
        for msisdn in msisdns[::args.explain_every]:
            lines.append("explain " + json.dumps(explain(run_id, msisdn, db_url=db_url), sort_keys=True,
                                                 ensure_ascii=False, default=str))
        for path in sorted((Path(tmp) / "lists").iterdir()):
            lines.append(f"file {path.name}")
            lines.append(path.read_text(encoding="utf-8"))
        report = verify_run(run_id, db_url)
        lines.append(f"verify ok={report.ok} count={report.count}")
        out = "\n".join(lines).replace(run_id, "RUN")
    args.out.write_text(out + "\n", encoding="utf-8")
    print(json.dumps({"run_seconds": round(seconds, 2), "timings": result.timings, "lines": len(lines),
                      "out": str(args.out)}))


if __name__ == "__main__":
    main()
