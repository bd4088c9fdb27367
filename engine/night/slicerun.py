"""One worker's share of a night: its slices of the base, decided, then turned into rows.

A worker process owns slices w, w + W, w + 2W, … of the slice plan (engine/night/slices.py) and
reads each from its source: in a local night the slice's file, which the parent wrote after
scoring (engine/night/slicefiles.py: the slice's rows of every table and its subscribers'
base-wide scores); in a Spark executor the slice it was shipped. For each, phase 1 builds the
slice's facts, merges the scores, segments them, applies the packs' scopes and decides
the facts in scope (engine/night/partition.py); it keeps only the compact outcome of each fact
(its combination of pack templates: one int32; the templates and combinations themselves are the
worker's, numbered once for all its slices: engine/night/outcomes.py) and hands back the candidates as arrays (engine/night/candidates.py,
with the 30-day contacts of their subscribers) and the counts; a local night's phase 1 also keeps
each slice's facts in a file of the slice folder (engine/night/slicefacts.py). Phase 2 reads a
slice's facts back from that file when the parent asks for its rows (a source with no place for
it, a Spark executor's, builds them again: the same inputs give the same facts, so the same
candidates in the same order), fills in the arbitration verdicts and builds all its rows as
columns (`Partition.next_batch`), their payloads compressed into trace blocks (`slice_rows`,
`gather_rows`), with the slice's out-of-scope rows;
every worker builds its next slice while the parent seals and writes the one before. So a worker
holds the facts of one slice at a time, whatever the size of the base, and between the phases
4 bytes per decided fact plus its distinct outcomes (docs/SCALE.md, "What the decide stage keeps").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from engine.base.memory import release_unused
from engine.store import blocks
from engine.night.candidates import CandidateTable, Verdicts
from engine.night.context import RunContext
from engine.night.decider import DeciderAdapter
from engine.night.groups import TemplateMemo
from engine.night.outcomes import Outcomes
from engine.night.partition import Partition, RowBatch
from engine.night.prepare import prepare_frame, scope_masks
from engine.night.slicefacts import UnkeptColumn, read_facts, write_facts


@dataclass
class SlicesDecided:
    """What phase 1 of a worker hands back to the parent."""

    candidates: CandidateTable  # arbitration candidates (held-out ones excluded) of the worker's slices in turn
    counts: dict  # slice -> its candidates (rows of `candidates`), in the order of the worker's slices
    funnel: Counter  # (pack, decision, reason, channel) -> facts
    facts: int  # facts of the worker's slices, in scope or not
    sizes: dict  # slice -> its facts in some pack's scope (its rows in the chain)
    out_of_scope: Counter  # segment -> facts in the scope of no pack


BATCH = 10_000  # rows built at a time while a slice's rows are gathered


@dataclass
class SliceRows:
    """One slice's rows, ready for the parent to seal and write (see `SliceRunner.slice_rows`)."""

    start: int  # chain position (seq) of the slice's first row
    fields: list  # decision row fields after run_id and seq, per row (chain order)
    heads: list  # engine.store.chain.record_head bytes per row
    cities: list
    managers: list
    blocks: list  # (first_seq, count, zstd of the count payloads): trace blocks of TRACE_BLOCK from `start`
    out_of_scope: list  # (msisdn, service, segment) of the slice's facts in no pack's scope, sorted


