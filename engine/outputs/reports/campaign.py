"""Campaign evaluation 营销评估 (`rekindle report campaign`, docs/LOOP.md §3): treated vs control.

`campaign_report(run | date_from..date_to, db_url)` reads the stored `treat` and `held_out`
decisions of the chosen runs and the loaded feedback (`feedback_event`) and returns one row per
pack, strategy and channel — and per holdout period and pack version, see "pooling" — with:

- treated arm: `treated` (targeted), `delivered`, `responded`, `converted`, revenue, and the
  rates `response_rate` / `conversion_rate` per targeted subscriber (intention to treat: a
  failed delivery stays in the denominator, as it does in the control);
- control arm: the pack's own holdout (`held_out`, reason `holdout`) — drawn by the same rule
  (hash of msisdn, pack, period) from the same candidates before arbitration — with
  `control`, `control_responded`, `control_converted` and their rates;
- `uplift` = response_rate − control_response_rate with its 95% confidence interval
  `uplift_low`..`uplift_high` by **Newcombe's hybrid score method** (method 10 of Newcombe
  1998: Wilson intervals of each rate, combined); it keeps sensible bounds with the small,
  often zero-count controls a 5% holdout gives, where the Wald interval collapses to a point.
  The same for conversion (`conversion_uplift…`);
- `incremental_conversions` = conversion uplift × treated, `incremental_revenue` = (revenue
  per treated − revenue per control) × treated, `cost` = treated × the strategy's `cost`,
  `roi` = (incremental_revenue − cost) / cost;
- `success_rate` = converted / treated, the operator's dispatch marketing success rate
  派单营销成功率, against the **20% target** (`meets_target`);
- retention: `churn_treated` / `churn_control`, the churn rate of the two arms in the run's
  `churn_labels` when they are observed after the run (empty otherwise).

A programme row (pack `ALL`) compares every treated decision with the **universal** control
group (`universal_holdout`): the whole programme's effect, including how packs interact.

What the design can and cannot show. A pack's holdout measures *that pack's* treatment against
no treatment, among the subscribers the pack selected — not the effect on subscribers it did
not select, nor a comparison of two strategies (for that, strategies must be randomised
against each other: an A/B test). The control is drawn before arbitration, the treated are the
candidates that won it, so treated subscribers who lost on priority, caps or capacity are
missing from the treated arm; and a control's strategy is the pack's first choice, while a
treated subscriber may have got a fallback. The universal holdout measures the programme.

Pooling. Rows are never pooled across holdout periods (the group is redrawn each month) nor
across pack versions (a changed pack selects different people): such rows stay separate and
`note` says so. Within one period a subscriber held out (or treated) on several nights counts
once, responding if they responded after any of those nights.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.night.holdout import period_of
from engine.store.database import get_engine
from engine.store.read import resolve_run

Z95 = 1.959963984540054
SUCCESS_TARGET = 0.20  # the operator's dispatch marketing success target (PLAYBOOKS.md §8)
SMALL_CONTROL = 30  # fewer control units than this: the interval is wide, flagged
ALL = "ALL"
NO_RUNS = "RN201"
KEY = ["pack", "strategy", "channel", "period", "pack_version"]
COLUMNS = (
    "pack", "strategy", "channel", "period", "pack_version", "runs",
    "treated", "delivered", "responded", "converted", "delivery_rate", "response_rate", "conversion_rate",
    "control", "control_responded", "control_converted", "control_response_rate", "control_conversion_rate",
    "uplift", "uplift_low", "uplift_high", "conversion_uplift", "conversion_uplift_low", "conversion_uplift_high",
    "incremental_conversions", "revenue", "incremental_revenue", "cost", "roi",
    "success_rate", "meets_target", "churn_treated", "churn_control", "note",
)


@dataclass
class CampaignReport:
    rows: pd.DataFrame  # COLUMNS, one row per KEY (and the programme rows)
    runs: list[str]
    notes: list[str] = field(default_factory=list)


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaN, NaN without observations)."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(x1: float, n1: float, x2: float, n2: float, z: float = Z95) -> tuple[float, float, float]:
    """(p1 − p2, low, high): Newcombe's hybrid score interval for a difference of proportions."""
    if n1 <= 0 or n2 <= 0:
        return math.nan, math.nan, math.nan
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def _runs(conn, run: str | None, date_from: date | None, date_to: date | None, db_url) -> dict[str, dict]:
    """Run id → {as_of, content_hashes, data_dir}: one run, or the latest per as-of in a window."""
    import json

    if date_from is None and date_to is None:
        info = resolve_run(run, db_url)
        return {info.id: {"as_of": info.as_of, "hashes": info.content_hashes, "data_dir": info.data_dir}}
    lo = (date_from or date.min).isoformat()
    hi = (date_to or date.max).isoformat()
    rows = conn.execute(text(
        "SELECT r.id, r.as_of, r.content_hashes, r.data_dir FROM run r WHERE r.status = 'succeeded' "
        "AND r.as_of >= :lo AND r.as_of <= :hi AND r.id = (SELECT r2.id FROM run r2 WHERE r2.status = 'succeeded' "
        "AND r2.as_of = r.as_of ORDER BY r2.started_at DESC, r2.id DESC LIMIT 1) ORDER BY r.as_of"),
        {"lo": lo, "hi": hi}).all()
    if not rows:
        raise DiagnosticError([Diagnostic(NO_RUNS, f"no succeeded run with an as-of date in {lo}..{hi}",
                                          hint="check --from/--to, or pass --run ID")])
    return {r.id: {"as_of": str(r.as_of), "hashes": json.loads(r.content_hashes or "{}"), "data_dir": r.data_dir}
            for r in rows}


