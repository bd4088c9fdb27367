"""`rekindle explain` and `rekindle report run` through the CLI, on the shared stored run."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from auditrun import EXPLAIN_FACT_KEYS as FACT_KEYS, copy_db, query
from cli.main import app
from engine.content.approvals import record_event

runner = CliRunner()


def test_explain_json_has_the_documented_keys_for_every_kind_of_fact(run):
    for kind in ("treat", "excluded", "held_out", "out_of_scope"):
        result = runner.invoke(app, ["explain", run.examples[kind], "--db", run.db_url, "--json"])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert set(doc) == {"run", "as_of", "msisdn", "facts"} and doc["run"] == run.run_id
        assert doc["facts"] and all(FACT_KEYS <= set(f) for f in doc["facts"])
        assert kind in {f["decision"] for f in doc["facts"]}


def test_explain_reads_like_an_account(run):
    result = runner.invoke(app, ["explain", run.examples["excluded"], "--run", run.run_id, "--db", run.db_url])
    assert result.exit_code == 0, result.output
    for words in ("EXCLUDED 排除", "Segment 细分", "Packs that considered it", "Arbitration 仲裁", "Holdout 对照组"):
        assert words in result.stdout


def test_explain_shows_the_approval_of_the_exact_pack_version(run, tmp_path):
    db = copy_db(run, tmp_path / "approved.db")
    doc = json.loads(runner.invoke(app, ["explain", run.examples["treat"], "--db", db, "--json"]).stdout)
    fact = next(f for f in doc["facts"] if f["decision"] == "treat")
    record_event("pack", fact["pack"], fact["pack_sha256"], "approved", "王主管", db_url=db)
    again = json.loads(runner.invoke(app, ["explain", run.examples["treat"], "--db", db, "--json",
                                           "--service", fact["service"]]).stdout)
    approval = again["facts"][0]["approval"]["pack"]
    assert approval["approved"] is True and "王主管" in approval["status"]


def test_explain_of_an_unknown_subscriber_exits_1_without_a_traceback(run):
    result = runner.invoke(app, ["explain", "19999999999", "--db", run.db_url])
    assert result.exit_code == 1
    assert "19999999999 is not in run" in result.output and "Traceback" not in result.output


def test_report_run_json_names_examples_and_matches_the_decisions(run):
    result = runner.invoke(app, ["report", "run", "--run", "latest", "--db", run.db_url, "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["run"] == run.run_id and doc["examples"] == run.examples
    assert sum(doc["decisions_by_kind"].values()) == doc["decisions"]
    assert doc["funnel"]["packs"] and doc["funnel"]["channels"]
    # examples are the smallest msisdn with that decision
    smallest = min(r["msisdn"] for r in _decisions(run) if r["decision"] == "treat")
    assert doc["examples"]["treat"] == smallest


def _decisions(run):
    return query(run.db_url, "SELECT msisdn, decision, channel FROM decision WHERE run_id = ?", (run.run_id,))


def test_report_run_csv_html_and_table(run):
    as_csv = runner.invoke(app, ["report", "run", "--db", run.db_url, "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    treated = sum(int(r["count"]) for r in rows if r["section"] == "decision" and r["stage"] == "treat")
    assert treated == sum(1 for r in _decisions(run) if r["decision"] == "treat") > 0
    sms = sum(int(r["count"]) for r in rows if r["section"] == "channel" and r["channel"] == "sms"
              and r["stage"] == "treated")
    assert sms == sum(1 for r in _decisions(run) if r["decision"] == "treat" and r["channel"] == "sms")
    as_html = runner.invoke(app, ["report", "run", "--db", run.db_url, "--format", "html"])
    assert as_html.exit_code == 0 and as_html.stdout.startswith("<!DOCTYPE html>") and "<svg" in as_html.stdout
    table = runner.invoke(app, ["report", "run", "--db", run.db_url])
    assert table.exit_code == 0 and "Funnel per pack" in table.stdout and run.run_id in table.stdout


def test_report_of_an_unknown_run_exits_1(run):
    result = runner.invoke(app, ["report", "run", "--run", "nope", "--db", run.db_url])
    assert result.exit_code == 1 and "no run 'nope'" in result.output


def test_report_run_can_mask_msisdns(run):
    import re

    for fmt in ("json", "table", "html"):
        result = runner.invoke(app, ["report", "run", "--db", run.db_url, "--format", fmt, "--mask"])
        assert result.exit_code == 0, result.output
        for msisdn in filter(None, run.examples.values()):
            assert msisdn not in result.stdout, fmt
    doc = json.loads(runner.invoke(app, ["report", "run", "--db", run.db_url, "--format", "json", "--mask"]).stdout)
    shown = [m for m in doc["examples"].values() if m]
    assert shown and all(re.fullmatch(r"1[3-9]\d\*{4}\d{4}", m) for m in shown)
    assert doc["examples"]["treat"] == run.examples["treat"][:3] + "****" + run.examples["treat"][-4:]


def test_export_writes_a_private_file(run, tmp_path):
    import os
    import stat

    old = os.umask(0)
    try:
        result = runner.invoke(app, ["export", "--run", "latest", "--db", run.db_url, "--channel", "sms",
                                     "--out", str(tmp_path / "sms.csv")])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((tmp_path / "sms.csv").stat().st_mode) == 0o600
