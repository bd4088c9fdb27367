"""The sample operator's channel systems: the feedback file 营销反馈 a run would get back.

`simulate_feedback(data_dir, run_id, out, db_url, seed)` (`rekindle data feedback`) reads the
run's `treat` and `held_out` decisions and the generator's latent truth
(`truth/response.csv`: per active subscription the chance to re-activate without contact,
`p_respond_no_contact`, and when contacted by each channel, `p_respond_<channel>`; rows with
an empty service are the subscriber's chance to accept a retention offer) and draws, per
decision:

- treated: `delivered` with the channel's DELIVERY rate, else `failed`; a delivered contact
  is `responded` with p_respond_<channel>, an undelivered one with p_respond_no_contact (the
  subscriber may come back anyway); a delivered non-responder opts out with OPT_OUT;
- held out: no delivery; `responded` with p_respond_no_contact — the control group behaves
  as if never contacted, which is what the holdout is for;
- a responder `converted` with CONVERT (revenue PRICE, RETENTION_PRICE for retention).

So the true intention-to-treat uplift of a decision is DELIVERY[channel] × (p_contact − p0)
(`unit_truth` returns it per decision; `truth/uplift.csv`, written by `rekindle data
generate`, averages it per behaviour class 行为分群 and channel). Draws use a random stream
seeded by (seed, the run's as-of date): the same night and seed give a byte-identical file. Events carry the
fixed feedback columns (docs/LOOP.md §2), sorted by msisdn, service and event.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import text

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.generator.campaigns import CHANNELS, CONVERT
from engine.store.database import get_engine
from engine.store.read import resolve_run

DELIVERY = {"sms": 0.97, "mms": 0.92, "wap_push": 0.88, "outbound_call": 0.75, "account_manager": 0.9}
OPT_OUT = 0.01
PRICE = 10.0  # yuan: a re-activated monthly service
RETENTION_PRICE = 30.0  # yuan: an accepted retention offer
EVENT_ORDER = ("delivered", "failed", "responded", "converted", "opted_out")
COLUMNS = ("msisdn", "run_id", "service", "channel", "event", "event_time", "revenue")


def _truth(data_dir: Path) -> pd.DataFrame:
    path = Path(data_dir) / "truth" / "response.csv"
    if not path.is_file():
        raise DiagnosticError([Diagnostic("DC210", f"no response truth at {path}", file=str(path),
                                          hint="use a folder written by `rekindle data generate`")])
    truth = pd.read_csv(path, dtype={"msisdn": str, "service": str}, keep_default_na=False)
    return truth


def unit_truth(data_dir: str | Path, run_id: str, db_url: str | None = None) -> pd.DataFrame:
    """The run's treated and held-out decisions with their latent truth, seq order.

    Columns: seq, msisdn, service, pack, strategy, channel, decision, reason, p0 (respond without
    contact), p1 (respond when the decision's channel is used, delivery included) and uplift = p1 − p0.
    """
    info = resolve_run(run_id, db_url)
    with get_engine(db_url).connect() as conn:
        rows = conn.execute(text("SELECT seq, msisdn, service, pack, strategy, channel, decision, reason FROM decision "
                                 "WHERE run_id = :r AND decision IN ('treat', 'held_out') ORDER BY seq"),
                            {"r": info.id}).all()
    units = pd.DataFrame(rows, columns=["seq", "msisdn", "service", "pack", "strategy", "channel", "decision", "reason"])
    truth = _truth(Path(data_dir))
    # retention is a subscriber-level offer: its truth rows have an empty service
    service = np.where(units["pack"] == "retention", "", units["service"].fillna(""))
    at = pd.MultiIndex.from_frame(truth[["msisdn", "service"]]).get_indexer(
        pd.MultiIndex.from_arrays([units["msisdn"], service]))
    found = at >= 0
    p0 = np.where(found, truth["p_respond_no_contact"].to_numpy()[np.where(found, at, 0)], 0.0)
    p_channel = np.zeros(len(units))
    for ch in CHANNELS:
        on = found & (units["channel"].to_numpy() == ch)
        p_channel[on] = truth[f"p_respond_{ch}"].to_numpy()[at[on]]
    delivery = units["channel"].map(DELIVERY).fillna(0.0).to_numpy()
    units["p0"] = p0
    units["p_contact"] = p_channel
    units["delivery"] = delivery
    units["p1"] = delivery * p_channel + (1 - delivery) * p0
    units["uplift"] = units["p1"] - units["p0"]
    return units


def simulate_feedback(data_dir: str | Path, run_id: str, out: str | Path, db_url: str | None = None,
                      seed: int = 0) -> dict[str, int]:
    """Write the feedback file of a run (module docstring); returns event name → count."""
    info = resolve_run(run_id, db_url)
    units = unit_truth(data_dir, info.id, db_url)
    # salted by the run's as-of, not its id (which has a random part): the same night simulated
    # again — a re-run, another test session — draws the same events
    salt = int(hashlib.sha256(info.as_of.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), salt]))
    n = len(units)
    treated = units["decision"].to_numpy() == "treat"
    delivered = treated & (rng.random(n) < units["delivery"].to_numpy())
    p = np.where(delivered, units["p_contact"].to_numpy(), units["p0"].to_numpy())
    responded = rng.random(n) < p
    converted = responded & (rng.random(n) < CONVERT)
    opted = delivered & ~responded & (rng.random(n) < OPT_OUT)
    day = rng.integers(1, 8, n)
    retention = units["pack"].to_numpy() == "retention"
    as_of = date.fromisoformat(info.as_of)
    when = np.array([(as_of + timedelta(days=int(d))).isoformat() for d in range(9)], dtype=object)

    frames = []
    for event, mask, revenue in (("delivered", delivered, None), ("failed", treated & ~delivered, None),
                                 ("responded", responded, None),
                                 ("converted", converted, np.where(retention, RETENTION_PRICE, PRICE)),
                                 ("opted_out", opted, None)):
        picked = units[mask]
        frames.append(pd.DataFrame({
            "msisdn": picked["msisdn"].to_numpy(), "run_id": info.id,
            "service": np.where(retention[mask], "", picked["service"].fillna("").to_numpy()),
            "channel": picked["channel"].to_numpy(), "event": event,
            "event_time": when[np.where(event in ("delivered", "failed"), 0, day[mask])]
            if len(picked) else np.array([], dtype=object),
            "revenue": revenue[mask] if revenue is not None else np.nan,
        }))
    events = pd.concat(frames, ignore_index=True)
    events["order"] = events["event"].map({e: i for i, e in enumerate(EVENT_ORDER)})
    events = events.sort_values(["msisdn", "service", "order"], kind="stable")[list(COLUMNS)]
    _write(events, Path(out))
    return {e: int((events["event"] == e).sum()) for e in EVENT_ORDER}


def _write(events: pd.DataFrame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp"
    if out.suffix.lower() == ".parquet":
        table = pa.Table.from_pandas(events, preserve_index=False)
        import pyarrow.parquet as pq

        pq.write_table(table, tmp)
    else:
        events.to_csv(tmp, index=False, float_format="%.2f", lineterminator="\n")
    os.replace(tmp, out)


def uplift_truth(response: pa.Table) -> pa.Table:
    """truth/uplift.csv: the mean true intention-to-treat uplift DELIVERY × (p_contact − p0)
    per behaviour class (the generator's latent segment) and channel, with the row count."""
    frame = response.to_pandas()
    frame["behaviour"] = frame["behaviour"].astype(str)
    rows = []
    for ch in CHANNELS:
        uplift = DELIVERY[ch] * (frame[f"p_respond_{ch}"] - frame["p_respond_no_contact"])
        grouped = uplift.groupby(frame["behaviour"], sort=True)
        for behaviour, mean in grouped.mean().items():
            rows.append((behaviour, ch, round(float(mean), 5), int(grouped.size()[behaviour])))
    return pa.table({"behaviour": [r[0] for r in rows], "channel": [r[1] for r in rows],
                     "true_uplift": [r[2] for r in rows], "rows": [r[3] for r in rows]})
