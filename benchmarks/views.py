"""Benchmark the operator's monthly views: peak memory and seconds of `rekindle export --view` and
`rekindle report silent-lowuse`, each as its own process, on one stored run.

    .venv/bin/python benchmarks/views.py --subscribers 100000 --keep /tmp/views-bench

Generates N subscribers (seed 42), trains the stability model on a separate snapshot of at most
20k subscribers, and runs one night into a SQLite database — all kept under --keep and reused, so
the same run can be measured before and after a change to the views. Then each command runs as a
new process (`python -m cli.main …`, the shell's view) while its memory is sampled every 0.1 s
from /proc (benchmarks/nightly.py's sampler: RSS and PSS of the process and its children). The
figures to compare: the views stream facts slice by slice (engine/outputs/views.py), so their
peak memory should follow the slice size (`--slice-size`, subscribers per slice), not the base.
The snapshot itself is loaded whole by every command (the loader reads whole files), so that part
of the peak does not shrink. Output: one JSON report.

Measured 2026-11-30 at 100k subscribers (341,937 facts), load average ~14, same run and files
(sha256 of all four outputs unchanged): peak PSS before (whole-base facts) → after (20k slices):
export --view silent 717 → 493 MB, low-use 706 → 490 MB, front-desk 762 → 502 MB,
report silent-lowuse 668 → 459 MB. With --slice-size 5000: front-desk 478 MB, report 466 MB (what
is left is the whole snapshot and the imports); the report then takes ~2x the time (60 fact builds,
20 slices x 3 months, instead of 15).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from nightly import PeakSampler  # noqa: E402  (the same sampler the nightly benchmark uses)

AS_OF = date(2026, 11, 20)
TRAIN_SUBSCRIBERS = 20_000


def _prepare(base: Path, subscribers: int) -> tuple[Path, str, str]:
    """(snapshot folder, database URL, run id), built once under `base`."""
    from engine.generator import generate
    from engine.scoring.training import train_stability_from_snapshot

    data, models, db = base / f"snapshot-{subscribers}", base / "models", base / "views.db"
    if not data.exists():
        generate(data, subscribers, 42, AS_OF)
    if not models.exists():
        train = base / "training-snapshot"
        if not train.exists():
            generate(train, min(subscribers, TRAIN_SUBSCRIBERS), 43, AS_OF)
        train_stability_from_snapshot(train, AS_OF, models_dir=models)
    url = f"sqlite:///{db}"
    run_file = base / "run_id"
    if not run_file.exists():
        from engine.night.run import RunOptions, run_night

        os.environ["REKINDLE_HOME"] = str(base / "home")
        result = run_night(RunOptions(data=data, as_of=AS_OF, db_url=url, out=base / "lists", workers=2,
                                      rules_dir=ROOT / "rules", strategies_dir=ROOT / "strategies",
                                      models_dir=models))
        run_file.write_text(result.run_id)
    return data, url, run_file.read_text().strip()


def _measure(argv: list[str], env: dict) -> dict:
    """Seconds and peak tree RSS/PSS (MB) of one CLI command run as a new process."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "cli.main", *argv], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = PeakSampler(process.pid)
    sampler.start()
    _out, err = process.communicate()
    sampler.stop()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({process.returncode}): {err.decode()[-2000:]}")
    return {"seconds": round(time.perf_counter() - start, 2), "peak_rss_mb": round(sampler.peak_rss),
            "peak_pss_mb": round(sampler.peak_pss)}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, required=True, help="folder for the snapshot, models and run (reused)")
    parser.add_argument("--slice-size", type=int, default=None, help="subscribers per slice (default: the views')")
    parser.add_argument("--views", default="silent,low-use,front-desk", help="comma-separated views to measure")
    args = parser.parse_args()

    args.keep.mkdir(parents=True, exist_ok=True)
    data, url, run_id = _prepare(args.keep, args.subscribers)
    env = {**os.environ, "REKINDLE_HOME": str(args.keep / "home")}
    sliced = ["--slice-size", str(args.slice_size)] if args.slice_size else []
    out = args.keep / "out"
    out.mkdir(exist_ok=True)
    report: dict = {"subscribers": args.subscribers, "run": run_id, "slice_size": args.slice_size}
    for view in args.views.split(","):
        path = out / f"{view}.csv"
        report[f"export --view {view}"] = {
            **_measure(["export", "--run", run_id, "--view", view, "--out", str(path), "--db", url, *sliced], env),
            "rows": sum(1 for _ in path.open(encoding="utf-8")) - 1, "sha256": _digest(path)}
    path = out / "silent_lowuse.csv"
    report["report silent-lowuse"] = {
        **_measure(["report", "silent-lowuse", "--data", str(data), "--as-of", AS_OF.isoformat(), "--format", "csv",
                    "--out", str(path), "--rules", str(ROOT / "rules"), *sliced], env),
        "sha256": _digest(path)}
    report["load_average_1m"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
