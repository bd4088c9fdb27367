"""The night in plain SQL on DuckDB (issue 12's comparison): facts, segment, packs, holdouts, capacity fill.

What `benchmarks/plain_sql.py` times. It reads the same snapshot files as `rekindle run`
(NAME.csv or NAME.parquet) and the scores the engine computed (`engine_scores`: the model
scores are scikit-learn models — a decision tree, percentile ranks, quantile tiers — so they
are taken from the engine, not approximated), and decides in SQL with no traces, no audit, no
hash chain, no messages:

1. facts: one row per active subscription, the catalogue fields the packs read
   (engine/facts/build.py definitions: months M0..M12 from --as-of, `months_silent` bounded by
   the order month, `has_data_spend` over the catalogue's data services, lists and handset
   changes on or before --as-of, contacts, `fee_share` rounded to 6 decimals);
2. segment: the CASE of rules/segments.yaml (benchmarks/plain_sql_rules.py translates the YAML);
3. every pack: its outcome per in-scope fact (plain_sql_rules.pack_outcome_sql);
4. per fact the final outcome (policy exclusion, else the best-priority treat, else the
   best-priority pack), holdouts (sha256 of msisdn, pack / the universal salt and the as-of
   month, as engine/night/holdout.py), expected value = base_response × value × value_scale − cost;
5. arbitration with window functions: each subscriber's candidates ranked by (priority, −EV,
   service, strategy, pack); a subscriber's allowance is min(per_run, per_30_days −
   contacts_30d); its first candidate takes its channel; a limited channel (contact policy
   `capacities`) is filled best-first by row_number() over (priority, −EV, msisdn) — the
   documented tie-break; a candidate beyond the capacity falls back to its first matching treat
   entry on an unlimited channel, else it is lost (`lost_capacity`), and the subscriber's next
   candidate gets its chance on an unlimited channel (its first option's, or its fallback's).

Where this differs from the engine by construction (what the agreement report counts):
arbitration's sequential walk (engine/night/arbitrate.py) lets a candidate fall back onto a
second limited channel that still has seats, and gives a subscriber's next candidate a seat on a
limited channel when the first lost; this one-pass SQL does neither.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from plain_sql_rules import literal, pack_outcome_sql, segment_sql

TABLES = ("subscribers", "subscriptions", "usage_monthly", "handset_changes", "contact_history", "lists")
# Column types the CSV reader must not guess (msisdn looks like a number; empty text cells stay NULL).
_TYPES = {
    "subscribers": {"msisdn": "VARCHAR", "city": "VARCHAR", "brand": "VARCHAR", "plan": "VARCHAR", "join_date": "DATE",
                    "arpu": "DOUBLE", "arpu_6m_ago": "DOUBLE", "contract_end": "DATE", "device_os": "VARCHAR",
                    "account_manager": "VARCHAR", "preferences": "VARCHAR"},
    "subscriptions": {"msisdn": "VARCHAR", "service": "VARCHAR", "billing": "VARCHAR", "status": "VARCHAR",
                      "ordered_on": "DATE", "bundled": "BOOLEAN"},
    "usage_monthly": {"msisdn": "VARCHAR", "service": "VARCHAR", "month": "VARCHAR", "uses": "BIGINT",
                      "active_days": "BIGINT", "traffic_mb": "DOUBLE", "paid_amount": "DOUBLE"},
    "handset_changes": {"msisdn": "VARCHAR", "changed_on": "DATE", "old_os": "VARCHAR", "new_os": "VARCHAR"},
    "contact_history": {"msisdn": "VARCHAR", "service": "VARCHAR", "pack": "VARCHAR", "strategy": "VARCHAR",
                        "channel": "VARCHAR", "contacted_on": "DATE", "responded": "BOOLEAN", "converted": "BOOLEAN"},
    "lists": {"msisdn": "VARCHAR", "list": "VARCHAR", "since": "DATE"},
}
UNIVERSAL = "*universal*"  # engine/night/holdout.py's salt of the universal control group
CIRCLE = ("circle_size", "circle_size_6m_ago", "calls_monthly")


def _source(data: Path, table: str) -> str:
    parquet = data / f"{table}.parquet"
    if parquet.exists():
        return f"read_parquet({literal(str(parquet))})"
    types = ", ".join(f"{literal(c)}: {literal(t)}" for c, t in _TYPES[table].items())
    return f"read_csv({literal(str(data / (table + '.csv')))}, header=true, types={{{types}}})"


def _months(as_of: date, back: int = 12) -> str:
    """VALUES (label 'YYYY-MM', k) for M0..M<back>."""
    rows = []
    year, month = as_of.year, as_of.month
    for k in range(back + 1):
        rows.append(f"('{year:04d}-{month:02d}', {k})")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return "(VALUES " + ", ".join(rows) + ") AS months(label, k)"


def build_facts_sql(con, data: Path, as_of: date, data_services: list[str], scores: str) -> None:
    """Table `facts` (one row per active subscription, catalogue fields + scores + segment-ready)."""
    for table in TABLES:
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {_source(data, table)}")
    have = {row[0] for row in con.execute("DESCRIBE subscribers").fetchall()}
    circle = {c: (c if c in have else "NULL::DOUBLE") for c in CIRCLE}
    day = f"DATE '{as_of.isoformat()}'"
    data_list = ", ".join(literal(s) for s in data_services) or "NULL"
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE facts AS
    WITH u AS (
        SELECT um.msisdn, um.service, months.k, um.uses, um.traffic_mb, um.paid_amount
        FROM usage_monthly um JOIN {_months(as_of)} ON um.month = months.label),
    per_fact AS (
        SELECT msisdn, service,
               sum(uses) FILTER (WHERE k = 0) AS m0, sum(uses) FILTER (WHERE k = 1) AS m1,
               sum(uses) FILTER (WHERE k = 2) AS m2, sum(uses) FILTER (WHERE k = 3) AS m3,
               min(k) FILTER (WHERE k >= 1 AND uses > 0) AS first_used,
               sum(traffic_mb) FILTER (WHERE k BETWEEN 1 AND 3) AS traffic,
               sum(paid_amount) FILTER (WHERE k BETWEEN 1 AND 3) AS paid
        FROM u GROUP BY msisdn, service),
    spenders AS (
        SELECT DISTINCT msisdn FROM u WHERE k BETWEEN 1 AND 3
          AND ((paid_amount > 0 AND service IN ({data_list})) OR (service = 'gprs' AND traffic_mb > 0))),
    handset AS (
        SELECT msisdn, arg_max(changed_on, changed_on) AS changed_on, arg_max(old_os, changed_on) AS old_os,
               arg_max(new_os, changed_on) AS new_os
        FROM handset_changes WHERE changed_on <= {day} GROUP BY msisdn),
    listed AS (
        SELECT msisdn, list_sort(list(DISTINCT list)) AS on_list FROM lists WHERE since <= {day} GROUP BY msisdn),
    contacts AS (
        SELECT msisdn, min({day} - contacted_on) AS since,
               count(*) FILTER (WHERE {day} - contacted_on < 30) AS n30
        FROM contact_history WHERE contacted_on <= {day} GROUP BY msisdn)
    SELECT row_number() OVER (ORDER BY s.msisdn, s.service) AS fid,
           s.msisdn, s.service, s.billing, s.bundled,
           coalesce(f.m0, 0)::BIGINT AS uses_m0, coalesce(f.m1, 0)::BIGINT AS uses_m1,
           coalesce(f.m2, 0)::BIGINT AS uses_m2, coalesce(f.m3, 0)::BIGINT AS uses_m3,
           greatest(0, least(coalesce(f.first_used, 13) - 1, 12,
                    (year({day}) * 12 + month({day})) - (year(s.ordered_on) * 12 + month(s.ordered_on))))::BIGINT
               AS months_silent,
           coalesce(f.m1, 0) + coalesce(f.m2, 0) + coalesce(f.m3, 0) > 0 AS used_in_3m,
           coalesce(f.traffic, 0.0) AS traffic_mb_3m, coalesce(f.paid, 0.0) AS paid_3m,
           sp.msisdn IS NOT NULL AS has_data_spend,
           ({day} - p.join_date)::BIGINT AS tenure_days, ({day} - s.ordered_on)::BIGINT AS ordered_days,
           p.city, p.brand, p.plan, p.arpu,
           CASE WHEN p.arpu_6m_ago = 0 THEN NULL ELSE p.arpu / p.arpu_6m_ago END AS arpu_trend,
           CASE WHEN p.contract_end IS NULL OR p.contract_end < {day} THEN NULL
                ELSE (year(p.contract_end) - year({day})) * 12 + month(p.contract_end) - month({day})
                     - CASE WHEN day(p.contract_end) < day({day}) THEN 1 ELSE 0 END END AS contract_months_left,
           p.device_os, coalesce(p.account_manager, '') <> '' AS account_manager,
           CASE WHEN coalesce(p.preferences, '') = '' THEN []::VARCHAR[]
                ELSE list_sort(list_distinct(list_filter(list_transform(string_split(p.preferences, '|'),
                                                                         lambda t: trim(t)), lambda t: t <> ''))) END
               AS preferences,
           {circle['circle_size']}::DOUBLE AS circle_size,
           round(CASE WHEN {circle['circle_size_6m_ago']} > 0
                      THEN {circle['circle_size']} / {circle['circle_size_6m_ago']} END, 6) AS circle_trend,
           round(CASE WHEN {circle['circle_size']} > 0
                      THEN {circle['calls_monthly']} / {circle['circle_size']} END, 6) AS calls_per_contact,
           ({day} - h.changed_on)::BIGINT AS handset_changed_days,
           coalesce(h.old_os <> h.new_os, FALSE) AS os_changed,
           coalesce(h.old_os = 'feature' AND h.new_os <> 'feature', FALSE) AS to_smartphone,
           coalesce(l.on_list, []::VARCHAR[]) AS on_list,
           c.since::BIGINT AS days_since_contact, coalesce(c.n30, 0)::BIGINT AS contacts_30d,
           CASE WHEN p.arpu > 0 THEN round(coalesce(f.paid, 0.0) / 3.0 / p.arpu, 6) END AS fee_share,
           sc.sensitivity, sc.sensitivity_pct, sc.data_sensitive, sc.churn_risk, sc.stability, sc.value,
           sc.value_tier, sc.retention_group
    FROM subscriptions s
    JOIN subscribers p ON p.msisdn = s.msisdn
    LEFT JOIN per_fact f ON f.msisdn = s.msisdn AND f.service = s.service
    LEFT JOIN spenders sp ON sp.msisdn = s.msisdn
    LEFT JOIN handset h ON h.msisdn = s.msisdn
    LEFT JOIN listed l ON l.msisdn = s.msisdn
    LEFT JOIN contacts c ON c.msisdn = s.msisdn
    LEFT JOIN {scores} sc ON sc.msisdn = s.msisdn
    WHERE s.status = 'active'
    """)


