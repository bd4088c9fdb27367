"""audit verify (tampering of every kind is caught, naming the record) and audit replay,
on the shared run stored in SQLite and in PostgreSQL (conftest's `run`, one per backend)."""

from __future__ import annotations

import json
import subprocess

import pytest

import tracestore
from auditrun import copy_db, execute, query
from engine.outputs.audit import MATCH, MISMATCH, replay, verify_run
from engine.store.read import resolve_run, subscriber_records
from engine.base.diagnostics import DiagnosticError
from engine.store.database import dispose_all


@pytest.fixture
def tampered(run, tmp_path, monkeypatch):
    """A private copy of the run's database to tamper with."""
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    url = copy_db(run, tmp_path / "copy.db")
    yield url
    dispose_all()


def _seq_of(url, run_id, decision):
    row = query(url, "SELECT seq, msisdn, service FROM decision WHERE run_id = ? AND decision = ? ORDER BY seq "
                "LIMIT 1", (run_id, decision))[0]
    return row["seq"], row["msisdn"], row["service"]


def test_an_untouched_run_verifies(run, tampered):
    report = verify_run("latest", tampered)
    assert report.ok and report.count == resolve_run(run.run_id, tampered).chain_count > 0
    assert report.describe() == f"OK: {report.count:,} records, head {report.head}"
    assert len(report.head) == 64


def test_a_changed_decision_value_is_caught_at_its_record(run, tampered):
    seq, msisdn, service = _seq_of(tampered, run.run_id, "excluded")
    execute(tampered, "UPDATE decision SET decision = 'treat' WHERE run_id = ? AND seq = ?", (run.run_id, seq))
    report = verify_run(run.run_id, tampered)
    assert not report.ok and report.first_bad_seq == seq
    assert (report.msisdn, report.service) == (msisdn, service)
    assert f"seq {seq}, msisdn {msisdn}, service {service}" in report.describe()


def test_one_changed_payload_byte_is_caught(run, tampered):
    seq, msisdn, _ = _seq_of(tampered, run.run_id, "treat")
    tracestore.replace_payload(tampered, run.run_id, seq, lambda p: p.replace('"holdout":false', '"holdout":true'))
    report = verify_run(run.run_id, tampered)
    assert not report.ok and report.first_bad_seq == seq and report.msisdn == msisdn


def test_a_deleted_record_is_caught(run, tampered):
    seq, msisdn, _ = _seq_of(tampered, run.run_id, "not_selected")
    execute(tampered, "DELETE FROM decision WHERE run_id = ? AND seq = ?", (run.run_id, seq))
    tracestore.delete_trace(tampered, run.run_id, seq)
    report = verify_run(run.run_id, tampered)
    assert not report.ok and report.first_bad_seq == seq


def test_a_deleted_tail_is_caught_by_the_head(run, tampered):
    last = resolve_run(run.run_id, tampered).chain_count - 1
    execute(tampered, "DELETE FROM decision WHERE run_id = ? AND seq = ?", (run.run_id, last))
    tracestore.delete_trace(tampered, run.run_id, last)
    assert not verify_run(run.run_id, tampered).ok


def test_two_swapped_rows_are_caught(run, tampered):
    seq = _seq_of(tampered, run.run_id, "treat")[0]
    # swap records seq and seq+1: their decision rows and their traces (payload and hash)
    execute(tampered, "UPDATE decision SET seq = -1 WHERE run_id = ? AND seq = ?", (run.run_id, seq))
    execute(tampered, "UPDATE decision SET seq = ? WHERE run_id = ? AND seq = ?", (seq, run.run_id, seq + 1))
    execute(tampered, "UPDATE decision SET seq = ? WHERE run_id = ? AND seq = -1", (seq + 1, run.run_id))
    tracestore.swap_traces(tampered, run.run_id, seq)
    report = verify_run(run.run_id, tampered)
    assert not report.ok and report.first_bad_seq == seq


def test_a_changed_head_is_caught(run, tampered):
    execute(tampered, "UPDATE run SET chain_head = ? WHERE id = ?", ("f" * 64, run.run_id))
    report = verify_run(run.run_id, tampered)
    assert not report.ok and "head" in report.message


def test_unknown_run_is_a_clear_error(run, tampered):
    with pytest.raises(DiagnosticError, match="no run 'nope'"):
        verify_run("nope", tampered)


# -- replay -----------------------------------------------------------------------------------

