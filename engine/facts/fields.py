"""The field catalogue (SPEC §3): every field a rule condition may use, with its type and values.

The fact builder produces exactly these fields, the rule checker validates conditions against
them, and `rekindle rules fields` prints them for planners. Add a field here first.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.snapshot.contract import BILLING_VALUES, LIST_VALUES, OS_VALUES, SERVICE_IDS

# Causes of silence and low use 沉默/低使用原因 (PLAYBOOKS.md §1), computed by engine.facts.derived.
CAUSES = ("bundle", "dual_sim", "card_farming", "handset_change", "os_change")
CAUSE_NAMES_ZH = {"bundle": "套餐捆绑", "dual_sim": "双卡", "card_farming": "渠道养卡",
                  "handset_change": "换机", "os_change": "换系统"}

# Field types. Conditions are checked against them (e.g. `gte` needs int/float).
INT = "int"
FLOAT = "float"
BOOL = "bool"
STRING = "string"
ENUM = "enum"  # a string from `values`
SET = "set"  # a set of strings (a JSON list in facts); `contains` tests membership

NUMERIC = (INT, FLOAT)

SEGMENTS = ("silent_long", "silent_short", "low_monthly", "low_unpaid", "low_paid", "active", "new")
LEVELS = ("high", "mid", "low")
RETENTION_GROUPS = ("操心", "关心", "放心", "用心")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    doc: str
    values: tuple[str, ...] = ()  # allowed values for ENUM, known members for SET
    nullable: bool = False  # may be missing (None) in a fact
    group: str = ""


def _group(group: str, *fields: Field) -> list[Field]:
    return [Field(f.name, f.type, f.doc, f.values, f.nullable, group) for f in fields]


FIELDS: dict[str, Field] = {
    f.name: f
    for f in [
        *_group(
            "usage",
            Field("uses_m0", INT, "uses in M0, the month containing --as-of (partial month)"),
            Field("uses_m1", INT, "uses in M1, the month before M0"),
            Field("uses_m2", INT, "uses in M2"),
            Field("uses_m3", INT, "uses in M3"),
            Field("months_silent", INT, "consecutive complete months with 0 uses, counting back from M1, at most 12; months before the order do not count (沉默月数)"),
            Field("used_in_3m", BOOL, "any use in M1..M3"),
            Field("traffic_mb_3m", FLOAT, "traffic of this service in M1..M3, MB"),
            Field("paid_3m", FLOAT, "amount paid for this service in M1..M3"),
            Field("has_data_spend", BOOL, "subscriber paid for a data service (data_service: true in rules/services.yaml; not SMS or ringtone fees) or had GPRS traffic in M1..M3 (有数据业务付费或GPRS流量)"),
            Field("fee_share", FLOAT, "资费敏感 price sensitivity: average monthly amount paid for this service in M1..M3 over the subscriber's arpu (paid_3m / 3 / arpu, 6 decimals); missing if arpu <= 0. 0.05 = the service takes 5% of the bill", nullable=True),
        ),
        *_group(
            "subscription",
            Field("service", ENUM, "service id from rules/services.yaml", SERVICE_IDS),
            Field("billing", ENUM, "monthly 包月, per_use 按次, free 免费", BILLING_VALUES),
            Field("bundled", BOOL, "came inside a plan bundle (捆绑)"),
            Field("tenure_days", INT, "days since the subscriber joined"),
            Field("ordered_days", INT, "days since this service was ordered"),
        ),
        *_group(
            "subscriber",
            Field("city", STRING, "city (地市)"),
            Field("brand", STRING, "brand (品牌)"),
            Field("plan", STRING, "tariff plan (套餐)"),
            Field("arpu", FLOAT, "average monthly revenue, last 3 months"),
            Field("arpu_trend", FLOAT, "arpu / arpu_6m_ago (< 1 means falling); missing if arpu_6m_ago is 0", nullable=True),
            Field("contract_months_left", INT, "whole calendar months from --as-of to contract_end, floored by the day (as of 2026-11-15: ending 2027-02-14 is 2, 2027-02-15 is 3, 2026-11-30 is 0); missing if no contract or it ended before --as-of; the models use the same number", nullable=True),
            Field("device_os", ENUM, "handset operating system", OS_VALUES),
            Field("account_manager", BOOL, "the subscriber has an account manager (客户经理)"),
            Field("preferences", SET, "content preference tags"),
            # from the optional subscribers columns (engine.facts.circle); missing without them
            Field("circle_size", INT, "交往圈 calling circle: distinct numbers called or calling, last 3 months; missing if the snapshot has no circle_size", nullable=True),
            Field("circle_trend", FLOAT, "circle_size / circle_size_6m_ago (< 1: the circle is shrinking, a churn signal); missing without those columns or when the older count is 0", nullable=True),
            Field("calls_per_contact", FLOAT, "voice calls per month per circle member (calls_monthly / circle_size): how busy the circle is; missing without those columns", nullable=True),
            # the other optional stability indicators (engine.facts.indicators); missing without them
            Field("on_net_share", FLOAT, "本网通话占比 share of voice calls with numbers on this network, last 3 months, 0..1; missing if the snapshot has no on_net_share", nullable=True),
            Field("suspensions_6m", INT, "停机 times the line was suspended, last 6 months; missing if the snapshot has no suspensions_6m", nullable=True),
            Field("arrears_6m", INT, "欠费 months the bill was in arrears, last 6 months; missing if the snapshot has no arrears_6m", nullable=True),
            Field("payments_6m", INT, "缴费次数 payments (top-ups, bill payments), last 6 months; missing if the snapshot has no payments_6m", nullable=True),
            Field("handset_brand", STRING, "终端品牌 handset maker as the snapshot gives it (e.g. 苹果, 华为, 小米); missing if the snapshot has no handset_brand", nullable=True),
        ),
        *_group(
            "events and lists",
            Field("handset_changed_days", INT, "days since the last handset change on or before --as-of; missing if none", nullable=True),
            Field("os_changed", BOOL, "the last handset change on or before --as-of changed the OS"),
            Field("to_smartphone", BOOL, "the last handset change on or before --as-of went from a feature phone to a smartphone"),
            Field("on_list", SET, "lists the subscriber is on (since <= --as-of): dnd 免打扰, red 红名单, black 黑名单, dual_sim 双卡, card_farming 养卡", LIST_VALUES),
            Field("days_since_contact", INT, "days since the last campaign contact on any channel; missing if never", nullable=True),
            Field("contacts_30d", INT, "campaign contacts 0–29 days before --as-of"),
            Field("causes", SET, "沉默/低使用原因 causes, one or several: bundle 套餐捆绑 (came in a plan bundle), dual_sim 双卡 (dual-SIM list), card_farming 渠道养卡 (card-farming list), handset_change 换机 (handset changed in the last 90 days), os_change 换系统 (that change changed the OS)", CAUSES),
        ),
        *_group(
            "segment",
            Field("segment", ENUM, "segment from rules/segments.yaml (沉默/低使用 classes)", SEGMENTS),
            Field("reasons", SET, "reason names of every segmentation rule that matched"),
        ),
        *_group(
            "scores",
            Field("sensitivity", FLOAT, "data-service sensitivity 数据业务敏感度, 0..1"),
            Field("sensitivity_pct", FLOAT, "sensitivity percentile, 0..100, ties share one value (80 = top 20%)"),
            Field("data_sensitive", BOOL, "数据业务敏感客户: in the top share of sensitivity set by `sensitive_share` in rules/sensitivity.yaml (default top 20%) — the one threshold every playbook uses"),
            Field("churn_risk", FLOAT, "churn probability 离网概率, 0..1"),
            Field("stability", ENUM, "stability tier 稳定度", LEVELS),
            Field("value", FLOAT, "customer value 价值度, 0..1"),
            Field("value_tier", ENUM, "value tier", LEVELS),
            Field("retention_group", ENUM, "操心 valuable+unstable, 关心 less valuable+unstable, 放心 valuable+stable, 用心 less valuable+stable", RETENTION_GROUPS),
        ),
    ]
}

PROPENSITY_PREFIX = "propensity."  # `propensity.<strategy>`: 0..1, where a response model exists
# `uplift.<strategy>`: the response model's incremental response, what arbitration's EV uses; in
# the fact (and its trace) as a map, not a field rules may test (not in `lookup`)
UPLIFT_PREFIX = "uplift."
# The model scores merged into every fact, in catalogue order (engine.scoring.scoring computes them).
SCORE_COLUMNS = tuple(name for name, spec in FIELDS.items() if spec.group == "scores")


def lookup(name: str) -> Field | None:
    """The catalogue entry for a field name, including `propensity.<strategy>` fields."""
    if name in FIELDS:
        return FIELDS[name]
    if name.startswith(PROPENSITY_PREFIX) and len(name) > len(PROPENSITY_PREFIX):
        return Field(name, FLOAT, "response propensity for that strategy, 0..1", nullable=True, group="scores")
    return None


# Neutral defaults for fields a rule-test case does not give (SPEC §5): no uses, no lists,
# no contacts, mid scores.
NEUTRAL_DEFAULTS: dict[str, object] = {
    "uses_m0": 0, "uses_m1": 0, "uses_m2": 0, "uses_m3": 0,
    "months_silent": 0, "used_in_3m": False, "traffic_mb_3m": 0.0, "paid_3m": 0.0,
    "has_data_spend": False, "fee_share": 0.0, "causes": [],
    "service": "reading", "billing": "monthly", "bundled": False,
    "tenure_days": 730, "ordered_days": 365,
    "city": "", "brand": "", "plan": "", "arpu": 50.0, "arpu_trend": 1.0,
    "contract_months_left": None, "device_os": "android", "account_manager": False,
    "preferences": [], "circle_size": None, "circle_trend": None, "calls_per_contact": None,
    "on_net_share": None, "suspensions_6m": None, "arrears_6m": None, "payments_6m": None, "handset_brand": None,
    "handset_changed_days": None, "os_changed": False, "to_smartphone": False,
    "on_list": [], "days_since_contact": None, "contacts_30d": 0,
    "sensitivity": 0.5, "sensitivity_pct": 50.0, "data_sensitive": False, "churn_risk": 0.1, "stability": "mid",
    "value": 0.5, "value_tier": "mid", "retention_group": "放心",
}