def decide_sql(con, content: dict, as_of: date) -> None:
    """Tables `outcome` (fact × in-scope pack), `candidate` and `decision` (one row per fact in
    some pack's scope: pack, decision, reason, strategy, channel)."""
    packs, policy, strategies = content["packs"], content["policy"], content["strategies"]
    capacities = {ch: int(n) for ch, n in (policy.get("capacities") or {}).items()}
    caps = policy.get("caps") or {}
    per_run = caps.get("per_run")
    per_30 = caps.get("per_30_days")
    universal = float((policy.get("holdout") or {}).get("universal") or 0.0)
    scale = float(policy.get("value_scale") or 100.0)
    period = f"{as_of.year:04d}-{as_of.month:02d}"

    con.execute("ALTER TABLE facts ADD COLUMN segment VARCHAR")
    con.execute(f"UPDATE facts SET segment = {segment_sql(content['segments'])}")
    selects = [pack_outcome_sql(name, pack, policy, strategies, set(capacities)) for name, pack in sorted(packs.items())]
    con.execute("CREATE OR REPLACE TEMP TABLE outcome AS " + " UNION ALL ".join(selects))

    def fraction(msisdn: str, salt: str) -> str:  # engine/night/holdout.py: sha256's first 8 bytes / 2**64
        text = f"{msisdn} || chr(31) || {salt} || chr(31) || {literal(period)}"
        return f"(('0x' || substr(sha256({text}), 1, 16))::UBIGINT::DOUBLE / 18446744073709551616.0)"

    cost = "CASE " + " ".join(f"WHEN {literal(s)} THEN {float(d.get('cost') or 0.0)!r}"
                              for s, d in strategies.items()) + " ELSE 0.0 END"
    response = "CASE " + " ".join(f"WHEN {literal(s)} THEN {float(d.get('base_response') or 0.0)!r}"
                                  for s, d in strategies.items()) + " ELSE 0.0 END"
    holdouts = "CASE " + " ".join(f"WHEN {literal(n)} THEN {float(p.get('holdout') or 0.0)!r}"
                                  for n, p in packs.items()) + " ELSE 0.0 END"
    allowance = " , ".join(x for x in (str(per_run) if per_run is not None else "",
                                       f"greatest(0, {per_30} - f.contacts_30d)" if per_30 is not None else "") if x)
    allowance = f"least({allowance})" if allowance else "1000000"
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE candidate AS
    SELECT o.fid, f.msisdn, f.service, o.pack, o.priority, o.reason, o.strategy, o.channel,
           o.fallback_strategy, o.fallback_channel,
           round(({response.replace('CASE ', 'CASE o.strategy ', 1)}) * coalesce(f.value, 0.0) * {scale!r}
                 - ({cost.replace('CASE ', 'CASE o.strategy ', 1)}), 9) AS ev,
           {fraction('f.msisdn', literal(UNIVERSAL))} < {universal!r} AS universal,
           {allowance} AS allowance
    FROM outcome o JOIN facts f USING (fid) WHERE o.decision = 'treat'
    """)
    con.execute(f"""
    ALTER TABLE candidate ADD COLUMN held BOOLEAN;
    UPDATE candidate SET held = universal OR {fraction('msisdn', 'pack')}
                                            < ({holdouts.replace('CASE ', 'CASE pack ', 1)});
    """)
    limited = ", ".join(f"({literal(ch)}, {n})" for ch, n in capacities.items()) or "(NULL, 0)"
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE verdict AS
    WITH ranked AS (
        SELECT *, row_number() OVER (PARTITION BY msisdn ORDER BY priority, -ev, service, strategy, pack) AS r
        FROM candidate WHERE NOT held),
    serving AS (  -- a subscriber is served by its best candidate's (priority, -EV), then msisdn
        SELECT *, first_value(priority) OVER w AS s_priority, first_value(ev) OVER w AS s_ev
        FROM ranked WINDOW w AS (PARTITION BY msisdn ORDER BY r)),
    firsts AS (
        SELECT s.*, cap.n AS capacity,
               CASE WHEN cap.n IS NULL THEN NULL ELSE row_number() OVER (
                   PARTITION BY s.channel ORDER BY s_priority, -s_ev, msisdn) END AS seat
        FROM serving s LEFT JOIN (VALUES {limited}) AS cap(channel, n) ON cap.channel = s.channel
        WHERE r = 1 AND allowance >= 1),
    first_verdict AS (
        SELECT fid, pack, msisdn,
               CASE WHEN capacity IS NULL OR seat <= capacity THEN 'won'
                    WHEN fallback_strategy IS NOT NULL THEN 'won' ELSE 'lost_capacity' END AS outcome,
               CASE WHEN capacity IS NULL OR seat <= capacity THEN strategy ELSE fallback_strategy END AS strategy,
               CASE WHEN capacity IS NULL OR seat <= capacity THEN channel ELSE fallback_channel END AS channel
        FROM firsts),
    seconds AS (  -- the next candidate of a subscriber whose first lost its seat: its first option on an
                  -- unlimited channel (a limited one is taken as full), else its unlimited fallback
        SELECT s.fid, s.pack, s.msisdn,
               CASE WHEN NOT limited OR s.fallback_strategy IS NOT NULL THEN 'won' ELSE 'lost_capacity' END
                   AS outcome,
               CASE WHEN NOT limited THEN s.strategy ELSE s.fallback_strategy END AS strategy,
               CASE WHEN NOT limited THEN s.channel ELSE s.fallback_channel END AS channel
        FROM (SELECT *, channel IN (SELECT channel FROM (VALUES {limited}) AS cap(channel, n)
                                    WHERE channel IS NOT NULL) AS limited FROM serving) s
        JOIN first_verdict v ON v.msisdn = s.msisdn AND v.outcome = 'lost_capacity'
        WHERE s.r = 2)
    SELECT * FROM first_verdict UNION ALL SELECT * FROM seconds
    """)
    con.execute("""
    CREATE OR REPLACE TEMP TABLE decision AS
    WITH final AS (  -- the fact's outcome before holdout and arbitration (engine/rules/decide.final_outcome)
        SELECT fid, arg_min(struct_pack(pack, decision, reason),
                            (CASE WHEN decision = 'treat' THEN 0 ELSE 1 END, priority, pack)) AS o
        FROM outcome GROUP BY fid),
    won AS (
        SELECT v.fid, arg_min(struct_pack(pack := c.pack, reason := c.reason, strategy := v.strategy,
                                          channel := v.channel), (c.priority, -c.ev, c.strategy, c.pack)) AS w
        FROM verdict v JOIN candidate c ON c.fid = v.fid AND c.pack = v.pack WHERE v.outcome = 'won' GROUP BY v.fid),
    other AS (  -- the fact's best-ranked candidate that did not win: held out or lost (and why)
        SELECT c.fid, arg_min(struct_pack(pack := c.pack, held := c.held, universal := c.universal,
                                          strategy := c.strategy, channel := c.channel,
                                          lost := coalesce(v.outcome, CASE WHEN c.allowance < 1 THEN 'lost_cap'
                                                                           ELSE 'lost_priority' END)),
                              (c.priority, -c.ev, c.strategy, c.pack)) AS c
        FROM candidate c LEFT JOIN verdict v ON v.fid = c.fid AND v.pack = c.pack GROUP BY c.fid)
    SELECT f.fid, facts.msisdn, facts.service,
           coalesce(w.w.pack, other.c.pack, f.o.pack) AS pack,
           CASE WHEN w.fid IS NOT NULL THEN 'treat' WHEN other.fid IS NOT NULL AND other.c.held THEN 'held_out'
                WHEN other.fid IS NOT NULL THEN 'lost' ELSE f.o.decision END AS decision,
           CASE WHEN w.fid IS NOT NULL THEN w.w.reason
                WHEN other.fid IS NOT NULL AND other.c.held THEN
                     CASE WHEN other.c.universal THEN 'universal_holdout' ELSE 'holdout' END
                WHEN other.fid IS NOT NULL THEN other.c.lost ELSE f.o.reason END AS reason,
           CASE WHEN w.fid IS NOT NULL THEN w.w.strategy WHEN other.fid IS NOT NULL THEN other.c.strategy
                ELSE '' END AS strategy,
           CASE WHEN w.fid IS NOT NULL THEN w.w.channel WHEN other.fid IS NOT NULL THEN other.c.channel
                ELSE '' END AS channel
    FROM final f JOIN facts USING (fid) LEFT JOIN won w USING (fid) LEFT JOIN other USING (fid)
    ORDER BY facts.msisdn, facts.service
    """)