def _units(conn, runs: dict[str, dict]) -> pd.DataFrame:
    """Treated and held-out decisions with their feedback flags, one row per decision."""
    frames = []
    for run_id, info in runs.items():
        rows = conn.execute(text("SELECT run_id, seq, msisdn, service, pack, decision, reason, strategy, channel "
                                 "FROM decision WHERE run_id = :r AND decision IN ('treat', 'held_out')"),
                            {"r": run_id}).all()
        frame = pd.DataFrame(rows, columns=["run_id", "seq", "msisdn", "service", "pack", "decision", "reason",
                                            "strategy", "channel"])
        frame["period"] = period_of(date.fromisoformat(info["as_of"]))
        frame["pack_version"] = frame["pack"].map(lambda p: (info["hashes"].get(f"pack/{p}") or "")[:12])
        events = pd.DataFrame(conn.execute(text("SELECT seq, event, revenue FROM feedback_event WHERE run_id = :r"),
                                           {"r": run_id}).all(), columns=["seq", "event", "revenue"])
        flags = pd.crosstab(events["seq"], events["event"]).gt(0) if len(events) else pd.DataFrame()
        for name in ("delivered", "failed", "responded", "converted", "opted_out"):
            column = flags[name] if name in flags.columns else pd.Series(dtype=bool)
            frame[name] = frame["seq"].map(column).eq(True).to_numpy(dtype=bool)
        money = events.groupby("seq")["revenue"].sum(min_count=1) if len(events) else pd.Series(dtype=float)
        frame["revenue_sum"] = frame["seq"].map(money).fillna(0.0).astype(float)
        frames.append(frame)
    units = pd.concat(frames, ignore_index=True)
    units["arm"] = np.where(units["decision"] == "treat", "treated",
                            np.where(units["reason"] == "universal_holdout", "universal", "control"))
    # One unit per subscriber fact and arm within a period and pack version (nights repeat the holdout).
    unit_key = KEY + ["arm", "msisdn", "service"]
    nights = units.groupby(KEY, dropna=False)["run_id"].nunique().rename("nights")
    agg = { "delivered": "max", "failed": "max", "responded": "max", "converted": "max",
           "opted_out": "max", "revenue_sum": "sum"}
    out = units.groupby(unit_key, sort=True, dropna=False).agg(agg).reset_index()
    return out.join(nights, on=KEY)


