"""The operator's monthly lists (001 §6, PLAYBOOKS.md §6) from a stored run: `rekindle export --view`.

- `silent`     沉默用户视图: msisdn, city, brand, service, ordered_on, type, reasons — facts the run put in
               silent_long (包月长期沉默) or silent_short (包月短期沉默);
- `low-use`    低使用量用户视图: the same columns plus the core usage volume `uses_m1`..`uses_m3` and
               `active_days_m1`..`active_days_m3` — facts in low_monthly (包月低使用), low_unpaid
               (非包月无付费低使用) or low_paid (非包月有付费低使用);
- `front-desk` 前台推荐视图: msisdn, city, service, customer_type (the run's segment: the 2 silent and
               3 low-use types, plus `new` 新订购 and `active` 正常使用), customer_type_zh, reasons —
               every fact, so a front-desk or recommender system can look any subscriber up.

`type` / `customer_type` is the segment the RUN stored for the fact (its trace, or the out-of-scope
row), so a view always agrees with the decisions of that run; `reasons` are the fact's causes
(套餐捆绑 bundle, 双卡 dual_sim, 渠道养卡 card_farming, 换机 handset_change, 换系统 os_change;
engine.facts.derived), `|`-joined. The per-fact columns are rebuilt from the run's snapshot with the
run's own fact builder, after checking the snapshot's fingerprint is still the run's (a changed
snapshot is an error, not a silently different list).

Streaming, memory bounded by the slice and not the base: the subscribers are cut into the night's
slices (engine.night.slices.plan_slices: ranges of the msisdn-sorted subscribers, `slice_size`
each, through the snapshot's join index built once). For each slice in turn the stored segments
of its subscribers are the next rows of the two stored streams — decisions in seq order and
out-of-scope rows, both in msisdn order — and the facts of its subscribers only are built
(build_facts(subscribers=…)); its rows are sorted by (msisdn, service). Slices are msisdn ranges,
so their rows one after the other are the whole list sorted, with no merge. Rows are written in
batches of BATCH (a Parquet row group each, whatever the slicing) to a temp file renamed into
place, so a run gives the same bytes for any slice size (tests/engine/outputs/test_views.py).
The snapshot itself is still loaded whole (the loader reads whole files).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sqlalchemy import text

from engine.base.diagnostics import Diagnostic, DiagnosticError, did_you_mean
from engine.store.database import get_engine
from engine.store.read import all_out_of_scope, decisions_with_payloads, resolve_run

VIEWS = {
    "silent": ("silent_long", "silent_short"),
    "low-use": ("low_monthly", "low_unpaid", "low_paid"),
    "front-desk": None,  # every segment
}
TYPE_ZH = {"silent_long": "包月长期沉默", "silent_short": "包月短期沉默", "low_monthly": "包月低使用",
           "low_unpaid": "非包月无付费低使用", "low_paid": "非包月有付费低使用", "new": "新订购", "active": "正常使用"}
BASE_COLUMNS = ("msisdn", "city", "brand", "service", "ordered_on", "type", "reasons")
USAGE_COLUMNS = ("uses_m1", "uses_m2", "uses_m3", "active_days_m1", "active_days_m2", "active_days_m3")
FRONT_DESK_COLUMNS = ("msisdn", "city", "service", "customer_type", "customer_type_zh", "reasons")
BATCH = 50_000  # rows per write (a Parquet row group)
CHUNK = 20_000  # database rows per fetch
DEFAULT_SLICE = 20_000  # subscribers whose facts are built at a time

UNKNOWN_VIEW = "RN210"
BAD_SUFFIX = "RN211"
SNAPSHOT_CHANGED = "RN212"


def view_columns(view: str) -> tuple[str, ...]:
    if view == "front-desk":
        return FRONT_DESK_COLUMNS
    return BASE_COLUMNS + (USAGE_COLUMNS if view == "low-use" else ())


def _check(view: str, out: Path) -> str:
    if view not in VIEWS:
        raise DiagnosticError([Diagnostic(UNKNOWN_VIEW, f"unknown view {view!r}", path="--view",
                                          hint=did_you_mean(view, VIEWS) or f"one of: {', '.join(VIEWS)}")])
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise DiagnosticError([Diagnostic(BAD_SUFFIX, f"cannot tell the format of {out.name!r}", path="--out",
                                          hint="name the file *.csv or *.parquet")])
    return suffix[1:]


def _decided_segments(run_id: str, wanted, db_url: str | None):
    """(msisdn, service, segment) of the run's decided facts, seq order (= msisdn, service order)."""
    for row, payload in decisions_with_payloads(run_id, db_url, columns=("msisdn", "service"), batch=CHUNK):
        if payload is None:
            continue  # a decision without its trace (as the inner join did): `audit verify` reports it
        # cheap pre-filter on the canonical JSON before parsing it
        if wanted is not None and not any(f'"{s}"' in payload for s in wanted):
            continue
        segment = (json.loads(payload).get("segment") or {}).get("segment") or ""
        if wanted is None or segment in wanted:
            yield row["msisdn"], row["service"], segment


