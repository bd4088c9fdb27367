"""Compact storage of a run's traces and out-of-scope rows (storage format 2, docs/TRACE.md).

A night stores one trace payload (~2 KB of canonical JSON) per decision and one out-of-scope
row per fact no pack considered. Stored one row each they cost ~4.4 KB per decision; stored
here in compressed blocks of consecutive records they cost a small fraction of that
(docs/SCALE.md has the figures). What is stored is lossless: the payload text the chain seals
and the auditor reads is byte-identical to what the run produced.

`trace_block` (run_id, block, first_seq, count, payloads, hashes):
    `payloads` = zstd( payload_first_seq + "\\n" + ... + "\\n" + payload_last ) as UTF-8. A
    canonical JSON text never contains a raw newline (JSON escapes it), so the newline is an
    unambiguous separator. `hashes` = the `count` chain hashes as raw 32-byte sha256 digests,
    concatenated. `prev_hash` is not stored: by the chain's definition it is the hash of the
    record before (GENESIS for seq 0), and `verify_chain` recomputes every hash from the
    payloads and decision rows anyway.
`out_of_scope_block` (run_id, block, first_msisdn, last_msisdn, count, rows):
    `rows` = zstd of the lines "msisdn \\t service \\t segment \\n", sorted by (msisdn, service)
    — exactly the lines the signed seal's scope digest hashes (engine/store/signing.py), so the
    seal format is unchanged.

`zstd` is one Zstandard frame (level LEVEL, with its content size and a content checksum).
Measured on a night's payloads (docs/SCALE.md), zstd -3 in blocks of 256 stores as few bytes
as zlib -6 in blocks of 128 (~175 B a payload) at a quarter of the CPU time (~7 µs against
~34 µs a payload, spent in the rows stage); higher levels store less (zstd -7: ~120 B) at
zlib's cost. Blocks hold TRACE_BLOCK records (bytes vs the time `explain` needs to inflate one
block: ~0.3 ms) and OUT_OF_SCOPE_BLOCK rows. Decoding checks that a block holds as many
records as its `count` says; a block that does not inflate (its checksum catches a changed
byte), claims more than MAX_BLOCK_BYTES, or does not split into `count` records raises
BlockCorrupt, which readers report as tampering.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import zstandard

from engine.store.chain import GENESIS

STORAGE_FORMAT = 2  # docs/TRACE.md "Storage formats": 1 = one `trace`/`out_of_scope` row each, 2 = these blocks
TRACE_BLOCK = 256  # payloads per trace block (docs/SCALE.md: bytes vs explain latency)
OUT_OF_SCOPE_BLOCK = 4096  # out-of-scope rows per block
LEVEL = 3  # zstd level (docs/SCALE.md: bytes vs the rows stage's CPU time)
DIGEST = 32  # bytes of a raw sha256 digest
MAX_BLOCK_BYTES = 256 * 2**20  # a block claiming more than this when inflated is refused as damaged


class BlockCorrupt(ValueError):
    """A stored block does not decode into the records its row says it holds."""


def _deflate(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=LEVEL, write_checksum=True, write_content_size=True).compress(data)


def _inflate_bytes(blob: bytes) -> bytes:
    blob = bytes(blob)
    try:
        size = zstandard.frame_content_size(blob)
        if not 0 <= size <= MAX_BLOCK_BYTES:
            raise BlockCorrupt(f"block claims {size} bytes")
        return zstandard.ZstdDecompressor().decompress(blob)
    except (zstandard.ZstdError, TypeError) as error:
        raise BlockCorrupt(f"block does not inflate: {error}") from None


def _inflate(blob: bytes) -> str:
    try:
        return _inflate_bytes(blob).decode("utf-8")
    except UnicodeDecodeError as error:
        raise BlockCorrupt(f"block does not inflate: {error}") from None


def encode_payloads(payloads: Sequence[str | bytes]) -> bytes:
    """One block's payloads (canonical JSON texts, no raw newline) compressed together. A payload
    may come as its UTF-8 bytes: the block is the same. A night's workers give texts, which are
    joined and encoded once per block (engine/night/slicerun.py `gather_rows`)."""
    if payloads and all(type(p) is str for p in payloads):  # texts: joined and encoded once, not one by one
        text = "\n".join(payloads)
        if text.count("\n") != len(payloads) - 1:
            raise ValueError("a trace payload must be canonical JSON (no raw newline)")
        return _deflate(text.encode("utf-8"))
    data = [p if isinstance(p, bytes) else p.encode("utf-8") for p in payloads]
    for payload in data:
        if b"\n" in payload:
            raise ValueError("a trace payload must be canonical JSON (no raw newline)")
    return _deflate(b"\n".join(data))


def payload_bytes(blob: bytes, count: int) -> list[bytes]:
    """The `count` payloads of a block as UTF-8 bytes (what the chain hashes), in seq order."""
    payloads = _inflate_bytes(blob).split(b"\n")
    if len(payloads) != count:
        raise BlockCorrupt(f"block holds {len(payloads)} payloads, its row says {count}")
    return payloads


def decode_payloads(blob: bytes, count: int) -> list[str]:
    """The `count` payload texts of a block, in seq order."""
    payloads = _inflate(blob).split("\n")
    if len(payloads) != count:
        raise BlockCorrupt(f"block holds {len(payloads)} payloads, its row says {count}")
    return payloads


def encode_hashes(hashes: Iterable[str]) -> bytes:
    """Hex sha256 digests as raw bytes, concatenated."""
    return b"".join(bytes.fromhex(h) for h in hashes)


def decode_hashes(blob: bytes, count: int) -> list[str]:
    """The `count` hex digests of a block."""
    blob = bytes(blob)
    if len(blob) != count * DIGEST:
        raise BlockCorrupt(f"block holds {len(blob)} bytes of hashes, {count} records need {count * DIGEST}")
    return [blob[i:i + DIGEST].hex() for i in range(0, len(blob), DIGEST)]


def scope_line(msisdn: str, service: str, segment: str) -> str:
    """One out-of-scope row as the seal's scope digest hashes it (engine/store/signing.py)."""
    return f"{msisdn}\t{service}\t{segment}\n"


