"""Arbitration per subscriber: pack priority, expected value, caps, capacities, fallback, determinism."""

from __future__ import annotations

import random

from engine.night.arbitrate import (
    LOST_CAP,
    LOST_CAPACITY,
    LOST_PRIORITY,
    WON,
    Candidate,
    Option,
    Policy,
    arbitrate,
    expected_value,
)


def cand(msisdn, service, pack, priority, *options, fallback=True):
    return Candidate(msisdn, service, pack, priority, tuple(Option(*o) for o in options), fallback)


def by_key(results):
    return {r.candidate.key: r for r in results}


def test_expected_value_is_incremental_response_times_scaled_value_minus_cost():
    assert expected_value(0.1, 0.5, 2.0, value_scale=100) == 0.1 * 50 - 2.0


def test_lower_priority_number_wins_and_the_loser_records_lost_priority():
    results = by_key(arbitrate([
        cand("1", "reading", "low", 50, ("s_low", "sms", 9.0)),
        cand("1", "gprs", "retention", 10, ("s_ret", "sms", 1.0)),
    ], {}, Policy(per_run=1)))
    assert results[("1", "gprs", "retention")].outcome == WON
    loser = results[("1", "reading", "low")]
    assert loser.outcome == LOST_PRIORITY and loser.beaten_by == ("1", "gprs", "retention")


def test_options_are_valued_with_the_facts_uplift_else_base_response():
    import numpy as np

    from engine.night.arbitrate import incremental_response, option_value, option_values

    fact = {"value": 0.5, "propensity": {"sms": 0.4, "call": 0.3}, "uplift": {"sms": 0.02}}
    # the learned uplift, not the response propensity (0.4: mostly people who respond anyway)
    assert incremental_response(fact, "sms", 0.05) == (0.02, "uplift")
    assert option_value(fact, "sms", 0.05, 0.05, 100) == expected_value(0.02, 0.5, 0.05, 100)
    # a strategy the model gives no uplift for, or no model at all: base_response
    assert incremental_response(fact, "call", 0.08) == (0.08, "base_response")
    assert option_value({"value": 0.5}, "sms", 0.05, 0.03, 100) == expected_value(0.03, 0.5, 0.05, 100)
    # the vectorised form (from the fact frame's columns) gives the same floats
    columns = {"value": np.array([0.5, 0.25, np.nan]), "uplift.sms": np.array([0.02, np.nan, 0.1])}
    records = [{"value": 0.5, "uplift": {"sms": 0.02}}, {"value": 0.25}, {"uplift": {"sms": 0.1}}]
    assert option_values(columns, "sms", 0.05, 0.03, 100).tolist() == [
        option_value(r, "sms", 0.05, 0.03, 100) for r in records]
    assert option_values({"value": np.array([0.5])}, "call", 2.0, 0.08).tolist() == [
        option_value({"value": 0.5}, "call", 2.0, 0.08)]


def test_same_priority_higher_expected_value_wins():
    results = by_key(arbitrate([
        cand("1", "reading", "a", 30, ("cheap", "sms", 0.5)),
        cand("1", "video", "b", 30, ("rich", "mms", 3.0)),
    ], {}, Policy(per_run=1)))
    assert results[("1", "video", "b")].outcome == WON
    assert results[("1", "reading", "a")].outcome == LOST_PRIORITY


def test_exact_tie_is_broken_by_service_then_strategy():
    results = by_key(arbitrate([
        cand("1", "video", "a", 30, ("s", "sms", 1.0)),
        cand("1", "reading", "a", 30, ("s", "sms", 1.0)),
    ], {}, Policy(per_run=1)))
    assert results[("1", "reading", "a")].outcome == WON


def test_per_run_cap_allows_that_many_contacts():
    results = arbitrate([cand("1", s, "a", 30, ("s", "sms", 1.0)) for s in ("fetion", "reading", "video")],
                        {}, Policy(per_run=2))
    assert sorted(r.outcome for r in results) == [LOST_PRIORITY, WON, WON]


def test_thirty_day_cap_counts_contacts_from_history():
    results = by_key(arbitrate([cand("1", "reading", "a", 30, ("s", "sms", 1.0)),
                                cand("2", "reading", "a", 30, ("s", "sms", 1.0))],
                               {"1": 2, "2": 1}, Policy(per_run=1, per_30_days=2)))
    assert results[("1", "reading", "a")].outcome == LOST_CAP
    assert results[("2", "reading", "a")].outcome == WON


def test_thirty_day_cap_tighter_than_per_run_is_named_as_the_cause():
    results = arbitrate([cand("1", s, "a", 30, ("s", "sms", 1.0)) for s in ("fetion", "reading")],
                        {"1": 1}, Policy(per_run=2, per_30_days=2))
    assert sorted(r.outcome for r in results) == [LOST_CAP, WON]


