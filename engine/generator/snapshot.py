"""`generate`: draw a whole sample operator and write its snapshot (SPEC §2) plus the truth.

Order matters because each stage conditions the next: subscribers → handset changes →
subscriptions (behaviour classes) → usage → ARPU → churn → response truth → contact history.
Each stage has its own random stream spawned from the seed, so the output is a pure function
of (subscribers, seed, as_of).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.generator import catalogue as cat
from engine.generator.campaigns import CHANNELS, contact_history, response_truth
from engine.generator.churn import HORIZON_DAYS, churn_parts, churn_probability, draw_churn
from engine.generator.content import content_table
from engine.generator.feedback import uplift_truth
from engine.generator.events import handset_changes, handset_table, lists_table
from engine.generator.population import Population, build_population, preference_text
from engine.generator.revenue import revenue
from engine.generator.social import Social, build_social, social_columns, value_truth
from engine.generator.subscriptions import Subscriptions, build_subscriptions, subscriptions_table
from engine.generator.usage import build_usage, usage_table
from engine.generator.writer import FORMATS, check_contract, check_target, coded, staging, write_all

EPOCH = date(1970, 1, 1)
# New stages go at the end: each stage's stream is the seed's child at its position, so the
# streams of the earlier stages (and their tables) stay the same.
STAGES = ("population", "handsets", "subscriptions", "usage", "revenue", "churn", "response", "contacts", "lists", "content",
          "social")


def _subscribers_table(pop: Population, arpu: np.ndarray, arpu_then: np.ndarray, social: Social) -> pa.Table:
    return pa.table({
        "msisdn": pop.msisdn,
        "city": coded(pop.city, pa.array(cat.CITIES)),
        "brand": coded(pop.brand, pa.array(cat.BRANDS)),
        "plan": coded(pop.plan, pa.array(cat.PLAN_NAMES)),
        "join_date": pa.array((pop.as_of - pop.tenure_days).astype(np.int32), pa.date32()),
        "arpu": pa.array(arpu.astype(np.float64)),
        "arpu_6m_ago": pa.array(arpu_then.astype(np.float64)),
        "contract_end": pa.array(pop.contract_end, pa.date32(), mask=pop.contract_end < 0),
        "device_os": coded(pop.os_now, pa.array(cat.OS)),
        "account_manager": coded(np.where(pop.account_manager, pop.am_code, -1), pop.am_names),
        "preferences": preference_text(pop.preferences),
        **social_columns(social),  # the optional value × stability columns
    })


def _truth_tables(pop: Population, subs: Subscriptions, p_churn: np.ndarray, truth) -> dict[str, pa.Table]:
    """truth/churn.csv and truth/response.csv (never read by the engine)."""
    active = np.nonzero(subs.status == 0)[0]
    # One row per active subscription plus, first per subscriber, a retention row (service empty).
    behaviours = list(cat.BEHAVIOURS) + ["retention"]
    sub_idx = np.concatenate([subs.sub[active], np.arange(pop.n, dtype=np.int32)])
    svc_idx = np.concatenate([subs.service[active].astype(np.int32), np.full(pop.n, -1, np.int32)])
    bh_idx = np.concatenate([subs.behaviour[active].astype(np.int32), np.full(pop.n, len(cat.BEHAVIOURS), np.int32)])
    order = np.lexsort((svc_idx, sub_idx))
    def column(per_subscription: np.ndarray, per_subscriber: np.ndarray) -> pa.Array:
        # one column at a time: the whole probability matrix would double the peak memory
        return pa.array(np.round(np.concatenate([per_subscription[active], per_subscriber])[order], 4))

    response = {
        "msisdn": coded(sub_idx[order], pop.msisdn),
        "service": coded(svc_idx[order], cat.SERVICES),
        "behaviour": coded(bh_idx[order], behaviours),
        "p_respond_no_contact": column(truth.no_contact, np.zeros(pop.n)),
    }
    for k, ch in enumerate(CHANNELS):
        response[f"p_respond_{ch}"] = column(truth.by_channel[:, k], truth.retention_by_channel[:, k])
    return {
        "churn": pa.table({"msisdn": pop.msisdn, "p_churn": pa.array(np.round(p_churn, 4))}),
        "response": pa.table(response),
    }


def build_tables(subscribers: int, seed: int, as_of: date) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    """All snapshot tables (contract names → Arrow tables) and the truth tables, in memory."""
    if subscribers < 1:
        raise ValueError("subscribers must be at least 1")
    rngs = dict(zip(STAGES, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(STAGES)))))
    as_of_days = (as_of - EPOCH).days
    pop = build_population(subscribers, as_of_days, rngs["population"])
    events = handset_changes(pop, rngs["handsets"])
    subs = build_subscriptions(pop, events, rngs["subscriptions"])
    usage = build_usage(pop, subs, as_of, rngs["usage"])
    arpu, arpu_then = revenue(pop, subs, usage, rngs["revenue"])
    observed, hidden = churn_parts(pop, subs, usage, arpu, arpu_then, rngs["churn"])
    p_churn = churn_probability(observed + hidden)
    churned = draw_churn(p_churn, rngs["churn"])
    month_start = usage.month_start
    usage_rows = usage_table(pop, subs, usage)
    del usage  # the month matrices are the largest objects; free them before the rest is built
    truth = response_truth(pop, subs, p_churn, rngs["response"])
    social = build_social(pop, arpu, hidden, rngs["social"])

    tables = {
        "subscribers": _subscribers_table(pop, arpu, arpu_then, social),
        "subscriptions": subscriptions_table(pop, subs),
        "usage_monthly": usage_rows,
        "handset_changes": handset_table(pop, events),
        "contact_history": contact_history(pop, subs, month_start, truth, p_churn, rngs["contacts"]),
        "lists": lists_table(pop, rngs["lists"]),
        "churn_labels": pa.table({
            "msisdn": pop.msisdn,
            "churned": pa.array(churned, pa.bool_()),
            "observed_on": pa.array(np.full(pop.n, as_of_days + HORIZON_DAYS, np.int32), pa.date32()),
        }),
        "content": content_table(rngs["content"]),
    }
    for name, table in tables.items():
        check_contract(name, table)
    truth_tables = _truth_tables(pop, subs, p_churn, truth)
    truth_tables["value"] = value_truth(pop, social)
    return tables, truth_tables


def generate(out_dir: Path, subscribers: int, seed: int, as_of: date, fmt: str = "csv") -> dict[str, int]:
    """Generate a sample operator snapshot into `out_dir`; return table name → rows written.

    Writes every SPEC §2 table as NAME.csv (or NAME.parquet with fmt="parquet") and the
    latent truth as truth/churn.csv and truth/response.csv. Same arguments → identical bytes.
    The directory appears complete or not at all; an existing snapshot there is replaced.
    Raises DiagnosticError for a bad format, size or output directory.
    """
    problems = []
    if fmt not in FORMATS:
        problems.append(Diagnostic("DC102", f"unknown format '{fmt}'", path="--format", hint="use csv or parquet"))
    if subscribers < 1:
        problems.append(Diagnostic("DC103", f"--subscribers must be at least 1, got {subscribers}", path="--subscribers"))
    if problems:
        raise DiagnosticError(problems)
    check_target(Path(out_dir))  # fail before minutes of work, not after
    tables, truth = build_tables(subscribers, seed, as_of)
    truth["uplift"] = uplift_truth(truth["response"])  # the loop's latent true uplift (engine/generator/feedback.py)
    with staging(Path(out_dir)) as tmp:
        (tmp / "truth").mkdir()
        files = {tmp / f"{name}.{fmt}": t for name, t in tables.items()}
        files.update({tmp / "truth" / f"{name}.csv": t for name, t in truth.items()})
        write_all(files)
    return {name: t.num_rows for name, t in tables.items()}
