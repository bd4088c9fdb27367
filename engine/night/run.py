"""A nightly run (SPEC §7): snapshot → facts → scores → segments → packs → arbitration → store → files.

`run_night(RunOptions)` is what `rekindle run` calls. The stages, in order:
1. content: load and check rules/ and strategies/ (and, with --production, their approvals);
2. lock: at most one run per database (engine.store.write.acquire_lock);
3. snapshot: read and validate (nothing is written when it is invalid). A local night reads it
   straight into slice files (engine.night.slicesplit): the subscribers first, whose sorted
   msisdns cut the base into slices of the msisdn-sorted subscribers (engine.night.slices); then
   every other table a part at a time, each row written to its subscriber's slice's file in the
   staging folder (engine.night.slicefiles), so the parent never holds the base's tables; the
   contacts of earlier runs and the opt-outs of the loaded feedback join contact_history and lists
   as they are read (engine.store.loopback);
4. score: each slice's files give its subscribers' raw scores (the model's risk and tier, value
   indicators, the sensitivity's inputs), and the base-wide steps (percentile ranks, quantile
   tiers, the sensitivity's frequency bands) run once on those compact arrays of the whole base;
   each slice's scores go to a file beside its tables (engine.night.slicescore). (A registered
   pool, --engine spark, loads the whole snapshot and scores it at once:
   engine.night.prepare.score_base);
5. decide: N forked worker processes each take every Nth slice (engine.night.slicerun): read
   its file, build its facts, merge the scores, segment (vectorised), apply each pack's scope as
   a mask (facts in no pack's scope never reach the rule engine) and decide the rest, one fact
   per pack and signature in durable_rules (engine.night.partition); holdouts are drawn there. A
   worker keeps only each fact's outcome ids, not its facts;
6. arbitrate the candidates of all slices together, so capacities are filled best-first across
   the whole base (engine.night.arbitrate); they come and their verdicts go back as arrays
   (engine.night.candidates), not as objects;
7. rows: every worker reads back its next slice's facts (kept by the decide stage in the slice
   folder: engine.night.slicefacts) and builds its decision rows and trace payloads as columns,
   compressed into trace blocks
   (engine.night.slicerun.SliceRunner.slice_rows), all workers at once; the parent takes the
   slices in order (their ranges are in order, so the rows are in (msisdn, service) order),
   seals the payloads into the hash chain (engine.store.chain) and writes rows, blocks and the
   slice's out-of-scope rows as they come, inside the run's one database transaction
   (engine.store.write.RunWriter), and appends the treated rows to their channel's file in a
   staging folder (engine.night.channels.ChannelFiles). The parent holds one slice's rows at a
   time. The slice files are removed when the last slice is written;
8. files: the five channel files finished under their names; then the run row and model versions
   go into the same transaction, which commits; then the folder is renamed into place. Any
   failure (or kill) before the commit leaves no decisions, traces or files; a staging folder
   left by a killed run is recovered or removed by the next run (engine.night.outdir).
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable


from engine.night.candidates import CandidateTable, arbitrate_table
from engine.store.blocks import encode_hashes, payload_bytes
from engine.store.chain import GENESIS, link_bytes
from engine.snapshot.contract import TABLES
from engine.base.diagnostics import Diagnostic, DiagnosticError, has_errors
from engine.base.diagnostics import Refused as DiagnosticRefused
from engine.base.exitcodes import stored_error
from engine.night import outdir
from engine.night.channels import ChannelFiles
from engine.night.funnel import build_funnel
from engine.night.holdout import period_of
from engine.base.home import runs_dir
from engine.night.context import build_context, hot_content_index
from engine.night.settings import run_settings
from engine.night.prepare import base_scorer, score_base
from engine.night.slicescore import score_files
from engine.night.slicerun import SliceRunner
from engine.night.slices import DEFAULT_SIZE, plan_slices
from engine.base.jsonfile import canonical, utc_now
from engine.base.memory import release_unused
from engine.base.vocabulary import TREAT
from engine.night.workers import Workers, stop_on_signals
from engine.rules.compiler import compile_set
from engine.store.read import succeeded_for, succeeded_run
from engine.store.write import RunWriter, acquire_lock, release_lock, store_failed
from engine.store.loopback import merge_written_back, written_back

# The folder of the staging folder that holds a local night's slice files until its rows are written.
SLICES = ".slices"

# The stages a run reports to its progress callback, in order.
STAGES = ("content", "lock", "snapshot", "score", "decide", "arbitrate", "rows", "files", "store")


NO_POLICY = "RN001"
UNAPPROVED = "RN002"
BAD_WORKERS = "RN003"
NO_ENGINE = "RN004"

# Decide-stage pools other than the local worker processes, by RunOptions.engine; each is called
# with (options, owner, snapshot, slices, (scores, versions), ctx, content, compiled) and answers
# the calls of engine.night.workers.Workers. engine/spark registers "spark" when imported.
POOLS: dict[str, Callable] = {}
# Snapshot readers other than the local loader, by RunOptions.engine: (options) -> (validated
# Snapshot, fingerprint); engine/spark registers "spark" (the snapshot read by Spark from a URI).
READERS: dict[str, Callable] = {}


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
    rerun: bool = False  # allow a second succeeded run for the same as-of date (labelled rerun_of)
    slice_size: int = DEFAULT_SIZE  # subscribers per slice (engine/night/slices.py): memory, not results
    engine: str = "local"  # "local" (worker processes) or a registered pool: "spark" (engine/spark)
    spark_master: str = "local[*]"  # --spark-master, for --engine spark


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
    rerun_of: str = ""  # the succeeded run of the same as-of date this one repeats (--rerun)


Progress = Callable[[str], None]


def load_run_content(rules_dir: Path | str, strategies_dir: Path | str, production: bool = False,
                     db_url: str | None = None):
    """Load and check the packs, policy, segments, services and strategies; raise on any error.

    With `production`, every pack and strategy must also have an approval record in `db_url`.
    """
    from engine.content.validate import check_content
    from engine.content.documents import load_content

    content, diags = load_content(Path(rules_dir), Path(strategies_dir))
    if not has_errors(diags):
        diags = diags + check_content(content)
    missing = [name for name, doc in (("contact_policy.yaml", content.policy), ("segments.yaml", content.segments))
               if doc is None]
    for name in missing:
        diags.append(Diagnostic(NO_POLICY, f"{name} not found", file=str(Path(rules_dir) / name),
                                hint="a run needs the contact policy and the segmentation"))
    if has_errors(diags):
        raise DiagnosticError([d for d in diags if d.severity == "error"])
    if production:
        from engine.content.approvals import unapproved

        lines = unapproved(content, db_url)
        if lines:
            raise DiagnosticError([Diagnostic(UNAPPROVED, line, hint="approve it (`rekindle rules approve` / "
                                              "`rekindle strategies approve`) or run without --production")
                                   for line in lines])
    return content


def compile_content(rules_dir: Path | str, strategies_dir: Path | str, out: Path | str) -> str:
    """`rekindle rules compile`: check the content as a run does, write the compiled set (the
    compile-once artefact, engine.rules.compiler.CompiledSet) to `out` atomically; its sha256."""
    import os
    import tempfile

    compiled = compile_set(load_run_content(rules_dir, strategies_dir))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(compiled.to_json())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return compiled.sha256


def _data_dir(data) -> str:
    """The run row's data_dir: the absolute snapshot folder, or the URI a reader was given."""
    return str(data) if "://" in str(data) else str(Path(data).resolve())


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
    """Run one night (module docstring); raises DiagnosticError on invalid input, a `Refused`
    (RunRefused) when another run holds the database or the date already has a succeeded run
    and `rerun` is not set.

    The wrapper owns the run's safety: the `--out` folder is checked before anything is written
    (engine.night.outdir), what earlier runs left is recovered under the lock, files are created
    private (umask 077), SIGTERM/SIGINT end the run like any failure (a `failed` row, the lock
    released, the staging folder deleted), and the stored error never carries payloads.
    """
    if options.workers < 1:
        raise DiagnosticError([Diagnostic(BAD_WORKERS, f"--workers must be at least 1, got {options.workers}")])
    if options.engine != "local" and options.engine not in POOLS:
        raise DiagnosticError([Diagnostic(NO_ENGINE, f"unknown engine {options.engine!r}",
                                          hint="use --engine local, or --engine spark (import engine.spark first)")])
    out_dir = Path(options.out) if options.out else None
    if out_dir is not None:
        outdir.check_out_dir(out_dir)
    with outdir.private(), stop_on_signals():
        return _guarded(options, progress, out_dir)


