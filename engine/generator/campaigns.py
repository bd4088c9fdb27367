"""Response truth 响应概率 and the contact history 接触历史 of past campaigns.

The truth gives, per active subscription, the chance the subscriber re-activates without
contact and when contacted by each channel (uplift on top of the no-contact chance), plus
per subscriber the chance of accepting a retention offer. Past campaigns (M6..M0) contacted a
sample of each playbook's audience; responses and conversions are drawn from that truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from engine.snapshot.contract import CHANNEL_VALUES
from engine.generator import catalogue as cat
from engine.generator.population import Population
from engine.generator.subscriptions import Subscriptions
from engine.generator.writer import coded

B = cat.BH
CHANNELS = CHANNEL_VALUES  # sms, mms, wap_push, outbound_call, account_manager
# pack -> [(strategy, channel)] (the team's fixed strategy ids)
STRATEGIES = {
    "long_term_silent": [("lts_sms_usage_tips", "sms"), ("lts_mms_hot_content", "mms"), ("lts_am_coaching", "account_manager")],
    "short_term_silent": [("sts_wap_client_app", "wap_push"), ("sts_sms_client_app", "sms"), ("sts_mms_client_guide", "mms")],
    "monthly_low_use": [("mlu_wap_hot_content", "wap_push"), ("mlu_sms_usage_tips", "sms"), ("mlu_mms_hot_content", "mms")],
    "unpaid_low_use": [("ulu_am_contact", "account_manager"), ("ulu_wap_push_guide", "wap_push"), ("ulu_sms_guide", "sms"), ("ulu_mms_guide", "mms")],
    "paid_low_use": [("plu_sms_free_trial", "sms"), ("plu_call_monthly_upgrade", "outbound_call"), ("plu_wap_prize", "wap_push")],
    "retention": [("ret_call_plan_upgrade", "outbound_call"), ("ret_am_contract_offer", "account_manager"), ("ret_sms_family_plan", "sms"), ("ret_call_loyalty", "outbound_call")],
}
PACK_BEHAVIOUR = {
    "long_term_silent": "long_term_silent", "short_term_silent": "short_term_silent",
    "monthly_low_use": "monthly_low_use", "unpaid_low_use": "unpaid_low_use", "paid_low_use": "paid_low_use",
}
# Chance of re-activating with no contact, and the base response when contacted by SMS.
NO_CONTACT = np.array([0.30, 0.05, 0.01, 0.30, 0.04, 0.03, 0.03, 0.005, 0.15, 0.0])
BASE = np.array([0.02, 0.04, 0.03, 0.12, 0.06, 0.05, 0.05, 0.01, 0.05, 0.005])
CHANNEL_LIFT = np.array([0.0, 0.25, 0.35, 0.7, 1.3])  # logit lift by channel, order CHANNELS
CONTACT_SHARE = 0.07  # share of a playbook's audience contacted in one monthly wave
CONVERT = 0.4  # share of responders who convert (order the monthly plan / accept the offer)


@dataclass
class ResponseTruth:
    no_contact: np.ndarray  # per subscription
    by_channel: np.ndarray  # subscriptions × 5
    retention_by_channel: np.ndarray  # subscribers × 5 (accepting a retention offer)


def _logit(p):
    return np.log(p / (1.0 - p))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def response_truth(pop: Population, subs: Subscriptions, p_churn: np.ndarray, rng: np.random.Generator) -> ResponseTruth:
    sub, svc, bh = subs.sub, subs.service, subs.behaviour
    m = len(sub)
    smart = cat.SMARTPHONE[pop.os_now[sub]]
    # A service whose content matches the subscriber's tags 偏好 responds better to hot content.
    svc_tags = np.zeros(len(cat.SERVICES), dtype=np.int32)
    for name, tags in cat.CONTENT_TAGS.items():
        svc_tags[cat.SVC[name]] = sum(1 << cat.TAGS.index(t) for t in tags)
    match = (pop.preferences[sub] & svc_tags[svc]) != 0
    z = (_logit(BASE[bh]) + 0.6 * match + 0.5 * np.log(np.clip(pop.engagement[sub], 0.05, 5))
         + rng.normal(0.0, 0.3, m))
    lift = np.broadcast_to(CHANNEL_LIFT, (m, len(CHANNELS))).copy()
    lift[:, 2] = np.where(smart, lift[:, 2], -2.0)  # a WAP push is useless on an old handset
    sts = bh == B["short_term_silent"]
    lift[sts, 2] += 0.8  # the client-app link is the remedy
    lift[sts, 0] += 0.3
    p0 = NO_CONTACT[bh]
    by_channel = p0[:, None] + (1.0 - p0[:, None]) * _sigmoid(z[:, None] + lift)
    by_channel[~pop.account_manager[sub], 4] = 0.0  # no account manager, no such contact
    by_channel[bh == B["inactive"]] = 0.0

    zr = -3.0 + 2.0 * p_churn + rng.normal(0.0, 0.3, pop.n)
    ret_lift = np.array([0.0, 0.1, 0.1, 0.6, 1.3])
    retention = _sigmoid(zr[:, None] + ret_lift)
    retention[~pop.account_manager, 4] = 0.0
    return ResponseTruth(p0 * (bh != B["inactive"]), by_channel, retention)


def contact_history(pop: Population, subs: Subscriptions, month_start: np.ndarray, truth: ResponseTruth,
                    p_churn: np.ndarray, rng: np.random.Generator) -> pa.Table:
    """Monthly campaign waves over M6..M0 with responses drawn from the truth.

    Each wave contacts CONTACT_SHARE of each playbook's audience (by behaviour class; retention
    by churn risk), so some contacts fall within 30 days of the run date.
    """
    cols = {k: [] for k in ("sub", "service", "pack", "strategy", "channel", "day", "p")}
    strategy_names, packs = [], list(STRATEGIES)
    strategy_code = {}
    for pack, items in STRATEGIES.items():
        for s, _ in items:
            strategy_code[s] = len(strategy_names)
            strategy_names.append(s)
    lengths = np.append(np.diff(month_start), pop.as_of - month_start[-1])
    # Retention called the riskiest 15%, and the riskier half of the valuable (managed) ones 操心.
    risky = (p_churn >= np.quantile(p_churn, 0.85)) | (pop.account_manager & (p_churn >= np.quantile(p_churn, 0.5)))
    eligible_ret = np.nonzero(risky & (pop.tenure_days >= 180))[0]

    for pack in packs:
        if pack == "retention":
            who, service, probs = eligible_ret, np.full(len(eligible_ret), -1), truth.retention_by_channel[eligible_ret]
        else:
            rows = np.nonzero(subs.behaviour == B[PACK_BEHAVIOUR[pack]])[0]
            who, service, probs = subs.sub[rows], subs.service[rows].astype(int), truth.by_channel[rows]
        items = STRATEGIES[pack]
        codes = np.array([strategy_code[s] for s, _ in items])
        channel_of = np.array([CHANNELS.index(c) for _, c in items])
        am_only = channel_of == 4
        for w in range(len(month_start)):
            hit = np.nonzero(rng.random(len(who)) < CONTACT_SHARE)[0]
            if len(hit) == 0:
                continue
            # Account-manager strategies only where the subscriber has a manager, and then
            # half the time (the manager is the operator's first choice for managed subscribers).
            general = np.nonzero(~am_only)[0]
            pick = general[rng.integers(0, len(general), len(hit))]
            if am_only.any():
                by_manager = pop.account_manager[who[hit]] & (rng.random(len(hit)) < 0.5)
                pick = np.where(by_manager, np.nonzero(am_only)[0][0], pick)
            ch = channel_of[pick]
            day = month_start[w] + rng.integers(0, max(int(lengths[w]), 1), len(hit))
            cols["sub"].append(who[hit])
            cols["service"].append(service[hit])
            cols["pack"].append(np.full(len(hit), packs.index(pack)))
            cols["strategy"].append(codes[pick])
            cols["channel"].append(ch)
            cols["day"].append(day)
            cols["p"].append(probs[hit, ch])

    c = {k: np.concatenate(v) for k, v in cols.items()}
    n = len(c["sub"])
    order = np.lexsort((c["strategy"], c["service"], c["day"], c["sub"]))
    c = {k: v[order] for k, v in c.items()}
    responded = rng.random(n) < c["p"]
    converted = responded & (rng.random(n) < CONVERT)
    # The response window of the latest contacts is still open: often unknown.
    age = pop.as_of - c["day"]
    unknown = np.where(age <= 7, rng.random(n) < 0.7, rng.random(n) < 0.02)
    return pa.table({
        "msisdn": coded(c["sub"], pop.msisdn),
        "service": coded(c["service"], cat.SERVICES),
        "pack": coded(c["pack"], pa.array(packs)),
        "strategy": coded(c["strategy"], pa.array(strategy_names)),
        "channel": coded(c["channel"], pa.array(CHANNELS)),
        "contacted_on": pa.array(c["day"].astype(np.int32), pa.date32()),
        "responded": pa.array(responded, pa.bool_(), mask=unknown),
        "converted": pa.array(converted, pa.bool_(), mask=unknown),
    })
