"""Facts: one row per (subscriber, active subscription) with every catalogue field (ARCHITECTURE §2).

Definitions (M0 = the month containing as_of, M1 the month before, …; a missing usage row
means 0 uses):
- `uses_m0` … `uses_m3`: `uses` of this service in that month.
- `months_silent`: consecutive complete months with 0 uses counting back from M1, at most 12,
  never counting months before the month the service was ordered (ordered last month: at
  most 1; ordered this month: 0).
- `used_in_3m`: uses in M1..M3 > 0. `traffic_mb_3m`, `paid_3m`: sums over M1..M3, this service.
- `has_data_spend`, `fee_share`, `causes`: derived fields of the playbooks, defined in
  engine.facts.derived (a data service's payment or GPRS traffic; 资费敏感; 沉默/低使用原因).
- `tenure_days` = as_of − join_date; `ordered_days` = as_of − ordered_on.
- `arpu_trend` = arpu / arpu_6m_ago, missing when arpu_6m_ago is 0.
- `contract_months_left`: whole calendar months from as_of to contract_end (floor: 2026-11-15
  → 2027-02-14 is 2); missing without a contract or when contract_end < as_of.
- `account_manager`: the cell is non-empty. `preferences`: the set of tags.
- `handset_changed_days`: days since the latest change on or before as_of (missing if none);
  `os_changed`: that change's old_os != new_os; `to_smartphone`: old_os is `feature` and
  new_os is not (both False without a change).
- `on_list`: lists whose `since` <= as_of. `days_since_contact`: as_of − the latest
  contacted_on <= as_of (missing if none); `contacts_30d`: contacts with
  0 <= as_of − contacted_on < 30 (a contact exactly 30 days ago is not counted).

In the frame SET fields are sorted `'|'`-joined strings (`""` = empty) and missing numbers
are NaN (so nullable INT fields are float64 there; `fact_records` gives Python ints). Rows
keep the order of `subscriptions`. Everything is columnar: subscribers, services and months
become integer codes and per-fact sums are `np.bincount`s.
"""

from __future__ import annotations

import gc
from datetime import date
from itertools import repeat

import numpy as np
import pandas as pd

from engine.snapshot.contract import LIST_VALUES, SERVICE_IDS
from engine.facts import derived
from engine.facts.circle import circle_fields
from engine.facts.fields import FIELDS, INT, PROPENSITY_PREFIX, SET, UPLIFT_PREFIX
from engine.facts.indicators import indicator_fields
from engine.facts.keys import join_index, month_labels, positions, subscriber_slices
from engine.snapshot.loader import Snapshot

NESTED_PREFIXES = (PROPENSITY_PREFIX, UPLIFT_PREFIX)  # per-strategy columns a fact holds as one map each

MONTHS_BACK = 12  # how far months_silent looks back
FACT_GROUPS = ("usage", "subscription", "subscriber", "events and lists")
FACT_COLUMNS = ("msisdn", *(f.name for f in FIELDS.values() if f.group in FACT_GROUPS))
_N_SERVICES = len(SERVICE_IDS) + 1  # key = person * 16 + service; the spare slot keeps an unknown (-1) from colliding


def _days(as_of: date, dates: pd.Series) -> np.ndarray:
    """as_of − dates in whole days, float (NaN for NaT)."""
    values = dates.to_numpy(dtype="datetime64[s]").astype("datetime64[D]")
    out = (np.datetime64(as_of, "D") - values).astype("timedelta64[D]").astype(float)
    out[np.isnat(values)] = np.nan
    return out


