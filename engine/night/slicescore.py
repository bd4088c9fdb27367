"""A local night's score stage, slice by slice: only the base-wide steps see the whole base.

Why: scoring the whole base at once held its typed tables (776 MB at 1M subscribers) next to the
scorer's working set (join keys, features, the stability model's input, the sensitivity's
matrices, the value indicators): 2,477 MB summed PSS, the 1M night's peak. Every score is a
per-subscriber raw part made of the subscriber's own rows, then a base-wide step (percentile
ranks, quantile tiers, the sensitivity's frequency bands among a service's users), so:

1. every slice's rows of every table are in its files (engine/night/slicefiles.py): a local
   night reads its snapshot straight into them (engine/night/slicesplit.py); `score_in_slices`
   cuts them from a snapshot in hand and lets its tables go. The parent keeps only the
   subscribers' msisdns (the scores' index) and each rank's row (to put the parts back in the
   whole base's order);
2. for each slice, its file's tables give its raw parts (engine/scoring/scoring.score_part:
   the model's churn risk and tier, value indicators, the sensitivity's subscription flags and
   M1 days per service); only those compact arrays are kept;
3. the parts are put together in the whole base's subscribers file order
   (engine/scoring/parts.assemble) and the base-wide steps run once on them
   (engine/scoring/scoring.score_whole): the scores `score_snapshot` gives the whole snapshot,
   bit for bit (tests/engine/night/test_slicescore.py);
4. each slice's scores (in its msisdn order, as `pack_slice` cut them from the base's) go to a
   file beside its tables, where the workers read them (`SliceFiles.open`).

The parent then holds one slice's tables at a time and the raw parts of the base (~100 bytes
per subscriber), never the base's tables next to the scorer's working set.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np

from engine.base.memory import release_unused
from engine.night.slicefiles import SliceFiles
from engine.night.slices import Slices


def score_in_slices(snapshot, slices: Slices, folder: Path, as_of: date, content,
                    models_dir=None) -> tuple[SliceFiles, dict]:
    """Write `snapshot`'s slices to `folder` (which must not exist yet), **clear the snapshot's
    tables and cache** (the base is let go), score the base slice by slice and write each
    slice's scores beside it; (the slice files, the model versions). (A local night reads its
    snapshot straight into slice files, engine/night/slicesplit.py, then calls `score_files`.)"""
    from engine.facts.keys import join_index
    from engine.night.prepare import base_scorer
    from engine.scoring.scoring import subscriber_index

    using = base_scorer(as_of, content, models_dir)  # the model first: no files are written without one
    release_unused()  # what planning the slices left (grouping every table's rows) goes back first
    files = SliceFiles.write(folder, snapshot, slices)
    index = subscriber_index(snapshot.tables)
    row_of_rank = join_index(snapshot).row_of_rank
    snapshot.tables.clear()
    snapshot.cache.clear()
    release_unused()
    return files, score_files(using, files, slices, index, row_of_rank)


def score_files(using, files: SliceFiles, slices: Slices, index, row_of_rank: np.ndarray) -> dict:
    """Score the base whose slices are `files` (steps 2-4 of the module docstring) with `using`
    (engine.night.prepare.base_scorer): each slice's scores go to its scores file; the model
    versions. `index`: the subscribers' msisdns in file order; `row_of_rank`: the row of each
    msisdn rank."""
    from engine.scoring.parts import assemble
    from engine.scoring.scoring import score_part, score_whole

    parts = []
    for k in range(slices.count):
        at = np.sort(row_of_rank[slices.ranks(k)])  # its subscribers' rows in the base (file order)
        tables = files.tables(k).tables
        mine = tables["subscribers"]["msisdn"].astype(str).to_numpy()
        if len(mine) != len(at) or not (mine == index[at].to_numpy()).all():
            raise RuntimeError(f"slice {k}'s file does not hold its subscribers in the base's order")
        parts.append((at, score_part(using, tables)))
        del tables, mine
    whole = assemble(parts, len(index))
    del parts
    release_unused()
    scores, versions = score_whole(using, index, whole)
    del whole
    for k in range(slices.count):
        files.write_scores(k, scores.iloc[row_of_rank[slices.ranks(k)]])  # the slice's msisdn order
    return versions
