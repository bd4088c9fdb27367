"""The loop's seam into the night: earlier runs' contacts and opt-outs as snapshot rows."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from auditrun import copy_db, execute, query
from engine.facts.build import build_facts
from engine.loop.feedback import load_feedback
from engine.snapshot.loader import load_snapshot
from engine.store.loopback import merge_written_back, written_back


def _treated(db: str, run_id: str) -> pd.DataFrame:
    rows = query(db, "SELECT seq, msisdn, service, strategy, channel FROM decision WHERE run_id = ? "
                     "AND decision = 'treat' ORDER BY seq", (run_id,))
    return pd.DataFrame(rows, columns=["seq", "msisdn", "service", "strategy", "channel"])


def test_treated_decisions_become_contacts_of_later_nights_only_and_once(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    day = run.inputs.as_of
    treated = _treated(db, run.run_id)
    assert len(written_back(db, day).contacts) == 0  # the run's own night (a re-run) does not see itself
    contacts = written_back(db, day + timedelta(days=1)).contacts
    assert len(contacts) == len(treated) > 0
    assert set(contacts["run_id"]) == {run.run_id} and set(contacts["seq"]) == set(treated["seq"])
    assert (contacts["contacted_on"] == pd.Timestamp(day)).all()
    # a re-run of the same night replaces the first: its contacts are not counted twice
    rerun = f"{day.isoformat()}.rerun0000000"
    (started,) = query(db, "SELECT started_at FROM run WHERE id = ?", (run.run_id,))
    later = pd.Timestamp(started["started_at"]) + pd.Timedelta(hours=1)
    columns = ("as_of, status, finished_at, data_dir, snapshot_fingerprint, content_hashes, model_versions, "
               "production, workers, funnel, facts, decisions, chain_head, chain_count, out_dir, error")
    execute(db, f"INSERT INTO run (id, started_at, rerun_of, {columns}) SELECT ?, ?, id, {columns} FROM run "
            "WHERE id = ?", (rerun, later.isoformat(sep=" "), run.run_id))
    execute(db, "INSERT INTO decision SELECT ?, seq, msisdn, service, pack, decision, reason, arbitration, strategy, "
            "channel, message FROM decision WHERE run_id = ?", (rerun, run.run_id))
    again = written_back(db, day + timedelta(days=1)).contacts
    assert len(again) == len(treated) and set(again["run_id"]) == {rerun}


def test_contacts_the_input_already_holds_are_dropped_and_facts_count_the_rest(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    day = run.inputs.as_of + timedelta(days=1)
    snapshot = load_snapshot(run.inputs.data)
    first = _treated(db, run.run_id).iloc[0]
    echo = pd.DataFrame({"msisdn": [first.msisdn], "service": [first.service], "pack": ["x"],
                         "strategy": [first.strategy], "channel": [first.channel],
                         "contacted_on": pd.Series([pd.Timestamp(run.inputs.as_of)], dtype="datetime64[s]"),
                         "responded": pd.array([pd.NA], dtype="boolean"), "converted": pd.array([pd.NA], dtype="boolean")})
    history = pd.concat([snapshot.tables["contact_history"], echo], ignore_index=True)
    written = written_back(db, day, history)
    assert len(written.contacts) == len(_treated(db, run.run_id)) - 1
    before = build_facts(snapshot, day)
    merge_written_back(snapshot, written_back(db, day, snapshot.tables["contact_history"]))
    after = build_facts(snapshot, day)
    treated = set(_treated(db, run.run_id)["msisdn"])
    rows = before["msisdn"].isin(treated).to_numpy()
    assert (after["contacts_30d"].to_numpy()[rows] > before["contacts_30d"].to_numpy()[rows]).all()
    assert (after["days_since_contact"].to_numpy()[rows] == 1).all()
    assert (after["contacts_30d"].to_numpy()[~rows] == before["contacts_30d"].to_numpy()[~rows]).all()


def test_an_opt_out_is_on_the_dnd_list_from_its_day(run, tmp_path):
    db = copy_db(run, tmp_path / "copy.db")
    first = _treated(db, run.run_id).iloc[0]
    path = tmp_path / "feedback.csv"
    path.write_text("msisdn,run_id,service,channel,event,event_time\n"
                    f"{first.msisdn},{run.run_id},{first.service},{first.channel},opted_out,2026-11-23T08:00:00\n",
                    encoding="utf-8")
    assert load_feedback(path, db).stored == 1
    assert len(written_back(db, run.inputs.as_of + timedelta(days=2)).lists) == 0  # 11-22: not yet
    lists = written_back(db, run.inputs.as_of + timedelta(days=3)).lists
    assert lists.to_dict("records") == [{"msisdn": first.msisdn, "list": "dnd", "since": pd.Timestamp("2026-11-23")}]
    snapshot = load_snapshot(run.inputs.data)
    merge_written_back(snapshot, written_back(db, run.inputs.as_of + timedelta(days=3)))
    facts = build_facts(snapshot, run.inputs.as_of + timedelta(days=3))
    assert facts.loc[facts["msisdn"] == first.msisdn, "on_list"].str.contains("dnd").all()
