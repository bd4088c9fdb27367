"""The store's read side: find a stored run and read its records back.

`resolve_run` turns `--run ID|latest` into the run row (explain, export, reports and replay
share it); `subscriber_records` and `out_of_scope_records` read one subscriber's rows of a run.

This is the one place that reads traces and out-of-scope facts, in both storage formats
(docs/TRACE.md): format 2 (`trace_block`, `out_of_scope_block`: compressed blocks,
engine/store/blocks.py) and format 1 (`trace`, `out_of_scope`: one row each), which runs stored
before format 2 keep. A run's rows are in one format; the readers take both tables' rows of the
run (format 1 first), so rows added to the other table of a run are seen, and `audit verify`
reports them, rather than being silently ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.store.blocks import BlockCorrupt, decode_hashes, decode_payloads, decode_scope, scope_of
from engine.store.chain import DECISION_FIELDS, GENESIS
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
    settings: dict = field(default_factory=dict)  # how the night was run (engine/night/settings.py); {} before


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
    # Every column (`*`): an older database read without opening its schema (engine/store/lite.py,
    # or a read-only file) was not given the columns added since (engine/store/migrate.py).
    columns = "*"
    with engine.connect() as conn:
        if run in (None, "", LATEST):
            row = conn.execute(text(f"SELECT {columns} FROM run WHERE status = 'succeeded' "
                                    "ORDER BY started_at DESC, id DESC LIMIT 1")).mappings().first()
            if row is None:
                raise DiagnosticError([Diagnostic(
                    NO_RUN, "this database holds no succeeded run",
                    hint="run `rekindle run --data DIR --as-of DATE` first, or pass --db")])
        else:
            row = conn.execute(text(f"SELECT {columns} FROM run WHERE id = :id"), {"id": run}).mappings().first()
            if row is None:
                known = [r[0] for r in conn.execute(text("SELECT id FROM run ORDER BY started_at DESC LIMIT 5"))]
                hint = ("recent runs: " + ", ".join(known)) if known else "this database holds no runs"
                raise DiagnosticError([Diagnostic(NO_RUN, f"no run {run!r} in this database", hint=hint)])
    if require_success and row["status"] != "succeeded":
        raise DiagnosticError([Diagnostic(
            RUN_NOT_SUCCEEDED, f"run {row['id']} has status {row['status']}: it stored no decisions",
            hint="pick a succeeded run (`--run latest`)")])
    return RunInfo(
        id=row["id"], as_of=str(row["as_of"]), status=row["status"], started_at=str(row["started_at"]),
        finished_at=str(row["finished_at"] or ""), data_dir=row["data_dir"] or "", production=bool(row["production"]),
        content_hashes=json_object(row["content_hashes"]), model_versions=json_object(row["model_versions"]),
        funnel=json_object(row["funnel"]), facts=int(row["facts"] or 0), decisions=int(row["decisions"] or 0),
        chain_head=row["chain_head"] or "", chain_count=int(row["chain_count"] or 0), rerun_of=row["rerun_of"] or "",
        settings=json_object(row.get("settings")),
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


# -- traces ----------------------------------------------------------------------------------

class TraceBlockCorrupt(BlockCorrupt):
    """A stored trace block does not decode; `seq` is its first record."""

    def __init__(self, seq: int, why: str):
        super().__init__(f"trace block at seq {seq}: {why}")
        self.seq = seq


def _block(row) -> tuple[list[str], object]:
    try:
        return decode_payloads(row.payloads, row.count), row
    except BlockCorrupt as error:
        raise TraceBlockCorrupt(row.first_seq, str(error)) from None


def stored_traces(conn, run_id: str):
    """(seq, payload, prev_hash, hash) of every stored trace of a run, in seq order, both formats.

    Format 2 stores no prev_hash: it is the hash of the record before (GENESIS first), which is
    what the chain defines it to be; `verify_chain` recomputes every hash anyway. Raises
    TraceBlockCorrupt at a block that does not decode.
    """
    prev = GENESIS
    for row in conn.execute(text("SELECT seq, payload, prev_hash, hash FROM trace WHERE run_id = :r ORDER BY seq"),
                            {"r": run_id}):
        yield row.seq, row.payload, row.prev_hash, row.hash
        prev = row.hash
    blocks = conn.execute(text("SELECT first_seq, count, hashes, payloads FROM trace_block WHERE run_id = :r "
                               "ORDER BY first_seq"), {"r": run_id})
    for row in blocks:
        payloads, _ = _block(row)
        try:
            hashes = decode_hashes(row.hashes, row.count)
        except BlockCorrupt as error:
            raise TraceBlockCorrupt(row.first_seq, str(error)) from None
        for k, (payload, digest) in enumerate(zip(payloads, hashes)):
            yield row.first_seq + k, payload, prev, digest
            prev = digest


class _Payloads:
    """Payload texts of a run looked up by ascending seq, reading its traces once, as a stream:
    a block is inflated only when a wanted seq falls in it."""

    def __init__(self, conn, run_id: str):
        self.legacy = conn.execute(text("SELECT 1 FROM trace WHERE run_id = :r LIMIT 1"), {"r": run_id}).first() \
            is not None
        if self.legacy:
            self.rows = conn.execute(text("SELECT seq, payload FROM trace WHERE run_id = :r ORDER BY seq"),
                                     {"r": run_id})
        else:
            self.rows = conn.execute(text("SELECT first_seq, count, payloads FROM trace_block WHERE run_id = :r "
                                          "ORDER BY first_seq"), {"r": run_id})
        self.row, self.done, self.decoded = None, False, None

    def _advance(self) -> None:
        self.row, self.decoded = self.rows.fetchone(), None
        self.done = self.row is None

    def get(self, seq: int) -> str | None:
        if self.legacy:
            while not self.done and (self.row is None or self.row.seq < seq):
                self._advance()
            return self.row.payload if not self.done and self.row.seq == seq else None
        while not self.done and (self.row is None or self.row.first_seq + self.row.count <= seq):
            self._advance()
        if self.done or seq < self.row.first_seq:
            return None
        if self.decoded is None:
            self.decoded, _ = _block(self.row)
        return self.decoded[seq - self.row.first_seq]


def payloads_at(conn, run_id: str, seqs) -> dict[int, str]:
    """The payload texts of a few records of a run (explain, audit), by seq: one indexed
    lookup per block, each block inflated once."""
    found: dict[int, str] = {}
    blocks: dict[int, list[str]] = {}
    for seq in sorted(set(seqs)):
        row = conn.execute(text("SELECT first_seq, count, payloads FROM trace_block WHERE run_id = :r "
                                "AND first_seq <= :s ORDER BY first_seq DESC LIMIT 1"), {"r": run_id, "s": seq}).first()
        if row is not None and seq < row.first_seq + row.count:
            if row.first_seq not in blocks:
                blocks[row.first_seq], _ = _block(row)
            found[seq] = blocks[row.first_seq][seq - row.first_seq]
            continue
        legacy = conn.execute(text("SELECT payload FROM trace WHERE run_id = :r AND seq = :s"),
                              {"r": run_id, "s": seq}).first()
        if legacy is not None:
            found[seq] = legacy.payload
    return found


def decisions_with_payloads(run_id: str, db_url: str | None = None, columns=DECISION_FIELDS, where: str = "",
                            params: dict | None = None, batch: int = 10_000):
    """(decision row mapping, payload text or None) for the decision rows of a run, seq order.

    `columns` are decision columns (seq is always read); `where` an extra SQL condition on the
    decision row (`d.`-prefixed columns, e.g. "d.decision = 'treat'") with its `params`. Rows
    are streamed; trace blocks no selected row needs are not inflated.
    """
    names = list(dict.fromkeys(["seq", *columns]))
    condition = f" AND ({where})" if where else ""
    with get_engine(db_url).connect().execution_options(stream_results=True, max_row_buffer=batch) as conn:
        result = conn.execute(text(f"SELECT {', '.join('d.' + c for c in names)} FROM decision d "
                                   f"WHERE d.run_id = :run_id_{condition} ORDER BY d.seq"),
                              {"run_id_": run_id, **(params or {})})
        payloads = _Payloads(conn, run_id)
        while True:
            rows = result.mappings().fetchmany(batch)
            if not rows:
                return
            for row in rows:
                yield row, payloads.get(row["seq"])


def subscriber_records(run_id: str, msisdn: str, db_url: str | None = None) -> list[dict]:
    """The decision rows of one subscriber in a run, each with its trace payload (seq order)."""
    columns = ", ".join(f"d.{f}" for f in DECISION_FIELDS)
    with get_engine(db_url).connect() as conn:
        # sorted here, not by ORDER BY seq: that would make SQLite walk the run's primary key (the
        # whole run: ~1 s at a million decisions) instead of ix_decision_run_msisdn (a few rows)
        rows = sorted(conn.execute(text(f"SELECT {columns} FROM decision d WHERE d.run_id = :r AND d.msisdn = :m"),
                                   {"r": run_id, "m": msisdn}).mappings().all(), key=lambda row: row["seq"])
        payloads = payloads_at(conn, run_id, [row["seq"] for row in rows])
    out = []
    for row in rows:
        record = {f: row[f] for f in DECISION_FIELDS}
        record["payload"] = json_object(payloads.get(row["seq"]))
        out.append(record)
    return out


# -- out-of-scope facts ------------------------------------------------------------------------

def scope_rows(conn, run_id: str):
    """(msisdn, service, segment) of every out-of-scope fact of a run, both formats: format 1's
    rows in (msisdn, service) order, then format 2's blocks as stored (in that order too).
    The signed seal's scope digest is taken over exactly this sequence."""
    for row in conn.execute(text("SELECT msisdn, service, segment FROM out_of_scope WHERE run_id = :r "
                                 "ORDER BY msisdn, service"), {"r": run_id}):
        yield row.msisdn, row.service, row.segment
    for row in conn.execute(text("SELECT block, count, rows FROM out_of_scope_block WHERE run_id = :r "
                                 "ORDER BY block"), {"r": run_id}):
        yield from decode_scope(row.rows, row.count)