def _guarded(options: RunOptions, progress: Progress | None, out_dir: Path | None) -> RunResult:
    clock = _Clock(progress)
    clock.stage("content")
    content = load_run_content(options.rules_dir, options.strategies_dir, options.production, options.db_url)
    run_id = f"{options.as_of.isoformat()}.{secrets.token_hex(6)}"
    clock.stage("lock")
    acquire_lock(options.db_url, run_id)
    run_row = {"id": run_id, "as_of": options.as_of.isoformat(), "started_at": utc_now(),
               "data_dir": _data_dir(options.data), "production": options.production,
               "workers": options.workers, "settings": canonical(run_settings(options))}
    out_dir = out_dir or runs_dir() / run_id
    staging = outdir.staging_for(out_dir, run_id)
    state = {"committed": False}
    try:
        outdir.recover(options.db_url, lambda rid: succeeded_run(options.db_url, rid))
        run_row["rerun_of"] = _previous_run(options)
        staging = outdir.open_staging(out_dir, run_id, options.db_url)
        result = _run(options, content, run_id, run_row, out_dir, staging, clock, state)
    except (DiagnosticError, DiagnosticRefused):
        if not state["committed"]:  # committed, then --out was taken meanwhile: the staged files stay (journal)
            outdir.discard(staging, run_id)
        release_lock(options.db_url, run_id)
        raise  # invalid input or a refusal: nothing was written, not even a failed run row
    except BaseException as error:
        try:
            if not state["committed"]:  # after the commit the run stands; only moving the files failed
                outdir.discard(staging, run_id)
                store_failed(options.db_url, run_row, stored_error(error))
        finally:
            release_lock(options.db_url, run_id)
        raise
    release_lock(options.db_url, run_id)
    return result


