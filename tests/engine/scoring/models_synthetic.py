"""Small synthetic snapshot tables (typed as engine.snapshot.loader returns them) for model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

AS_OF = pd.Timestamp("2026-11-15").date()
MONTHS = ["2026-11", "2026-10", "2026-09", "2026-08"]
SERVICES = ["fetion", "reading", "video", "wlan", "game"]


def snapshot_tables(n: int = 600, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Subscribers whose churn depends on tenure, contract and falling use, plus the other tables."""
    rng = np.random.default_rng(seed)
    msisdn = np.array([f"138{i:08d}" for i in range(n)], dtype=object)
    tenure = rng.integers(30, 3000, n)
    join = pd.Timestamp(AS_OF) - pd.to_timedelta(tenure, unit="D")
    has_contract = rng.random(n) < 0.4
    contract_end = pd.Series(pd.Timestamp(AS_OF) + pd.to_timedelta(rng.integers(30, 700, n), unit="D"))
    contract_end[~has_contract] = pd.NaT
    arpu = rng.gamma(2.0, 30.0, n).round(2)
    trend = rng.uniform(0.4, 1.4, n)
    subscribers = pd.DataFrame({
        "msisdn": msisdn,
        "city": rng.choice(["xian", "baoji", "yanan"], n).astype(object),
        "brand": rng.choice(["gotone", "mzone", "easyown"], n).astype(object),
        "plan": rng.choice(["p18", "p38", "p58"], n).astype(object),
        "join_date": join.values.astype("datetime64[s]"),
        "arpu": arpu,
        "arpu_6m_ago": (arpu / trend).round(2),
        "contract_end": contract_end.values.astype("datetime64[s]"),
        "device_os": rng.choice(["android", "ios", "feature"], n).astype(object),
        "account_manager": np.where(rng.random(n) < 0.1, "am01", None).astype(object),
        "preferences": rng.choice(["", "news", "news|sports"], n).astype(object),
    })
    subs_rows = []
    for i in range(n):
        for s in rng.choice(SERVICES, rng.integers(0, 4), replace=False):
            subs_rows.append((msisdn[i], s, rng.choice(["monthly", "per_use"]), rng.choice(["active", "active", "cancelled"]),
                              pd.Timestamp(AS_OF) - pd.Timedelta(days=int(rng.integers(10, 900))), bool(rng.random() < 0.3)))
    subscriptions = pd.DataFrame(subs_rows, columns=["msisdn", "service", "billing", "status", "ordered_on", "bundled"])
    subscriptions["ordered_on"] = subscriptions["ordered_on"].values.astype("datetime64[s]")
    usage_rows = []
    for (m, s) in subscriptions[["msisdn", "service"]].itertuples(index=False):
        for k, month in enumerate(MONTHS):
            uses = int(rng.poisson(4 + 2 * k * (trend[int(m[3:])] < 0.8)))
            usage_rows.append((m, s, month, uses, min(uses, 28), float(uses * 1.5), float(uses * 0.1)))
    usage = pd.DataFrame(usage_rows, columns=["msisdn", "service", "month", "uses", "active_days", "traffic_mb", "paid_amount"])
    handset = pd.DataFrame({"msisdn": msisdn[:50], "changed_on": (pd.Timestamp(AS_OF) - pd.to_timedelta(rng.integers(1, 300, 50), unit="D")).values.astype("datetime64[s]"),
                            "old_os": "feature", "new_os": rng.choice(["android", "feature"], 50).astype(object)})
    contacts = pd.DataFrame({"msisdn": msisdn[:40], "service": None, "pack": "retention", "strategy": "s1", "channel": "sms",
                             "contacted_on": (pd.Timestamp(AS_OF) - pd.to_timedelta(rng.integers(1, 120, 40), unit="D")).values.astype("datetime64[s]"),
                             "responded": pd.array([True, False, None, True] * 10, dtype="boolean"),
                             "converted": pd.array([None] * 40, dtype="boolean")})
    lists = pd.DataFrame({"msisdn": msisdn[:20], "list": ["dual_sim"] * 10 + ["dnd"] * 10,
                          "since": np.full(20, np.datetime64("2026-01-01", "s"))})
    logit = -1.2 - tenure / 900 + 1.6 * (~has_contract) + 1.5 * (trend < 0.8)
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    labels = pd.DataFrame({"msisdn": msisdn, "churned": churned, "observed_on": np.full(n, np.datetime64("2026-12-31", "s"))})
    return {"subscribers": subscribers, "subscriptions": subscriptions, "usage_monthly": usage,
            "handset_changes": handset, "contact_history": contacts, "lists": lists, "churn_labels": labels}


class FakeSnapshot:
    """Stands in for engine.snapshot.loader.Snapshot when only the tables matter."""

    def __init__(self, tables):
        self.tables = tables


def telco_like(path, n: int, seed: int = 0):
    """An IBM-Telco-shaped CSV: Yes/No labels, blank TotalCharges cells, an id column."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.5, 0.25, 0.25])
    monthly = rng.uniform(20, 110, n).round(2)
    total = (monthly * tenure).round(2).astype(str).astype(object)
    total[:3] = " "  # new customers: blank, as in the public file
    logit = -1.0 - tenure / 20 + 1.8 * (contract == "Month-to-month") + monthly / 60
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({
        "customerID": [f"{i:04d}-ABCDE" for i in range(n)],
        "gender": rng.choice(["Male", "Female"], n), "SeniorCitizen": rng.integers(0, 2, n),
        "tenure": tenure, "Contract": contract, "MonthlyCharges": monthly, "TotalCharges": total,
        "Churn": np.where(churn, rng.choice(["Yes", "YES", "yes"], n), rng.choice(["No", "no"], n)),
    })
    frame.to_csv(path, index=False)
    return path