def _objects(values: pd.Series) -> np.ndarray:
    """A text column as the fact frame holds it: numpy object array of str (None when missing).

    A compact column (categorical) makes one Python str per category, not per row."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        words = np.append(values.cat.categories.to_numpy(dtype=object), None)
        return words[values.cat.codes.to_numpy()]
    return values.astype(object).where(values.notna(), None).to_numpy(dtype=object)


def service_codes(services) -> np.ndarray:
    """Position of each service id in engine.snapshot.contract.SERVICE_IDS (-1 when unknown)."""
    return positions(services, SERVICE_IDS)


class _Part:
    """The rows of every table that belong to some subscribers (the whole base, or a partition).

    `ranks`: the chosen subscribers' ranks in msisdn order (sorted); a table's rows come with
    `person`, the position of their subscriber in `ranks` (-1: not a subscriber). The whole base
    reads the tables as they are; a partition takes only its own rows (engine.facts.keys)."""

    def __init__(self, snapshot: Snapshot, subscribers=None):
        self.snapshot = snapshot
        self.join = join_index(snapshot)
        self.whole = subscribers is None
        self.ranks = self.join.select(subscribers)
        self.n = len(self.ranks)

    def table(self, name: str) -> tuple[pd.DataFrame, np.ndarray]:
        frame = self.snapshot.tables[name]
        if self.whole:
            return frame, self.join.ranks(name)
        rows, rank = self.join.rows_and_ranks(name, self.ranks)
        return frame.take(rows).reset_index(drop=True), np.where(rank >= 0, np.searchsorted(self.ranks, rank), -1)

    def people(self) -> pd.DataFrame:
        """The chosen subscribers' rows of `subscribers`, in rank order."""
        return self.snapshot.tables["subscribers"].take(self.join.row_of_rank[self.ranks]).reset_index(drop=True)


def _usage_rows(usage: pd.DataFrame, person: np.ndarray, as_of: date, months: int) -> dict[str, np.ndarray]:
    """Integer codes of the usage rows inside M0..M<months>: subscriber, service, month k."""
    month = positions(usage["month"], month_labels(as_of, months))
    window = month >= 0
    return {"window": window, "month": month[window], "person": person[window],
            "service": service_codes(usage["service"])[window]}


def _usage_by_month(usage: pd.DataFrame, rows: dict, fact_person: np.ndarray, fact_service: np.ndarray,
                    months: int = MONTHS_BACK) -> dict[str, np.ndarray]:
    """Per fact, uses / traffic_mb / paid_amount in M0..M<months>.

    Returns `{"uses": int64[n, months + 1], "traffic_mb": float[n, months + 1],
    "paid_amount": float[n, months + 1]}`; column k is Mk. No usage row = 0.
    """
    width = months + 1
    n = len(fact_person)
    fact_key = fact_person.astype(np.int64) * _N_SERVICES + fact_service
    row = pd.Index(fact_key).get_indexer(rows["person"] * _N_SERVICES + rows["service"])
    hit = (row >= 0) & (rows["month"] < width)
    cell = row[hit] * width + rows["month"][hit]
    out = {}
    for name in ("uses", "traffic_mb", "paid_amount"):
        weights = usage[name].to_numpy()[rows["window"]][hit].astype(float)
        out[name] = np.bincount(cell, weights=weights, minlength=n * width).reshape(n, width)
    out["uses"] = out["uses"].round().astype(np.int64)
    return out


def _months_silent(uses: np.ndarray, ordered_on: pd.Series, as_of: date) -> np.ndarray:
    month_no = ordered_on.to_numpy(dtype="datetime64[s]").astype("datetime64[M]").astype(np.int64)
    months_since_order = np.datetime64(as_of, "M").astype(np.int64) - month_no  # 0 = ordered in M0
    k = np.arange(1, uses.shape[1])
    silent = (uses[:, 1:] == 0) & (k[None, :] <= months_since_order[:, None])
    return np.cumprod(silent, axis=1).sum(axis=1).astype(np.int64)


def contract_months_left(contract_end, as_of: date) -> np.ndarray:
    """Whole calendar months from as_of to contract_end, floored by the day (2026-11-15 →
    2027-02-14 is 2, → 2027-02-15 is 3, → 2026-11-30 is 0); NaN without a contract or when it
    ended before as_of. The one definition: the fact field and the models' features use it."""
    end = pd.DatetimeIndex(pd.to_datetime(contract_end))
    months = (end.year - as_of.year) * 12 + (end.month - as_of.month) - (end.day < as_of.day)
    out = np.asarray(months, dtype=float)
    out[np.asarray(end.isna()) | np.asarray(end < pd.Timestamp(as_of))] = np.nan
    return out


def _normalise_tags(values: pd.Series) -> np.ndarray:
    """'b|a|b' -> 'a|b', computed once per distinct value."""
    codes, uniques = pd.factorize(values.fillna(""), sort=False)
    clean = np.array(["|".join(sorted({t.strip() for t in u.split("|")} - {""})) for u in uniques] + [""],
                     dtype=object)
    return clean[codes]


