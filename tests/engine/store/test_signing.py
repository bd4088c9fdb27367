"""Issue 11 item 4: tamper evidence that survives write access to the database.

Each attack is the issue's: an edit with the chain recomputed, a changed run field, a changed
out-of-scope row, an inserted empty "succeeded" run; each must fail `audit verify` and be
refused by `export` (unless --force, which is logged).
"""

from __future__ import annotations

import json
import os
import stat

from typer.testing import CliRunner

import tracestore
from auditrun import copy_db, execute, query
from cli.main import app
from engine.outputs.audit import verify_run
from engine.store import signing
from engine.store.chain import GENESIS, link

runner = CliRunner()


def recompute_chain(db_url: str, run_id: str) -> None:
    """What an attacker with write access does after editing a decision: rebuild every hash and the head.

    One transaction through SQLAlchemy (outside the engine's pool), so it works on SQLite and PostgreSQL;
    the hashes are rewritten in the run's trace blocks (storage format 2, tests/tracestore.py).
    """
    from sqlalchemy import text

    payloads = tracestore.stored_payloads(db_url, run_id)
    with tracestore.transaction(db_url) as conn:
        decisions = conn.execute(text("SELECT run_id, seq, msisdn, service, pack, decision, reason, arbitration, "
                                      "strategy, channel, message FROM decision WHERE run_id = :r ORDER BY seq"),
                                 {"r": run_id}).all()
        assert len(decisions) == len(payloads) > 0
        prev, hashes = GENESIS, []
        for row, payload in zip(decisions, payloads):
            prev = link(prev, tuple(row), payload)
            hashes.append(prev)
        conn.execute(text("UPDATE run SET chain_head = :head WHERE id = :r"), {"head": prev, "r": run_id})
    tracestore.rewrite_hashes(db_url, run_id, hashes)


def stored_text(run) -> str:
    """Everything the run's database holds, as text: the SQLite file's bytes, or every row of every
    table of the run's PostgreSQL schema."""
    if run.db_path is not None:
        return run.db_path.read_bytes().decode("latin-1")
    tables = [t["table_name"] for t in query(run.db_url, "SELECT table_name FROM information_schema.tables "
                                                         "WHERE table_schema = ?", (run.schema,))]
    assert "run" in tables and "run_seal" in tables, tables
    return "\n".join(repr(query(run.db_url, f'SELECT * FROM "{table}"')) for table in tables)


def test_a_run_is_signed_with_a_private_key_and_logged_outside_the_database(run):
    report = verify_run(run.run_id, run.db_url)
    assert report.ok, report.message
    assert "signed seal valid" in report.message
    key = signing.key_path()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().strip() not in stored_text(run)  # the key is not in the db
    lines = [json.loads(line) for line in signing.log_path().read_text(encoding="utf-8").splitlines()]
    mine = [e for e in lines if e.get("run_id") == run.run_id and e["event"] == "seal"]
    assert len(mine) == 1 and mine[0]["chain_count"] > 0 and len(mine[0]["signature"]) == 64
    assert stat.S_IMODE(signing.log_path().stat().st_mode) == 0o600


def test_an_edit_with_the_chain_recomputed_fails_verify_and_export(run, tmp_path):
    """Issue 11: recompute the chain after an edit and verify and replay passed; the forged treat was exported."""
    db = copy_db(run, tmp_path / "forged.db")
    execute(db, "UPDATE decision SET message = 'forged offer' WHERE run_id = ? AND decision = 'treat' "
                "AND seq = (SELECT MIN(seq) FROM decision WHERE run_id = ? AND decision = 'treat')",
            (run.run_id, run.run_id))
    recompute_chain(db, run.run_id)
    report = verify_run(run.run_id, db)
    assert not report.ok and "run row fields changed" in report.message
    result = runner.invoke(app, ["audit", "verify", "--run", run.run_id, "--db", db])
    assert result.exit_code == 1 and "FAILED" in result.stdout
    for channel in ("sms", "mms", "wap_push", "outbound_call", "account_manager"):
        exported = runner.invoke(app, ["export", "--run", run.run_id, "--channel", channel, "--db", db])
        assert exported.exit_code == 3, exported.output
        assert "forged offer" not in exported.stdout and "does not verify" in exported.output


def _forge_first_segment(rows):
    rows[0] = (rows[0][0], rows[0][1], "forged")


def _drop_first_subscriber(rows):
    first = rows[0][0]
    rows[:] = [r for r in rows if r[0] != first]


