"""What runs inside the Spark executors: one slice of the base decided, then turned into rows.

Both functions are `mapInPandas` bodies over records (slice, data): `data` is the slice's input
(engine/spark/shipping.pack_slice). The work is the local engine's own: a `SliceRunner` over a
snapshot that holds the slice's rows only (facts, scores merge, segments, scopes, durable_rules
through `Partition`), so the decisions are the local run's by construction; the equality test
(tests/spark/test_spark_night.py) holds that.

- `decide_slices`: phase 1; yields (slice, JSON of the slice's compact outcome): candidates with
  their options' expected values, the candidates' contacts, funnel and out-of-scope counts.
- `row_slices`: phase 2; Spark keeps no state between jobs: when the task runs in the Python
  worker that decided the slice in job 1, it takes that worker's runner back (as a local worker
  does); otherwise the slice is decided again (the same inputs give the same outcome:
  `Partition.reattach` refuses a slice that rebuilt other facts). Then the driver's arbitration verdicts are filled in and its rows handed out — the
  record heads and trace payloads built here, numbered from the slice's first chain position —
  as Arrow IPC batches (slice, part, kind, data, seconds), then its out-of-scope rows (with the
  task's seconds). The driver seals
  them into the hash chain in slice order, as a local run does.
"""

from __future__ import annotations

import io
import json
import time
from typing import Iterator

import pandas as pd
import pyarrow as pa

from engine.night.slicefiles import InMemory
from engine.night.slicerun import SliceRunner
from engine.night.slices import Slices
from engine.spark.shipping import night_of, unpack_slice

ROWS = 0  # kind of a rows record: decision rows
OUTSIDE = 1  # the slice's out-of-scope rows (msisdn, service, segment)
FIRST = b"rekindle.first"  # a rows part's schema metadata: the chain position of its first row
ROW_COLUMNS = ("msisdn", "service", "pack", "decision", "reason", "arbitration", "strategy", "channel", "message")


_LOADED = time.time()  # when this Python worker imported the engine (a reused worker keeps it)
# Slices this Python worker decided in the current night's job 1 (Spark reuses Python workers):
# job 2 takes the runner back when its task lands here, and decides the slice again otherwise.
_DECIDED: dict[tuple[str, int], SliceRunner] = {}


def _runner(shipped: dict, blob: bytes, spent: dict | None = None) -> SliceRunner:
    start = time.perf_counter()
    night = night_of(shipped)
    middle = time.perf_counter()
    snapshot, scores = unpack_slice(blob)
    if spent is not None:
        spent.update(night=round(middle - start, 3), unpack=round(time.perf_counter() - middle, 3))
    people = len(snapshot.tables["subscribers"])
    return SliceRunner([0], InMemory(snapshot, Slices(people, max(people, 1), 1), scores), night.versions,
                       night.ctx, night.content, night.compiled, night.as_of, night.models_dir)


def decide_slices(broadcast, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Phase 1 of every slice in `batches` (module docstring)."""
    for batch in batches:
        for k, blob in zip(batch["slice"].tolist(), batch["data"].tolist()):
            start, spent = time.perf_counter(), {"worker_age": round(time.time() - _LOADED, 3)}
            runner = _runner(broadcast.value, blob, spent)
            spent["build"] = round(time.perf_counter() - start, 3)
            decided = runner.decide()
            key = night_of(broadcast.value).key
            for old in [o for o in _DECIDED if o[0] != key]:
                del _DECIDED[old]
            _DECIDED[(key, k)] = runner
            table = decided.candidates
            candidates = table.candidates()  # the msisdns as str again (the table holds their UTF-8 bytes)
            body = {
                "candidates": [[c.msisdn, c.service, c.pack, c.priority,
                                [[o.strategy, o.channel, o.ev] for o in c.options], c.fallback]
                               for c in candidates],
                "funnel": [[*key, n] for key, n in decided.funnel.items()],
                "contacts": dict(zip((c.msisdn for c in candidates), table.contacts.tolist())),
                "facts": int(decided.facts),
                "size": int(decided.sizes[0]),
                "out_of_scope": [[segment, int(n)] for segment, n in decided.out_of_scope.items()],
                "seconds": round(time.perf_counter() - start, 3),  # the task's work, for docs/SPARK.md's figures
                "spent": spent,
            }
            yield pd.DataFrame({"slice": [k], "data": [json.dumps(body).encode("utf-8")]})


def _ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def row_slices(broadcast, verdicts, starts, limit: int, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Phase 2 of every slice in `batches` (module docstring); `verdicts` and `starts` are
    broadcasts of {slice: its candidates' Verdicts (engine/night/candidates.py)} and {slice: first
    chain position}."""
    for batch in batches:
        for k, blob in zip(batch["slice"].tolist(), batch["data"].tolist()):
            start = time.perf_counter()
            runner = _DECIDED.pop((night_of(broadcast.value).key, k), None)
            if runner is None:
                runner = _runner(broadcast.value, blob)
                runner.decide()
            runner.start_rows({0: verdicts.value[k]} if k in verdicts.value else {}, {0: starts.value[k]})
            part = 0
            while True:
                batch = runner.next_batch(0, limit)
                if batch is None:
                    break
                columns = {name: pa.array(list(values), pa.string()) for name, values in zip(ROW_COLUMNS, zip(*batch.fields))}
                columns.update(payload=pa.array(batch.payloads, pa.large_string()),
                               city=pa.array(batch.cities, pa.string()),
                               manager=pa.array(batch.managers, pa.string()),
                               head=pa.array(batch.heads, pa.binary()))
                # the batch's first chain position rides in the schema: its rows are consecutive from it
                table = pa.table(columns).replace_schema_metadata({FIRST: str(batch.first).encode()})
                yield pd.DataFrame({"slice": [k], "part": [part], "kind": [ROWS], "data": [_ipc(table)],
                                    "seconds": [0.0]})
                part += 1
            outside = runner.out_of_scope_rows(0)
            table = pa.table({"msisdn": pa.array([r[0] for r in outside], pa.string()),
                              "service": pa.array([r[1] for r in outside], pa.string()),
                              "segment": pa.array([r[2] for r in outside], pa.string())})
            yield pd.DataFrame({"slice": [k], "part": [part], "kind": [OUTSIDE], "data": [_ipc(table)],
                                "seconds": [round(time.perf_counter() - start, 3)]})  # the slice's whole task