def encode_scope(rows: Sequence[tuple[str, str, str]]) -> bytes:
    """(msisdn, service, segment) rows, already in (msisdn, service) order, compressed together."""
    for row in rows:
        if any("\t" in v or "\n" in v for v in row):
            raise ValueError(f"out-of-scope row {row!r} holds a tab or newline")
    return _deflate("".join(scope_line(*row) for row in rows).encode("utf-8"))


def scope_of(blob: bytes, count: int, msisdn: str) -> list[tuple[str, str, str]]:
    """The rows of one subscriber in a block (explain): the block's row count is checked, only
    the subscriber's lines are split."""
    body = _inflate(blob)
    if body.count("\n") != count or (body and not body.endswith("\n")):
        raise BlockCorrupt(f"block holds {body.count(chr(10))} out-of-scope rows, its row says {count}")
    key, rows, at = "\n" + msisdn + "\t", [], -1
    body = "\n" + body
    while (at := body.find(key, at + 1)) >= 0:
        end = body.index("\n", at + 1)
        fields = body[at + 1:end].split("\t")
        if len(fields) != 3:
            raise BlockCorrupt(f"out-of-scope line {body[at + 1:end]!r} does not have 3 fields")
        rows.append(tuple(fields))
    return rows


def decode_scope(blob: bytes, count: int) -> list[tuple[str, str, str]]:
    """The `count` (msisdn, service, segment) rows of a block, in stored order."""
    body = _inflate(blob)
    lines = body.split("\n")
    if lines[-1] != "" or len(lines) - 1 != count:
        raise BlockCorrupt(f"block holds {len(lines) - 1} out-of-scope rows, its row says {count}")
    rows = []
    for line in lines[:-1]:
        fields = line.split("\t")
        if len(fields) != 3:
            raise BlockCorrupt(f"out-of-scope line {line!r} does not have 3 fields")
        rows.append(tuple(fields))
    return rows