def plain_night(data: Path, as_of: date, content: dict, scores: Path, threads: int = 2,
                out: Path | None = None, memory_limit: str | None = None) -> dict:
    """Run the whole plain SQL night in a fresh in-memory DuckDB; counts per decision (and the
    decisions written to `out` as Parquet, sorted by msisdn, service)."""
    import tempfile

    import duckdb

    spill = tempfile.TemporaryDirectory(prefix="plainsql-")  # where DuckDB spills beyond memory_limit
    con = duckdb.connect(":memory:", config={"threads": threads, "temp_directory": spill.name,
                                             **({"memory_limit": memory_limit} if memory_limit else {})})
    try:
        build_facts_sql(con, data, as_of, content["data_services"], f"read_parquet({literal(str(scores))})")
        decide_sql(con, content, as_of)
        counts = dict(con.execute("SELECT decision, count(*) FROM decision GROUP BY 1 ORDER BY 1").fetchall())
        counts["facts"] = con.execute("SELECT count(*) FROM facts").fetchone()[0]
        if out is not None:  # a temp file renamed into place: never a half-written file
            part = out.with_name(out.name + ".part")
            con.execute(f"COPY (SELECT msisdn, service, pack, decision, reason, strategy, channel FROM decision "
                        f"ORDER BY msisdn, service) TO {literal(str(part))} (FORMAT parquet)")
            os.replace(part, out)
        return counts
    finally:
        con.close()
        spill.cleanup()