def _previous_run(options: RunOptions) -> str:
    """The id of the succeeded run of the same as-of date this run repeats ('' if none).

    Raises Refused when there is one and `options.rerun` is not set."""
    previous = succeeded_for(options.db_url, options.as_of.isoformat())
    if previous and not options.rerun:
        raise DiagnosticRefused(
            f"run {previous} already succeeded for {options.as_of.isoformat()}",
            hint="pass --rerun to store a second run for this date (it is labelled as a rerun)")
    return previous or ""


def _run(options: RunOptions, content, run_id: str, run_row: dict, out_dir: Path, staging: Path,
         clock: _Clock, state: dict) -> RunResult:
    from engine.night.slicesplit import load_into_slices
    from engine.scoring.response import latest_response
    from engine.snapshot.loader import Snapshot, load_snapshot

    clock.stage("snapshot")
    pool = POOLS.get(options.engine)  # --engine spark: Spark jobs answer the workers' calls (engine/spark)
    if pool:
        reader = READERS.get(options.engine)
        snapshot, fingerprint = reader(options) if reader else (load_snapshot(options.data), None)
        # The closed loop's one seam: earlier runs' contacts and opt-outs join the input tables here.
        merge_written_back(snapshot, written_back(options.db_url, options.as_of,
                                                  snapshot.tables["contact_history"]))
        fingerprint = fingerprint or snapshot_fingerprint(options.data)
        release_unused()  # what loading freed goes back to the OS
        clock.stage("score")
        hot = hot_content_index(snapshot)
        slices = plan_slices(snapshot, options.slice_size, at_least=options.workers)
        scores, versions = score_base(snapshot, options.as_of, content, options.models_dir)
    else:
        # The snapshot read straight into slice files (engine/night/slicesplit.py), then scored
        # slice by slice (engine/night/slicescore.py): the parent never holds the base.
        using = base_scorer(options.as_of, content, options.models_dir)  # no slice file is written without a model
        staged = load_into_slices(options.data, staging / SLICES, options.slice_size, options.workers,
                                  _written_back_to(options))
        slices, source = staged.slices, staged.files
        fingerprint = snapshot_fingerprint(options.data)
        release_unused()
        clock.stage("score")
        hot = hot_content_index(Snapshot(Path(options.data), staged.whole))
        versions = score_files(using, staged.files, slices, staged.index, staged.row_of_rank)
        del staged
    versions = dict(versions)
    response = latest_response(options.models_dir)  # loaded once: the forked workers share it
    if response[0] is not None:  # the slices add propensity.<strategy> from it (prepare_frame)
        versions["response"] = response[1]["version"]
    ctx = build_context(content, run_id, options.as_of, period_of(options.as_of),
                        hot_content=hot, model_versions=versions)
    release_unused()

    clock.stage("decide")
    compiled = compile_set(content)  # once, in the parent: the forked workers share it (no per-worker compile)
    count = min(options.workers, slices.count)
    owner = [k % count for k in range(slices.count)]
    if pool:
        workers = pool(options, owner, snapshot, slices, (scores, versions), ctx, content, compiled)
    else:
        makers = [(lambda w=w: SliceRunner([k for k in range(slices.count) if owner[k] == w], source, versions,
                                           ctx, content, compiled, options.as_of, options.models_dir, response))
                  for w in range(count)]
        workers = Workers(makers, processes=count > 1)
    with workers:
        decided = workers.call("decide")
        clock.stage("arbitrate")
        table = CandidateTable.concat([part.candidates for part in decided])
        for part in decided:
            part.candidates = None  # the parent's table holds them now: not twice
        arbitrated, arbitrated_counts = arbitrate_table(table, ctx.policy)
        del table
        verdicts: list[dict] = [{} for _ in decided]  # per worker: slice -> the Verdicts of its candidates
        at = 0
        for w, part in enumerate(decided):
            for k, count in part.counts.items():  # the worker's slices in the order of its table's rows
                verdicts[w][k] = arbitrated.part(at, at + count)
                at += count
        del arbitrated
        pack_counts: Counter = Counter()
        out_of_scope_counts: Counter = Counter()
        for part in decided:
            pack_counts.update(part.funnel)
            out_of_scope_counts.update(part.out_of_scope)
        facts_total = sum(part.facts for part in decided)
        sizes = {k: n for part in decided for k, n in part.sizes.items()}
        starts = dict(zip(range(slices.count), itertools.accumulate([sizes[k] for k in range(slices.count)], initial=0)))
        del decided
        release_unused()  # what arbitration freed goes back before the rows stage allocates
        clock.stage("rows")
        workers.call("start_rows", [(v, starts) for v in verdicts])
        del verdicts
        files = ChannelFiles(staging)  # written as the rows are sealed; a failed night discards staging
        try:
            with RunWriter(options.db_url) as writer:
                sealed = _seal_and_write(writer, run_id, _slices_in_order(workers, owner), files)
                shutil.rmtree(staging / SLICES, ignore_errors=True)  # before the commit: never moved into place
                funnel = build_funnel(pack_counts, arbitrated_counts, dict(out_of_scope_counts), sealed.decision_counts,
                                      facts_total, ctx.policy.capacities)
                clock.stage("files")
                files.close()
                clock.stage("store")
                run_row.update(snapshot_fingerprint=fingerprint, content_hashes=canonical(ctx.content_hashes),
                               model_versions=canonical(versions), funnel=canonical(funnel), facts=facts_total,
                               decisions=sealed.count, chain_head=sealed.head, chain_count=sealed.count,
                               out_dir=str(out_dir.resolve()), finished_at=utc_now())
                writer.finish(run_row, [], versions)
        except BaseException:
            files.discard()  # closes what is still open (after `close`, nothing)
            raise
        state["committed"] = True
    try:
        _swap_into_place(staging, out_dir)
    except OSError as error:
        raise OSError(f"run {run_id} is stored, but its channel files could not be moved from {staging} "
                      f"to {out_dir}: {error}; move them by hand or run `rekindle export`") from error
    clock.stage("done")
    return RunResult(run_id=run_id, out_dir=out_dir, funnel=funnel, facts=facts_total, decisions=sealed.count,
                     chain_head=sealed.head, timings=clock.timings, rerun_of=run_row.get("rerun_of", ""))