def _costs(strategies_dir: Path, names) -> dict[str, float]:
    from engine.base.yamlfile import load_yaml

    out = {}
    for name in names:
        path = Path(strategies_dir) / f"{name}.yaml"
        try:
            out[name] = float((load_yaml(path).data or {}).get("cost") or 0.0)
        except Exception:  # a strategy removed since the run: cost unknown, reported as 0 with a note
            out[name] = math.nan
    return out


def _churn(runs: dict[str, dict]) -> pd.Series:
    """msisdn → churned, from the churn_labels of the runs' snapshots observed after the run."""
    from engine.snapshot.loader import load_snapshot

    frames = []
    for info in runs.values():
        folder = Path(info["data_dir"] or "")
        if not (folder / "churn_labels.csv").exists() and not (folder / "churn_labels.parquet").exists():
            continue
        try:
            labels = load_snapshot(folder, tables=["churn_labels"]).tables["churn_labels"]
        except DiagnosticError:
            continue
        after = labels["observed_on"] > pd.Timestamp(info["as_of"])
        frames.append(labels.loc[after, ["msisdn", "churned"]])
    if not frames:
        return pd.Series(dtype=bool)
    both = pd.concat(frames).drop_duplicates("msisdn", keep="last")
    return pd.Series(both["churned"].to_numpy(dtype=bool), index=both["msisdn"].to_numpy())


def _row(treated: pd.DataFrame, control: pd.DataFrame, cost_each: float, churn: pd.Series) -> dict:
    n1, n0 = len(treated), len(control)
    r1, r0 = int(treated["responded"].sum()), int(control["responded"].sum())
    c1, c0 = int(treated["converted"].sum()), int(control["converted"].sum())
    uplift, low, high = newcombe(r1, n1, r0, n0)
    cu, clow, chigh = newcombe(c1, n1, c0, n0)
    rev1 = float(treated["revenue_sum"].sum())
    rev0 = float(control["revenue_sum"].sum())
    incremental_revenue = (rev1 / n1 - rev0 / n0) * n1 if n1 and n0 else math.nan
    cost = n1 * cost_each
    churn_t = churn.reindex(treated["msisdn"].unique()).dropna()
    churn_c = churn.reindex(control["msisdn"].unique()).dropna()
    success = c1 / n1 if n1 else math.nan
    return {
        "treated": n1, "delivered": int(treated["delivered"].sum()), "responded": r1, "converted": c1,
        "delivery_rate": int(treated["delivered"].sum()) / n1 if n1 else math.nan,
        "response_rate": r1 / n1 if n1 else math.nan, "conversion_rate": c1 / n1 if n1 else math.nan,
        "control": n0, "control_responded": r0, "control_converted": c0,
        "control_response_rate": r0 / n0 if n0 else math.nan, "control_conversion_rate": c0 / n0 if n0 else math.nan,
        "uplift": uplift, "uplift_low": low, "uplift_high": high,
        "conversion_uplift": cu, "conversion_uplift_low": clow, "conversion_uplift_high": chigh,
        "incremental_conversions": cu * n1 if not math.isnan(cu) else math.nan,
        "revenue": rev1, "incremental_revenue": incremental_revenue, "cost": cost,
        "roi": (incremental_revenue - cost) / cost if cost and not math.isnan(incremental_revenue) else math.nan,
        "success_rate": success, "meets_target": bool(success >= SUCCESS_TARGET) if n1 else False,
        "churn_treated": float(churn_t.mean()) if len(churn_t) else math.nan,
        "churn_control": float(churn_c.mean()) if len(churn_c) else math.nan,
    }


