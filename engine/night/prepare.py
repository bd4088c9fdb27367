"""Preparing a night's fact frame: facts + scores + segment, and each pack's scope as a mask.

Everything here is vectorised over the whole frame (millions of rows); only facts inside some
pack's scope go on to the rule engine.
"""

from __future__ import annotations

from datetime import date
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from engine.rules.vector import NotVectorisable, segment_frame


def _merge_scores(facts: pd.DataFrame, scores: pd.DataFrame, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Facts with their subscriber's scores (columns of `scores`, incl. any propensity.<s>).

    `rows`: each fact's subscriber's row in the subscribers table (file order, -1 absent). The
    scores of a whole snapshot are in that order (engine.scoring.scoring), so a slice takes its
    scores by position instead of hashing its msisdns into the whole base's index; the msisdns
    are compared to be sure, and any other scores are joined by msisdn."""
    pos = None
    if rows is not None and len(rows) and (rows >= 0).all() and rows.max() < len(scores):
        taken = scores.index.take(rows)
        if (np.asarray(taken, dtype=object) == np.asarray(facts["msisdn"], dtype=object)).all():
            pos = rows
    if pos is None:
        pos = scores.index.get_indexer(facts["msisdn"])
    merged = {name: facts[name].to_numpy() for name in facts.columns}
    for name in scores.columns:
        values = scores[name].to_numpy()
        column = values.take(np.where(pos < 0, 0, pos)) if len(values) else np.full(len(facts), None)
        if (pos < 0).any():  # a fact whose subscriber has no score: leave it missing
            column = column.astype(object) if column.dtype.kind not in "f" else column.copy()
            column[pos < 0] = np.nan if column.dtype.kind == "f" else None
        merged[name] = column
    return pd.DataFrame(merged)


def _segment_with_engine(frame: pd.DataFrame, content) -> pd.DataFrame:
    """Segmentation through the Decider, for segment rules the vectorised evaluator cannot read."""
    from engine.rules.decide import Decider

    decider = Decider(content)
    try:
        return decider.segment_frame(frame)
    finally:
        decider.close()


def base_scorer(as_of: date, content, models_dir=None, require_stability: bool = True):
    """The stability model and the content's formulas (rules/sensitivity.yaml, rules/value_stability.yaml)
    a night scores its base with (engine.scoring.scoring.Scorer)."""
    from engine.content.checks_models import sensitivity_config, value_stability_config
    from engine.scoring.scoring import scorer

    return scorer(as_of, models_dir, require_stability=require_stability,
                  sensitivity_config=sensitivity_config(content), value_stability=value_stability_config(content))


def score_base(snapshot, as_of: date, content, models_dir=None,
               require_stability: bool = True) -> tuple[pd.DataFrame, dict]:
    """(scores indexed by msisdn, model versions) of the whole base: the scores' percentile ranks
    and quantile tiers are base-wide, so they are computed once, before the base is sliced (a
    local night does it slice by slice: engine/night/slicescore.py)."""
    from engine.scoring.scoring import score_part, score_whole, subscriber_index

    using = base_scorer(as_of, content, models_dir, require_stability)
    return score_whole(using, subscriber_index(snapshot.tables), score_part(using, snapshot.tables))


def prepare_frame(snapshot, as_of: date, content, models_dir=None,
                  stage: Callable[[str], None] = lambda _name: None,
                  require_stability: bool = True, subscribers=None,
                  scores: tuple[pd.DataFrame, dict] | None = None,
                  response: tuple | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(facts with scores and segment, extras aligned with it, model versions).

    `subscribers`: the facts of some subscribers only (a slice of the msisdn-sorted
    subscribers or their ranks, engine.facts.build.build_facts); scores stay base-wide.

    `extras` holds what is not a fact field but a run needs per fact: the account manager's
    name (for messages and the account-manager list) and the segmentation rules that matched
    (`segment_rules`: a tuple of rule ids per fact, engine.rules.vector.segment_frame).
    `scores`: the base's (`score_base`) when `snapshot` is one slice of it; else the snapshot is scored.
    `response`: the response model and its metadata (`latest_response`) when the caller loaded it
    once for many slices; else the latest stored one is loaded.
    """
    from engine.content.checks_models import data_services
    from engine.facts.build import build_facts
    from engine.facts.keys import subscriber_positions
    from engine.scoring.response import add_propensity

    stage("facts")
    # The catalogue's data_service flags (has_data_spend) and rules/sensitivity.yaml's weights.
    facts = build_facts(snapshot, as_of, data_services=data_services(content), subscribers=subscribers)
    stage("score")
    scores, versions = scores or score_base(snapshot, as_of, content, models_dir, require_stability)
    versions = dict(versions)
    people = snapshot.tables["subscribers"]
    pos = subscriber_positions(snapshot, facts["msisdn"], subscribers)  # the one join index (engine.facts.keys)
    frame = _merge_scores(facts, scores, pos)
    stage("segment")
    try:
        segmented = segment_frame(frame, content.segments.data)
    except NotVectorisable:
        segmented = _segment_with_engine(frame, content)
    frame["segment"] = segmented["segment"].to_numpy()
    frame["reasons"] = segmented["reasons"].to_numpy()
    # propensity.<strategy> from the response model when one is stored (else base_response applies)
    response_version = add_propensity(frame, models_dir, loaded=response)
    if response_version:
        versions["response"] = response_version
    names = people["account_manager"].take(pos).fillna("").to_numpy(dtype=object)  # the slice's only
    extras = pd.DataFrame({"account_manager_name": names,
                           "segment_rules": segmented["segment_rules"].to_numpy()})
    return frame, extras, versions


def scope_masks(frame: pd.DataFrame, packs: Mapping) -> dict[str, np.ndarray]:
    """Pack name -> boolean mask of the facts inside its scope (an empty scope holds every fact).

    The Decider's own vectorised reading (`engine.rules.decide.scope_mask`: field: scalar = eq,
    list = in; ANDed; no type coercion; missing never matches), so a run and `rules diff` keep
    the same facts away from the engine.
    """
    from engine.rules.decide import scope_mask

    return {name: scope_mask(frame, pack.scope).to_numpy(dtype=bool) for name, pack in packs.items()}