def _scoped_segments(run_id: str, wanted, db_url: str | None):
    """(msisdn, service, segment) of the run's out-of-scope facts, (msisdn, service) order."""
    for msisdn, service, segment in all_out_of_scope(run_id, db_url):
        if wanted is None or segment in wanted:
            yield msisdn, service, segment


def stored_segments(run_id: str, segments, db_url: str | None = None):
    """Yield chunks of (msisdn, service, segment) the run stored, for the given segments (None = all).

    In-scope facts carry their segment in the trace payload; the others in `out_of_scope`.
    """
    wanted = None if segments is None else set(segments)
    for rows in (_decided_segments(run_id, wanted, db_url), _scoped_segments(run_id, wanted, db_url)):
        out = []
        for row in rows:
            out.append(row)
            if len(out) == CHUNK:
                yield out
                out = []
        if out:
            yield out


class _UpTo:
    """A stream of (msisdn, …) rows in msisdn order, taken a range at a time: `until(last)` returns
    the rows whose msisdn is <= last. Both stored streams are in msisdn order (the hash chain's
    order; out-of-scope rows are stored sorted), so a slice's rows are the next ones of each."""

    def __init__(self, rows, what: str):
        self.rows, self.what, self.head, self.previous = iter(rows), what, None, None
        self._next()

    def _next(self) -> None:
        self.head = next(self.rows, None)
        if self.head is not None:
            if self.previous is not None and self.head[0] < self.previous:
                raise RuntimeError(f"the run's {self.what} are not in msisdn order "
                                   f"({self.head[0]} after {self.previous}); `rekindle audit verify` the run")
            self.previous = self.head[0]

    def until(self, last: str | None) -> list:
        out = []
        while self.head is not None and (last is None or self.head[0] <= last):
            out.append(self.head)
            self._next()
        return out


def _active_days(snapshot, subs: pd.DataFrame, as_of, ranks: np.ndarray) -> np.ndarray:
    """active_days of each row of `subs` (facts of the subscribers of `ranks`) in M1..M3
    (int64[n, 3]); no usage row = 0. Reads only those subscribers' usage rows (the join index)."""
    from engine.facts.build import service_codes
    from engine.facts.keys import join_index, month_labels, positions

    join = join_index(snapshot)
    rows, usage_rank = join.rows_and_ranks("usage_monthly", ranks)
    usage = snapshot.tables["usage_monthly"].take(rows)
    month = positions(usage["month"], month_labels(as_of, 3))
    window = (month >= 1) & (month <= 3)
    key = usage_rank[window] * 32 + service_codes(usage["service"])[window]
    found = positions(subs["msisdn"], join.msisdns[ranks])  # within the slice: its cost is its own size
    fact_key = np.where(found >= 0, ranks[np.maximum(found, 0)], -1) * 32 + service_codes(subs["service"])
    row = pd.Index(fact_key).get_indexer(key)
    hit = row >= 0
    cell = row[hit] * 3 + (month[window][hit] - 1)
    days = usage["active_days"].to_numpy()[window][hit].astype(float)
    return np.bincount(cell, weights=days, minlength=len(subs) * 3).reshape(len(subs), 3).round().astype(np.int64)


def _snapshot_fingerprint(run_id: str, db_url: str | None) -> str:
    with get_engine(db_url).connect() as conn:
        found = conn.execute(text("SELECT snapshot_fingerprint FROM run WHERE id = :id"), {"id": run_id}).first()
    return found[0] if found else ""


def view_frame(run: str | None, view: str, db_url: str | None = None,
               slice_size: int = DEFAULT_SLICE) -> tuple[str, pd.DataFrame]:
    """(run id, the view's rows sorted by msisdn, service) — the whole list, for small runs and tests."""
    run_id, parts = _view_parts(run, view, db_url, slice_size)
    frames = list(parts)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(view_columns(view)))
    return run_id, frame