class TraceBlocks:
    """Gathers a run's (run_id, seq, payload, prev_hash, hash) traces into full blocks.

    `add` takes traces in seq order (any number per call; a block may span calls) and returns
    the rows of the blocks it completed; `rest` returns the last, partial block. The chain
    links are checked as they come: seq must follow on, and prev_hash must be the hash before
    (GENESIS first), since prev_hash itself is not stored.
    """

    def __init__(self, run_id: str, size: int | None = None):
        self.run_id, self.size = run_id, size or TRACE_BLOCK
        self.block, self.next_seq, self.prev = 0, 0, GENESIS
        self.pending: list[tuple[int, str, str]] = []

    def add(self, traces: Iterable[tuple]) -> list[tuple]:
        out = []
        for run_id, seq, payload, prev_hash, digest in traces:
            if run_id != self.run_id or seq != self.next_seq or prev_hash != self.prev:
                raise ValueError(f"trace ({run_id}, seq {seq}) does not follow on the chain of run {self.run_id} "
                                 f"(expected seq {self.next_seq}, prev_hash {self.prev[:12]}...)")
            self.pending.append((seq, payload, digest))
            self.next_seq, self.prev = seq + 1, digest
            if len(self.pending) == self.size:
                out.append(self._row())
        return out

    def rest(self) -> list[tuple]:
        return [self._row()] if self.pending else []

    def _row(self) -> tuple:
        seqs, payloads, digests = zip(*self.pending)
        row = (self.run_id, self.block, seqs[0], len(seqs), encode_hashes(digests), encode_payloads(payloads))
        self.block, self.pending = self.block + 1, []
        return row


class ScopeBlocks:
    """Gathers a run's (run_id, msisdn, service, segment) out-of-scope rows into blocks.

    `add` may be called any number of times (a slice of the base at a time); each call's rows
    are sorted by (msisdn, service), and a call's rows must all come after the previous call's
    (slices of the base in msisdn order, as the night's rows stage takes them) — otherwise, and
    for a repeated (msisdn, service), ValueError (the one-row-per-fact table's primary key
    refused a repeat too). Returns the rows of the blocks it completed; `rest` the last one.
    """

    def __init__(self, run_id: str, size: int | None = None):
        self.run_id, self.size = run_id, size or OUT_OF_SCOPE_BLOCK
        self.block, self.last, self.pending = 0, None, []

    def add(self, rows: Iterable[tuple]) -> list[tuple]:
        rows = rows if isinstance(rows, list) else list(rows)
        for row in rows:
            if row[0] != self.run_id:
                raise ValueError(f"out-of-scope row of run {row[0]!r} given to run {self.run_id!r}")
        if not all(a[1:3] < b[1:3] for a, b in zip(rows, rows[1:])):  # the night's come sorted: no copy
            rows = sorted(rows, key=lambda r: r[1:])
            for before, after in zip(rows, rows[1:]):
                if before[1:3] == after[1:3]:
                    raise ValueError(f"out-of-scope fact ({before[1]}, {before[2]}) given twice")
        if not rows:
            return []
        if self.last is not None and tuple(rows[0][1:3]) <= self.last:
            raise ValueError(f"out-of-scope fact ({rows[0][1]}, {rows[0][2]}) comes after "
                             f"({self.last[0]}, {self.last[1]}): give them in (msisdn, service) order across calls")
        self.last = tuple(rows[-1][1:3])
        out = []
        for row in rows:
            self.pending.append(row[1:])
            if len(self.pending) == self.size:
                out.append(self._row())
        return out

    def rest(self) -> list[tuple]:
        return [self._row()] if self.pending else []

    def _row(self) -> tuple:
        chunk = self.pending
        row = (self.run_id, self.block, chunk[0][0], chunk[-1][0], len(chunk), encode_scope(chunk))
        self.block, self.pending = self.block + 1, []
        return row


def scope_blocks(run_id: str, rows: Iterable[tuple], size: int | None = None) -> list[tuple]:
    """`out_of_scope_block` rows of a run from (run_id, msisdn, service, segment) rows (any order)."""
    blocks = ScopeBlocks(run_id, size)
    return blocks.add(rows) + blocks.rest()