def test_capacity_is_filled_best_first_across_subscribers():
    cands = [cand(str(i), "gprs", "retention", 10, ("call", "outbound_call", float(i))) for i in range(5)]
    results = by_key(arbitrate(cands, {}, Policy(per_run=1, capacities={"outbound_call": 2})))
    won = sorted(k[0] for k, r in results.items() if r.outcome == WON)
    assert won == ["3", "4"]  # highest expected value first
    assert all(r.outcome == LOST_CAPACITY and r.full_channels == ("outbound_call",)
               for k, r in results.items() if k[0] in ("0", "1", "2"))


def test_full_channel_falls_back_to_the_next_treat_entry_on_another_channel():
    cands = [cand("1", "gprs", "retention", 10, ("call", "outbound_call", 5.0), ("call2", "outbound_call", 4.0),
                  ("sms", "sms", 1.0)),
             cand("2", "gprs", "retention", 10, ("call", "outbound_call", 3.0), ("sms", "sms", 1.0))]
    results = by_key(arbitrate(cands, {}, Policy(per_run=1, capacities={"outbound_call": 1})))
    assert results[("1", "gprs", "retention")].option.strategy == "call"
    second = results[("2", "gprs", "retention")]
    assert second.outcome == WON and second.fell_back and second.option.channel == "sms"


def test_fallback_false_keeps_the_candidate_on_its_channel():
    cands = [cand("1", "gprs", "r", 10, ("call", "outbound_call", 5.0)),
             cand("2", "gprs", "r", 10, ("call", "outbound_call", 3.0), ("sms", "sms", 1.0), fallback=False)]
    results = by_key(arbitrate(cands, {}, Policy(per_run=1, capacities={"outbound_call": 1})))
    assert results[("2", "gprs", "r")].outcome == LOST_CAPACITY


def test_no_cap_is_counted_for_a_contact_that_did_not_happen():
    # The retention call finds the call centre full and has no fallback; the subscriber's one
    # contact tonight must still go to the next candidate.
    cands = [cand("0", "gprs", "r", 10, ("call", "outbound_call", 9.0)),
             cand("1", "gprs", "r", 10, ("call", "outbound_call", 5.0), fallback=False),
             cand("1", "reading", "low", 50, ("sms", "sms", 0.1))]
    results = by_key(arbitrate(cands, {}, Policy(per_run=1, capacities={"outbound_call": 1})))
    assert results[("1", "gprs", "r")].outcome == LOST_CAPACITY
    assert results[("1", "reading", "low")].outcome == WON


def test_zero_capacity_channel_takes_nobody():
    results = arbitrate([cand("1", "gprs", "r", 10, ("am", "account_manager", 1.0))], {},
                        Policy(capacities={"account_manager": 0}))
    assert results[0].outcome == LOST_CAPACITY


def test_result_does_not_depend_on_input_order():
    rng = random.Random(7)
    cands = [cand(f"{i % 40:03d}", svc, pack, prio, (f"{pack}_x", ch, round(rng.random() * 5, 3)),
                  (f"{pack}_y", "sms", 0.1))
             for i, (svc, pack, prio, ch) in enumerate(
                 [(rng.choice(["reading", "video", "gprs"]), rng.choice(["a", "b", "c"]), rng.choice([10, 30]),
                   rng.choice(["sms", "outbound_call", "account_manager"])) for _ in range(200)])]
    cands = list({c.key: c for c in cands}.values())
    policy = Policy(per_run=1, per_30_days=2, capacities={"outbound_call": 7, "account_manager": 3})
    history = {f"{i:03d}": i % 3 for i in range(40)}
    first = {r.candidate.key: (r.outcome, r.option) for r in arbitrate(cands, history, policy)}
    shuffled = cands[:]
    rng.shuffle(shuffled)
    second = {r.candidate.key: (r.outcome, r.option) for r in arbitrate(shuffled, history, policy)}
    assert first == second
    used = [option.channel for _, option in first.values() if option is not None]
    assert used.count("outbound_call") <= 7 and used.count("account_manager") <= 3


def test_one_contact_per_fact_even_when_caps_allow_more():
    results = by_key(arbitrate([cand("1", "gprs", "retention", 10, ("call", "sms", 1.0)),
                                cand("1", "gprs", "paid_low_use", 40, ("trial", "sms", 2.0))],
                               {}, Policy(per_run=3)))
    assert results[("1", "gprs", "retention")].outcome == WON
    assert results[("1", "gprs", "paid_low_use")].outcome == LOST_PRIORITY
