"""What earlier runs and the loop wrote back, in the shape of the snapshot tables a night reads.

The one seam of the closed loop into the night (docs/LOOP.md §1): `written_back(db_url, as_of)`
returns rows in the exact `contact_history` and `lists` shapes of the snapshot contract, and
`merge_written_back(snapshot, written)` appends them to the loaded snapshot before facts are
built (engine/night/run.py calls the two right after loading the snapshot). Nothing else in the
night knows the loop exists: `contacts_30d`, `days_since_contact` and `on_list` are computed
by the fact build from the merged tables as for any input row.

Contacts. Every `treat` decision of a succeeded run whose as-of date is *before* the night's
as-of (and at most LOOKBACK_DAYS before it) is a contact on that as-of date (`pack`,
`strategy`, `channel`, `service` from the decision). `held_out`, `lost`, `excluded`
decisions are not contacts: a held-out subscriber is recorded as held out (the `decision`
row), never as contacted. When several succeeded runs
share an as-of (a re-run of the same night), only the latest one counts, so a night's contacts
are never counted twice; a run for the night's own as-of (or later) is ignored, so re-running
a night gives the same decisions as the first time. `responded` / `converted` come from the
loaded feedback (`feedback_event`), empty when nothing was reported. A written-back contact
that the input `contact_history` already holds (same msisdn, service, strategy, channel and
day — the channel system exported it back) is dropped, so it is not counted twice either.

Do-not-disturb. An `opted_out` feedback event puts the subscriber on the `dnd` list from the
event's date (`since`), for every night whose as-of is on or after it.

The extra columns `run_id` and `seq` name the decision a written-back contact came from;
the fact build ignores them and `prior_contacts` hands them to `explain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

# SQLAlchemy's text() once SQLAlchemy is loaded (engine/store/lite.py); pandas, numpy and the
# SQLAlchemy engine are imported by the functions that use them: `prior_contacts` serves
# `rekindle explain`, which needs none of them.
from engine.store.lite import get_engine as read_engine, text

if TYPE_CHECKING:
    import pandas as pd

CONTACT_COLUMNS = ("msisdn", "service", "pack", "strategy", "channel", "contacted_on", "responded", "converted")
LIST_COLUMNS = ("msisdn", "list", "since")
SOURCE_COLUMNS = ("run_id", "seq")
RECENT_DAYS = 30  # the contact policy's "contacted in the last 30 days"
# How far back written-back contacts reach: a night reads a year of earlier runs, not all of
# history (days_since_contact beyond a year is left to the input contact_history).
LOOKBACK_DAYS = 365


@dataclass
class WrittenBack:
    """Rows to add to the snapshot: contacts (with their source decision) and list entries."""

    contacts: pd.DataFrame
    lists: pd.DataFrame


# The latest succeeded run per as-of date before the night (a re-run replaces the earlier one).
_RUNS = """
SELECT r.id, r.as_of FROM run r
WHERE r.status = 'succeeded' AND r.as_of < :as_of AND r.as_of >= :since
  AND r.id = (SELECT r2.id FROM run r2 WHERE r2.status = 'succeeded' AND r2.as_of = r.as_of
              ORDER BY r2.started_at DESC, r2.id DESC LIMIT 1)
