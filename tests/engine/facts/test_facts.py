"""Facts on the hand-made snapshot (tests/snapshots.py), every field computed by hand.

as_of 2026-11-15: M0 = 2026-11, M1 = 2026-10, M2 = 2026-09, M3 = 2026-08.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.facts.build import FACT_COLUMNS, build_facts, fact_records
from engine.facts.keys import month_labels
from engine.facts.fields import FIELDS
from engine.snapshot.loader import load_snapshot
from snapshots import HANDMADE, HANDMADE_AS_OF, HANDMADE_FACTS as EXPECTED, SUB1, SUB2, write_snapshot

@pytest.fixture
def facts(handmade_dir):
    return build_facts(load_snapshot(handmade_dir), HANDMADE_AS_OF)


def test_month_labels():
    assert month_labels(date(2026, 1, 31), 3) == ["2026-01", "2025-12", "2025-11", "2025-10"]


def test_one_fact_per_active_subscription_with_catalogue_columns(facts):
    assert list(facts.columns) == list(FACT_COLUMNS)
    groups = {f.group for f in FIELDS.values() if f.name in facts.columns}
    assert groups == {"usage", "subscription", "subscriber", "events and lists"}
    assert list(zip(facts["msisdn"], facts["service"])) == [
        (SUB1, "reading"), (SUB1, "gprs"), (SUB2, "video"), (SUB2, "fetion")]


def test_every_field_matches_hand_computed_values(facts):
    assert fact_records(facts) == EXPECTED


def test_frame_representation(facts):
    assert facts["preferences"].tolist() == ["news|sports", "news|sports", "", ""]
    assert facts["on_list"].tolist() == ["dnd", "dnd", "black|dual_sim", "black|dual_sim"]
    assert math.isnan(facts["arpu_trend"][2]) and math.isnan(facts["contract_months_left"][3])
    assert facts["uses_m0"].dtype == np.int64 and facts["bundled"].dtype == bool


def test_contact_and_list_boundaries(tmp_path):
    tables = {k: [dict(r) for r in v] for k, v in HANDMADE.items()}
    # a contact on as_of counts (0 days); the one 30 days ago still does not
    tables["contact_history"].append(dict(tables["contact_history"][0], contacted_on="2026-11-15"))
    # a contract ending on as_of has 0 whole months left; the day before as_of is ended
    tables["subscribers"][0]["contract_end"] = "2026-11-15"
    tables["subscribers"][1]["contract_end"] = "2026-11-14"
    facts = build_facts(load_snapshot(write_snapshot(tmp_path, tables)), HANDMADE_AS_OF)
    first = fact_records(facts)[0]
    assert (first["days_since_contact"], first["contacts_30d"], first["contract_months_left"]) == (0, 2, 0)
    assert "contract_months_left" not in fact_records(facts)[2]


def test_service_ordered_this_month_is_never_silent(tmp_path):
    tables = {k: [dict(r) for r in v] for k, v in HANDMADE.items()}
    tables["subscriptions"][3]["ordered_on"] = "2026-11-02"
    facts = build_facts(load_snapshot(write_snapshot(tmp_path, tables)), HANDMADE_AS_OF)
    assert facts["months_silent"].tolist() == [2, 1, 1, 0]
    assert facts["ordered_days"].tolist()[3] == 13


def test_fact_records_nests_propensity_and_drops_missing():
    frame = pd.DataFrame({
        "msisdn": ["1", "2"], "uses_m1": [3, 0], "contract_months_left": [np.nan, 4.0],
        "on_list": ["", "dnd|red"], "propensity.sms_tips": [0.25, np.nan], "propensity.am": [np.nan, np.nan],
    })
    assert fact_records(frame) == [
        {"msisdn": "1", "uses_m1": 3, "on_list": [], "propensity": {"sms_tips": 0.25}},
        {"msisdn": "2", "uses_m1": 0, "contract_months_left": 4, "on_list": ["dnd", "red"]},
    ]
    assert type(fact_records(frame)[1]["contract_months_left"]) is int


def test_fact_records_nests_uplift_next_to_propensity():
    frame = pd.DataFrame({"msisdn": ["1", "2"], "propensity.sms_tips": [0.25, 0.3], "uplift.sms_tips": [0.02, np.nan]})
    assert fact_records(frame) == [
        {"msisdn": "1", "propensity": {"sms_tips": 0.25}, "uplift": {"sms_tips": 0.02}},
        {"msisdn": "2", "propensity": {"sms_tips": 0.3}},
    ]


@pytest.mark.parametrize("as_of, end, expected", [
    (date(2026, 11, 15), "2027-02-14", 2),   # one day short of three months
    (date(2026, 11, 15), "2027-02-15", 3),
    (date(2026, 11, 15), "2026-11-30", 0),   # still running this month
    (date(2026, 11, 15), "2026-11-15", 0),   # ends today
    (date(2026, 11, 15), "2026-11-14", None),  # ended yesterday
    (date(2026, 1, 31), "2026-02-28", 0),    # month ends: Feb has no 31st
    (date(2026, 1, 31), "2026-03-31", 2),
    (date(2026, 2, 28), "2026-03-31", 1),
    (date(2026, 11, 15), None, None),         # no contract
])
def test_contract_months_left_is_one_definition_for_facts_and_models(as_of, end, expected):
    from engine.facts.build import contract_months_left
    from engine.scoring.features import subscriber_features
    from engine.scoring.value import value_indicators

    got = contract_months_left(pd.Series([end], dtype="datetime64[s]"), as_of)[0]
    assert (expected is None and np.isnan(got)) or got == expected
    tables = {
        "subscribers": pd.DataFrame({
            "msisdn": ["13800000001"], "city": ["西安"], "brand": ["动感地带"], "plan": ["p"],
            "join_date": pd.Series(["2020-01-01"], dtype="datetime64[s]"), "arpu": [50.0], "arpu_6m_ago": [40.0],
            "contract_end": pd.Series([end], dtype="datetime64[s]"), "device_os": ["android"],
            "account_manager": [None], "preferences": [""]}),
        "subscriptions": pd.DataFrame(columns=["msisdn", "service", "billing", "status", "ordered_on", "bundled"]),
        "usage_monthly": pd.DataFrame({"msisdn": pd.Series([], dtype=object), "service": pd.Series([], dtype=object),
                                       "month": pd.Series([], dtype=object), "uses": pd.Series([], dtype="int64"),
                                       "active_days": pd.Series([], dtype="int64"),
                                       "traffic_mb": pd.Series([], dtype=float), "paid_amount": pd.Series([], dtype=float)}),
        "handset_changes": pd.DataFrame({"msisdn": pd.Series([], dtype=object),
                                         "changed_on": pd.Series([], dtype="datetime64[s]"),
                                         "old_os": pd.Series([], dtype=object), "new_os": pd.Series([], dtype=object)}),
        "contact_history": pd.DataFrame({"msisdn": pd.Series([], dtype=object), "service": pd.Series([], dtype=object),
                                         "pack": pd.Series([], dtype=object), "strategy": pd.Series([], dtype=object),
                                         "channel": pd.Series([], dtype=object),
                                         "contacted_on": pd.Series([], dtype="datetime64[s]"),
                                         "responded": pd.Series([], dtype="boolean"),
                                         "converted": pd.Series([], dtype="boolean")}),
        "lists": pd.DataFrame(columns=["msisdn", "list", "since"]),
    }
    features = subscriber_features(tables, as_of)
    model_value = features["contract_months_left"].iloc[0]
    assert (expected is None and np.isnan(model_value)) or model_value == expected
    assert value_indicators(tables, as_of)["contract"].iloc[0] == (expected or 0)


def _with_usage(tmp_path, *rows):
    tables = {k: [dict(r) for r in v] for k, v in HANDMADE.items()}
    tables["usage_monthly"] += [dict(msisdn=SUB2, service=service, month="2026-10", uses="3", active_days="3",
                                     traffic_mb=traffic, paid_amount=paid) for service, traffic, paid in rows]
    facts = build_facts(load_snapshot(write_snapshot(tmp_path, tables)), HANDMADE_AS_OF)
    return bool(facts.loc[facts["msisdn"] == SUB2, "has_data_spend"].iloc[0])


def test_has_data_spend_counts_data_services_only(tmp_path):
    # SMS and ringtone fees are not data spend (data_service: false in rules/services.yaml)
    assert _with_usage(tmp_path / "a", ("sms", "0", "5"), ("ringtone", "0", "2")) is False
    # a payment for a data service is
    assert _with_usage(tmp_path / "b", ("reading", "0", "1")) is True
    # GPRS traffic without any payment is
    assert _with_usage(tmp_path / "c", ("gprs", "12", "0")) is True
    # traffic on another service is not GPRS traffic
    assert _with_usage(tmp_path / "d", ("video", "12", "0")) is False


def test_data_services_follow_the_catalogue_flag(tmp_path):
    tables = {k: [dict(r) for r in v] for k, v in HANDMADE.items()}
    tables["usage_monthly"].append(dict(msisdn=SUB2, service="sms", month="2026-10", uses="3", active_days="3",
                                        traffic_mb="0", paid_amount="5"))
    snapshot = load_snapshot(write_snapshot(tmp_path, tables))
    facts = build_facts(snapshot, HANDMADE_AS_OF, data_services={"sms"})
    assert bool(facts.loc[facts["msisdn"] == SUB2, "has_data_spend"].iloc[0]) is True


def test_default_data_services_are_the_shipped_catalogue():
    from pathlib import Path

    import yaml

    from engine.facts.derived import DEFAULT_DATA_SERVICES

    catalogue = yaml.safe_load((Path(__file__).resolve().parents[3] / "rules" / "services.yaml").read_text(encoding="utf-8"))
    assert DEFAULT_DATA_SERVICES == {s["service"] for s in catalogue["services"] if s["data_service"]}


def test_fee_share_is_missing_without_arpu():
    from engine.facts.derived import fee_share

    out = fee_share(np.array([6.0, 6.0, 0.0]), np.array([40.0, 0.0, 10.0]))
    assert out[0] == 0.05 and math.isnan(out[1]) and out[2] == 0.0
