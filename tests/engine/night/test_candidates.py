"""Candidates and verdicts as arrays (engine/night/candidates.py) decide exactly what `arbitrate` decides."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.night.arbitrate import WON, Candidate, Option, Policy, arbitrate
from engine.night.candidates import CHUNK, CandidateTable, Verdicts, arbitrate_table, msisdn_bytes, serving_order

CHANNELS = ["sms", "mms", "wap_push", "outbound_call", "account_manager"]


@st.composite
def nights(draw):
    """Candidates of a few subscribers, split over a few workers, with caps, capacities and contacts
    drawn so that every outcome happens: equal EVs and priorities (the tie-break decides), one fact
    in two packs, full channels, fallbacks on and off."""
    # the msisdn is held as UTF-8 bytes (numpy S): lengths, leading zeros and non-ASCII digits
    # must order as the strings do
    msisdns = draw(st.lists(st.sampled_from(["13800000001", "13800000002", "13900000003", "1370000004", "15000000005",
                                             "13800000010", "0138000000", "013800000011", "1", "138", "1380000000",
                                             "\u0661\u0663\u0668", "1\u00e9", "\u4e2d138"])
                            | st.text(st.characters(min_codepoint=1, max_codepoint=0x10FFFF,
                                                    blacklist_categories=("Cs",)), min_size=1, max_size=4),
                            min_size=1, max_size=6, unique=True))
    candidates, seen = [], set()
    for _ in range(draw(st.integers(0, 24))):
        msisdn = draw(st.sampled_from(msisdns))
        service = draw(st.sampled_from(["reading", "video", "gprs", "fetion"]))
        pack = draw(st.sampled_from(["long_silent", "short_silent", "monthly_low", "retention"]))
        if (msisdn, service, pack) in seen:
            continue
        seen.add((msisdn, service, pack))
        options = tuple(Option(draw(st.sampled_from(["s_a", "s_b", "s_c"])), draw(st.sampled_from(CHANNELS)),
                               draw(st.sampled_from([0.0, -0.0, 1.5, 2.25, 9.0, -3.0])))
                        for _ in range(draw(st.integers(1, 3))))
        candidates.append(Candidate(msisdn, service, pack, draw(st.sampled_from([10, 20, 50])), options,
                                    draw(st.booleans())))
    contacts = {m: draw(st.integers(0, 4)) for m in msisdns}
    capacities = {c: draw(st.integers(0, 3)) for c in draw(st.lists(st.sampled_from(CHANNELS), unique=True))}
    policy = Policy(per_run=draw(st.sampled_from([None, 1, 2, 3])), per_30_days=draw(st.sampled_from([None, 2, 4])),
                    capacities=capacities)
    workers = draw(st.integers(1, 3))
    chunk = draw(st.sampled_from([1, 2, 3, 5, CHUNK]))  # the fill walks the serving order in chunks
    return candidates, contacts, policy, workers, chunk


def _expected(candidates, contacts, policy):
    """Per key what `arbitrate` decided, in the verdict form the partitions read."""
    out, funnel = {}, Counter()
    for r in arbitrate(candidates, contacts, policy):
        o = r.option
        out[r.candidate.key] = (r.outcome, o.strategy if o else "", o.channel if o else "", r.fell_back, r.beaten_by,
                                r.full_channels)
        funnel[(r.candidate.pack, r.outcome, o.channel if o else r.candidate.options[0].channel)] += 1
    return out, funnel


@settings(max_examples=300, deadline=None)
@given(nights())
def test_arbitrating_the_table_equals_arbitrate(night):
    candidates, contacts, policy, workers, chunk = night
    # as the night does it: a subscriber's candidates all in one worker's (slice's) table, the
    # parent's table the concatenation of the workers' tables
    people = sorted({c.msisdn for c in candidates})
    shares = [[c for c in candidates if people.index(c.msisdn) % workers == w] for w in range(workers)]
    tables = [CandidateTable.of(share, {m: contacts[m] for m in {c.msisdn for c in share}}) for share in shares]
    table = CandidateTable.concat(tables)
    assert table.candidates() == [c for share in shares for c in share]
    verdicts, funnel = arbitrate_table(table, policy, chunk)
    expected, expected_funnel = _expected(candidates, contacts, policy)
    assert funnel == expected_funnel
    got, at = {}, 0
    for share in shares:  # each worker reads its own rows back, per part
        got.update(verdicts.part(at, at + len(share)).entries(share))
        at += len(share)
    assert got == expected
    # the serving order is arbitrate's: the results come in it
    order = [table.candidates()[i].key for i in serving_order(table).tolist()]
    assert order == [r.candidate.key for r in arbitrate(candidates, contacts, policy)]


def test_the_tie_break_compares_names_not_the_order_they_came_in():
    """Codes are positions in sorted vocabularies: a table whose names arrive in reverse order
    still ranks by (priority, −EV, service, strategy, pack) of the names."""
    cands = [Candidate("1", "video", "p_b", 10, (Option("s_z", "sms", 1.0),)),
             Candidate("1", "reading", "p_a", 10, (Option("s_a", "sms", 1.0),)),
             Candidate("2", "reading", "p_a", 10, (Option("s_a", "sms", 1.0),))]
    policy = Policy(per_run=1, capacities={"sms": 1})
    verdicts, _ = arbitrate_table(CandidateTable.of(cands, {}), policy)
    got = verdicts.entries(cands)
    assert got[("1", "reading", "p_a")][0] == WON  # "reading" < "video"
    assert got[("1", "video", "p_b")][4] == ("1", "reading", "p_a")
    assert got[("2", "reading", "p_a")][0] == "lost_capacity"  # msisdn "1" served first, sms full
    assert got == _expected(cands, {}, policy)[0]


def test_a_part_refuses_a_winner_outside_it():
    cands = [Candidate("1", "reading", "a", 10, (Option("s", "sms", 1.0),)),
             Candidate("1", "video", "a", 10, (Option("s", "sms", 0.5),))]
    verdicts, _ = arbitrate_table(CandidateTable.of(cands, {}), Policy(per_run=1))
    assert verdicts.beaten.tolist() == [-1, 0]
    with pytest.raises(ValueError, match="outside its part"):
        verdicts.part(1, 2)  # the winner (row 0) is in another part: the subscriber was split
    with pytest.raises(RuntimeError, match="1 candidates regenerated where 2"):
        verdicts.entries(cands[:1])


def test_an_empty_night_arbitrates_to_nothing():
    table = CandidateTable.concat([CandidateTable.of([], {}), CandidateTable.of([], {})])
    verdicts, funnel = arbitrate_table(table, Policy(per_run=1))
    assert len(table) == 0 and len(verdicts) == 0 and funnel == Counter()
    assert verdicts.part(0, 0).entries([]) == {}


def test_a_table_is_a_fraction_of_the_objects_size():
    """What the table is for: ~36 B a candidate and 16 B an option instead of ~360 B of objects
    (module docstring); the msisdn as its 11 bytes, not 44 of numpy unicode."""
    rng = random.Random(5)
    cands = [Candidate(str(13800000000 + i), rng.choice(["reading", "video"]), "long_silent", 10,
                       (Option("s1", "sms", rng.random()), Option("s2", "outbound_call", rng.random())), True)
             for i in range(10_000)]
    table = CandidateTable.of(cands, {})
    assert table.nbytes() < 80 * len(cands)
    assert isinstance(table.msisdn, np.ndarray) and table.msisdn.dtype.kind == "S"


def test_verdicts_keep_the_order_of_full_channels():
    cands = [Candidate("1", "reading", "a", 10, (Option("s", "sms", 2.0),)),
             Candidate("2", "reading", "a", 10, (Option("s", "mms", 2.0),)),
             Candidate("3", "reading", "a", 10, (Option("s", "mms", 1.0), Option("s", "sms", 1.0),
                                                 Option("t", "wap_push", 1.0)))]
    policy = Policy(capacities={"sms": 1, "mms": 1})
    verdicts, _ = arbitrate_table(CandidateTable.of(cands, {}), policy)
    got = verdicts.entries(cands)
    assert got[("3", "reading", "a")] == (WON, "t", "wap_push", True, None, ("mms", "sms"))
    assert got == _expected(cands, {}, policy)[0]
    assert isinstance(verdicts, Verdicts)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.characters(min_codepoint=1, max_codepoint=0x10FFFF, blacklist_categories=("Cs",)),
                        min_size=1, max_size=12) | st.from_regex(r"0*[0-9]{1,13}", fullmatch=True),
                min_size=1, max_size=30))
def test_msisdn_bytes_order_as_the_strings(msisdns):
    """The tie-break compares the msisdns' bytes: sorting them sorts the strings (code point order)."""
    held = msisdn_bytes(msisdns)
    assert [m.decode("utf-8") for m in held.tolist()] == msisdns
    order = np.argsort(held, kind="stable").tolist()
    assert [msisdns[i] for i in order] == sorted(msisdns)


def test_an_msisdn_ending_in_nul_is_refused():
    with pytest.raises(ValueError, match="NUL"):
        msisdn_bytes(["138\0"])