"""


def _latest_runs(conn, as_of: date) -> dict[str, str]:
    since = (as_of - timedelta(days=LOOKBACK_DAYS)).isoformat()
    return {row.id: str(row.as_of) for row in conn.execute(text(_RUNS), {"as_of": as_of.isoformat(), "since": since})}


def _treated(conn, runs: dict[str, str]) -> pd.DataFrame:
    import pandas as pd

    columns = ["run_id", "seq", "msisdn", "service", "pack", "strategy", "channel"]
    frames = []
    for run_id in sorted(runs):
        rows = conn.execute(text("SELECT run_id, seq, msisdn, service, pack, strategy, channel FROM decision "
                                 "WHERE run_id = :r AND decision = 'treat' ORDER BY seq"), {"r": run_id}).all()
        if rows:
            frames.append(pd.DataFrame(rows, columns=columns))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _outcomes(conn, runs: dict[str, str]) -> pd.DataFrame:
    """Per (run_id, seq): responded / converted flags from the loaded feedback."""
    import pandas as pd

    frames = []
    for run_id in sorted(runs):
        rows = conn.execute(text("SELECT run_id, seq, event FROM feedback_event WHERE run_id = :r "
                                 "AND event IN ('responded', 'converted')"), {"r": run_id}).all()
        if rows:
            frames.append(pd.DataFrame(rows, columns=["run_id", "seq", "event"]))
    if not frames:
        return pd.DataFrame(columns=["run_id", "seq", "responded", "converted"])
    events = pd.concat(frames, ignore_index=True)
    flags = pd.crosstab([events["run_id"], events["seq"]], events["event"]) > 0
    for name in ("responded", "converted"):
        if name not in flags.columns:
            flags[name] = False
    return flags[["responded", "converted"]].reset_index()


def written_back(db_url: str | None, as_of: date, contact_history: pd.DataFrame | None = None) -> WrittenBack:
    """The contacts and do-not-disturb entries the loop adds for a night on `as_of` (module docstring).

    `contact_history` (the snapshot's own table) is used to drop contacts it already holds.
    """
    import numpy as np
    import pandas as pd

    from engine.store.database import get_engine

    with get_engine(db_url).connect() as conn:
        runs = _latest_runs(conn, as_of)
        treated = _treated(conn, runs)
        outcomes = _outcomes(conn, runs)
        opted = conn.execute(text("SELECT msisdn, MIN(event_date) AS since FROM feedback_event "
                                  "WHERE event = 'opted_out' AND event_date <= :d GROUP BY msisdn ORDER BY msisdn"),
                             {"d": as_of.isoformat()}).all()
    contacts = treated.merge(outcomes, on=["run_id", "seq"], how="left") if len(treated) else treated
    contacts["contacted_on"] = pd.to_datetime(contacts["run_id"].map(runs)).astype("datetime64[s]")
    for name in ("responded", "converted"):
        values = contacts[name] if name in contacts.columns else pd.Series(pd.NA, index=contacts.index)
        contacts[name] = values.astype("boolean")
    contacts["service"] = contacts["service"].where(contacts["service"].fillna("") != "", None)
    contacts["seq"] = contacts["seq"].astype(np.int64)
    if contact_history is not None:
        contacts = contacts[~held_contacts(contacts, contact_history)]
    contacts = contacts.sort_values(["msisdn", "contacted_on", "run_id", "seq"], kind="stable").reset_index(drop=True)
    lists = pd.DataFrame({"msisdn": pd.Series([r.msisdn for r in opted], dtype=object),
                          "list": pd.Series(["dnd"] * len(opted), dtype=object),
                          "since": pd.Series(pd.to_datetime([r.since for r in opted]), dtype="datetime64[s]")})
    return WrittenBack(contacts[list(CONTACT_COLUMNS + SOURCE_COLUMNS)], lists)


def held_contacts(contacts: pd.DataFrame, contact_history: pd.DataFrame):
    """Which written-back `contacts` the snapshot's `contact_history` — or a part of it: the masks
    of its parts or'ed together give the whole table's — already holds (same subscriber,
    service, strategy, channel and day): a boolean array aligned with `contacts`."""
    import numpy as np
    import pandas as pd

    if not len(contact_history) or not len(contacts):
        return np.zeros(len(contacts), dtype=bool)
    key = ["msisdn", "service", "strategy", "channel", "contacted_on"]
    known = pd.MultiIndex.from_frame(contact_history[key].astype(object).fillna(""))
    mine = pd.MultiIndex.from_frame(contacts[key].astype(object).fillna(""))
    return np.asarray(mine.isin(known), dtype=bool)


def completed(name: str, own: pd.DataFrame, written: WrittenBack) -> pd.DataFrame:
    """`with_written_back` for `written` as `written_back(..., contact_history=None)` gave it:
    the contacts `own` (the whole contact_history) already holds are left out first."""
    if name == "contact_history" and len(written.contacts):
        held = held_contacts(written.contacts, own)
        written = WrittenBack(written.contacts[~held].reset_index(drop=True), written.lists)
    return with_written_back(name, own, written)


def merge_written_back(snapshot, written: WrittenBack) -> None:
    """Append the written-back rows to the snapshot's `contact_history` and `lists` (in place).

    The snapshot's own rows come first and keep their order; dtypes stay those of the
    contract (ARCHITECTURE §1), so the fact build reads the merged tables like any input.
    """
    tables = snapshot.tables
    for name in ("contact_history", "lists"):
        tables[name] = with_written_back(name, tables[name], written)
    snapshot.cache.clear()  # derived lookups (if any) were built from the tables before the merge


def with_written_back(name: str, own: pd.DataFrame, written: WrittenBack) -> pd.DataFrame:
    """Table `name` (contact_history or lists) of a snapshot with the written-back rows after its
    own, in the loader's compact dtypes (a local night completes each table as it is read:
    engine/night/slicesplit.py)."""
    from engine.base.frames import append_rows

    extra, columns = {"contact_history": (written.contacts, CONTACT_COLUMNS),
                      "lists": (written.lists, LIST_COLUMNS)}[name]
    return append_rows(own, extra[list(columns)]) if len(extra) else own


def prior_contacts(db_url: str | None, msisdn: str, as_of: str, days: int = RECENT_DAYS) -> list[dict]:
    """The written-back contacts of one subscriber in the `days` before `as_of` (newest first):
    run id, decision seq, as-of, pack, strategy, channel, service — what `explain` names."""
    day = date.fromisoformat(as_of)
    with read_engine(db_url).connect() as conn:
        runs = {r: d for r, d in _latest_runs(conn, day).items()
                if date.fromisoformat(d) > day - timedelta(days=days)}
        out = []
        for run_id in sorted(runs, key=lambda r: (runs[r], r), reverse=True):
            # sorted here: ORDER BY seq would walk the run's primary key instead of ix_decision_run_msisdn
            rows = sorted(conn.execute(text("SELECT seq, service, pack, strategy, channel FROM decision WHERE "
                                            "run_id = :r AND msisdn = :m AND decision = 'treat'"),
                                       {"r": run_id, "m": msisdn}).all(), key=lambda r: r.seq)
            out += [{"run_id": run_id, "seq": int(r.seq), "as_of": runs[run_id], "service": r.service,
                     "pack": r.pack, "strategy": r.strategy, "channel": r.channel} for r in rows]
    return out