def _per_subscriber(part: _Part, as_of: date) -> pd.DataFrame:
    """Events and lists per chosen subscriber, in rank order."""
    n = part.n
    stamp = pd.Timestamp(as_of)

    changes, who = part.table("handset_changes")
    keep = (changes["changed_on"] <= stamp).to_numpy()
    changes, who = changes[keep], who[keep]
    order = np.argsort(changes["changed_on"].to_numpy(), kind="stable")
    who = who[order]
    last = np.flatnonzero(~pd.Series(who).duplicated(keep="last").to_numpy())  # the latest change per subscriber
    latest = changes.iloc[order[last]]
    at = who[last]
    changed_days = np.full(n, np.nan)
    changed_days[at] = _days(as_of, latest["changed_on"])
    old, new = _objects(latest["old_os"]), _objects(latest["new_os"])
    os_changed = np.zeros(n, dtype=bool)
    os_changed[at] = old != new
    to_smart = np.zeros(n, dtype=bool)
    to_smart[at] = (old == "feature") & (new != "feature")

    lists, who = part.table("lists")
    keep = (lists["since"] <= stamp).to_numpy()
    lists, who = lists[keep], who[keep]
    bits = np.zeros(n, dtype=np.int64)
    code = positions(lists["list"], LIST_VALUES)
    for i in range(len(LIST_VALUES)):  # a handful of list names, each one vectorised pass
        bits[who[code == i]] |= 1 << i
    names = sorted(LIST_VALUES)
    words = np.array(["|".join(n_ for n_ in names if m & (1 << LIST_VALUES.index(n_)))
                      for m in range(1 << len(LIST_VALUES))], dtype=object)

    contacts, who = part.table("contact_history")
    days = _days(as_of, contacts["contacted_on"])
    past = days >= 0
    who = who[past]
    known = who >= 0
    since = np.full(n, np.inf)
    np.minimum.at(since, who[known], days[past][known])
    since[np.isinf(since)] = np.nan
    recent = days[past][known] < 30
    contacts_30d = np.bincount(who[known][recent], minlength=n).astype(np.int64)

    return pd.DataFrame({  # no string columns but on_list, kept object below
        "handset_changed_days": changed_days, "os_changed": os_changed, "to_smartphone": to_smart,
        "on_list": pd.Series(words[bits], dtype=object), "days_since_contact": since, "contacts_30d": contacts_30d,
    })


def subscriber_partitions(snapshot: Snapshot, parts: int) -> list[slice]:
    """`parts` contiguous ranges of the msisdn-sorted subscribers, for `build_facts(subscribers=…)`."""
    return subscriber_slices(join_index(snapshot).size, parts)


