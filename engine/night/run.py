"""A nightly run (SPEC §7): snapshot → facts → scores → segments → packs → arbitration → store → files.

`run_night(RunOptions)` is what `rekindle run` calls. The stages, in order:
1. content: load and check rules/ and strategies/ (and, with --production, their approvals);
2. lock: at most one run per database (engine.store.write.acquire_lock);
3. snapshot: load and validate (nothing is written when it is invalid); then the contacts of
   earlier runs and the opt-outs of the loaded feedback join it (engine.store.loopback);
4. facts and scores, merged on msisdn; segmentation, vectorised (engine.rules.vector);
5. scope: each pack's scope as a vectorised mask; facts in no pack's scope never reach the rule
   engine and are stored compactly in `out_of_scope` with their segment;
6. decide: in-scope facts partitioned by a hash of msisdn over N worker processes, each with its
   own Decider (engine.night.partition); holdouts are drawn there;
7. arbitrate the candidates of all partitions together (engine.night.arbitrate);
8. rows: decision rows and trace payloads built by the workers, merged in (msisdn, service)
   order, sealed into the hash chain (engine.store.chain);
9. files: the five channel files written to a temp folder; then one database transaction
   stores the run row, decisions, traces and out-of-scope rows; then the folder is renamed into
   place. Any failure before the commit leaves no decisions, traces or files.
"""

from __future__ import annotations

import hashlib
import heapq
import secrets
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from engine.night.arbitrate import arbitrate
from engine.store.chain import GENESIS, seal
from engine.snapshot.contract import TABLES
from engine.base.diagnostics import Diagnostic, DiagnosticError, has_errors
from engine.night.channels import CHANNEL_EXTRAS, write_channel_files
from engine.night.funnel import build_funnel
from engine.night.holdout import period_of
from engine.base.home import runs_dir
from engine.night.context import build_context, hot_content_index
from engine.night.partition import Partition
from engine.night.prepare import prepare_frame, scope_masks
from engine.store.loopback import merge_written_back, written_back
from engine.store.write import RunRows, TraceRows, acquire_lock, json_text, release_lock, store_failed, store_run, utc_now
from engine.night.workers import Workers
from engine.store.tables import TREAT

# The stages a run reports to its progress callback, in order.
STAGES = ("content", "lock", "snapshot", "facts", "score", "segment", "scope", "decide", "arbitrate", "rows",
          "chain", "files", "store")

ROWS_BATCH = 10_000  # rows a worker hands over per call in the rows stage

NO_POLICY = "RN001"
UNAPPROVED = "RN002"
BAD_WORKERS = "RN003"


@dataclass
class RunOptions:
    """Options of `rekindle run` (see cli/nightly.py)."""

    data: Path
    as_of: date
    db_url: str | None = None
    out: Path | None = None
    workers: int = 1
    production: bool = False
    rules_dir: Path = Path("rules")
    strategies_dir: Path = Path("strategies")
    models_dir: Path | None = None


@dataclass
class RunResult:
    """What a finished run reports back."""

    run_id: str
    out_dir: Path
    funnel: dict
    facts: int
    decisions: int
    chain_head: str
    timings: dict[str, float] = field(default_factory=dict)


Progress = Callable[[str], None]


def load_run_content(options: RunOptions):
    """Load and check the packs, policy, segments, services and strategies; raise on any error."""
    from engine.content.validate import check_content
    from engine.content.documents import load_content

    content, diags = load_content(options.rules_dir, options.strategies_dir)
    if not has_errors(diags):
        diags = diags + check_content(content)
    missing = [name for name, doc in (("contact_policy.yaml", content.policy), ("segments.yaml", content.segments))
               if doc is None]
    for name in missing:
        diags.append(Diagnostic(NO_POLICY, f"{name} not found", file=str(Path(options.rules_dir) / name),
                                hint="a run needs the contact policy and the segmentation"))
    if has_errors(diags):
        raise DiagnosticError([d for d in diags if d.severity == "error"])
    if options.production:
        from engine.content.approvals import unapproved

        lines = unapproved(content, options.db_url)
        if lines:
            raise DiagnosticError([Diagnostic(UNAPPROVED, line, hint="approve it (`rekindle rules approve` / "
                                              "`rekindle strategies approve`) or run without --production")
                                   for line in lines])
    return content