class SliceRunner:
    """The slices `ks` of the base: decide them all, then hand out one slice's rows at a time."""

    def __init__(self, ks: list[int], source: Any, versions: dict, ctx: RunContext, content: Any, compiled: Any,
                 as_of: date, models_dir: Path | None, response: tuple | None = None):
        # source.open(k) -> (snapshot, slice k's subscribers in it, scores): engine/night/slicefiles.py
        self.ks, self.source, self.versions = ks, source, versions
        self.response = response  # (model, metadata) of latest_response, loaded once by the parent
        self.ctx, self.content, self.compiled = ctx, content, compiled
        self.as_of, self.models_dir = as_of, models_dir
        self.decider = DeciderAdapter(content, ctx, compiled)  # one Decider (durable_rules engine) per worker
        self.memo = TemplateMemo()  # pack outcomes by signature, shared by the worker's slices
        self.outcomes = Outcomes(self.decider)  # templates and combinations, numbered once for all its slices
        self.parts: dict[int, Partition] = {}
        self.verdicts: dict = {}
        self.starts: dict = {}
        self.outside: dict[int, list[tuple]] = {}  # slice -> its out-of-scope rows, while its rows are out
        self.kept: dict[int, Path] = {}  # slice -> the file its facts were kept in by `decide` (slicefacts.py)

    def _frame(self, k: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(facts in some pack's scope, their extras, the out-of-scope facts' msisdn/service/segment) of slice k."""
        snapshot, subscribers, scores = self.source.open(k)
        frame, extras, _versions = prepare_frame(snapshot, self.as_of, self.content, self.models_dir,
                                                 subscribers=subscribers, scores=(scores, self.versions),
                                                 response=self.response)
        del snapshot, scores  # a slice file's tables: only the frame built from them is kept
        masks = scope_masks(frame, self.ctx.packs)
        bits = np.zeros(len(frame), dtype=np.int64)  # bit j: in the scope of pack j (sorted pack names)
        for j, name in enumerate(sorted(masks)):
            bits |= masks[name].astype(np.int64) << j
        inside = bits != 0
        extras = extras.assign(scope_bits=bits)
        outside = frame.loc[~inside, ["msisdn", "service", "segment"]]
        return frame[inside], extras[inside], outside

    # -- phase 1 ----------------------------------------------------------------------------
    def decide(self) -> SlicesDecided:
        result = SlicesDecided(candidates=CandidateTable.concat([]), counts={}, funnel=Counter(), facts=0, sizes={},
                               out_of_scope=Counter())
        tables = []
        for k in self.ks:
            inside, extras, outside = self._frame(k)
            self._keep(k, inside, extras, outside)
            part = Partition(inside, extras, self.ctx, self.content, self.compiled, decider=self.decider,
                             memo=self.memo, outcomes=self.outcomes)
            decided = part.decide()
            contacts = {}
            if decided.candidates:
                contacts = dict(zip(inside["msisdn"], inside["contacts_30d"].astype(int)))
            tables.append(CandidateTable.of(decided.candidates, contacts))
            result.counts[k] = len(decided.candidates)
            result.funnel.update(decided.funnel)
            del decided, contacts  # the candidates as objects: only the table is kept
            result.facts += len(inside) + len(outside)
            result.sizes[k] = len(inside)
            result.out_of_scope.update(outside["segment"].value_counts().to_dict())
            part.release()
            self.parts[k] = part
            release_unused()  # the slice's facts are gone: keep the worker at one slice's size
        result.candidates = CandidateTable.concat(tables)
        return result

    def _keep(self, k: int, inside: pd.DataFrame, extras: pd.DataFrame, outside: pd.DataFrame) -> None:
        """Keep slice k's facts in a file for phase 2 when the source has a place for it (a local
        night's slice files: `facts_path`); a Spark executor's slice in memory has none, and
        builds them again."""
        place = getattr(self.source, "facts_path", None)
        if place is None:
            return
        try:
            write_facts(place(k), inside, extras, outside)
        except UnkeptColumn:
            return  # a column the file cannot give back as it was: phase 2 builds the facts again
        self.kept[k] = place(k)

    def _kept_frame(self, k: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Slice k's facts as `_frame` gave them in phase 1: read back from their file (then
        removed), or built again where none was kept."""
        path = self.kept.pop(k, None)
        if path is None:
            return self._frame(k)
        frames = read_facts(path)
        path.unlink(missing_ok=True)
        return frames

    # -- phase 2 ----------------------------------------------------------------------------
    def start_rows(self, verdicts: dict[int, Verdicts], starts: dict) -> None:
        """Per slice the arbitration verdicts of its candidates (rows in the order `decide` gave
        them) and the chain position of each slice's first row."""
        self.verdicts, self.starts = verdicts, starts

    def open_slice(self, k: int) -> None:
        """Bring back slice k's facts so its rows can be handed out (the parent asks ahead of time)."""
        if k in self.outside:
            return
        inside, extras, outside = self._kept_frame(k)
        candidates = self.parts[k].reattach(inside, extras)
        verdicts = self.verdicts.pop(k, None)
        if verdicts is None and candidates:
            raise RuntimeError(f"slice {k} has {len(candidates)} candidates but no arbitration verdicts")
        # entries() refuses verdicts of another number of candidates than the slice regenerated
        self.parts[k].start_rows(verdicts.entries(candidates) if verdicts is not None else {}, self.starts[k])
        self.outside[k] = sorted(zip(outside["msisdn"].astype(str), outside["service"].astype(str),
                                     outside["segment"].astype(object)))  # key order: the writer's blocks need it

    def next_batch(self, k: int, limit: int) -> RowBatch | None:
        """Slice k's next at most `limit` rows in (msisdn, service) order, as columns; None when all
        were handed out (a Spark executor ships them this way: engine/spark/executor.py)."""
        self.open_slice(k)
        batch = self.parts[k].next_batch(limit)
        if batch is None:
            self.parts[k].release()
            release_unused()
        return batch

    def slice_rows(self, k: int) -> SliceRows:
        """All of slice k's rows, ready for the parent (`gather_rows`), and its out-of-scope rows."""
        self.open_slice(k)
        out = gather_rows(self.starts[k], lambda: self.parts[k].next_batch(BATCH))
        self.parts[k].release()
        release_unused()
        out.out_of_scope = self.out_of_scope_rows(k)
        return out

    def out_of_scope_rows(self, k: int) -> list[tuple]:
        """(msisdn, service, segment) of slice k's facts in the scope of no pack (after its rows)."""
        self.open_slice(k)
        rows = self.outside.pop(k)
        del self.parts[k]
        return rows


def gather_rows(start: int, next_batch: Callable[[], RowBatch | None]) -> SliceRows:
    """A slice's rows from `next_batch()` (`RowBatch`es in chain order, None at the end), numbered
    from `start`, with their payloads compressed into trace blocks (engine/store/blocks.py) of
    TRACE_BLOCK records counted from the slice's first row.

    Compressing where the rows are built lets every worker build its next slice while the parent
    seals and writes: the parent inflates each block to hash its payloads (the chain seals the
    text, so it checks what it stores) but builds nothing. A slice held this way costs ~0.5 KB a
    row (the payloads compress ~10×), not the ~2.5 KB of its rows as built. The rows come and go
    as columns (no object per row), and a block's payloads are joined and encoded once.
    """
    size = blocks.TRACE_BLOCK
    out = SliceRows(start, [], [], [], [], [], [])
    pending: list[str] = []  # payloads of the rows not in a block yet: the last len(pending) rows
    while (batch := next_batch()) is not None:
        due = start + len(out.fields)
        count = len(batch.fields)
        if batch.first != due or not (count == len(batch.payloads) == len(batch.heads) == len(batch.cities)
                                      == len(batch.managers)):
            raise RuntimeError(f"{count} rows came as records from {batch.first} where {due} was due")
        out.fields.extend(batch.fields), out.heads.extend(batch.heads)
        out.cities.extend(batch.cities), out.managers.extend(batch.managers)
        pending.extend(batch.payloads)
        first = start + len(out.fields) - len(pending)  # seq of pending[0]
        at = 0
        while len(pending) - at >= size:
            out.blocks.append((first + at, size, blocks.encode_payloads(pending[at:at + size])))
            at += size
        del pending[:at]
    if pending:
        out.blocks.append((start + len(out.fields) - len(pending), len(pending), blocks.encode_payloads(pending)))
    return out
