"""The decide stage of a night on Spark: the local engine's worker pool, with Spark jobs as workers.

engine/night/run.py drives a pool of workers (engine.night.workers.Workers) through the stages
decide → arbitrate → rows. `SparkPool` answers the same calls, so everything else about a night
(content, lock, snapshot, base-wide scores, the slice plan, the global arbitration, the hash
chain, the one database transaction, the channel files, failure handling) is the local run's own
code. The pool's "workers" are the local run's (slice k belongs to worker k mod W); each slice
is one Spark task:

1. `call("decide")`: job 1, `mapInPandas(engine.spark.executor.decide_slices)` over one record
   per slice (engine/spark/shipping.pack_slice), one partition per slice; the compact outcomes
   (candidates with expected values, contacts, counts) come back to the driver as JSON, grouped
   per worker in slice order as the local workers hand them back. The driver arbitrates them all
   (capacities filled best-first across the whole base).
2. `call("start_rows")`: the verdicts and each slice's first chain position go out as
   broadcasts and job 2 (`row_slices`) starts; its records are read back in partition (= slice)
   order with `toLocalIterator`, so the driver holds about one slice's rows at a time.
3. `slice_rows`: the run's rows stage takes slice after slice from that stream (its rows
   gathered and their payloads compressed into trace blocks on the driver,
   engine.night.slicerun.gather_rows), seals them into the hash chain and writes them.

A failing Spark job raises `SparkJobFailed` naming the stage (decide or rows); it reaches
run.py's failure path like any other error: the run's transaction never commits, so no
decision, trace or file of it is visible, and a `failed` run row records the error.
"""

from __future__ import annotations

import functools
import io
import json
from collections import Counter
from typing import Any

import pyarrow as pa

from engine.night.arbitrate import Candidate, Option
from engine.night.candidates import CandidateTable
from engine.night.partition import RowBatch
from engine.night.slicerun import BATCH as ROWS_BATCH, SlicesDecided, gather_rows
from engine.spark.executor import FIRST, OUTSIDE, ROW_COLUMNS, ROWS, decide_slices, row_slices
from engine.spark.session import session
from engine.spark.shipping import pack_night, pack_slice
from engine.spark.watchdog import SparkJobFailed, Watchdog, failure, stall_seconds, watched  # noqa: F401  (SparkJobFailed: this module's name for it)


# Seconds of each slice's task in the last night's two jobs (the benchmark's per-partition figures).
LAST_FIGURES: dict[str, list] = {"decide": [], "rows": [], "decide_parts": []}


