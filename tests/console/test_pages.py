"""What the pages show: a subscriber across runs, a run's funnel and chain, content versions and diffs."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from datetime import date

import pytest

from auditrun import copy_db, execute
from consolekit import PASSWORD, csrf_of, login, make_client
from engine.console.accounts import add_user


@pytest.fixture
def two_runs(run, tmp_path):
    """A database with two real nightly runs of the hand-made snapshot, a month apart."""
    from snapshots import SUB1, write_handmade

    from engine.night.run import RunOptions, run_night

    data = write_handmade(tmp_path / "snapshot")
    db_url = f"sqlite:///{tmp_path / 'two.db'}"
    ids = []
    for as_of in (date(2026, 11, 15), date(2026, 12, 15)):
        result = run_night(RunOptions(data=data, as_of=as_of, db_url=db_url, out=tmp_path / str(as_of),
                                      rules_dir=run.rules, strategies_dir=run.strategies, models_dir=run.inputs.models))
        ids.append(result.run_id)
    add_user("ada", "auditor", PASSWORD, db_url)
    return db_url, ids, SUB1


def test_a_subscriber_timeline_lists_every_decision_of_every_run_and_opens_each(run, two_runs):
    from engine.console.timeline import subscriber_timeline
    from engine.outputs.explain import explain

    db_url, ids, msisdn = two_runs
    client = make_client(run, db_url)
    login(client, "ada")
    page = client.get(f"/subscribers/{msisdn}")
    assert page.status_code == 200
    rows = re.findall(r'<tr class="decision-row" data-run="([^"]+)" data-service="([^"]+)">', page.text)
    entries = subscriber_timeline(msisdn, db_url)
    assert {e.run_id for e in entries} == set(ids)
    assert rows == [(e.run_id, e.service) for e in entries]  # oldest run first
    # one SVG point per decision, each a link to that decision's account
    links = re.findall(rf'<a href="/subscribers/{msisdn}/runs/([^"?]+)\?service=([^"]+)">\s*<circle', page.text)
    assert links == rows
    for run_id, service in rows:
        opened = client.get(f"/subscribers/{msisdn}/runs/{run_id}?service={service}")
        assert opened.status_code == 200
        doc = explain(run_id, msisdn, service, db_url)
        fact = doc["facts"][0]
        shown = re.search(r'data-field="decision" data-value="([^"]+)"', opened.text).group(1)
        assert shown == fact["decision"]
        assert re.search(r'data-field="reason">([^<]+)<', opened.text).group(1) == fact["reason"].replace("'", "&#39;")


def test_a_number_in_no_run_says_so(run, clients):
    page = clients["auditor"].get("/subscribers/19999999999")
    assert page.status_code == 404
    assert "No decision for this number in any run" in page.text


def test_the_run_page_draws_the_stored_funnel_and_lists_versions(run, clients, console_db):
    from engine.outputs.reports.run_report import run_report
    from engine.store.read import resolve_run

    page = clients["planner"].get(f"/runs/{run.run_id}").text
    report = run_report(run.run_id, console_db)
    info = resolve_run(run.run_id, console_db)
    svg = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    assert len(svg) == 2  # per pack, per channel
    for pack, row in report["funnel"]["packs"].items():
        total = sum(v if isinstance(v, int) else sum(v.values()) for k, v in row.items()
                    if k in ("excluded", "not_selected", "held_out", "lost", "treated"))
        assert total == row["in_scope"]
        assert f"{pack} — treated 触达: {row['treated']:,}</title>" in svg[0] or row["treated"] == 0
        assert re.search(rf">{re.escape(pack)}</text>.*?class=\"total\"[^>]*>{row['in_scope']:,}<", svg[0], re.S)
    for channel, row in report["funnel"]["channels"].items():
        if row.get("treated"):
            assert f"{channel} — treated 触达: {row['treated']:,}</title>" in svg[1]
    for key, sha in info.content_hashes.items():
        assert f'title="{sha}"' in page, key
    for name, version in info.model_versions.items():
        assert f"<code>{version}</code>" in page, name
    assert "<script" not in page


def test_chain_verification_runs_on_demand_is_cached_with_its_time_and_sees_tampering(run, clients, console_db):
    auditor = clients["auditor"]
    page = auditor.get(f"/runs/{run.run_id}").text
    assert "Not verified since the console started" in page
    answer = auditor.post(f"/runs/{run.run_id}/verify", data={"csrf_token": csrf_of(auditor)})
    assert answer.status_code == 303 and answer.headers["location"].endswith("#chain")
    page = auditor.get(f"/runs/{run.run_id}").text
    status = re.search(r'data-field="chain-status">([^<]+)<', page).group(1)
    assert status.startswith("OK: ") and f"{run_chain_count(console_db, run.run_id):,} records" in status
    assert re.search(r'data-field="chain-verified-at">Verified \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by ada', page)

    execute(console_db, "UPDATE decision SET reason = reason || '_edited' WHERE run_id = ? AND seq = 3", (run.run_id,))
    page = auditor.get(f"/runs/{run.run_id}").text
    assert re.search(r'data-field="chain-status">OK: ', page)  # the cached result, with its time, until asked again
    auditor.post(f"/runs/{run.run_id}/verify", data={"csrf_token": csrf_of(auditor)})
    page = auditor.get(f"/runs/{run.run_id}").text
    status = re.search(r'data-field="chain-status">([^<]+)<', page).group(1)
    assert status.startswith("FAILED") and "record seq 3" in status


def run_chain_count(db_url, run_id):
    from engine.store.read import resolve_run

    return resolve_run(run_id, db_url).chain_count


def test_content_pages_show_the_current_version_its_approvals_and_a_diff_from_git_history(run, tmp_path):
    """Approve a pack, edit it afterwards: the page says so and diffs the approved text against today's."""
    from engine.content.lifecycle import approve, submit

    folder = tmp_path / "content"
    rules, strategies = folder / "rules", folder / "strategies"
    shutil.copytree(run.rules, rules)
    shutil.copytree(run.strategies, strategies)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    db_url = copy_db(run, tmp_path / "content.db")
    add_user("pia", "planner", PASSWORD, db_url)
    subprocess.run([*git, "-C", str(folder), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(folder), "commit", "-qm", "as the run used it"], check=True)
    submitted = submit(rules / "long_term_silent.yaml", "zhang.wei", db_url).sha256  # a planner submits,
    approved = approve(rules / "long_term_silent.yaml", "wang.fang", db_url).sha256  # a supervisor approves
    subprocess.run([*git, "-C", str(folder), "commit", "-q", "--allow-empty", "-am", "approved"], check=True)
    pack = rules / "long_term_silent.yaml"
    text = pack.read_text(encoding="utf-8")
    title = "title: 包月长期沉默 long-term silent, monthly\n"
    assert title in text
    pack.write_text(text.replace(title, title.replace("monthly", "monthly (edited)"), 1), encoding="utf-8")

    from engine.console.app import Settings, create_app
    from starlette.testclient import TestClient

    client = TestClient(create_app(Settings(db_url=db_url, rules_dir=rules, strategies_dir=strategies)),
                        follow_redirects=False)
    login(client, "pia")
    page = client.get("/content/pack/long_term_silent").text
    assert "edited since approval" in re.search(r'data-field="approval">([^<]+)<', page).group(1)
    assert "wang.fang" in page
    shas = re.findall(r'data-field="version" data-sha="([0-9a-f]{64})"', page)
    from engine.store.read import resolve_run

    used = resolve_run(run.run_id, db_url).content_hashes["pack/long_term_silent"]
    today = hashlib.sha256(pack.read_bytes()).hexdigest()
    # every version: as the run used it (approving gives back the same bytes: `status: approved`),
    # as submitted (`status: review`), and today's edit — each listed once
    assert sorted(shas) == sorted({approved, used, submitted, today}) and today not in (approved, used)
    assert re.search(r'data-field="event">approved by wang.fang on \d{4}-', page)

    answer = client.post("/content/pack/long_term_silent/diff",
                         data={"csrf_token": csrf_of(client, "/content/pack/long_term_silent"), "a": approved,
                               "b": today})
    assert answer.status_code == 303
    diff = client.get(answer.headers["location"]).text
    assert re.search(r'<span class="del">-title: [^<]*long-term silent, monthly<', diff)
    assert re.search(r'<span class="add">\+title: [^<]*long-term silent, monthly \(edited\)<', diff)
    # the run's version and the approved one (the same unless approval changed the status line)
    diff = client.get(f"/content/pack/long_term_silent?a={used}&b={approved}").text
    changed = re.findall(r'<span class="(?:add|del)">([^<]*)</span>', diff)
    assert all("status:" in line for line in changed) and (bool(changed) == (used != approved))


def test_no_campaign_link_while_the_campaign_report_does_not_exist(run, clients):
    from engine.console.campaign import available

    page = clients["auditor"].get("/").text
    assert ('href="/campaign"' in page) == available()
    if not available():
        assert clients["auditor"].get("/campaign").status_code == 404


def test_the_campaign_page_shows_the_report_of_the_latest_run(run, clients, console_db):
    """The console shows what `rekindle report campaign` computes for the latest run: one row per
    pack, strategy and channel with treated and control counts, and the report's notes."""
    from engine.outputs.reports.campaign import campaign_report

    report = campaign_report(db_url=console_db, strategies_dir=run.strategies)
    page = clients["auditor"].get("/campaign")
    assert page.status_code == 200
    assert 'class="warn"' not in page.text  # no error instead of the table
    assert "<th>pack</th>" in page.text and "<th>treated</th>" in page.text and "<th>uplift_low</th>" in page.text
    assert page.text.count("<tr>") == len(report.rows) + 1  # the header and one row per report row
    assert all(note in page.text for note in report.notes[:1])
