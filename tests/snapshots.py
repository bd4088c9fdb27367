"""Helpers that write small snapshots for tests: any table from rows, and one hand-made snapshot.

`write_table(dir, "subscribers", rows)` writes NAME.csv (or .parquet) with the contract
columns in contract order; rows are dicts of cell text. `write_handmade(dir)` writes the
hand-made snapshot whose facts and report numbers the tests compute by hand (as of
HANDMADE_AS_OF = 2026-11-15: M0 = 2026-11, M1 = 2026-10, M2 = 2026-09, M3 = 2026-08).
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pandas as pd

from engine.snapshot.contract import TABLES

HANDMADE_AS_OF = date(2026, 11, 15)

SUBSCRIBERS = [
    # 1: contract ends 2027-02-14 (2 whole months left), account manager, handset feature -> android.
    dict(msisdn="13800000001", city="xian", brand="gotone", plan="p58", join_date="2020-11-15", arpu="80",
         arpu_6m_ago="100", contract_end="2027-02-14", device_os="android", account_manager="Li Na",
         preferences="sports|news|sports"),
    # 2: arpu_6m_ago 0 (no trend), contract already ended, no account manager, no contacts.
    dict(msisdn="13800000002", city="baoji", brand="mzone", plan="p18", join_date="2025-06-01", arpu="30",
         arpu_6m_ago="0", contract_end="2026-10-01", device_os="ios", account_manager="", preferences=""),
    # 3: no active subscription, so no facts.
    dict(msisdn="13800000003", city="xian", brand="mzone", plan="p18", join_date="2024-02-29", arpu="50",
         arpu_6m_ago="50", contract_end="", device_os="feature", account_manager="", preferences="music"),
]
SUBSCRIPTIONS = [
    dict(msisdn="13800000001", service="reading", billing="monthly", status="active", ordered_on="2025-01-10", bundled="true"),
    dict(msisdn="13800000001", service="gprs", billing="per_use", status="active", ordered_on="2024-01-01", bundled="0"),
    # ordered last month and never used: at most 1 silent month
    dict(msisdn="13800000002", service="video", billing="monthly", status="active", ordered_on="2026-10-20", bundled="FALSE"),
    # no usage rows at all: silent for the whole 12-month window
    dict(msisdn="13800000002", service="fetion", billing="free", status="active", ordered_on="2020-01-01", bundled="1"),
    dict(msisdn="13800000002", service="game", billing="per_use", status="suspended", ordered_on="2025-01-01", bundled="false"),
    dict(msisdn="13800000003", service="music_club", billing="monthly", status="cancelled", ordered_on="2025-01-01", bundled="false"),
]


def _usage(msisdn, service, month, uses, traffic="0", paid="0"):
    return dict(msisdn=msisdn, service=service, month=month, uses=str(uses), active_days=str(min(int(uses), 28)),
                traffic_mb=traffic, paid_amount=paid)


USAGE = [
    _usage("13800000001", "reading", "2026-11", 2, "1.5", "0"),  # M0
    _usage("13800000001", "reading", "2026-10", 0, "0", "0"),  # M1: explicit zero row
    # M2 (2026-09): no row = 0 uses
    _usage("13800000001", "reading", "2026-08", 5, "10.25", "2"),  # M3
    _usage("13800000001", "reading", "2026-07", 3, "1", "9"),  # M4: outside the 3-month sums
    _usage("13800000001", "gprs", "2026-09", 4, "100", "0"),  # GPRS traffic -> has_data_spend
    _usage("13800000002", "video", "2026-11", 1, "20", "3"),  # M0 spend does not count
    _usage("13800000002", "video", "2026-07", 0, "0", "10"),  # M4 spend does not count
    _usage("13800000002", "game", "2026-10", 9, "5", "0"),  # suspended service: no fact
]
HANDSET_CHANGES = [
    dict(msisdn="13800000001", changed_on="2026-09-01", old_os="feature", new_os="android"),
    dict(msisdn="13800000001", changed_on="2026-12-01", old_os="android", new_os="ios"),  # after as_of
    dict(msisdn="13800000002", changed_on="2026-11-01", old_os="ios", new_os="ios"),
]
CONTACTS = [
    # exactly 30 days before as_of: counts for days_since_contact only, not contacts_30d
    dict(msisdn="13800000001", service="reading", pack="long_term_silent", strategy="s1", channel="sms",
         contacted_on="2026-10-16", responded="", converted=""),
    dict(msisdn="13800000001", service="", pack="retention", strategy="s2", channel="outbound_call",
         contacted_on="2026-10-17", responded="true", converted="false"),
    dict(msisdn="13800000001", service="reading", pack="long_term_silent", strategy="s1", channel="sms",
         contacted_on="2026-11-20", responded="", converted=""),  # after as_of
    dict(msisdn="13800000003", service="", pack="retention", strategy="s2", channel="sms",
         contacted_on="2026-11-15", responded="0", converted="0"),
]
LISTS = [
    dict(msisdn="13800000001", list="dnd", since="2026-01-01"),
    dict(msisdn="13800000001", list="red", since="2026-12-01"),  # since after as_of: not on it yet
    dict(msisdn="13800000002", list="dual_sim", since="2026-11-15"),  # since == as_of counts
    dict(msisdn="13800000002", list="black", since="2025-01-01"),
]
HANDMADE = {
    "subscribers": SUBSCRIBERS, "subscriptions": SUBSCRIPTIONS, "usage_monthly": USAGE,
    "handset_changes": HANDSET_CHANGES, "contact_history": CONTACTS, "lists": LISTS,
}


def write_table(directory: Path, name: str, rows: list[dict], fmt: str = "csv", columns: list[str] | None = None) -> Path:
    """Write one table as CSV or Parquet (all string columns); columns default to the contract's."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    columns = columns or list(TABLES[name].column_names)
    if fmt == "parquet":
        path = directory / f"{name}.parquet"
        frame = pd.DataFrame([[r.get(c, "") for c in columns] for r in rows], columns=columns, dtype=object)
        frame.astype("string").to_parquet(path, index=False)
        return path
    path = directory / f"{name}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[r.get(c, "") for c in columns] for r in rows])
    return path


