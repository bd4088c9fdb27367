"""`rekindle audit verify` and `rekindle audit replay` through the CLI."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from auditrun import copy_db, execute
from cli.main import app

runner = CliRunner()


def test_verify_prints_ok_with_count_and_head(run):
    result = runner.invoke(app, ["audit", "verify", "--run", run.run_id, "--db", run.db_url])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: ") and " records, head " in result.stdout


def test_verify_of_a_tampered_run_exits_1_naming_the_record(run, tmp_path):
    db = copy_db(run, tmp_path / "tampered.db")
    # a value that certainly differs from the stored one, whatever channel seq 3 went out on
    execute(db, "UPDATE decision SET channel = CASE channel WHEN 'sms' THEN 'mms' ELSE 'sms' END "
                "WHERE run_id = ? AND seq = 3", (run.run_id,))
    result = runner.invoke(app, ["audit", "verify", "--run", "latest", "--db", db])
    assert result.exit_code == 1
    assert "FAILED" in result.stdout and "record seq 3, msisdn " in result.stdout


def test_replay_matches_then_fails_when_the_pack_was_edited(run, tmp_path):
    msisdn = run.examples["treat"]
    args = ["audit", "replay", "--run", run.run_id, "--msisdn", msisdn, "--db", run.db_url,
            "--strategies", str(run.strategies)]
    ok = runner.invoke(app, [*args, "--rules", str(run.rules)])
    assert ok.exit_code == 0, ok.output
    assert "match" in ok.stdout and "MISMATCH" not in ok.stdout and "not replayed" in ok.stdout

    edited = tmp_path / "rules"
    shutil.copytree(run.rules, edited)
    pack = edited / "contact_policy.yaml"
    pack.write_text(pack.read_text(encoding="utf-8").replace("{lt: 30}", "{lt: 60}"), encoding="utf-8")
    failed = runner.invoke(app, [*args, "--rules", str(edited)])
    assert failed.exit_code == 1
    assert "contact_policy/contact_policy sha256" in failed.stdout and "not found" in failed.stdout


def test_replay_of_an_unknown_subscriber_exits_1(run):
    result = runner.invoke(app, ["audit", "replay", "--run", run.run_id, "--msisdn", "19999999999", "--db",
                                 run.db_url, "--rules", str(run.rules), "--strategies", str(run.strategies)])
    assert result.exit_code == 1 and "not in run" in result.output