def snapshot_fingerprint(directory: Path) -> str:
    """sha256 over the names and bytes of the snapshot's contract table files."""
    digest = hashlib.sha256()
    for name in sorted(TABLES):
        for suffix in (".csv", ".parquet"):
            path = Path(directory) / f"{name}{suffix}"
            if path.is_file():
                digest.update(f"{path.name}\0".encode())
                with path.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
    return digest.hexdigest()


def partition_of(msisdns: pd.Series, n: int) -> np.ndarray:
    """Worker index per fact: a stable hash of msisdn mod n (same subscriber → same worker)."""
    if n <= 1:
        return np.zeros(len(msisdns), dtype=np.int64)
    hashes = pd.util.hash_pandas_object(msisdns.reset_index(drop=True), index=False).to_numpy()
    return (hashes % np.uint64(n)).astype(np.int64)


class _Clock:
    def __init__(self, progress: Progress | None):
        self.timings: dict[str, float] = {}
        self.progress = progress
        self._stage, self._start = None, time.perf_counter()

    def stage(self, name: str) -> None:
        now = time.perf_counter()
        if self._stage is not None:
            self.timings[self._stage] = round(now - self._start, 3)
        self._stage, self._start = name, now
        if self.progress is not None and name != "done":
            self.progress(name)


def run_night(options: RunOptions, progress: Progress | None = None) -> RunResult:
    """Run one night (module docstring); raises DiagnosticError on invalid input, RunRefused
    when another run holds the database."""
    if options.workers < 1:
        raise DiagnosticError([Diagnostic(BAD_WORKERS, f"--workers must be at least 1, got {options.workers}")])
    clock = _Clock(progress)
    clock.stage("content")
    content = load_run_content(options)
    run_id = f"{options.as_of.isoformat()}.{secrets.token_hex(6)}"
    clock.stage("lock")
    acquire_lock(options.db_url, run_id)
    run_row = {"id": run_id, "as_of": options.as_of.isoformat(), "started_at": utc_now(),
               "data_dir": str(Path(options.data).resolve()), "production": options.production,
               "workers": options.workers}
    out_dir = Path(options.out) if options.out else runs_dir() / run_id
    staging = out_dir.parent / f".{out_dir.name}.tmp-{run_id}"
    state = {"committed": False}
    try:
        result = _run(options, content, run_id, run_row, out_dir, staging, clock, state)
    except DiagnosticError:
        shutil.rmtree(staging, ignore_errors=True)
        release_lock(options.db_url, run_id)
        raise  # invalid input: nothing was written, not even a failed run row
    except BaseException as error:
        try:
            if not state["committed"]:  # after the commit the run stands; only moving the files failed
                shutil.rmtree(staging, ignore_errors=True)
                store_failed(options.db_url, run_row, f"{type(error).__name__}: {error}")
        finally:
            release_lock(options.db_url, run_id)
        raise
    release_lock(options.db_url, run_id)
    return result


