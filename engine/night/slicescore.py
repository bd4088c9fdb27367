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
3. each slice's parts go into the whole base's arrays in its subscribers file order as soon as
   they are made (engine/scoring/parts.Assembly: the parts of every slice are never held next
   to the whole's) and the base-wide steps run once on them, by position
   (engine/scoring/scoring.score_positions: no frame indexed by the base's msisdns, no join on
   them): the scores `score_snapshot` gives the whole snapshot, bit for bit
   (tests/engine/night/test_slicescore.py);
4. each slice's scores (its rows of the positional scores, in its msisdn order, as `pack_slice`
   cuts them from the base's, indexed by its msisdns) go to a file beside its tables, where the
   workers read them (`SliceFiles.open`).

The parent then holds one slice's tables at a time and the raw parts of the base (~100 bytes
per subscriber), never the base's tables next to the scorer's working set; the sensitivity's
float matrices are made a block of rows at a time (engine/scoring/sensitivity.py).
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
    from engine.scoring.parts import Assembly
    from engine.scoring.scoring import score_part, score_positions

    whole = Assembly(len(index))
    for k in range(slices.count):
        at = np.sort(row_of_rank[slices.ranks(k)])  # its subscribers' rows in the base (file order)
        tables = files.tables(k).tables
        mine = tables["subscribers"]["msisdn"].astype(str).to_numpy()
        if len(mine) != len(at) or not (mine == index[at].to_numpy()).all():
            raise RuntimeError(f"slice {k}'s file does not hold its subscribers in the base's order")
        whole.add(at, score_part(using, tables))  # into the whole base's arrays: the part goes
        del tables, mine
    parts = whole.done()
    del whole
    release_unused()
    scores, versions = score_positions(using, parts)  # by position: no msisdn index for the whole base
    del parts
    release_unused()
    for k in range(slices.count):
        rows = row_of_rank[slices.ranks(k)]  # the slice's msisdn order
        files.write_scores(k, scores.take(rows).set_axis(index[rows]))
    return versions
