"""Signed run seals: tamper evidence that survives write access to the database.

The hash chain (engine/store/chain.py) shows that records changed — unless whoever changed
them recomputed the chain and its head, which anyone with write access to the database can.
So, in the transaction that stores a run, the run is *sealed*:

    fields_digest = sha256(canonical JSON of the run row's SEALED_FIELDS as stored)
    scope_digest  = sha256 over the run's out-of-scope facts, (msisdn, service) order (either storage format)
    signature     = HMAC-SHA256(key, "rekindle-seal-v1\\n" run_id \\n fields_digest \\n scope_digest)

The run row's fields include `chain_head` and `chain_count`, so the signature covers every
decision and trace through the chain, and also what the chain does not: the out-of-scope rows
and the run fields (production, as_of, content_hashes, model_versions, funnel, counts, ...).

The key is NOT in the database: a file (32 random bytes, hex) at REKINDLE_AUDIT_KEY or
REKINDLE_HOME/audit.key, created 0600 by the first run. The seal is stored in the `run_seal`
table and also appended, one JSON line per run, to an append-only log outside the database
(REKINDLE_AUDIT_LOG or REKINDLE_HOME/audit-seals.log; `chattr +a` it on a real host).
`verify_seal` recomputes both digests, checks the signature with the key, and checks that the
log holds the same seal. An unsigned "succeeded" run (inserted by hand) fails.

docs/AUDIT.md says what this protects against and what an attacker holding the key can still do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from engine.base.home import home
from engine.store.blocks import BlockCorrupt, scope_line

ALGORITHM = "hmac-sha256"
CONTEXT = b"rekindle-seal-v1"
# Run row columns under the seal, in this order (all of them but `error`, which failed runs use).
SEALED_FIELDS = ("id", "as_of", "status", "started_at", "finished_at", "data_dir", "snapshot_fingerprint",
                 "content_hashes", "model_versions", "production", "workers", "funnel", "facts", "decisions",
                 "chain_head", "chain_count", "out_dir", "rerun_of")
# Added later (engine/store/migrate.py): under the seal when it holds anything, i.e. on every run
# stored since; a run sealed before the column existed reads "{}" there and its digest stays the
# one it was sealed with. Setting it from "{}" to anything, or back, changes the digest.
LATER_FIELDS = ("settings",)
UNSET = "{}"


class RunSeal(SQLModel, table=True):
    """The signed seal of one succeeded run (written in the run's own transaction)."""

    __tablename__ = "run_seal"

    run_id: str = Field(primary_key=True)
    fields_digest: str
    scope_digest: str
    signature: str  # hex HMAC-SHA256
    key_id: str  # first 16 hex of sha256(key): which key signed
    algorithm: str = ALGORITHM


def key_path() -> Path:
    return Path(os.environ.get("REKINDLE_AUDIT_KEY") or home() / "audit.key")


def log_path() -> Path:
    return Path(os.environ.get("REKINDLE_AUDIT_LOG") or home() / "audit-seals.log")


class KeyMissing(RuntimeError):
    """The audit key file does not exist (verify cannot check signatures without it)."""


def load_key(create: bool = False) -> bytes:
    """The audit key; with `create`, made (0600, 32 random bytes) when absent."""
    path = key_path()
    if not path.exists():
        if not create:
            raise KeyMissing(f"audit key {path} not found (set REKINDLE_AUDIT_KEY to the key file)")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_key(create=False)  # another process made it meanwhile
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="ascii").strip().encode("ascii")


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def _text(value) -> object:
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime):
        return value.isoformat(" ")
    return value


def fields_digest(conn: Connection, run_id: str) -> str | None:
    """sha256 of the run row's SEALED_FIELDS (and LATER_FIELDS that are set) as stored (None
    when there is no such run)."""
    columns = SEALED_FIELDS + LATER_FIELDS
    row = conn.execute(text(f"SELECT {', '.join(columns)} FROM run WHERE id = :id"), {"id": run_id}).first()
    if row is None:
        return None
    values = [_text(v) for v in row[:len(SEALED_FIELDS)]]
    values += [_text(v) for v in row[len(SEALED_FIELDS):] if v not in (None, UNSET)]
    body = json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def scope_digest(conn: Connection, run_id: str) -> str:
    """sha256 over the run's out-of-scope rows (msisdn, service, segment), in key order.

    Both storage formats (engine/store/read.py `scope_rows`): the lines hashed are the same,
    so a run's digest does not depend on how its rows are stored.
    """
    from engine.store.read import scope_rows

    digest = hashlib.sha256()
    for msisdn, service, segment in scope_rows(conn, run_id):
        digest.update(scope_line(msisdn, service, segment).encode("utf-8"))
    return digest.hexdigest()


