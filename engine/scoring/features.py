"""Subscriber-level features for the stability (churn) model, built from a snapshot, vectorised.

One row per subscriber (index `msisdn`). Numeric features are float64 (missing = NaN), the
categorical ones (`CATEGORICAL_FEATURES`) object strings. Months follow SPEC §2: M0 is the month
containing `as_of`, M1..M3 the three complete months before it.

The optional value × stability columns of `subscribers` (seed 000's stability indicators:
calling circle and its trend, on-net share, suspensions, arrears, payments, handset brand)
add OPTIONAL_FEATURES — only those whose columns the snapshot has (and fills), so a snapshot without them
gives exactly the frame it gave before (and a model trained on it scores it as before):
`circle_size`, `circle_trend` (circle_size / circle_size_6m_ago, missing when that is 0 or
unknown), `calls_per_contact` (calls_monthly / circle_size), `on_net_share`, `suspensions_6m`,
`arrears_6m`, `payments_6m` and the categorical `handset_brand`.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from engine.facts.build import contract_months_left
from engine.facts.keys import SnapshotKeys, snapshot_keys

CATEGORICAL_FEATURES = ("city", "brand", "plan", "device_os")
NUMERIC_FEATURES = (
    "tenure_days", "arpu", "arpu_6m_ago", "arpu_trend", "has_contract", "contract_months_left",
    "has_account_manager", "n_preferences",
    "services_ordered", "services_monthly", "services_bundled", "services_suspended", "services_cancelled",
    "uses_m1", "uses_m2", "uses_m3", "uses_trend", "services_used_3m", "active_days_m1",
    "traffic_mb_3m", "paid_3m", "handset_changes", "handset_changed_days", "os_changed",
    "contacts_90d", "responded_90d", "lists", "on_dual_sim",
)
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
# feature -> the optional subscribers columns it needs (engine.snapshot.contract.SUBSCRIBER_OPTIONAL)
OPTIONAL_FEATURES = {
    "circle_size": ("circle_size",),
    "circle_trend": ("circle_size", "circle_size_6m_ago"),
    "calls_per_contact": ("calls_monthly", "circle_size"),
    "on_net_share": ("on_net_share",),
    "suspensions_6m": ("suspensions_6m",),
    "arrears_6m": ("arrears_6m",),
    "payments_6m": ("payments_6m",),
    "handset_brand": ("handset_brand",),
}


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


def has_column(subs: pd.DataFrame, name: str) -> bool:
    """The snapshot carries this optional column: present with at least one filled cell (a column
    left empty in every row says nothing and counts as absent)."""
    return name in subs.columns and bool(subs[name].notna().any())


def optional_features(subs: pd.DataFrame) -> dict[str, np.ndarray]:
    """The OPTIONAL_FEATURES the subscribers table has columns for, in OPTIONAL_FEATURES order."""
    def num(name: str) -> np.ndarray:
        return pd.to_numeric(subs[name], errors="coerce").to_numpy(dtype=float)

    out = {}
    for feature, needs in OPTIONAL_FEATURES.items():
        if not all(has_column(subs, c) for c in needs):
            continue
        if feature == "circle_trend":
            out[feature] = _ratio(num("circle_size"), num("circle_size_6m_ago"))
        elif feature == "calls_per_contact":
            out[feature] = _ratio(num("calls_monthly"), num("circle_size"))
        elif feature == "handset_brand":
            col = subs["handset_brand"]
            out[feature] = col.astype(object).where(col.notna(), None).to_numpy()
        else:
            out[feature] = num(needs[0])
    return out


def _count(codes: np.ndarray, n: int, mask=None) -> np.ndarray:
    keep = codes >= 0 if mask is None else (codes >= 0) & np.asarray(mask, dtype=bool)
    return np.bincount(codes[keep], minlength=n).astype(float)


def _sum(codes: np.ndarray, values, n: int, mask=None) -> np.ndarray:
    keep = codes >= 0 if mask is None else (codes >= 0) & np.asarray(mask, dtype=bool)
    return np.bincount(codes[keep], weights=np.asarray(values, dtype=float)[keep], minlength=n)


def services_used(usage: pd.DataFrame, codes: np.ndarray, n: int, recent: np.ndarray) -> np.ndarray:
    """Number of distinct services with any use in the `recent` rows, per subscriber position.

    Marks (subscriber, service) cells of an n × services table: no strings and no sort over the
    usage rows (a 1M base's 18M rows took ~45 s as a unique over pairs of factorised strings)."""
    keep = (codes >= 0) & recent & (usage["uses"].to_numpy() > 0)
    column = usage["service"]
    if isinstance(column.dtype, pd.CategoricalDtype):  # the loader's compact column: its codes
        service, width = column.cat.codes.to_numpy()[keep].astype(np.int64), len(column.cat.categories)
    else:
        service, uniques = pd.factorize(column.to_numpy()[keep])
        width = len(uniques)
    known = service >= 0  # a missing service (the contract refuses it) counts as no service
    seen = np.zeros(n * max(width, 1), dtype=bool)
    seen[codes[keep][known].astype(np.int64) * width + service[known]] = True
    return seen.reshape(n, max(width, 1)).sum(axis=1).astype(float)


def subscriber_features(tables: dict[str, pd.DataFrame], as_of: date, keys: SnapshotKeys | None = None) -> pd.DataFrame:
    """The feature frame (index msisdn, columns FEATURES) for every subscriber of the snapshot."""
    subs = tables["subscribers"]
    keys = keys or snapshot_keys(tables, as_of)
    index = keys.index
    n = len(index)
    as_of_ts = pd.Timestamp(as_of)
    out = pd.DataFrame(index=index)

    join = pd.to_datetime(subs["join_date"]).to_numpy()
    out["tenure_days"] = (as_of_ts - pd.DatetimeIndex(join)).days.astype(float)
    arpu = subs["arpu"].to_numpy(dtype=float)
    arpu_old = subs["arpu_6m_ago"].to_numpy(dtype=float)
    out["arpu"] = arpu
    out["arpu_6m_ago"] = arpu_old
    with np.errstate(divide="ignore", invalid="ignore"):
        out["arpu_trend"] = np.where(arpu_old > 0, arpu / np.where(arpu_old > 0, arpu_old, 1.0), np.nan)
    # whole months left (the fact's definition); NaN without a running contract (the tree reads
    # it as "no contract")
    months_left = contract_months_left(subs["contract_end"], as_of)
    out["has_contract"] = (~np.isnan(months_left)).astype(float)
    out["contract_months_left"] = months_left
    out["has_account_manager"] = subs["account_manager"].fillna("").astype(str).str.len().gt(0).to_numpy(dtype=float)
    prefs = subs["preferences"].fillna("").astype(str)
    out["n_preferences"] = np.where(prefs.eq(""), 0, prefs.str.count(r"\|") + 1).astype(float)

    sub_rows = tables["subscriptions"]
    codes = keys.codes["subscriptions"]
    status = sub_rows["status"].to_numpy()
    active = status == "active"
    out["services_ordered"] = _count(codes, n, active)
    out["services_monthly"] = _count(codes, n, active & (sub_rows["billing"].to_numpy() == "monthly"))
    out["services_bundled"] = _count(codes, n, active & sub_rows["bundled"].to_numpy(dtype=bool))
    out["services_suspended"] = _count(codes, n, status == "suspended")
    out["services_cancelled"] = _count(codes, n, status == "cancelled")

    usage = tables["usage_monthly"]
    codes = keys.codes["usage_monthly"]
    month = keys.usage_month  # 0 = M0, 1..3 = M1..M3, -1 = older
    uses = usage["uses"].to_numpy()
    for k in (1, 2, 3):
        out[f"uses_m{k}"] = _sum(codes, uses, n, month == k)
    out["uses_trend"] = (out["uses_m1"] + 1.0) / (out["uses_m3"] + 1.0)  # < 1: use is falling
    recent = month >= 1
    out["services_used_3m"] = services_used(usage, codes, n, recent)
    out["active_days_m1"] = _sum(codes, usage["active_days"].to_numpy(), n, month == 1)
    out["traffic_mb_3m"] = _sum(codes, usage["traffic_mb"].to_numpy(), n, recent)
    out["paid_3m"] = _sum(codes, usage["paid_amount"].to_numpy(), n, recent)

    changes = tables["handset_changes"]
    changed_on = pd.to_datetime(changes["changed_on"]).to_numpy()
    codes = keys.codes["handset_changes"]
    ok = (codes >= 0) & (changed_on <= as_of_ts.to_datetime64())
    out["handset_changes"] = _count(codes, n, ok)
    # last change per subscriber: sort by (subscriber, date); the last row of each run wins
    rows = np.flatnonzero(ok)
    rows = rows[np.lexsort((changed_on[rows], codes[rows]))]
    last_day = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    os_changed = np.zeros(n)
    last_day[codes[rows]] = changed_on[rows]  # later rows overwrite earlier ones
    os_changed[codes[rows]] = (changes["old_os"].to_numpy()[rows] != changes["new_os"].to_numpy()[rows])
    out["handset_changed_days"] = (as_of_ts - pd.DatetimeIndex(last_day)).days.astype(float)
    out["os_changed"] = os_changed

    contacts = tables["contact_history"]
    codes = keys.codes["contact_history"]
    contacted_on = pd.to_datetime(contacts["contacted_on"])
    window = ((contacted_on <= as_of_ts) & (contacted_on > as_of_ts - pd.Timedelta(days=90))).to_numpy()
    out["contacts_90d"] = _count(codes, n, window)
    out["responded_90d"] = _count(codes, n, window & contacts["responded"].fillna(False).to_numpy(dtype=bool))

    lists = tables["lists"]
    codes = keys.codes["lists"]
    out["lists"] = _count(codes, n)
    out["on_dual_sim"] = np.minimum(_count(codes, n, lists["list"].to_numpy() == "dual_sim"), 1.0)

    for column in CATEGORICAL_FEATURES:
        out[column] = subs[column].astype(object).where(subs[column].notna(), None).to_numpy()
    extra = optional_features(subs)
    for name, values in extra.items():
        out[name] = values
    return out[list(FEATURES) + list(extra)]


def churn_training_frame(tables: dict[str, pd.DataFrame], as_of: date) -> tuple[pd.DataFrame, pd.Series]:
    """Features and `churned` labels of the subscribers that have a churn label, sorted by msisdn."""
    if "churn_labels" not in tables:
        raise KeyError("churn_labels")
    features = subscriber_features(tables, as_of)
    labels = tables["churn_labels"].drop_duplicates("msisdn").set_index("msisdn")["churned"]
    labels.index = labels.index.astype(str)
    common = features.index.intersection(labels.index).sort_values()
    return features.loc[common], labels.loc[common].astype(bool).astype(int).rename("churned")
