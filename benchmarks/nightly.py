"""Benchmark a whole nightly run: seconds per stage, facts/s, subscribers/s and peak memory.

    .venv/bin/python benchmarks/nightly.py                     # 1M subscribers, --workers 2
    .venv/bin/python benchmarks/nightly.py --subscribers 100000 --workers 2
    .venv/bin/python benchmarks/nightly.py --subscribers 100000 --engine spark   # docs/SPARK.md

Generates N subscribers into a temp folder, trains the stability model if there is none yet
(on a separate snapshot of at most TRAIN_SUBSCRIBERS subscribers: training time is not what this
measures), then runs one night into a fresh SQLite database with the shipped rules/ and
strategies/. Peak memory of the run's process tree (the run process plus its worker processes)
is sampled from /proc (every 0.1 s, less often when a sample costs more: `PeakSampler`): summed
RSS (counts pages the forked workers share with the parent once per process) and summed PSS
(counts each page once: the real footprint). The sampler's own CPU is reported apart
(`sampler_cpu_seconds`) and not counted in the night's.
Targets (issue 12, docs/SCALE.md): 1M subscribers end to end <= 120 s (goal 60 s) on 2 cores with
--workers 2, peak summed PSS <= 2 GB (goal 1.5 GB), stored bytes per decision <= 600 B (goal 300 B).
The report gives `db_bytes_per_decision` and the machine's load average: on a shared machine the
wall-clock figures scale with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 20)
TRAIN_SUBSCRIBERS = 20_000


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; PSS splits pages shared with forked workers fairly."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(sum of RSS, sum of PSS) of a process and all its descendants, MB.

    Summed RSS counts pages the forked workers share with the parent once per process; summed
    PSS counts every page once, so it is the tree's real footprint.
    """
    rss = pss = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        r, p = _memory_kib(current)
        rss, pss = rss + r, pss + p
        stack.extend(_children(current))
    return rss / 1024, pss / 1024


def process_memory_mb(pid: int) -> list[float]:
    """PSS (MB) of a process and of each of its descendants (depth first): who holds the memory."""
    out, stack = [], [pid]
    while stack:
        current = stack.pop()
        out.append(round(_memory_kib(current)[1] / 1024))
        stack.extend(reversed(_children(current)))
    return out


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its live descendants, with the children
    each has reaped: the Spark engine's JVM and its Python workers included, which
    `_cpu_seconds` (RUSAGE_CHILDREN: finished children only) cannot see while the session lives."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        except (OSError, IndexError, ValueError):
            pass
        stack.extend(_children(current))
    return total / ticks


class PeakSampler(threading.Thread):
    """Samples the process tree's memory until stopped; keeps the peaks (MB).

    A sample is not free: the kernel walks every page table of the tree to give PSS (~23 ms of
    CPU for one 1 GB process), so a sample every 0.1 s took ~20% of a core, counted in the run's
    own CPU (this thread is in the run's process) and taken from the night's two cores. The
    sampler therefore waits at least `COST_SHARE` times its last sample's cost between samples
    (at most ~10% of a core; 0.1 s at least) and counts its own CPU (`own_cpu`), which the report
    takes out of the night's.
    """

    MIN_INTERVAL, COST_SHARE = 0.1, 10

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_rss, self.peak_pss, self._stop_flag = pid, 0.0, 0.0, threading.Event()
        self.stage = "start"  # the run's current stage (set by its progress callback)
        self.peak_by_stage: dict[str, float] = {}  # stage -> peak summed PSS (MB) while it ran
        self.cpu_start = tree_cpu_seconds(pid)
        self.cpu = 0.0  # the tree's CPU seconds since the sampler started (its largest reading)
        self.own_cpu = 0.0  # this thread's CPU seconds: the measuring, not the night
        self.samples = 0

    def _sample(self) -> None:
        stage = self.stage
        rss, pss = tree_memory_mb(self.pid)
        self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
        self.peak_by_stage[stage] = max(self.peak_by_stage.get(stage, 0.0), pss)
        self.cpu = max(self.cpu, tree_cpu_seconds(self.pid) - self.cpu_start)

    def run(self) -> None:
        started = time.thread_time()
        while not self._stop_flag.is_set():
            before = time.thread_time()
            self._sample()
            self.samples += 1
            cost = time.thread_time() - before
            self.own_cpu = time.thread_time() - started
            self._stop_flag.wait(max(self.MIN_INTERVAL, self.COST_SHARE * cost))

    def stop(self) -> None:
        self._stop_flag.set()
        self.join()
        self._sample()


