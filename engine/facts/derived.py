"""Derived fact fields the operator's playbooks need (PLAYBOOKS.md §1, §3): who spends on data,
who is price-sensitive (资费敏感), and the causes (原因) of silence and low use.

One seam, called once by engine.facts.build.build_facts; everything is vectorised.

- `has_data_spend` (per subscriber): a `paid_amount` > 0 in M1..M3 on a **data service** (the
  catalogue's `data_service` flag, rules/services.yaml), or GPRS `traffic_mb` > 0 in M1..M3.
  SMS and ringtone fees are not data spend (their `data_service` is false). The night passes the
  catalogue's flags; without them (`rekindle facts` on a bare snapshot, unit tests) the shipped
  catalogue's set DEFAULT_DATA_SERVICES is used, which tests/content hold equal to the file.
- `fee_share` (per fact): the average monthly amount paid for this service in M1..M3 over the
  subscriber's ARPU (paid_3m / 3 / arpu); missing when arpu <= 0. The operator's 资费敏感: a
  per-use fee that weighs on a small bill is what a free trial or a monthly plan answers. The
  cut-off is a pack condition (rules/paid_low_use.yaml), so planners edit it there.
- `causes` (per fact, a set): the reasons the operator's model names for silence and low use,
  one or several per fact (empty when none applies):
  `bundle` 套餐捆绑 — the subscription came inside a plan bundle;
  `dual_sim` 双卡 — the subscriber is on the dual-SIM list;
  `card_farming` 渠道养卡 — the subscriber is on the card-farming list;
  `handset_change` 换机 — a handset change within CAUSE_WINDOW_DAYS before as_of;
  `os_change` 换系统 — that change also changed the operating system.
  They describe the fact, whatever its segment; the silent / low-use views and `explain` show
  them beside the segment, and the trace keeps them inside the fact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.facts.fields import CAUSES
from engine.snapshot.contract import SERVICE_IDS

# The shipped catalogue's data services: every service but SMS and ringtone (rules/services.yaml).
DEFAULT_DATA_SERVICES = frozenset(s for s in SERVICE_IDS if s not in ("sms", "ringtone"))
CAUSE_WINDOW_DAYS = 90  # a handset/OS change older than this no longer explains a drop


def data_spenders(paid: np.ndarray, traffic: np.ndarray, month: np.ndarray, service: np.ndarray,
                  person: np.ndarray, n_people: int, data_services=None) -> np.ndarray:
    """Per subscriber: paid for a data service, or had GPRS traffic, in M1..M3.

    Arrays are the usage rows inside the window: paid amount, traffic, month k, service code
    (position in SERVICE_IDS, -1 unknown) and subscriber position (-1 unknown).
    """
    chosen = DEFAULT_DATA_SERVICES if data_services is None else frozenset(data_services)
    is_data = np.array([s in chosen for s in SERVICE_IDS] + [False])  # index -1 → unknown, never data
    recent = (month >= 1) & (month <= 3)
    spend = recent & (((paid > 0) & is_data[service]) | ((service == SERVICE_IDS.index("gprs")) & (traffic > 0)))
    out = np.zeros(n_people, dtype=bool)
    who = person[spend]
    out[who[who >= 0]] = True
    return out


def fee_share(paid_3m: np.ndarray, arpu: np.ndarray) -> np.ndarray:
    """paid_3m / 3 / arpu, rounded to 6 decimals (so equal inputs compare equal); NaN when arpu <= 0."""
    arpu = np.asarray(arpu, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(arpu > 0, np.asarray(paid_3m, dtype=float) / 3.0 / np.where(arpu > 0, arpu, 1.0), np.nan)
    return np.round(share, 6)


def causes(bundled: np.ndarray, on_list: np.ndarray, handset_changed_days: np.ndarray,
           os_changed: np.ndarray) -> np.ndarray:
    """The `causes` set per fact as sorted '|'-joined strings (the frame's SET form)."""
    lists = np.asarray(on_list, dtype=object)
    dual, farm = _contains(lists, "dual_sim"), _contains(lists, "card_farming")
    days = np.asarray(handset_changed_days, dtype=float)
    recent = ~np.isnan(days) & (days <= CAUSE_WINDOW_DAYS)
    flags = {"bundle": np.asarray(bundled, dtype=bool), "dual_sim": dual, "card_farming": farm,
             "handset_change": recent, "os_change": recent & np.asarray(os_changed, dtype=bool)}
    names = sorted(CAUSES)
    bits = np.zeros(len(lists), dtype=np.int64)
    for i, name in enumerate(names):
        bits |= flags[name].astype(np.int64) << i
    words = np.array(["|".join(n for i, n in enumerate(names) if m & (1 << i)) for m in range(1 << len(names))],
                     dtype=object)
    return words[bits]


def _contains(values: np.ndarray, member: str) -> np.ndarray:
    """Membership of `member` in '|'-joined sets, computed once per distinct value."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object).fillna(""), sort=False)
    hit = np.array([member in str(u).split("|") for u in uniques] + [False], dtype=bool)
    return hit[codes]
