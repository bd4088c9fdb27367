"""The nightly run end to end on a generated ~3k-subscriber snapshot with the shipped content,
into SQLite and into PostgreSQL (the conftest's `db_url`, one fresh database per test; the
plain night is the session's shared stored run, `run`)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from collections import Counter
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

import engine.store.write as run_store
import tracestore
from engine.base.jsonfile import canonical
from engine.store.verify import verify_chain
from engine.base.diagnostics import DiagnosticError
from engine.night.channels import CHANNELS
from engine.night.run import RunOptions, run_night
from engine.store.write import RunRefused
from engine.store.database import get_engine
from nightly_inputs import RULES, STRATEGIES


def options(inputs, home, db_url, name="run", **kw):
    return RunOptions(data=inputs.data, as_of=inputs.as_of, db_url=db_url,
                      out=home / name, rules_dir=RULES, strategies_dir=STRATEGIES, models_dir=inputs.models, **kw)


def rows(db_url, sql, **params):
    with get_engine(db_url).connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def decisions(db_url, run_id):
    return rows(db_url, "SELECT msisdn, service, pack, decision, reason, arbitration, strategy, channel, message "
                        "FROM decision WHERE run_id = :r ORDER BY seq", r=run_id)


def payloads(db_url, run_id):
    return [p.replace(run_id, "<run>") for p in tracestore.stored_payloads(db_url, run_id)]


def test_a_night_is_stored_chained_and_written(run):
    # The session's shared stored run (tests/auditrun.py) is this night: the shared inputs, the
    # shipped content, default options, on SQLite and on PostgreSQL; this test only reads it.
    result, db, out = run.result, run.db_url, run.out
    found = decisions(db, result.run_id)
    outside = rows(db, "SELECT sum(count) FROM out_of_scope_block WHERE run_id = :r", r=result.run_id)[0][0]
    assert len(found) == result.decisions > 0
    assert len(found) + outside == result.facts  # every fact is either decided or out of scope
    assert verify_chain(result.run_id, db).ok
    kinds = Counter(d[3] for d in found)
    assert kinds["treat"] > 0 and kinds["excluded"] > 0 and kinds["not_selected"] > 0 and kinds["held_out"] > 0

    # caps and capacities of rules/contact_policy.yaml: one contact per subscriber per run
    treated = [d for d in found if d[3] == "treat"]
    assert max(Counter(d[0] for d in treated).values()) == 1
    by_channel = Counter(d[7] for d in treated)
    assert by_channel["outbound_call"] <= 2000 and by_channel["account_manager"] <= 500
    assert all(d[6] and d[7] and d[5] == "won" for d in treated)
    assert all(d[5] in ("lost_priority", "lost_cap", "lost_capacity") for d in found if d[3] == "lost")

    # channel files: all five, header first, sorted, exactly the treated decisions, no run id;
    # beside them only the marker that says Rekindle made the folder (engine/night/outdir.py)
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{c}.csv" for c in CHANNELS] + [".rekindle-run"])
    for channel in CHANNELS:
        body = (out / f"{channel}.csv").read_text(encoding="utf-8")
        assert result.run_id not in body
        lines = body.splitlines()
        assert lines[0].startswith("msisdn,service,strategy,message")
        keys = [tuple(line.split(",")[:2]) for line in lines[1:]]
        assert keys == sorted(keys)
        assert len(keys) == by_channel[channel]
    # traces are canonical JSON an auditor can re-derive, and name pack versions and models
    for payload in tracestore.stored_payloads(db, result.run_id)[::97]:
        loaded = json.loads(payload)
        assert canonical(loaded) == payload
        assert loaded["packs"] and all(len(p["hash"]) == 64 for p in loaded["packs"])
        assert set(loaded["models"]) >= {"stability", "value", "sensitivity"}
        assert loaded["fact"]["msisdn"] == loaded["msisdn"]
    run = rows(db, "SELECT status, chain_count, funnel FROM run WHERE id = :r", r=result.run_id)[0]
    assert run[0] == "succeeded" and run[1] == len(found)
    assert result.funnel["packs"]["retention"]["in_scope"] > 0


def test_two_workers_decide_exactly_as_one_and_reruns_are_identical(inputs, home, db_url):
    one = run_night(options(inputs, home, db_url, "one", workers=1))
    two = run_night(options(inputs, home, db_url, "two", workers=2, rerun=True))  # same date: a rerun
    db = options(inputs, home, db_url).db_url
    assert one.run_id != two.run_id
    assert decisions(db, one.run_id) == decisions(db, two.run_id)
    assert payloads(db, one.run_id) == payloads(db, two.run_id)
    for channel in CHANNELS:
        assert (home / "one" / f"{channel}.csv").read_bytes() == (home / "two" / f"{channel}.csv").read_bytes()
    # holdouts are stable across runs of the same month
    held = [rows(db, "SELECT msisdn, pack FROM decision WHERE run_id = :r AND decision = 'held_out' ORDER BY seq",
                 r=r) for r in (one.run_id, two.run_id)]
    assert held[0] == held[1] and held[0]


def test_a_failure_mid_write_leaves_nothing_and_a_rerun_succeeds(inputs, home, db_url, monkeypatch):
    opts = options(inputs, home, db_url)
    real, calls = run_store.write_batch, []

    def failing(conn, table, columns, batch):
        calls.append(table)
        if len(calls) > 1:
            raise OSError("disk full (injected)")
        real(conn, table, columns, batch)

    monkeypatch.setattr(run_store, "BATCH", 100)
    monkeypatch.setattr(run_store, "write_batch", failing)
    with pytest.raises(OSError, match="injected"):
        run_night(opts)
    db = opts.db_url
    assert rows(db, "SELECT count(*) FROM decision")[0][0] == 0
    for table in ("trace", "out_of_scope", "trace_block", "out_of_scope_block"):
        assert rows(db, f"SELECT count(*) FROM {table}")[0][0] == 0
    assert rows(db, "SELECT status FROM run") == [("failed",)]
    assert rows(db, "SELECT count(*) FROM run_lock")[0][0] == 0
    assert not opts.out.exists() and not [p for p in home.iterdir() if p.name.startswith(".run")]

    monkeypatch.setattr(run_store, "write_batch", real)
    result = run_night(opts)
    assert verify_chain(result.run_id, db).ok and (opts.out / "sms.csv").exists()


def test_a_second_run_on_the_same_database_is_refused_until_the_holder_is_gone(inputs, home, db_url):
    opts = options(inputs, home, db_url)
    holder = subprocess.Popen(["sleep", "60"])
    try:
        with get_engine(opts.db_url).begin() as conn:
            conn.execute(text("INSERT INTO run_lock (name, run_id, pid, host, acquired_at) VALUES "
                              "('nightly', 'other-run', :pid, :host, :at)"),
                         {"pid": holder.pid, "host": os.uname().nodename,
                          "at": datetime.now(timezone.utc).isoformat(" ")})
        with pytest.raises(RunRefused, match="other-run"):
            run_night(opts)
        assert rows(opts.db_url, "SELECT count(*) FROM run")[0][0] == 0
    finally:
        holder.kill()
        holder.wait()
    result = run_night(opts)  # the holder died: its lock is stale and taken over
    assert verify_chain(result.run_id, opts.db_url).ok


def test_an_invalid_snapshot_writes_nothing(inputs, home, db_url, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(inputs.data, broken)
    path = broken / "subscribers.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle))
    table[5][table[0].index("device_os")] = "nokia_os"  # CSV line 6: not in the device_os enum
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(table)
    opts = options(inputs, home, db_url)
    opts.data = broken
    with pytest.raises(DiagnosticError) as info:
        run_night(opts)
    assert any(d.file.endswith("subscribers.csv") and d.line == 6 for d in info.value.diagnostics)
    assert rows(opts.db_url, "SELECT count(*) FROM run")[0][0] == 0
    assert not opts.out.exists()


def test_production_refuses_content_without_an_approval_record(inputs, home, db_url):
    with pytest.raises(DiagnosticError) as info:
        run_night(options(inputs, home, db_url, production=True))
    assert any("long_term_silent" in d.message for d in info.value.diagnostics)


def test_payload_text_is_canonical_even_for_sets_and_numpy_values():
    import numpy as np

    from engine.night.trace import payload_text

    assert payload_text({"b": {"y", "x"}, "a": np.int64(3), "c": ("操心", 1.5)}) == '{"a":3,"b":["x","y"],"c":["操心",1.5]}'
