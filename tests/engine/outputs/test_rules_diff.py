"""rules diff: deciding a snapshot with the old and the new packs and counting who moves."""

from __future__ import annotations

import shutil

import pytest

from engine.base.diagnostics import DiagnosticError
from engine.outputs.rules_diff import rules_diff
from nightly_inputs import RULES, STRATEGIES


GATE = "  data_sensitive: {eq: true}"  # long_term_silent's require (top 20%, rules/sensitivity.yaml)


def edited_rules(target, old=GATE, new=GATE + "\n  sensitivity_pct: {gte: 95}"):
    """A copy of the shipped rules with a sensitivity cut-off at the 95th percentile added to long-term silent
    (on top of the top-20% gate: the cut-off is raised from 80 to 95)."""
    shutil.copytree(RULES, target)
    pack = target / "long_term_silent.yaml"
    text = pack.read_text(encoding="utf-8")
    assert old in text
    pack.write_text(text.replace(old, new), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def raised(tmp_path_factory, night_inputs):
    """Diff of the shipped packs (base) against a copy with the cut-off raised from 80 to 95."""
    inputs = night_inputs
    rules = edited_rules(tmp_path_factory.mktemp("diff") / "rules")
    return rules_diff(str(RULES), inputs.data, inputs.as_of, rules_dir=rules, strategies_dir=STRATEGIES,
                      models_dir=inputs.models)


def test_raising_a_cut_off_moves_exactly_the_facts_between_the_thresholds(raised):
    j = raised.joined
    old_lts = (j["old_decision"] == "treat") & (j["old_pack"] == "long_term_silent")
    new_lts = (j["new_decision"] == "treat") & (j["new_pack"] == "long_term_silent")
    assert old_lts.sum() > new_lts.sum() > 0
    assert not (new_lts & ~old_lts).any()  # nobody newly treated by the pack whose bar was raised
    changed = raised.changed
    assert len(changed) == int((old_lts & ~new_lts).sum())  # only those facts move
    assert (changed["old_pack"] == "long_term_silent").all()
    # those that no other pack treats now fail the requirement
    dropped = changed[changed["new_pack"] == "long_term_silent"]
    assert (dropped["new_decision"] == "not_selected").all()
    assert (dropped["new_reason"] == "require:sensitivity_pct").all()


def test_counts_and_headline_agree_with_the_facts(raised):
    j = raised.joined
    deltas = raised.channel_deltas()
    for channel, n in deltas.items():
        before = ((j["old_decision"] == "treat") & (j["old_channel"] == channel)).sum()
        after = ((j["new_decision"] == "treat") & (j["new_channel"] == channel)).sum()
        assert n == after - before != 0
    assert sum(deltas.values()) < 0  # fewer contacts overall
    headline = raised.headline()
    for channel, n in deltas.items():
        assert f"{'+' if n > 0 else '−'}{abs(n):,} {channel}" in headline
    newly = raised.newly("not_selected")
    assert newly.get("require:sensitivity_pct", 0) > 0
    transitions = raised.transitions()
    assert transitions["facts"].sum() == len(raised.changed)
    doc = raised.to_dict()
    assert doc["changed_facts"] == len(raised.changed) and doc["changed_subscribers"] <= doc["changed_facts"]


def test_the_base_side_decides_as_the_nightly_run_did(raised, stored_run_sqlite):
    # The shared stored run used the same snapshot and the shipped content: every fact it did not
    # make a candidate (excluded / not selected) must have the same outcome on the diff's base side.
    from sqlalchemy import text

    from engine.store.database import get_engine
    from engine.store.read import scope_rows

    run = stored_run_sqlite
    with get_engine(run.db_url).connect() as conn:
        stored = conn.execute(text("SELECT msisdn, service, decision, pack, reason FROM decision WHERE run_id = :r "
                                   "AND decision IN ('excluded', 'not_selected')"), {"r": run.run_id}).all()
        outside = [(m, s) for m, s, _segment in scope_rows(conn, run.run_id)]
    base = raised.joined.set_index(["msisdn", "service"])
    assert stored and outside
    for msisdn, service, decision, pack, reason in stored:
        old = base.loc[(msisdn, service), ["old_decision", "old_pack", "old_reason"]]
        assert tuple(old) == (decision, pack, reason)
    assert set(base.loc[[tuple(r) for r in outside], "old_decision"]) == {"out_of_scope"}
    assert len(base) == len(stored) + len(outside) + _candidates(run)  # the same facts


def _candidates(run) -> int:
    from sqlalchemy import text

    from engine.store.database import get_engine

    with get_engine(run.db_url).connect() as conn:
        return conn.execute(text("SELECT count(*) FROM decision WHERE run_id = :r AND decision IN "
                                 "('treat', 'held_out', 'lost')"), {"r": run.run_id}).scalar()


def test_an_unknown_revision_is_a_clear_error(night_inputs, tmp_path):
    inputs = night_inputs
    rules = edited_rules(tmp_path / "rules")  # outside any git repository
    with pytest.raises(DiagnosticError, match="not inside a git repository"):
        rules_diff("HEAD~3", inputs.data, inputs.as_of, rules_dir=rules, strategies_dir=STRATEGIES,
                   models_dir=inputs.models)
