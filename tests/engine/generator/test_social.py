"""The generator's value × stability columns (engine/generator/social.py): they carry the churn and
value signals the operator's seed 000 describes, and leave every other table as it was."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from engine.generator import generate
from engine.generator.snapshot import build_tables
from engine.snapshot.contract import SUBSCRIBER_OPTIONAL
from engine.snapshot.loader import load_snapshot

AS_OF = date(2026, 11, 20)
N = 6000


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("social") / "snap"
    generate(out, N, 5, AS_OF)
    subs = load_snapshot(out, tables=["subscribers", "churn_labels"]).tables
    frame = subs["subscribers"].set_index("msisdn").join(subs["churn_labels"].set_index("msisdn")["churned"])
    truth = pd.read_csv(out / "truth" / "value.csv", dtype={"msisdn": str}).set_index("msisdn")["true_value"]
    return frame, truth


def test_every_optional_column_is_written_and_filled(data):
    frame, _ = data
    for column in SUBSCRIBER_OPTIONAL:
        assert frame[column.name].notna().all(), column.name
    assert frame["on_net_share"].between(0, 1).all()


def test_churners_show_the_signals_the_operator_saw(data):
    """Shrinking circle, smaller circle, fewer on-net calls, fewer payments, more arrears (seed 000)."""
    frame, _ = data
    y = frame["churned"].astype(int).to_numpy()
    trend = frame["circle_size"] / frame["circle_size_6m_ago"].clip(lower=1)
    assert roc_auc_score(y, -trend) > 0.58  # 交往圈衰减
    assert roc_auc_score(y, -frame["circle_size_6m_ago"]) > 0.52  # larger circles churn less
    assert roc_auc_score(y, -frame["on_net_share"]) > 0.56  # V网 / on-net users churn less
    assert roc_auc_score(y, -frame["payments_6m"]) > 0.54
    assert roc_auc_score(y, frame["arrears_6m"] + frame["suspensions_6m"]) > 0.52
    apple = frame["handset_brand"].eq("苹果")
    other = frame["handset_brand"].eq("其他")
    assert frame.loc[apple, "churned"].mean() < frame.loc[other, "churned"].mean()


def test_handset_brand_fits_the_handset_os(data):
    frame, _ = data
    assert frame.loc[frame["device_os"].eq("ios"), "handset_brand"].eq("苹果").all()
    assert frame.loc[frame["device_os"].eq("harmony"), "handset_brand"].eq("华为").all()
    assert not frame.loc[frame["device_os"].eq("android"), "handset_brand"].isin(["苹果", "诺基亚"]).any()


def test_value_truth_rewards_on_net_circles_and_punishes_arrears(data):
    frame, truth = data
    t = truth.reindex(frame.index)
    per_yuan = t / (12 * frame["arpu"].clip(lower=1))
    assert per_yuan[frame["arrears_6m"] >= 2].mean() < per_yuan[frame["arrears_6m"] == 0].mean()
    big_on_net = (frame["circle_size"] * frame["on_net_share"]) >= (frame["circle_size"] * frame["on_net_share"]).quantile(0.8)
    assert per_yuan[big_on_net].mean() > per_yuan[~big_on_net].mean()


def test_the_core_tables_do_not_depend_on_the_new_stage():
    """The new stage has its own random stream and only reads churn's hidden term: every other
    table, and the core subscribers columns, are what they were before it existed."""
    import engine.generator.snapshot as snapshot_module

    tables, truth = build_tables(500, 3, AS_OF)
    original = snapshot_module.build_social
    try:  # the same run with the stage drawing something else entirely
        snapshot_module.build_social = lambda pop, arpu, hidden, rng: original(pop, arpu * 0 + 1, hidden * 0,
                                                                                 np.random.default_rng(99))
        other, other_truth = build_tables(500, 3, AS_OF)
    finally:
        snapshot_module.build_social = original
    optional = [c.name for c in SUBSCRIBER_OPTIONAL]
    for name in tables:
        a, b = tables[name], other[name]
        if name == "subscribers":
            a, b = a.drop(optional), b.drop(optional)
        assert a.equals(b), name
    for name in ("churn", "response"):
        assert truth[name].equals(other_truth[name])
