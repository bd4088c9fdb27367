"""The store's read side: find a stored run and read its records back.

`resolve_run` turns `--run ID|latest` into the run row (explain, export, reports and replay
share it); `subscriber_records` and `out_of_scope_records` read one subscriber's rows of a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.store.chain import DECISION_FIELDS
# The read side's engine: stdlib sqlite3 for an existing SQLite store, SQLAlchemy otherwise
# (engine/store/lite.py: `rekindle explain` must not pay for importing SQLAlchemy).
from engine.store.lite import get_engine, text

LATEST = "latest"
NO_RUN = "RN101"
RUN_NOT_SUCCEEDED = "RN102"
NOT_IN_RUN = "RN104"


@dataclass(frozen=True)
class RunInfo:
    """The run row fields readers need (JSON columns decoded)."""

    id: str
    as_of: str
    status: str
    started_at: str
    finished_at: str
    data_dir: str
    production: bool
    content_hashes: dict
    model_versions: dict
    funnel: dict
    facts: int
    decisions: int
    chain_head: str
    chain_count: int
    rerun_of: str = ""


def json_object(value: str | None) -> dict:
    try:
        loaded = json.loads(value or "{}")
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def resolve_run(run: str | None, db_url: str | None = None, *, require_success: bool = True) -> RunInfo:
    """The run `run` names (an id, or `latest`/None = the most recent succeeded run).

    Raises DiagnosticError when there is no such run or (with `require_success`) when it failed.
    """
    engine = get_engine(db_url)
    columns = ("id, as_of, status, started_at, finished_at, data_dir, production, content_hashes, model_versions, "
               "funnel, facts, decisions, chain_head, chain_count, rerun_of")
    with engine.connect() as conn:
        if run in (None, "", LATEST):
            row = conn.execute(text(f"SELECT {columns} FROM run WHERE status = 'succeeded' "
                                    "ORDER BY started_at DESC, id DESC LIMIT 1")).first()
            if row is None:
                raise DiagnosticError([Diagnostic(
                    NO_RUN, "this database holds no succeeded run",
                    hint="run `rekindle run --data DIR --as-of DATE` first, or pass --db")])
        else:
            row = conn.execute(text(f"SELECT {columns} FROM run WHERE id = :id"), {"id": run}).first()
            if row is None:
                known = [r[0] for r in conn.execute(text("SELECT id FROM run ORDER BY started_at DESC LIMIT 5"))]
                hint = ("recent runs: " + ", ".join(known)) if known else "this database holds no runs"
                raise DiagnosticError([Diagnostic(NO_RUN, f"no run {run!r} in this database", hint=hint)])
    if require_success and row.status != "succeeded":
        raise DiagnosticError([Diagnostic(
            RUN_NOT_SUCCEEDED, f"run {row.id} has status {row.status}: it stored no decisions",
            hint="pick a succeeded run (`--run latest`)")])
    return RunInfo(
        id=row.id, as_of=str(row.as_of), status=row.status, started_at=str(row.started_at),
        finished_at=str(row.finished_at or ""), data_dir=row.data_dir or "", production=bool(row.production),
        content_hashes=json_object(row.content_hashes), model_versions=json_object(row.model_versions), funnel=json_object(row.funnel),
        facts=int(row.facts or 0), decisions=int(row.decisions or 0), chain_head=row.chain_head or "",
        chain_count=int(row.chain_count or 0), rerun_of=row.rerun_of or "",
    )


def succeeded_for(db_url: str | None, as_of: str) -> str | None:
    """The id of the latest succeeded run of this as-of date, or None."""
    with get_engine(db_url).connect() as conn:
        row = conn.execute(text("SELECT id FROM run WHERE status = 'succeeded' AND as_of = :d "
                                "ORDER BY started_at DESC, id DESC LIMIT 1"), {"d": as_of}).first()
    return row.id if row else None


def succeeded_run(db_url: str | None, run_id: str) -> bool:
    """Whether run `run_id` is stored as succeeded."""
    with get_engine(db_url).connect() as conn:
        row = conn.execute(text("SELECT status FROM run WHERE id = :id"), {"id": run_id}).first()
    return row is not None and row.status == "succeeded"


def subscriber_records(run_id: str, msisdn: str, db_url: str | None = None) -> list[dict]:
    """The decision rows of one subscriber in a run, each with its trace payload (seq order)."""
    columns = ", ".join(f"d.{f}" for f in DECISION_FIELDS)
    with get_engine(db_url).connect() as conn:
        rows = conn.execute(text(
            f"SELECT {columns}, t.payload AS payload FROM decision d LEFT JOIN trace t "
            "ON t.run_id = d.run_id AND t.seq = d.seq WHERE d.run_id = :r AND d.msisdn = :m ORDER BY d.seq"),
            {"r": run_id, "m": msisdn}).mappings().all()
    out = []
    for row in rows:
        record = {f: row[f] for f in DECISION_FIELDS}
        record["payload"] = json_object(row["payload"])
        out.append(record)
    return out


def out_of_scope_records(run_id: str, msisdn: str, db_url: str | None = None) -> list[dict]:
    """The subscriber's facts no pack considered, with their segment (service order)."""
    with get_engine(db_url).connect() as conn:
        rows = conn.execute(text("SELECT service, segment FROM out_of_scope WHERE run_id = :r AND msisdn = :m "
                                 "ORDER BY service"), {"r": run_id, "m": msisdn}).all()
    return [{"service": r.service, "segment": r.segment} for r in rows]


def subscriber_in_run(run: str | None, msisdn: str, db_url: str | None = None) -> tuple[RunInfo, list[dict], list[dict]]:
    """(run, decision records, out-of-scope records) of one subscriber in a run (`latest` allowed).

    Raises DiagnosticError (RN104) when the run holds no fact of theirs, so explain and replay
    refuse the same way.
    """
    info = resolve_run(run, db_url)
    records = subscriber_records(info.id, msisdn, db_url)
    outside = out_of_scope_records(info.id, msisdn, db_url)
    if not records and not outside:
        raise DiagnosticError([Diagnostic(
            NOT_IN_RUN,
            f"subscriber {msisdn} is not in run {info.id} (as of {info.as_of}): no fact of theirs was decided",
            hint="check the number; a subscriber without an active subscription has no facts; or pick another --run")])
    return info, records, outside


def decision_records(run_id: str, db_url: str | None = None, batch: int = 10_000):
    """Every decision row of a run with its trace payload, in seq order (a batch at a time)."""
    columns = ", ".join(f"d.{f}" for f in DECISION_FIELDS)
    with get_engine(db_url).connect() as conn:
        result = conn.execute(text(
            f"SELECT {columns}, t.payload AS payload FROM decision d LEFT JOIN trace t "
            "ON t.run_id = d.run_id AND t.seq = d.seq WHERE d.run_id = :r ORDER BY d.seq"), {"r": run_id})
        while True:
            rows = result.mappings().fetchmany(batch)
            if not rows:
                return
            for row in rows:
                yield {"decision": {f: row[f] for f in DECISION_FIELDS}, "payload": json_object(row["payload"])}