def _slice_frame(snapshot, as_of, ranks: np.ndarray, keys: list, view: str) -> pd.DataFrame:
    """The view's rows of one slice: `keys` are the stored (msisdn, service, segment) of the
    slice's subscribers, the facts are rebuilt for those subscribers only; sorted by (msisdn, service)."""
    from engine.facts.build import build_facts

    chosen = pd.DataFrame(keys, columns=["msisdn", "service", "segment"]).sort_values(["msisdn", "service"], kind="stable")
    facts = build_facts(snapshot, as_of, subscribers=ranks)
    at = pd.MultiIndex.from_arrays([facts["msisdn"].to_numpy(dtype=object), facts["service"].to_numpy(dtype=object)])
    pos = at.get_indexer(pd.MultiIndex.from_arrays([chosen["msisdn"].to_numpy(dtype=object),
                                                    chosen["service"].to_numpy(dtype=object)]))
    chosen, pos = chosen[pos >= 0], pos[pos >= 0]  # a stored fact is always in the rebuilt facts (same snapshot)
    picked = facts.take(pos).reset_index(drop=True)
    del facts
    ordered = (pd.Timestamp(as_of) - pd.to_timedelta(picked["ordered_days"].to_numpy(), unit="D")).strftime("%Y-%m-%d")
    columns = {
        "msisdn": picked["msisdn"].to_numpy(dtype=object), "city": picked["city"].to_numpy(dtype=object),
        "brand": picked["brand"].to_numpy(dtype=object), "service": picked["service"].to_numpy(dtype=object),
        "ordered_on": np.asarray(ordered, dtype=object), "type": chosen["segment"].to_numpy(dtype=object),
        "customer_type": chosen["segment"].to_numpy(dtype=object),
        "customer_type_zh": np.array([TYPE_ZH.get(s, s) for s in chosen["segment"]], dtype=object),
        "reasons": picked["causes"].to_numpy(dtype=object),
    }
    if view == "low-use":
        for k in (1, 2, 3):
            columns[f"uses_m{k}"] = picked[f"uses_m{k}"].to_numpy(dtype=np.int64)
        days = _active_days(snapshot, picked[["msisdn", "service"]], as_of, ranks)
        for k in (1, 2, 3):
            columns[f"active_days_m{k}"] = days[:, k - 1]
    return pd.DataFrame({name: columns[name] for name in view_columns(view)})


def _view_parts(run: str | None, view: str, db_url: str | None, slice_size: int = DEFAULT_SLICE):
    """(run id, generator of the view's rows slice by slice, each sorted by (msisdn, service))."""
    from engine.facts.keys import join_index
    from engine.night.run import snapshot_fingerprint
    from engine.night.slices import plan_slices
    from engine.snapshot.loader import load_snapshot

    info = resolve_run(run, db_url)
    data = Path(info.data_dir)
    stored = _snapshot_fingerprint(info.id, db_url)
    if not data.is_dir() or (stored and snapshot_fingerprint(data) != stored):
        raise DiagnosticError([Diagnostic(SNAPSHOT_CHANGED, f"the snapshot of run {info.id} ({data}) is gone or changed "
                                          "since the run", hint="views are built from the run's own snapshot; "
                                          "run again on the current snapshot, or restore it")])
    as_of = pd.Timestamp(info.as_of).date()
    snapshot = load_snapshot(data)
    slices = plan_slices(snapshot, slice_size)
    join = join_index(snapshot)
    wanted = None if VIEWS[view] is None else set(VIEWS[view])

    def parts():
        decided = _UpTo(_decided_segments(info.id, wanted, db_url), "decisions")
        scoped = _UpTo(_scoped_segments(info.id, wanted, db_url), "out-of-scope facts")
        for k in range(slices.count):
            ranks = join.select(slices.ranks(k))
            last = str(join.msisdns[ranks[-1]]) if len(ranks) else None
            keys = decided.until(last) + scoped.until(last)
            if keys:
                yield _slice_frame(snapshot, as_of, ranks, keys, view)
    return info.id, parts()


def _batches(tables):
    """Arrow tables regrouped into BATCH rows each (the last one shorter), one contiguous chunk each:
    a Parquet file's row groups then do not depend on how the rows were sliced."""
    pending, count = [], 0
    for table in tables:
        pending.append(table)
        count += table.num_rows
        while count >= BATCH:
            joined = pa.concat_tables(pending)
            yield joined.slice(0, BATCH).combine_chunks()
            rest = joined.slice(BATCH)
            pending, count = [rest], rest.num_rows
    if count:
        yield pa.concat_tables(pending).combine_chunks()


def _schema(view: str) -> pa.Schema:
    return pa.schema([(name, pa.int64() if name in USAGE_COLUMNS else pa.string()) for name in view_columns(view)])


def export_view(run: str | None, view: str, out: Path | str, db_url: str | None = None,
                slice_size: int = DEFAULT_SLICE) -> tuple[str, Path, int]:
    """Write the view of a stored run to `out` (CSV or Parquet by suffix), slice by slice, atomically.

    Returns (run id, path written, rows)."""
    path = Path(out)
    fmt = _check(view, path)
    run_id, parts = _view_parts(run, view, db_url, slice_size)
    schema = _schema(view)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    rows = 0
    try:
        if fmt == "parquet":
            writer = pq.ParquetWriter(tmp, schema)
        else:
            writer = pa_csv.CSVWriter(tmp, schema, write_options=pa_csv.WriteOptions(quoting_style="needed"))
        with writer:
            tables = (pa.Table.from_pandas(part, schema=schema, preserve_index=False) for part in parts)
            for table in _batches(tables):
                writer.write_table(table)
                rows += table.num_rows
            if rows == 0:
                writer.write_table(schema.empty_table())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return run_id, path, rows