def campaign_report(run: str | None = None, date_from: date | None = None, date_to: date | None = None,
                    db_url: str | None = None, strategies_dir: str | Path = "strategies") -> CampaignReport:
    """The campaign evaluation of one run (default: the latest) or of the runs in a window."""
    with get_engine(db_url).connect() as conn:
        runs = _runs(conn, run, date_from, date_to, db_url)
        units = _units(conn, runs)
    costs = _costs(Path(strategies_dir), sorted(set(units["strategy"])))
    churn = _churn(runs)
    rows = []
    treated_all = units[units["arm"] == "treated"]
    for key, group in units.groupby(KEY, sort=True):
        treated = group[group["arm"] == "treated"]
        control = group[group["arm"] == "control"]
        if not len(treated) and not len(control):
            continue
        cost_each = costs.get(key[1], math.nan)
        row = dict(zip(KEY, key), runs=int(group["nights"].max()),
                   **_row(treated, control, 0.0 if math.isnan(cost_each) else cost_each, churn))
        notes = []
        if not len(control):
            notes.append("no control: the pack has no holdout or none of its candidates fell in it")
        elif len(control) < SMALL_CONTROL:
            notes.append(f"small control ({len(control)} < {SMALL_CONTROL}): wide interval")
        if math.isnan(cost_each):
            notes.append("strategy file not found: cost unknown")
        row["note"] = "; ".join(notes)
        rows.append(row)
    report_notes = []
    frame = pd.DataFrame(rows)
    if len(frame):
        split = frame.groupby(["pack", "strategy", "channel"])[["period", "pack_version"]].nunique()
        for (pack, strategy, channel), counts in split.iterrows():
            if counts["period"] > 1 or counts["pack_version"] > 1:
                text_ = (f"{pack}/{strategy}/{channel} spans {counts['period']} holdout period(s) and "
                         f"{counts['pack_version']} pack version(s): kept as separate rows, not pooled")
                report_notes.append(text_)
                mask = (frame["pack"] == pack) & (frame["strategy"] == strategy) & (frame["channel"] == channel)
                frame.loc[mask, "note"] = frame.loc[mask, "note"].map(lambda n: "; ".join(x for x in (n, "not pooled: "
                                                                      "other period or pack version") if x))
    # the programme: everything treated against the universal control group, per period
    universal = units[units["arm"] == "universal"]
    for period in sorted(set(units["period"])):
        t = treated_all[treated_all["period"] == period].drop_duplicates(["msisdn", "service", "pack"])
        c = universal[universal["period"] == period].drop_duplicates(["msisdn", "service"])
        cost = float(sum(costs.get(s, 0.0) if not math.isnan(costs.get(s, 0.0)) else 0.0 for s in t["strategy"]))
        row = dict(pack=ALL, strategy=ALL, channel=ALL, period=period, pack_version="",
                   runs=int(units.loc[units["period"] == period, "nights"].max()),
                   **_row(t, c, 0.0, churn))
        row["cost"] = cost
        row["roi"] = (row["incremental_revenue"] - cost) / cost if cost and not math.isnan(row["incremental_revenue"]) else math.nan
        row["note"] = "programme vs the universal control group 全局对照组" + (
            "" if len(c) >= SMALL_CONTROL else f"; small control ({len(c)} < {SMALL_CONTROL}): wide interval")
        frame = pd.concat([frame, pd.DataFrame([row])], ignore_index=True)
    frame = frame.reindex(columns=list(COLUMNS))
    return CampaignReport(rows=frame, runs=sorted(runs), notes=report_notes)


def fingerprint(report: CampaignReport) -> str:
    """sha256 of the CSV form (tests and the demo compare reports by it)."""
    return hashlib.sha256(to_csv(report).encode()).hexdigest()


def to_csv(report: CampaignReport) -> str:
    """The report as CSV: COLUMNS, rates and intervals to 6 decimals, money to 2."""
    frame = report.rows.copy()
    for name in frame.columns:
        if frame[name].dtype.kind == "f":
            digits = 2 if name in ("revenue", "incremental_revenue", "cost", "incremental_conversions") else 6
            frame[name] = frame[name].round(digits)
    return frame.to_csv(index=False, lineterminator="\n")
