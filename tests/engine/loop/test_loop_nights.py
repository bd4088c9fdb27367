"""The loop proven on the sample operator (issue 13 §6): several nights in a row, each
run → simulated feedback → load → next run, on the shared 3k-subscriber snapshot.

Nights: D, D+31, D+62 (monthly waves, so each finds subscribers whose 30-day window has
passed and a freshly drawn holdout), then the response model is trained on that history, and
night D+63 runs with it. Checked: write-back exclusions (nobody treated on D+62 is treated on
D+63; explain names the earlier run and decision; held-out subscribers are not contacts), the
campaign report's 95% intervals cover the simulator's true uplift, at the same budget
arbitration's learned uplift captures more of the oracle's true uplift than the constant
base_response, and the night with the model valued every option with it (the trace's `uplift`).
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from nightly_inputs import RULES, STRATEGIES

OFFSETS = (0, 31, 62)
BUDGET = 0.3
MIN_CONTROL = 10  # rows with fewer control (or treated) units are not checked: their interval is near-vacuous


@pytest.fixture(scope="module")
def loop(tmp_path_factory, night_inputs):
    from engine.generator.feedback import simulate_feedback
    from engine.loop.feedback import load_feedback
    from engine.night.run import RunOptions, run_night
    from engine.store.database import dispose_all

    inputs = night_inputs
    base = tmp_path_factory.mktemp("loop")
    models = base / "models"
    shutil.copytree(inputs.models, models)  # the response model trained here must not reach other tests
    db = f"sqlite:///{base / 'loop.db'}"

    def night(offset: int) -> str:
        day = inputs.as_of + timedelta(days=offset)
        options = RunOptions(data=inputs.data, as_of=day, db_url=db, out=base / f"out-{offset}", rules_dir=RULES,
                             strategies_dir=STRATEGIES, models_dir=models)
        return run_night(options).run_id

    runs = []
    for offset in OFFSETS:
        run_id = night(offset)
        feedback = base / f"feedback-{offset}.csv"
        simulate_feedback(inputs.data, run_id, feedback, db)
        assert load_feedback(feedback, db).unknown_count == 0
        runs.append(run_id)
    yield {"inputs": inputs, "db": db, "models": models, "runs": runs, "night": night, "base": base}
    dispose_all()


def _decisions(db: str, run_id: str) -> pd.DataFrame:
    conn = sqlite3.connect(db.removeprefix("sqlite:///"))
    frame = pd.read_sql("SELECT seq, msisdn, service, pack, decision, reason, strategy, channel FROM decision "
                        "WHERE run_id = ?", conn, params=(run_id,))
    conn.close()
    return frame


def test_report_campaign_intervals_cover_the_true_uplift(loop):
    from engine.generator.feedback import unit_truth
    from engine.outputs.reports.campaign import campaign_report

    checked = []
    for run_id in loop["runs"]:
        report = campaign_report(run_id, db_url=loop["db"], strategies_dir=STRATEGIES).rows
        truth = unit_truth(loop["inputs"].data, run_id, loop["db"])
        truth["arm"] = np.where(truth["decision"] == "treat", "treated",
                                np.where(truth["reason"] == "universal_holdout", "universal", "control"))
        for row in report.itertuples(index=False):
            if row.control < MIN_CONTROL or row.treated < MIN_CONTROL:
                continue
            if row.pack == "ALL":
                units = truth[truth["arm"].isin(["treated", "universal"])]
            else:
                units = truth[(truth["pack"] == row.pack) & (truth["strategy"] == row.strategy)
                              & (truth["channel"] == row.channel) & truth["arm"].isin(["treated", "control"])]
            true = float(units["uplift"].mean())
            checked.append((run_id[:10], row.pack, row.strategy, row.channel, round(true, 4), round(row.uplift, 4),
                            round(row.uplift_low, 4), round(row.uplift_high, 4)))
    print("\ngroup, true uplift, estimate [95% CI]:", *checked, sep="\n  ")
    assert len(checked) >= 8
    missed = [c for c in checked if not c[6] <= c[4] <= c[7]]
    print(f"{len(checked) - len(missed)} of {len(checked)} intervals cover the true uplift; missed: {missed}")
    # nominal coverage is 95%: a miss now and then is what an honest interval does, many are a bug
    assert len(missed) <= 0.2 * len(checked)
    assert not [c for c in missed if c[1] == "ALL"], "the programme's interval must cover its true uplift"


def test_learned_propensity_captures_more_true_uplift_than_base_response(loop):
    """Arbitration's ranking with the learned model (its `uplift.<s>`, else base_response, through
    engine.night.arbitrate.option_values, what EV uses) against the constant base_response, on
    held-out subscribers, scored by the simulator's true uplift at the same 30% budget.

    The model is trained as train_response trains it: each strategy's measured uplift moves the
    planner's base_response only as far as its 95% interval requires (strategy_uplift). With
    three nights of history most intervals still hold the planner's estimate, so the two
    rankings differ only where the history is decisive (retention, whose holdout never
    responds); the margin is small (docs/LOOP.md §5 has the distribution over feedback draws)."""
    from engine.generator.feedback import unit_truth
    from engine.night.arbitrate import option_values
    from engine.scoring.response import UPLIFT_PREFIX, ResponseModel
    from engine.scoring.response_training import _split, base_responses, captured_uplift, response_history

    facts, labels = response_history(loop["db"])
    truth = pd.concat([unit_truth(loop["inputs"].data, r, loop["db"]).assign(run_id=r) for r in loop["runs"]])
    labels = labels.merge(truth[["run_id", "seq", "uplift"]], on=["run_id", "seq"], how="left")
    base = base_responses(STRATEGIES)
    test = _split(labels, seed=0)
    model = ResponseModel(random_state=0).fit(facts[~test].reset_index(drop=True), labels["strategy"][~test],
                                              labels["treated"][~test], labels["responded"][~test],
                                              labels["pack"][~test], base)  # as train_response does
    facts_t, labels_t = facts[test].reset_index(drop=True), labels[test].reset_index(drop=True)
    columns = {f"{UPLIFT_PREFIX}{s}": v for s, v in model.incrementals(facts_t).items()}
    columns["value"] = np.ones(len(labels_t))  # the ranking's incremental response alone: value 1, no cost
    learned = np.zeros(len(labels_t))
    for strategy in sorted(set(labels_t["strategy"])):
        rows = (labels_t["strategy"] == strategy).to_numpy()
        learned[rows] = option_values(columns, strategy, 0.0, base.get(strategy, 0.0), 1.0)[rows]
    assert (learned != labels_t["strategy"].map(base).fillna(0.0).to_numpy()).any(), "the model must be used"
    constant = labels_t["strategy"].map(base).fillna(0.0).to_numpy()
    true = labels_t["uplift"].to_numpy()
    care = (labels_t["pack"] == "retention_care").to_numpy()
    with_model = captured_uplift(learned, true, BUDGET)
    with_base = captured_uplift(constant, true, BUDGET)
    print(f"\ncaptured share of the oracle's true uplift at a {BUDGET:.0%} budget, {len(labels_t)} held-out "
          f"decisions: learned uplift {with_model:.3f}, base_response {with_base:.3f}; without the "
          f"retention_care rows: {captured_uplift(learned[~care], true[~care], BUDGET):.3f} vs "
          f"{captured_uplift(constant[~care], true[~care], BUDGET):.3f}")
    assert with_model > with_base


def test_write_back_and_the_learned_model_in_the_next_night(loop):
    from engine.outputs.explain import explain
    from engine.scoring.response_training import train_response

    db = loop["db"]
    meta = train_response(db, models_dir=loop["models"], strategies_dir=STRATEGIES)
    assert meta["metrics"]["treated"] > 1000 and meta["strategies"]
    last = loop["runs"][-1]
    before = _decisions(db, last)
    run_id = loop["night"](OFFSETS[-1] + 1)  # D+1 after the last monthly night, with the model
    after = _decisions(db, run_id)
    treated_before = set(before.loc[before["decision"] == "treat", "msisdn"])
    treated_after = set(after.loc[after["decision"] == "treat", "msisdn"])
    assert treated_before and not treated_before & treated_after
    # held out is recorded as held out, not as a contact: yesterday's control is in today's control again
    held = set(before.loc[(before["decision"] == "held_out") & (before["reason"] == "holdout"), "msisdn"])
    held_only = held - treated_before
    assert held_only and held_only & set(after.loc[after["decision"] == "held_out", "msisdn"])
    who = sorted(treated_before & set(after.loc[after["reason"] == "contacted_recently", "msisdn"]))[0]
    doc = explain(run_id, who, db_url=db)
    named = [c for f in doc["facts"] for c in f.get("contacted_by") or []]
    seq = int(before.loc[(before["msisdn"] == who) & (before["decision"] == "treat"), "seq"].iloc[0])
    assert {"run_id": last, "seq": seq} in [{"run_id": c["run_id"], "seq": c["seq"]} for c in named]
    # the night used the learned propensity and its trace says which model version
    candidate = sorted(set(after.loc[after["decision"].isin(["treat", "held_out"]), "msisdn"]))[0]
    fact = next(f for f in explain(run_id, candidate, db_url=db)["facts"] if f["decision"] in ("treat", "held_out"))
    assert fact["model_versions"]["response"] == meta["version"]
    assert fact["scores"]["propensity"]
    # arbitration valued the options with the model's uplift (not its propensity), recorded in the trace
    import json

    from engine.night.arbitrate import option_value
    from engine.scoring.response_training import base_responses

    costs = {p.stem: float(p.read_text().split("\ncost: ")[1].split()[0]) for p in STRATEGIES.glob("*.yaml")}
    base = base_responses(STRATEGIES)
    from engine.store.read import decisions_with_payloads  # the one reader of traces (either storage format)

    payloads = [json.loads(p) for _row, p in decisions_with_payloads(
        run_id, db, where="d.decision IN ('treat', 'held_out', 'lost')")]
    assert {p["models"].get("response") for p in payloads} == {meta["version"]}
    options = [(p["fact"], o) for p in payloads for a in p["arbitration"] for o in a["options"]]
    learned = [(f, o) for f, o in options if o["strategy"] in (f.get("uplift") or {})]
    assert learned and set(meta["uplift"]) >= {o["strategy"] for _, o in learned}
    for f, o in options:
        assert o["ev"] == round(option_value(f, o["strategy"], costs[o["strategy"]], base[o["strategy"]]), 9)
    assert any(f["uplift"][o["strategy"]] != f["propensity"][o["strategy"]] for f, o in learned)