def _run(options: RunOptions, content, run_id: str, run_row: dict, out_dir: Path, staging: Path,
         clock: _Clock, state: dict) -> RunResult:
    from engine.snapshot.loader import load_snapshot

    clock.stage("snapshot")
    snapshot = load_snapshot(options.data)
    # The closed loop's one seam: earlier runs' contacts and opt-outs join the input tables here.
    merge_written_back(snapshot, written_back(options.db_url, options.as_of, snapshot.tables["contact_history"]))
    fingerprint = snapshot_fingerprint(options.data)
    frame, extras, versions = prepare_frame(snapshot, options.as_of, content, options.models_dir, clock.stage)
    ctx = build_context(content, run_id, options.as_of, period_of(options.as_of),
                        hot_content=hot_content_index(snapshot), model_versions=versions)
    del snapshot

    clock.stage("scope")
    masks = scope_masks(frame, ctx.packs)
    bits = np.zeros(len(frame), dtype=np.int64)  # bit j: in the scope of pack j (sorted pack names)
    for j, name in enumerate(sorted(masks)):
        bits |= masks[name].astype(np.int64) << j
    in_scope = bits != 0
    extras["scope_bits"] = bits
    outside = frame.loc[~in_scope, ["msisdn", "service", "segment"]]
    out_of_scope_rows = list(zip([run_id] * len(outside), outside["msisdn"], outside["service"], outside["segment"]))
    out_of_scope_counts = outside["segment"].value_counts().to_dict()
    inside, inside_extras = frame[in_scope], extras[in_scope]
    contacts = dict(zip(inside["msisdn"], inside["contacts_30d"].astype(int)))
    facts_total = len(frame)
    del frame, extras, outside

    clock.stage("decide")
    part = partition_of(inside["msisdn"], options.workers)
    makers = [(lambda w=w: Partition(inside[part == w], inside_extras[part == w], ctx, content))
              for w in range(options.workers)]
    with Workers(makers, processes=options.workers > 1) as workers:
        # the workers hold their partitions now: the parent's copy of the in-scope facts can go
        del makers, inside, inside_extras, part
        decided = workers.call("decide")
        clock.stage("arbitrate")
        candidates = [c for cands, _, _ in decided for c in cands]
        results = arbitrate(candidates, contacts, ctx.policy)
        verdicts: list[dict] = [{} for _ in decided]
        worker_of = {c.key: w for w, (cands, _, _) in enumerate(decided) for c in cands}
        for r in results:
            option = r.option
            verdicts[worker_of[r.candidate.key]][r.candidate.key] = (
                r.outcome, option.strategy if option else "", option.channel if option else "",
                r.fell_back, r.beaten_by, r.full_channels)
        pack_counts: Counter = Counter()
        for _, counts, _ in decided:
            pack_counts.update(counts)
        clock.stage("rows")
        workers.call("start_rows", [(v,) for v in verdicts])
        del verdicts
        parts: list[list[tuple]] = [[] for _ in decided]
        while True:  # in batches: no worker pickles all its rows (payloads included) at once
            batches = workers.call("next_rows", [(ROWS_BATCH,)] * len(parts))
            if not any(batches):
                break
            for rows, batch in zip(parts, batches):
                rows.extend(batch)
    merged = list(heapq.merge(*parts, key=lambda row: (row[0], row[1])))
    del parts

    clock.stage("chain")
    decisions = [(run_id, seq, *row[2]) for seq, row in enumerate(merged)]
    payloads = [row[3] for row in merged]  # canonical JSON, UTF-8 encoded (see Partition.next_rows)
    links: list[tuple[str, str]] = []
    for start in range(0, len(payloads), ROWS_BATCH):  # decoded a batch at a time: str is up to 4x larger
        links += seal(decisions[start:start + ROWS_BATCH],
                      [p.decode("utf-8") for p in payloads[start:start + ROWS_BATCH]], links[-1][1] if links else GENESIS)
    traces = TraceRows(run_id, payloads, links)
    head = links[-1][1] if links else GENESIS
    decision_counts = Counter(d[5] for d in decisions)
    funnel = build_funnel(pack_counts, results, out_of_scope_counts, decision_counts, facts_total,
                          ctx.policy.capacities)

    clock.stage("files")
    rows_by_channel: dict[str, list[dict]] = {}
    for row, decision in zip(merged, decisions):
        if decision[5] == TREAT:
            channel = decision[9]
            extra = {"city": row[4], "account_manager": row[5]}
            rows_by_channel.setdefault(channel, []).append(
                {"msisdn": decision[2], "service": decision[3], "strategy": decision[8], "message": decision[10],
                 **{k: extra[k] for k in CHANNEL_EXTRAS[channel]}})
    shutil.rmtree(staging, ignore_errors=True)
    write_channel_files(staging, rows_by_channel)

    clock.stage("store")
    run_row.update(snapshot_fingerprint=fingerprint, content_hashes=json_text(ctx.content_hashes),
                   model_versions=json_text(versions), funnel=json_text(funnel), facts=facts_total,
                   decisions=len(decisions), chain_head=head, chain_count=len(decisions),
                   out_dir=str(out_dir.resolve()), finished_at=utc_now())
    store_run(options.db_url, RunRows(run=run_row, decisions=decisions, traces=traces,
                                      out_of_scope=out_of_scope_rows, model_versions=versions))
    state["committed"] = True
    try:
        _swap_into_place(staging, out_dir)
    except OSError as error:
        raise OSError(f"run {run_id} is stored, but its channel files could not be moved from {staging} "
                      f"to {out_dir}: {error}; move them by hand or run `rekindle export`") from error
    clock.stage("done")
    return RunResult(run_id=run_id, out_dir=out_dir, funnel=funnel, facts=facts_total, decisions=len(decisions),
                     chain_head=head, timings=clock.timings)


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    """Rename the staged channel files folder to `out_dir` (replacing an older one)."""
    aside = None
    if out_dir.exists():
        aside = out_dir.parent / f".{out_dir.name}.old-{secrets.token_hex(4)}"
        out_dir.rename(aside)
    staging.rename(out_dir)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)