def _signature(key: bytes, run_id: str, fields: str, scope: str) -> str:
    message = CONTEXT + b"\n" + f"{run_id}\n{fields}\n{scope}".encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign_run(conn: Connection, run_id: str) -> RunSeal:
    """Seal run `run_id` inside the transaction that stores it, and append the seal to the log.

    The log line is written before the commit: a commit that then fails leaves a line naming a
    run the database does not have (harmless, and visible); a committed run always has its line.
    """
    key = load_key(create=True)
    fields, scope = fields_digest(conn, run_id), scope_digest(conn, run_id)
    if fields is None:
        raise RuntimeError(f"cannot seal run {run_id}: its run row is not written yet")
    seal = RunSeal(run_id=run_id, fields_digest=fields, scope_digest=scope,
                   signature=_signature(key, run_id, fields, scope), key_id=key_id(key))
    conn.execute(RunSeal.__table__.insert(), seal.model_dump())
    head = conn.execute(text("SELECT as_of, chain_head, chain_count FROM run WHERE id = :id"), {"id": run_id}).first()
    append_log({"event": "seal", "run_id": run_id, "as_of": head.as_of, "chain_head": head.chain_head,
                "chain_count": head.chain_count, **{k: v for k, v in seal.model_dump().items() if k != "run_id"}})
    return seal


def append_log(entry: dict) -> None:
    """Append one JSON line to the audit log (created 0600; O_APPEND; flushed to disk)."""
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(dict(entry, at=datetime.now(timezone.utc).isoformat(timespec="seconds")),
                      sort_keys=True, ensure_ascii=False) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _logged(run_id: str) -> list[dict]:
    path = log_path()
    if not path.exists():
        return []
    found = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if f'"{run_id}"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "seal" and entry.get("run_id") == run_id:
                found.append(entry)
    return found


@dataclass(frozen=True)
class SealCheck:
    ok: bool
    message: str


def verify_seal(conn: Connection, run_id: str) -> SealCheck:
    """Check the run's seal: present, signed by the key, digests as stored now, and in the log."""
    seal = conn.execute(text("SELECT fields_digest, scope_digest, signature, key_id FROM run_seal "
                             "WHERE run_id = :id"), {"id": run_id}).first()
    if seal is None:
        return SealCheck(False, "the run carries no signed seal (inserted or altered outside Rekindle?)")
    try:
        key = load_key()
    except KeyMissing as error:
        return SealCheck(False, f"cannot check the signature: {error}")
    if seal.key_id != key_id(key):
        return SealCheck(False, f"sealed with another audit key (key id {seal.key_id}, this key is {key_id(key)})")
    try:
        fields, scope = fields_digest(conn, run_id), scope_digest(conn, run_id)
    except BlockCorrupt as error:
        return SealCheck(False, f"out-of-scope rows changed since the run was signed: a stored block is damaged "
                                f"({error})")
    if not hmac.compare_digest(_signature(key, run_id, seal.fields_digest, seal.scope_digest), seal.signature):
        return SealCheck(False, "the seal's signature is not valid (the seal row was edited)")
    if fields != seal.fields_digest:
        return SealCheck(False, "run row fields changed since the run was signed (production, as_of, content "
                                "hashes, model versions, funnel, counts, chain head ...)")
    if scope != seal.scope_digest:
        return SealCheck(False, "out-of-scope rows changed since the run was signed")
    logged = _logged(run_id)
    if not any(hmac.compare_digest(str(e.get("signature", "")), seal.signature) for e in logged):
        where = log_path()
        return SealCheck(False, f"the seal is not in the audit log {where}" if not logged
                         else f"the audit log {where} holds another seal for this run")
    return SealCheck(True, f"signed seal valid (key {seal.key_id}, in the audit log)")