def _flip_scope_byte(db, run_id):
    with tracestore.transaction(db) as conn:
        from sqlalchemy import text

        stored = bytearray(conn.execute(text("SELECT rows FROM out_of_scope_block WHERE run_id = :r AND block = 0"),
                                        {"r": run_id}).scalar_one())
        stored[len(stored) // 2] ^= 0x01
        conn.execute(text("UPDATE out_of_scope_block SET rows = :v WHERE run_id = :r AND block = 0"),
                     {"v": bytes(stored), "r": run_id})


def test_run_fields_and_out_of_scope_rows_are_under_the_seal(run, tmp_path):
    """Issue 11: out_of_scope rows and run fields (production, as_of, ...) were outside the chain.
    Out-of-scope facts are stored in compressed blocks (storage format 2): a tamperer decodes,
    alters and re-encodes a block, changes its bytes, or adds format-1 rows to the run."""
    for action, why in (("UPDATE run SET production = NOT production WHERE id = ?", "run row fields changed"),
                        ("UPDATE run SET funnel = '{}' WHERE id = ?", "run row fields changed"),
                        ("UPDATE run SET content_hashes = '{}' WHERE id = ?", "run row fields changed"),
                        (lambda db, r: tracestore.edit_scope(db, r, _forge_first_segment), "out-of-scope rows changed"),
                        (lambda db, r: tracestore.edit_scope(db, r, _drop_first_subscriber),
                         "out-of-scope rows changed"),
                        (_flip_scope_byte, "out-of-scope rows changed"),
                        ("INSERT INTO out_of_scope (run_id, msisdn, service, segment) VALUES (?, '10000000000', "
                         "'reading', 'active')", "out-of-scope rows changed"),
                        ("DELETE FROM run_seal WHERE run_id = ?", "no signed seal"),
                        ("UPDATE run_seal SET scope_digest = 'x' WHERE run_id = ?", "signature is not valid")):
        db = copy_db(run, tmp_path / f"t{abs(hash(str(action)))}.db")
        if callable(action):
            action(db, run.run_id)
        else:
            execute(db, action, (run.run_id,) * action.count("?"))
        report = verify_run(run.run_id, db)
        assert not report.ok and why in report.message, (action, report.message)


def test_an_inserted_empty_succeeded_run_does_not_verify_and_is_not_exported(run, tmp_path):
    """Issue 11: an inserted empty "succeeded" run became `latest` and the export was empty."""
    db = copy_db(run, tmp_path / "inserted.db")
    execute(db, "INSERT INTO run (id, as_of, status, started_at, finished_at, data_dir, snapshot_fingerprint, "
                "content_hashes, model_versions, production, workers, funnel, facts, decisions, chain_head, "
                "chain_count, out_dir, error, rerun_of) VALUES ('2099-01-01.000000000000', '2099-01-01', 'succeeded', "
                "'2099-01-01 00:00:00', '2099-01-01 00:00:01', '', '', '{}', '{}', ?, 1, '{}', 0, 0, ?, 0, '', '', '')",
            (True, GENESIS))  # a parameter: production is an integer on SQLite, a boolean on PostgreSQL
    verify = runner.invoke(app, ["audit", "verify", "--run", "latest", "--db", db])
    assert verify.exit_code == 1 and "no signed seal" in verify.stdout
    refused = runner.invoke(app, ["export", "--channel", "sms", "--db", db])
    assert refused.exit_code == 3 and refused.stdout == ""
    forced = runner.invoke(app, ["export", "--channel", "sms", "--db", db, "--force", "--out",
                                 str(tmp_path / "sms.csv")])
    assert forced.exit_code == 0, forced.output
    assert "--force" in forced.output and "does not verify" in forced.output
    logged = [json.loads(line) for line in signing.log_path().read_text(encoding="utf-8").splitlines()]
    assert any(e["event"] == "forced_export" and e["run_id"] == "2099-01-01.000000000000" and e["by"]
               for e in logged)


def test_verify_fails_without_the_key_or_with_another_key(run, tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_AUDIT_KEY", str(tmp_path / "absent.key"))
    report = verify_run(run.run_id, run.db_url)
    assert not report.ok and "absent.key" in report.message and "not found" in report.message
    other = tmp_path / "other.key"
    other.write_text("00" * 32)
    monkeypatch.setenv("REKINDLE_AUDIT_KEY", str(other))
    report = verify_run(run.run_id, run.db_url)
    assert not report.ok and "another audit key" in report.message


def test_a_seal_missing_from_the_log_fails(run, tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_AUDIT_LOG", str(tmp_path / "empty.log"))
    report = verify_run(run.run_id, run.db_url)
    assert not report.ok and "not in the audit log" in report.message


def test_the_key_is_created_0600_under_rekindle_home_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("REKINDLE_AUDIT_KEY")
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    key = signing.load_key(create=True)
    path = tmp_path / "home" / "audit.key"
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600 and len(key) == 64
    assert signing.load_key() == key
    assert os.environ.get("REKINDLE_AUDIT_KEY") is None