def write_snapshot(directory: Path, tables: dict[str, list[dict]], fmt: str = "csv") -> Path:
    """Write every table in `tables` (name -> rows) into `directory`."""
    for name, rows in tables.items():
        write_table(directory, name, rows, fmt)
    return Path(directory)


def write_handmade(directory: Path, fmt: str = "csv") -> Path:
    """Write the hand-made snapshot (see module docstring) and return its directory."""
    return write_snapshot(directory, HANDMADE, fmt)


SUB1, SUB2 = "13800000001", "13800000002"
SUB1_COMMON = dict(
    msisdn=SUB1, has_data_spend=True, tenure_days=2191, city="xian", brand="gotone", plan="p58", arpu=80.0,
    arpu_trend=0.8, contract_months_left=2, device_os="android", account_manager=True,
    preferences=["news", "sports"], handset_changed_days=75, os_changed=True, to_smartphone=True,
    on_list=["dnd"], days_since_contact=29, contacts_30d=1,
)
# sub 2: arpu_6m_ago 0 and an ended contract -> both missing; never contacted -> missing
SUB2_COMMON = dict(
    msisdn=SUB2, has_data_spend=False, tenure_days=532, city="baoji", brand="mzone", plan="p18", arpu=30.0,
    device_os="ios", account_manager=False, preferences=[], handset_changed_days=14, os_changed=False,
    to_smartphone=False, on_list=["black", "dual_sim"], contacts_30d=0,
)
# The facts of the hand-made snapshot as of HANDMADE_AS_OF, computed by hand.
HANDMADE_FACTS = [
    # reading: M0 2, M1 0 (explicit row), M2 none, M3 5 -> silent for M1 and M2
    # fee_share = 2.0 / 3 / 80 = 0.008333; causes: bundled, handset change 75 days ago (<= 90) with an OS change
    dict(SUB1_COMMON, service="reading", billing="monthly", bundled=True, ordered_days=674, uses_m0=2, uses_m1=0,
         uses_m2=0, uses_m3=5, months_silent=2, used_in_3m=True, traffic_mb_3m=10.25, paid_3m=2.0,
         fee_share=0.008333, causes=["bundle", "handset_change", "os_change"]),
    dict(SUB1_COMMON, service="gprs", billing="per_use", bundled=False, ordered_days=1049, uses_m0=0, uses_m1=0,
         uses_m2=4, uses_m3=0, months_silent=1, used_in_3m=True, traffic_mb_3m=100.0, paid_3m=0.0,
         fee_share=0.0, causes=["handset_change", "os_change"]),
    # ordered 2026-10-20 (last month), no use since: at most 1 silent month; dual-SIM list,
    # same-OS handset change 14 days ago
    dict(SUB2_COMMON, service="video", billing="monthly", bundled=False, ordered_days=26, uses_m0=1, uses_m1=0,
         uses_m2=0, uses_m3=0, months_silent=1, used_in_3m=False, traffic_mb_3m=0.0, paid_3m=0.0,
         fee_share=0.0, causes=["dual_sim", "handset_change"]),
    # no usage rows at all, ordered in 2020: the whole 12-month window is silent
    dict(SUB2_COMMON, service="fetion", billing="free", bundled=True, ordered_days=2510, uses_m0=0, uses_m1=0,
         uses_m2=0, uses_m3=0, months_silent=12, used_in_3m=False, traffic_mb_3m=0.0, paid_3m=0.0,
         fee_share=0.0, causes=["bundle", "dual_sim", "handset_change"]),
]
