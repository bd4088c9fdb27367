"""The hash chain over a run's traces: every stored decision is sealed, in order.

Record n of a run (seq = n, rows sorted by msisdn, service) is sealed by

    hash_n = sha256( prev_hash_n  +  record_bytes(decision row fields, trace payload) )

with prev_hash_0 = GENESIS and prev_hash_n = hash_(n-1). `record_bytes` is the canonical JSON
array of the decision row fields (DECISION_FIELDS order), a newline, and the canonical JSON
payload text exactly as stored. The run row keeps the head (last hash) and the count, so
changing, deleting, inserting or reordering any record — or dropping the tail — is detected
by `verify_chain` (engine/store/verify.py). docs/TRACE.md is the auditor's description of this.

How the records are stored (one row each, or compressed blocks: engine/store/blocks.py) does
not change the chain: it is computed over the payload texts and decision fields, and
`verify_chain` (engine/store/verify.py) recomputes it from what it reads back
(engine/store/read.py `stored_traces`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence


from engine.base.jsonfile import canonical

GENESIS = "0" * 64
# Decision row fields covered by the hash, in this order.
DECISION_FIELDS = ("run_id", "seq", "msisdn", "service", "pack", "decision", "reason", "arbitration",
                   "strategy", "channel", "message")


def record_bytes(row: Sequence[Any], payload: str) -> bytes:
    """The bytes one chain link seals: the decision fields (DECISION_FIELDS order) and the payload."""
    return (canonical(list(row)) + "\n" + payload).encode("utf-8")


def record_head(row: Sequence[Any]) -> bytes:
    """The bytes of a record before its payload: the decision fields' canonical JSON and a newline
    (a worker builds them, so the parent only hashes: `link_bytes`)."""
    return (canonical(list(row)) + "\n").encode("utf-8")


def record_heads(run_id: str, first_seq: int, rows: Sequence[Sequence[str]], texts: dict[str, str]) -> list[bytes]:
    """`record_head((run_id, first_seq + n, *rows[n]))` for each row of text fields, joined from
    each value's canonical text: `texts` caches them (value -> canonical(value)); a caller may
    seed it with texts it already has (a night's msisdns)."""
    lead = f"[{canonical(run_id)},"
    out = []
    for n, row in enumerate(rows):
        parts = []
        for value in row:
            text = texts.get(value)
            if text is None:
                text = texts[value] = canonical(value)
            parts.append(text)
        out.append(f"{lead}{first_seq + n},{','.join(parts)}]\n".encode("utf-8"))
    return out


def link_bytes(prev_hash: str, head: bytes, payload: bytes) -> str:
    """hash_n from hash_(n-1), `record_head(row)` and the payload's UTF-8 bytes: the same as `link`."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(head)
    digest.update(payload)
    return digest.hexdigest()


def link(prev_hash: str, row: Sequence[Any], payload: str) -> str:
    """hash_n from hash_(n-1) and record n."""
    return hashlib.sha256(prev_hash.encode("ascii") + record_bytes(row, payload)).hexdigest()


def seal(rows: Sequence[Sequence[Any]], payloads: Sequence[str], prev_hash: str = GENESIS) -> list[tuple[str, str]]:
    """(prev_hash, hash) for each record, continuing a chain from `prev_hash`."""
    out: list[tuple[str, str]] = []
    sha = hashlib.sha256
    for row, payload in zip(rows, payloads):
        digest = sha(prev_hash.encode("ascii") + record_bytes(row, payload)).hexdigest()
        out.append((prev_hash, digest))
        prev_hash = digest
    return out


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of `verify_chain`: ok, the first record that does not verify (None if ok), and why."""

    ok: bool
    first_bad_seq: int | None
    message: str
    count: int = 0
