"""engine.rules.decide: outcomes per pack in the documented order, the trace, the final outcome
across packs, and the vectorised scope filter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.facts.fields import NEUTRAL_DEFAULTS
from engine.content.documents import load_content
from engine.rules.decide import Decider, PackOutcome, final_outcome, scope_mask

FIXTURES = Path(__file__).parent / "backend_fixtures"


@pytest.fixture(scope="module")
def decider():
    content, diags = load_content(FIXTURES / "rules", FIXTURES / "strategies")
    assert not [d for d in diags if d.severity == "error"], diags
    d = Decider(content)
    yield d
    d.close()


def _fact(**given) -> dict:
    fact = dict(NEUTRAL_DEFAULTS, segment="silent_long", reasons=["silent_3_months"])
    fact.update(given)
    return fact


TREATABLE = dict(months_silent=3, has_data_spend=True, sensitivity_pct=90.0)


def _small(decider, **given) -> PackOutcome:
    (outcome,) = [o for o in decider.decide(_fact(**given)) if o.pack == "small_pack"]
    return outcome


def test_treat_with_strategy_channel_reason_and_trace(decider):
    o = _small(decider, **TREATABLE)
    assert (o.decision, o.reason, o.strategy, o.channel) == ("treat", "silent_3_months", "lts_sms_usage_tips", "sms")
    assert o.fired == {"target": ["silent_3m"], "require": ["sensitivity_pct", "has_data_spend"],
                       "treat": ["lts_sms_usage_tips"]}
    assert {"source": "small_pack", "kind": "target", "rule": "silent_3m", "values": {"months_silent": 3}} in o.tested
    assert o.require == [
        {"field": "sensitivity_pct", "threshold": {"gte": 80}, "value": 90.0, "passed": True},
        {"field": "has_data_spend", "threshold": True, "value": True, "passed": True}]
    assert o.priority == 30 and len(o.sha256) == 64


def test_first_matching_treat_entry_wins(decider):
    o = _small(decider, account_manager=True, **TREATABLE)
    assert (o.strategy, o.channel) == ("lts_am_coaching", "account_manager")


def test_all_exclusions_are_recorded_policy_first_and_the_first_reason_wins(decider):
    o = _small(decider, on_list=["dual_sim", "dnd"], uses_m0=5, **TREATABLE)
    assert o.decision == "excluded" and o.reason == "do_not_disturb"
    assert [(x["source"], x["reason"]) for x in o.exclusions] == [
        ("contact_policy", "do_not_disturb"), ("small_pack", "used_this_month"), ("small_pack", "dual_sim")]
    o = _small(decider, on_list=["dual_sim"], uses_m0=5, **TREATABLE)
    assert o.reason == "used_this_month"


def test_not_selected_reasons(decider):
    assert _small(decider, months_silent=1).reason == "no_target"
    o = _small(decider, months_silent=3, has_data_spend=True, sensitivity_pct=60.0)
    assert (o.decision, o.reason) == ("not_selected", "require:sensitivity_pct")
    assert o.require[0] == {"field": "sensitivity_pct", "threshold": {"gte": 80}, "value": 60.0, "passed": False}
    o = _small(decider, months_silent=3, has_data_spend=False, sensitivity_pct=90.0)
    assert o.reason == "require:has_data_spend"
    # other_pack targets but has no treat entry matching
    (other,) = [o for o in decider.decide(_fact(months_silent=2)) if o.pack == "other_pack"]
    assert (other.decision, other.reason) == ("not_selected", "no_strategy")


def test_missing_required_score_fails_the_require(decider):
    o = _small(decider, months_silent=3, has_data_spend=True, sensitivity_pct=None)
    assert o.reason == "require:sensitivity_pct" and o.require[0]["value"] is None


def test_out_of_scope_packs_get_no_outcome(decider):
    assert [o.pack for o in decider.decide(_fact(billing="free"))] == []
    assert [o.pack for o in decider.decide(_fact(segment="active"))] == ["other_pack"]
    assert final_outcome([]).decision == "out_of_scope"
    assert final_outcome([], home="small_pack").pack == "small_pack"


def test_final_outcome_order(decider):
    # other_pack (priority 10) has no strategy; small_pack (30) treats: the treat wins
    assert final_outcome(decider.decide(_fact(**TREATABLE))).pack == "small_pack"
    # both treat: the better priority wins
    both = _fact(months_silent=6, has_data_spend=True, sensitivity_pct=90.0, account_manager=True)
    assert [o.decision for o in decider.decide(both)] == ["treat", "treat"]
    assert final_outcome(decider.decide(both)).pack == "other_pack"
    # nothing treats: the highest-priority in-scope pack's outcome is reported
    none = final_outcome(decider.decide(_fact(months_silent=3, sensitivity_pct=10.0)))
    assert (none.pack, none.decision, none.reason) == ("other_pack", "not_selected", "no_strategy")
    # a contact-policy exclusion decides, whatever a pack would do
    policy = final_outcome(decider.decide(_fact(days_since_contact=3, **TREATABLE)))
    assert (policy.decision, policy.reason) == ("excluded", "contacted_recently")


def test_segment_and_decide_fact(decider):
    assert decider.segment(dict(NEUTRAL_DEFAULTS, months_silent=4)) == (
        "silent_long", ["monthly", "silent_3_months"], ["silent_3_months", "monthly_any"])
    assert decider.segment(dict(NEUTRAL_DEFAULTS, billing="free"))[0] == "active"
    outcome, fact = decider.decide_fact(dict(NEUTRAL_DEFAULTS, **TREATABLE))
    assert fact["segment"] == "silent_long" and outcome.strategy == "lts_sms_usage_tips"


def test_scope_mask_is_strict_about_types_and_missing_values():
    frame = pd.DataFrame({
        "segment": ["silent_long", "silent_long", None, "active"],
        "billing": ["monthly", "per_use", "monthly", "monthly"],
        "bundled": pd.array([True, True, None, False], dtype="boolean"),
        "n": [1, 1, 2, 1],
    })
    assert scope_mask(frame, {"segment": "silent_long", "billing": ["monthly", "per_use"]}).tolist() == [True, True, False, False]
    assert scope_mask(frame, {"bundled": True}).tolist() == [True, True, False, False]
    assert scope_mask(frame, {"n": True}).tolist() == [False] * 4  # no bool/number coercion
    assert scope_mask(frame, {"n": 1.0}).tolist() == [True, True, False, True]
    assert scope_mask(frame, {"segment": 1}).tolist() == [False] * 4
    assert scope_mask(frame, {"unknown": "x"}).tolist() == [False] * 4
    mixed = pd.DataFrame({"m": pd.Series([True, 1, "1", 1.0], dtype=object)})
    assert scope_mask(mixed, {"m": 1}).tolist() == [False, True, False, True]


def test_decide_frame_matches_decide_one_by_one(decider):
    rows = [_fact(**TREATABLE), _fact(billing="free"), _fact(on_list=["dnd"], **TREATABLE),
            _fact(segment="active", months_silent=2), _fact(months_silent=6, account_manager=True, **{
                k: v for k, v in TREATABLE.items() if k != "months_silent"})]
    frame = pd.DataFrame(rows, index=[10, 11, 12, 13, 14])
    frame["on_list"] = frame["on_list"].map("|".join)  # the frame form of SET fields
    frame["preferences"] = ""
    frame["reasons"] = frame["reasons"].map("|".join)
    frame["causes"] = frame["causes"].map("|".join)
    out = decider.decide_frame(frame)
    assert 11 not in set(out["row"])  # out of every scope: never sent to the engine
    for label, fact in zip(frame.index, rows):
        expected = [(o.pack, o.decision, o.reason, o.strategy) for o in decider.decide(fact)]
        got = [tuple(r) for r in out[out["row"] == label][["pack", "decision", "reason", "strategy"]].itertuples(index=False)]
        assert got == expected, label
    segmented = decider.segment_frame(frame.drop(columns=["segment", "reasons"]))
    assert segmented.loc[10, "segment"] == "silent_long" and segmented.loc[11, "segment"] == "active"


def _limited_decider(tmp_path: Path, limits: dict[str, str]) -> Decider:
    """The fixture content with extra lines (e.g. `regions: [北京]`) in some strategy files."""
    import shutil

    shutil.copytree(FIXTURES, tmp_path / "content")
    for strategy, line in limits.items():
        path = tmp_path / "content" / "strategies" / f"{strategy}.yaml"
        text = path.read_text(encoding="utf-8")
        key = line.split(":", 1)[0]
        text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(f"{key}:")) + f"\n{line}\n"
        path.write_text(text, encoding="utf-8")
    content, diags = load_content(tmp_path / "content" / "rules", tmp_path / "content" / "strategies")
    assert not [d for d in diags if d.severity == "error"], diags
    return Decider(content)


def test_strategy_regions_and_services_limit_the_treat_choice(tmp_path):
    d = _limited_decider(tmp_path, {"lts_am_coaching": "regions: [北京, 上海]",
                                    "lts_sms_usage_tips": "services: [reading, video]"})
    try:
        def outcome(**given):
            (o,) = [o for o in d.decide(_fact(account_manager=True, **TREATABLE, **given)) if o.pack == "small_pack"]
            return o

        inside = outcome(city="北京", service="reading")
        assert (inside.decision, inside.strategy) == ("treat", "lts_am_coaching")
        assert inside.fired["treat"] == ["lts_am_coaching", "lts_sms_usage_tips"]  # pack order, fallbacks kept
        elsewhere = outcome(city="广州", service="reading")  # the coaching entry matched but may not run here
        assert (elsewhere.decision, elsewhere.strategy, elsewhere.channel) == ("treat", "lts_sms_usage_tips", "sms")
        assert elsewhere.fired["treat"] == ["lts_sms_usage_tips"]
        assert [t["rule"] for t in elsewhere.tested if t["kind"] == "treat"] == []  # the SMS entry has no `when`
        nowhere = outcome(city="广州", service="fetion")  # neither strategy may run: no strategy
        assert (nowhere.decision, nowhere.reason) == ("not_selected", "no_strategy")
        assert "treat" not in nowhere.fired
        no_city = {k: v for k, v in _fact(account_manager=True, **TREATABLE, service="reading").items() if k != "city"}
        (o,) = [o for o in d.decide(no_city) if o.pack == "small_pack"]
        assert o.strategy == "lts_sms_usage_tips"  # a missing city is in no region list
    finally:
        d.close()