def build_facts(snapshot: Snapshot, as_of: date, data_services=None, subscribers=None) -> pd.DataFrame:
    """One row per active subscription: `msisdn` + the usage, subscription, subscriber and
    events-and-lists fields of the catalogue (definitions in the module docstring).

    `data_services`: the service ids the catalogue flags `data_service` (default: the shipped
    catalogue's, engine.facts.derived.DEFAULT_DATA_SERVICES).

    `subscribers`: build the facts of some subscribers only — a slice of the msisdn-sorted
    subscribers (`subscriber_partitions`) or an array of their ranks in that order. Only their
    rows of every table are read (engine.facts.keys.JoinIndex.rows); the facts of the whole
    base are exactly the union of any partition's facts (each partition's rows keep the order
    of `subscriptions`). None (the default) builds the whole base."""
    part = _Part(snapshot, subscribers)
    subs, sub_person = part.table("subscriptions")
    active = (subs["status"] == "active").to_numpy()
    subs, pos = subs[active].reset_index(drop=True), sub_person[active]
    person = part.people().take(pos).reset_index(drop=True)
    usage_table, usage_person = part.table("usage_monthly")
    rows = _usage_rows(usage_table, usage_person, as_of, MONTHS_BACK)
    service = service_codes(subs["service"])
    usage = _usage_by_month(usage_table, rows, pos, service)
    uses, recent = usage["uses"], slice(1, 4)

    arpu, before = person["arpu"].to_numpy(), person["arpu_6m_ago"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        trend = np.where(before == 0, np.nan, arpu / np.where(before == 0, 1, before))
    manager = person["account_manager"]
    events = _per_subscriber(part, as_of).take(pos).reset_index(drop=True)
    spenders = derived.data_spenders(usage_table["paid_amount"].to_numpy()[rows["window"]],
                                     usage_table["traffic_mb"].to_numpy()[rows["window"]], rows["month"],
                                     rows["service"], rows["person"], part.n, data_services)

    columns = {
        "msisdn": _objects(subs["msisdn"]),
        "uses_m0": uses[:, 0], "uses_m1": uses[:, 1], "uses_m2": uses[:, 2], "uses_m3": uses[:, 3],
        "months_silent": _months_silent(uses, subs["ordered_on"], as_of),
        "used_in_3m": uses[:, recent].sum(axis=1) > 0,
        "traffic_mb_3m": usage["traffic_mb"][:, recent].sum(axis=1),
        "paid_3m": usage["paid_amount"][:, recent].sum(axis=1),
        "has_data_spend": spenders[pos],
        "service": _objects(subs["service"]), "billing": _objects(subs["billing"]),
        "bundled": subs["bundled"].to_numpy(dtype=bool),
        "tenure_days": _days(as_of, person["join_date"]).astype(np.int64),
        "ordered_days": _days(as_of, subs["ordered_on"]).astype(np.int64),
        "city": _objects(person["city"]), "brand": _objects(person["brand"]), "plan": _objects(person["plan"]),
        "arpu": arpu, "arpu_trend": trend,
        "contract_months_left": contract_months_left(person["contract_end"], as_of),
        "device_os": _objects(person["device_os"]),
        "account_manager": (manager.notna() & (manager.fillna("") != "")).to_numpy(),
        "preferences": _normalise_tags(person["preferences"]),
        **circle_fields(person),  # the optional calling-circle columns (NaN without them)
        **indicator_fields(person),  # on-net share, suspensions, arrears, payments, brand (missing without them)
        **{name: events[name].to_numpy() for name in events.columns},
    }
    columns["fee_share"] = derived.fee_share(columns["paid_3m"], arpu)
    columns["causes"] = derived.causes(columns["bundled"], columns["on_list"], columns["handset_changed_days"],
                                       columns["os_changed"])
    # Series one by one keep string columns as object dtype (no conversion to Arrow strings).
    frame = pd.DataFrame(index=pd.RangeIndex(len(subs)))
    for name in FACT_COLUMNS:
        values = columns[name]
        frame[name] = pd.Series(values, dtype=object if values.dtype == object else None, copy=False)
    return frame


def column_values(name: str, series: pd.Series) -> tuple[list, np.ndarray | None]:
    """Python values of one column and the mask of missing cells (None when nothing is missing)."""
    field = FIELDS.get(name)
    values = series.to_numpy()
    if field is not None and field.type == SET:
        codes, uniques = pd.factorize(series.fillna(""))
        split = [[t for t in u.split("|") if t] for u in uniques]
        # Records with the same set share one list object: building millions of copies costs
        # seconds, and records are read-only input for the rule engine.
        return [split[c] for c in codes.tolist()], None
    missing = pd.isna(series).to_numpy()
    if values.dtype.kind == "f" and field is not None and field.type == INT:
        values = np.where(missing, 0, values).astype(np.int64)
    return values.tolist(), (missing if missing.any() else None)


def fact_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as the plain dicts rules see: SET fields as sorted lists, missing values dropped,
    Python scalars, and `propensity.<s>` / `uplift.<s>` columns nested as `{"propensity": {s: p}}`
    and `{"uplift": {s: u}}` (the response model's outputs, engine/scoring/response.py).

    Treat the records as read-only: equal SET values share one list object.
    """
    plain = [c for c in frame.columns if not str(c).startswith(NESTED_PREFIXES)]
    columns, gaps = [], []
    for name in plain:
        values, missing = column_values(name, frame[name])
        columns.append(values)
        if missing is not None:
            gaps.append((name, np.flatnonzero(missing)))
    # Millions of small dicts would trigger the cyclic garbage collector over and over (it
    # halves the speed); they hold no cycles, so collection is paused while they are built.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if plain:
            records = list(map(dict, map(zip, repeat(plain), zip(*columns))))
        else:
            records = [{} for _ in range(len(frame))]
    finally:
        if was_enabled:
            gc.enable()
    for name, rows in gaps:  # only the missing cells are touched
        for i in rows.tolist():
            del records[i][name]
    for prefix in NESTED_PREFIXES:
        per_strategy = [c for c in frame.columns if str(c).startswith(prefix)]
        if not per_strategy:
            continue
        values = {c[len(prefix):]: frame[c].to_numpy(dtype=float) for c in per_strategy}
        for i, record in enumerate(records):
            nested = {s: float(v[i]) for s, v in values.items() if not np.isnan(v[i])}
            if nested:
                record[prefix[:-1]] = nested
    return records