class SparkPool:
    """`engine.night.workers.Workers`' calls answered by Spark jobs (module docstring)."""

    def __init__(self, options, owner: list[int], snapshot, slices, scores: tuple, ctx, content, compiled):
        self.spark = session(options.spark_master)
        self.owner = owner
        self.count = max(owner) + 1
        self.slices = slices.count
        frame, versions = scores
        self.inputs = [(k, pack_slice(snapshot, slices.ranks(k), frame)) for k in range(slices.count)]
        context = self.spark.sparkContext
        self.night = context.broadcast(pack_night(ctx, compiled, versions, options))
        self._broadcasts = [self.night]
        self._pending: dict[int, Any] = {}
        self._stream = None
        self._record = None  # the stream's next record, read ahead
        self._outside: dict[int, list[tuple]] = {}
        self._part = {}  # slice -> the next rows part due
        self._starts: dict[int, int] = {}  # slice -> chain position of its first row (start_rows)
        self._watch: Watchdog | None = None  # the rows job's, from start_rows to close

    def _frame(self):
        rdd = self.spark.sparkContext.parallelize(self.inputs, len(self.inputs))  # one slice per partition
        return self.spark.createDataFrame(rdd, "slice int, data binary")

    # -- Workers' interface ---------------------------------------------------------------------
    def call(self, name: str, per_worker_args=None) -> list[Any]:
        if name == "decide":
            return self._decide()
        if name == "start_rows":
            return self._start_rows(per_worker_args)
        raise ValueError(f"a Spark pool has no call {name!r}")

    def call_one(self, index: int, name: str, args: tuple = ()) -> Any:
        return self._one(name, args)

    def submit(self, index: int, name: str, args: tuple = ()) -> None:
        if index in self._pending:
            raise RuntimeError(f"worker {index} already has a call outstanding")
        self._pending[index] = self._one(name, args)

    def busy(self, index: int) -> bool:
        return index in self._pending

    def result(self, index: int) -> Any:
        return self._pending.pop(index)

    def close(self, kill: bool = False) -> None:
        stream, self._stream = self._stream, None
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.stop()
        shared, self._broadcasts = self._broadcasts, []
        self.inputs = []
        try:
            if kill:
                self.spark.sparkContext.cancelAllJobs()
            if stream is not None:
                stream.close()
            for one in shared:
                one.unpersist()
        except BaseException as error:  # a JVM gone (the night already fails for it) has nothing left to free
            if not kill or failure(self.spark, "rows", error) is error:
                raise

    def __enter__(self) -> "SparkPool":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(kill=exc_type is not None)

    # -- job 1: decide --------------------------------------------------------------------------
    def _decide(self) -> list[SlicesDecided]:
        with watched(self.spark, "decide"):
            job = self._frame().mapInPandas(functools.partial(decide_slices, self.night), "slice int, data binary")
            records = job.collect()
        bodies = {r["slice"]: json.loads(r["data"]) for r in records}
        LAST_FIGURES.update(decide=[bodies[k]["seconds"] for k in sorted(bodies)], rows=[],
                            decide_parts=[bodies[k]["spent"] for k in sorted(bodies)])
        if sorted(bodies) != list(range(self.slices)):
            raise SparkJobFailed("decide", RuntimeError(f"{len(bodies)} of {self.slices} slices came back"))
        parts = [SlicesDecided(candidates=CandidateTable.concat([]), counts={}, funnel=Counter(), facts=0, sizes={},
                               out_of_scope=Counter())
                 for _ in range(self.count)]
        tables: list[list[CandidateTable]] = [[] for _ in range(self.count)]
        for k in range(self.slices):  # each worker's slices in order, as a local worker decides them
            body, part = bodies[k], parts[self.owner[k]]
            candidates = [Candidate(m, s, p, priority, tuple(Option(*o) for o in options), fallback)
                          for m, s, p, priority, options, fallback in body["candidates"]]
            tables[self.owner[k]].append(CandidateTable.of(candidates, body["contacts"]))
            part.counts[k] = len(candidates)
            part.funnel.update({tuple(row[:4]): row[4] for row in body["funnel"]})
            part.facts += body["facts"]
            part.sizes[k] = body["size"]
            part.out_of_scope.update({segment: n for segment, n in body["out_of_scope"]})
        for part, worker_tables in zip(parts, tables):
            part.candidates = CandidateTable.concat(worker_tables)
        return parts

    # -- job 2: rows ----------------------------------------------------------------------------
    def _start_rows(self, per_worker_args) -> list[None]:
        by_slice: dict = {}  # slice -> the Verdicts of its candidates
        starts: dict = {}
        for verdicts, first in per_worker_args:
            by_slice.update(verdicts)
            starts = first
        context = self.spark.sparkContext
        self._starts = dict(starts)
        with watched(self.spark, "rows"):
            verdicts_shared, starts_shared = context.broadcast(by_slice), context.broadcast(dict(starts))
            self._broadcasts += [verdicts_shared, starts_shared]
            body = functools.partial(row_slices, self.night, verdicts_shared, starts_shared, ROWS_BATCH)
            job = self._frame().mapInPandas(body, "slice int, part int, kind int, data binary, seconds double")
            self._stream = job.toLocalIterator(prefetchPartitions=True)
        # One watchdog for the whole stream (not one per record): the driver's own time between
        # records runs no job, so it is no stall (engine/spark/watchdog.py).
        self._watch = Watchdog(self.spark, stall_seconds())
        self._watch.start()
        return [None] * self.count

    def _next_record(self):
        try:
            return next(self._stream, None)
        except BaseException as error:
            found = failure(self.spark, "rows", error, self._watch)
            if found is error:
                raise
            raise found from None

    def _take(self, k: int):
        """The stream's next record, which must be slice k's next part."""
        record = self._record if self._record is not None else self._next_record()
        self._record = None
        due = self._part.get(k, 0)
        if record is None or record["slice"] != k or record["part"] != due:
            got = "the end" if record is None else f"slice {record['slice']} part {record['part']}"
            raise SparkJobFailed("rows", RuntimeError(f"slice {k} part {due} was due, {got} came"))
        self._part[k] = due + 1
        return record

    def _one(self, name: str, args: tuple) -> Any:
        if name == "open_slice":
            return None
        if name == "next_rows":
            k = args[0]
            if k in self._outside:
                return None
            record = self._take(k)
            if record["kind"] == OUTSIDE:
                LAST_FIGURES["rows"].append(record["seconds"])
                table = _table(record["data"])
                self._outside[k] = list(zip(*(table.column(n).to_pylist() for n in ("msisdn", "service", "segment"))))
                return None
            return _batch(_table(record["data"]))
        if name == "slice_rows":  # the local workers' call: the slice's rows gathered (and compressed) here
            k = args[0]
            rows = gather_rows(self._starts[k], lambda: self._one("next_rows", (k, ROWS_BATCH)))
            rows.out_of_scope = self._one("out_of_scope_rows", (k,))
            return rows
        if name == "out_of_scope_rows":
            k = args[0]
            while k not in self._outside:
                if self._one("next_rows", (k, ROWS_BATCH)) is not None:
                    raise SparkJobFailed("rows", RuntimeError(f"slice {k}'s rows were asked for after its out-of-scope rows"))
            return self._outside.pop(k)
        raise ValueError(f"a Spark pool has no call {name!r}")


def _table(blob: bytes) -> pa.Table:
    with pa.ipc.open_stream(io.BytesIO(blob)) as reader:
        return reader.read_all()


def _batch(table: pa.Table) -> RowBatch:
    """The `RowBatch` an executor shipped as one rows part (engine/spark/executor.py `row_slices`)."""
    return RowBatch(int(table.schema.metadata[FIRST]), list(zip(*(table.column(n).to_pylist() for n in ROW_COLUMNS))),
                    table.column("payload").to_pylist(), table.column("city").to_pylist(),
                    table.column("manager").to_pylist(), table.column("head").to_pylist())