def _time_explain(db: Path) -> float:
    """Seconds of `rekindle explain MSISDN` as a new process (interpreter start included) on the
    run's database, for the subscriber in the middle of the chain."""
    import sqlite3
    import subprocess
    import sys

    with sqlite3.connect(db) as con:
        count = con.execute("SELECT count(*) FROM decision").fetchone()[0]
        msisdn = con.execute("SELECT msisdn FROM decision WHERE seq = ?", (count // 2,)).fetchone()[0]
    times = []
    for _ in range(3):  # the median of three: one call is at the mercy of the machine's load
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cli.main", "explain", msisdn, "--db", f"sqlite:///{db}"], cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return round(sorted(times)[1], 2)


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (the run's workers)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--slice-size", type=int, default=None, help="subscribers per slice (default: the run's)")
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep the snapshot and models in (reused)")
    parser.add_argument("--keep-db", type=Path, default=None, help="copy the run's SQLite database to this file")
    parser.add_argument("--engine", default="local", help="local or spark (docs/SPARK.md)")
    parser.add_argument("--spark-master", default="local[*]", help="with --engine spark")
    args = parser.parse_args()

    from engine.generator import generate
    from engine.scoring.training import train_stability_from_snapshot
    from engine.night.run import RunOptions, run_night

    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        data, models = base / f"snapshot-{args.subscribers}", base / "models"
        start = time.perf_counter()
        if not data.exists():
            generate(data, args.subscribers, 42, AS_OF)
        generated = time.perf_counter() - start
        start = time.perf_counter()
        if not models.exists():
            train_data = base / "training-snapshot"
            if not train_data.exists():
                generate(train_data, min(args.subscribers, TRAIN_SUBSCRIBERS), 43, AS_OF)
            train_stability_from_snapshot(train_data, AS_OF, models_dir=models)
        trained = time.perf_counter() - start

        os.environ["REKINDLE_HOME"] = str(Path(tmp) / "home")
        spark_start = 0.0
        if args.engine == "spark":  # the JVM's start is reported apart (a cluster keeps its executors up)
            import engine.spark  # noqa: F401  (registers the engine)
            from engine.spark.session import session

            start = time.perf_counter()
            session(args.spark_master)
            spark_start = round(time.perf_counter() - start, 2)
        options = RunOptions(data=data, as_of=AS_OF, db_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
                             out=Path(tmp) / "lists", workers=args.workers, rules_dir=ROOT / "rules",
                             **({"slice_size": args.slice_size} if args.slice_size else {}),
                             strategies_dir=ROOT / "strategies", models_dir=models, engine=args.engine,
                             spark_master=args.spark_master)
        sampler = PeakSampler(os.getpid())
        sampler.start()
        cpu_before = _cpu_seconds()
        start = time.perf_counter()
        at_stage: dict[str, int] = {}  # tree PSS (MB) when each stage starts: where memory goes

        by_process: dict[str, list[float]] = {}  # the same per process: the run's, then its workers'

        def progress(stage: str) -> None:
            by_process[stage] = process_memory_mb(os.getpid())
            at_stage[stage] = round(sum(by_process[stage]))
            sampler.stage = stage
            # on stderr as it happens: how far a long night got if it is stopped (the report comes at the end)
            print(f"[{time.perf_counter() - start:7.1f} s] {stage} starts, tree PSS {at_stage[stage]:,} MB, "
                  f"peak so far {sampler.peak_pss:,.0f} MB, tree CPU {sampler.cpu:,.1f} s, per process "
                  f"{by_process[stage]} MB", file=sys.stderr, flush=True)

        result = run_night(options, progress=progress)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_before
        sampler.stop()
        cpu -= sampler.own_cpu  # the sampler's thread is in this process: its CPU is not the night's
        db_mb = (Path(tmp) / "bench.db").stat().st_size / 2**20
        explain_seconds = _time_explain(Path(tmp) / "bench.db")
        if args.keep_db:  # for `rekindle explain` / `audit verify` by hand on a big run
            import sqlite3

            with sqlite3.connect(Path(tmp) / "bench.db") as source, sqlite3.connect(args.keep_db) as copy:
                source.backup(copy)  # the WAL's pages too

    report = {
        "subscribers": args.subscribers, "workers": args.workers, "facts": result.facts,
        "decisions": result.decisions, "run_seconds": round(seconds, 2),
        "stages": result.timings, "facts_per_s": round(result.facts / seconds),
        "subscribers_per_s": round(args.subscribers / seconds),
        "peak_tree_rss_mb": round(sampler.peak_rss), "peak_tree_pss_mb": round(sampler.peak_pss),
        "pss_mb_at_stage_start": at_stage, "pss_mb_by_process_at_stage_start": by_process,
        "peak_pss_mb_by_stage": {stage: round(mb) for stage, mb in sampler.peak_by_stage.items()},
        "db_mb": round(db_mb), "db_bytes_per_decision": round(db_mb * 2**20 / max(result.decisions, 1)),
        "explain_seconds": explain_seconds,  # `rekindle explain MSISDN` from the shell, on this run's database
        "cpu_seconds": round(cpu, 1),  # user + system of the run and its workers: less load-dependent than wall
        "cpu_seconds_tree": round(sampler.cpu - sampler.own_cpu, 1),  # the same over the live process tree: Spark's JVM and workers too
        "sampler_cpu_seconds": round(sampler.own_cpu, 1), "memory_samples": sampler.samples,  # the measuring's own cost, taken out above
        "load_average_1m": os.getloadavg()[0], "generate_seconds": round(generated, 2), "train_seconds": round(trained, 2),
        "treated": result.funnel["decisions"].get("treat", 0),
        "engine": args.engine,
    }
    if args.engine == "spark":
        from engine.spark.pool import LAST_FIGURES

        report.update(spark_master=args.spark_master, spark_session_seconds=spark_start,
                      slice_task_seconds=LAST_FIGURES)  # per slice: decide job, rows job (decides again)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