def _written_back_to(options: RunOptions) -> Callable:
    """The closed loop's one seam in a local night: the contacts and opt-outs earlier runs wrote
    back (engine.store.loopback), read from the database once, when the split first asks; the
    split leaves out the contacts the snapshot's contact_history already holds."""
    written: dict = {}

    def fetch():
        if "back" not in written:
            written["back"] = written_back(options.db_url, options.as_of)
        return written["back"]
    return fetch


def _slices_in_order(workers: Workers, owner: list[int]):
    """Every slice's `SliceRows`, in chain order. Worker w owns slices w, w + W, …; each worker
    always has its next slice in hand, so all workers build while the parent seals and writes."""
    count = len(owner)
    ahead = len(set(owner))
    for k in range(min(ahead, count)):
        workers.submit(owner[k], "slice_rows", (k,))
    for k in range(count):
        part = workers.result(owner[k])
        if k + ahead < count:
            workers.submit(owner[k + ahead], "slice_rows", (k + ahead,))
        yield part


@dataclass
class Sealed:
    """What the rows stage leaves for the run row, the funnel and the channel files."""

    count: int
    head: str
    decision_counts: Counter


def _seal_and_write(writer: RunWriter, run_id: str, parts, files: ChannelFiles) -> Sealed:
    """Seal every slice's rows (numbered, their record heads built and their payloads compressed
    by the workers) into the hash chain and write them with their trace blocks and out-of-scope
    rows, slice after slice; the treated rows go on to their channel's file."""
    head, seq = GENESIS, 0
    counts: Counter = Counter()
    for part in parts:
        if part.start != seq:
            raise RuntimeError(f"a slice's rows came from record {part.start} where {seq} was due")
        ready, n = [], 0
        for first_seq, count, blob in part.blocks:
            digests = []
            for payload in payload_bytes(blob, count):
                head = link_bytes(head, part.heads[n], payload)
                digests.append(head)
                n += 1
            ready.append((first_seq, count, encode_hashes(digests), blob))
        if n != len(part.fields):
            raise RuntimeError(f"a slice's blocks hold {n} payloads for {len(part.fields)} rows")
        writer.sealed_blocks([(run_id, seq + i, *fields) for i, fields in enumerate(part.fields)], ready)
        counts.update(fields[3] for fields in part.fields)  # the decision of each row
        for n in [n for n, fields in enumerate(part.fields) if fields[3] == TREAT]:
            msisdn, service, _pack, _decision, _reason, _arbitration, strategy, channel, message = part.fields[n]
            files.add(channel, {"msisdn": msisdn, "service": service, "strategy": strategy, "message": message,
                                "city": part.cities[n], "account_manager": part.managers[n]})
        seq += len(part.fields)
        writer.out_of_scope([(run_id, *row) for row in part.out_of_scope])
    return Sealed(seq, head, counts)


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    """Rename the staged channel files folder to `out_dir` (only an empty folder or one Rekindle
    created is replaced: engine.night.outdir)."""
    outdir.swap_into_place(staging, out_dir, staging.name.rsplit(".tmp-", 1)[-1])