def test_replay_of_an_untouched_run_matches(run, tampered):
    msisdn = run.examples["treat"]
    report = replay(run.run_id, msisdn, tampered, rules_dir=run.rules, strategies_dir=run.strategies)
    assert report.ok, report.summary()
    assert report.rows and all(r.status == MATCH for r in report.rows)
    assert any(r.stored.get("decision") == "treat" for r in report.rows)
    assert "not replayed" in report.summary()


def test_replay_names_a_pack_version_it_cannot_find(run, tampered, tmp_path):
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(run.rules, rules)
    pack = rules / "long_term_silent.yaml"
    pack.write_text(pack.read_text(encoding="utf-8").replace("  data_sensitive: {eq: true}",
                                                                 "  data_sensitive: {eq: true}\n  sensitivity_pct: {gte: 95}"), encoding="utf-8")
    report = replay(run.run_id, run.examples["treat"], tampered, rules_dir=rules, strategies_dir=run.strategies)
    assert not report.ok
    assert any(m.startswith("pack/long_term_silent sha256 ") for m in report.missing)
    assert "cannot replay" in report.summary()


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_replay_finds_the_stored_version_in_git_history_after_an_edit(run, tampered, tmp_path):
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(run.rules, repo / "rules")
    shutil.copytree(run.strategies, repo / "strategies")
    _git(repo, "init", "-q", ".")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "content as run")
    pack = repo / "rules" / "long_term_silent.yaml"
    pack.write_text(pack.read_text(encoding="utf-8").replace("  data_sensitive: {eq: true}",
                                                                 "  data_sensitive: {eq: true}\n  sensitivity_pct: {gte: 95}"), encoding="utf-8")
    _git(repo, "commit", "-qam", "raise the sensitivity cut-off")
    report = replay(run.run_id, run.examples["treat"], tampered, rules_dir=repo / "rules",
                    strategies_dir=repo / "strategies")
    assert report.ok, report.summary()
    assert report.sources["pack/long_term_silent"].startswith("git ")


def test_replay_shows_a_mismatch_when_a_stored_input_was_altered(run, tampered):
    # A treated fact whose stored inputs now say "on the do-not-disturb list": the stored outcome
    # (treat) no longer follows from the stored inputs, whatever pack treated it.
    records = subscriber_records(run.run_id, run.examples["treat"], tampered)
    record = next(r for r in records if r["decision"] == "treat")
    payload = record["payload"]
    assert next(p for p in payload["packs"] if p["pack"] == record["pack"])["decision"] == "treat"
    payload["fact"]["on_list"] = ["dnd"]
    from engine.base.jsonfile import canonical

    tracestore.replace_payload(tampered, run.run_id, record["seq"], canonical(payload))
    report = replay(run.run_id, run.examples["treat"], tampered, rules_dir=run.rules, strategies_dir=run.strategies)
    assert not report.ok and not report.missing
    bad = [r for r in report.rows if r.status == MISMATCH]
    assert bad and {r.service for r in bad} == {record["service"]}
    assert any(r.replayed.get("decision") == "excluded" and r.replayed.get("reason") == "do_not_disturb" for r in bad)
    assert json.dumps(report.to_dict())  # JSON-ready


def test_replay_of_a_subscriber_not_in_the_run_is_an_error(run, tampered):
    with pytest.raises(DiagnosticError, match="not in run"):
        replay(run.run_id, "19999999999", tampered, rules_dir=run.rules, strategies_dir=run.strategies)


def test_replay_reports_a_run_row_that_names_other_pack_versions_than_the_traces(run, tampered):
    # The run row's list of content hashes is not sealed by the chain; the traces are. Replay uses
    # the traces' pack versions and says where the run row disagrees.
    msisdn = run.examples["treat"]
    pack = next(r for r in subscriber_records(run.run_id, msisdn, tampered) if r["decision"] == "treat")["pack"]
    hashes = resolve_run(run.run_id, tampered).content_hashes
    hashes[f"pack/{pack}"] = "0" * 64
    execute(tampered, "UPDATE run SET content_hashes = ? WHERE id = ?", (json.dumps(hashes), run.run_id))
    report = replay(run.run_id, msisdn, tampered, rules_dir=run.rules, strategies_dir=run.strategies)
    assert not report.ok and not report.missing
    assert any(m.startswith(f"pack/{pack}: trace seq ") and "000000000000" in m for m in report.conflicts)
    assert report.rows and all(r.status == MATCH for r in report.rows)  # decided with the traces' versions
    assert "CONFLICT" in report.summary()