def all_out_of_scope(run_id: str, db_url: str | None = None):
    """Every out-of-scope (msisdn, service, segment) of a run (reports, views), streamed."""
    with get_engine(db_url).connect().execution_options(stream_results=True, max_row_buffer=100) as conn:
        yield from scope_rows(conn, run_id)


def first_only_out_of_scope(conn, run_id: str, chunk: int = 500) -> str | None:
    """The smallest msisdn of the run all of whose facts were out of scope (no decision row), or None."""
    best: str | None = None
    pending: list[str] = []

    def settle() -> str | None:
        names = {f"m{i}": m for i, m in enumerate(pending)}  # plain placeholders: either engine runs them
        decided = {r[0] for r in conn.execute(
            text(f"SELECT DISTINCT msisdn FROM decision WHERE run_id = :r AND msisdn IN "
                 f"({', '.join(':' + n for n in names)})"), {"r": run_id, **names})}
        return next((m for m in pending if m not in decided), None)

    last = None
    for msisdn, _service, _segment in scope_rows(conn, run_id):
        if msisdn == last or (best is not None and msisdn >= best):
            continue
        last = msisdn
        pending.append(msisdn)
        if len(pending) == chunk:
            found, pending = settle(), []
            if found is not None and (best is None or found < best):
                best = found
    if pending:
        found = settle()
        if found is not None and (best is None or found < best):
            best = found
    return best


def out_of_scope_records(run_id: str, msisdn: str, db_url: str | None = None) -> list[dict]:
    """The subscriber's facts no pack considered, with their segment (service order)."""
    with get_engine(db_url).connect() as conn:
        rows = [(r.service, r.segment) for r in conn.execute(text(
            "SELECT service, segment FROM out_of_scope WHERE run_id = :r AND msisdn = :m"), {"r": run_id, "m": msisdn})]
        for block in conn.execute(text("SELECT count, rows FROM out_of_scope_block WHERE run_id = :r "
                                       "AND first_msisdn <= :m AND last_msisdn >= :m"), {"r": run_id, "m": msisdn}):
            rows += [(service, segment) for _m, service, segment in scope_of(block.rows, block.count, msisdn)]
    return [{"service": service, "segment": segment} for service, segment in sorted(rows)]


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
    for row, payload in decisions_with_payloads(run_id, db_url, batch=batch):
        yield {"decision": {f: row[f] for f in DECISION_FIELDS}, "payload": json_object(payload)}
