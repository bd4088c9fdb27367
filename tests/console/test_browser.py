"""The console as a person uses it: `rekindle serve` in a real process, real headless Chromium.

Logs in, searches a subscriber of the generated run, opens a decision and checks every part of
the account on screen against `rekindle explain --json` (the real command, run in the test process
as the demo runs it); verifies the
run's chain from its page; opens a pack and the page-view log. A full-page screenshot of each
page goes to $REKINDLE_SCREENSHOTS (default: the test's tmp folder).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from typer.testing import CliRunner

from auditrun import copy_db
from browser import chromium, screenshot, serve_console
from cli.main import app
from engine.outputs.explain_details import values_text

PASSWORD = "a browser-typed passphrase"


def _rekindle(args: list[str], stdin: str | None = None) -> str:
    """A `rekindle` command, run in this process as the demo runs them (its imports are already paid)."""
    result = CliRunner().invoke(app, args, input=stdin, env={"COLUMNS": "200"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_an_auditor_traces_a_decision_in_a_real_browser(run, tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    shots = Path(os.environ.get("REKINDLE_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    db_url = copy_db(run, tmp_path / "browser.db")
    env = dict(os.environ, REKINDLE_HOME=str(tmp_path / "home"), COLUMNS="200")
    _rekindle(["users", "add", "auditor1", "--role", "auditor", "--password-stdin", "--db", db_url], PASSWORD + "\n")
    msisdn = run.examples["lost"]  # a decision with every part: rules, requirements, arbitration, message

    started = time.perf_counter()
    with serve_console(db_url, env, tmp_path / "serve.log") as server, chromium() as browser:
        base = server.wait_until_up()
        print(f"server and browser up in {time.perf_counter() - started:.1f} s")
        def css(selector):
            return browser.find_element(By.CSS_SELECTOR, selector)

        def all_css(selector, root=None):
            return (root or browser).find_elements(By.CSS_SELECTOR, selector)

        def arrived(url):
            # a click returns before the page it leads to is there (the search is a POST answered
            # by a redirect): wait for the address, then assert it, so a wrong page still fails
            try:
                WebDriverWait(browser, 60).until(lambda b: b.current_url == url)
            except TimeoutException:
                pass
            assert browser.current_url == url

        browser.get(base + "/")
        assert browser.current_url.startswith(base + "/login")
        screenshot(browser, shots / "1-login.png")
        css("input[name=username]").send_keys("auditor1")
        css("input[name=password]").send_keys(PASSWORD)
        css("section.login button").click()
        assert css("[data-field=user]").text == "auditor1"
        screenshot(browser, shots / "2-start.png")

        css("#msisdn").send_keys(msisdn)
        css("form.search button").click()
        arrived(f"{base}/subscribers/{msisdn}")
        rows = all_css("tr.decision-row")
        assert rows and len(all_css("svg.timeline circle")) == len(rows)
        screenshot(browser, shots / "3-subscriber-timeline.png")

        lost = next(r for r in rows if r.find_element(By.CSS_SELECTOR, "td.d").text == "lost")
        service = lost.get_attribute("data-service")
        lost.find_element(By.CSS_SELECTOR, "a.open").click()
        arrived(f"{base}/subscribers/{msisdn}/runs/{run.run_id}?service={service}")
        screenshot(browser, shots / "4-decision.png")

        expected = json.loads(_rekindle(["explain", msisdn, "--run", run.run_id, "--service", service, "--json",
                                         "--db", db_url]))
        shown_json = json.loads(css("[data-field=explain-json]").get_attribute("textContent"))
        assert shown_json == expected
        (fact,) = expected["facts"]
        section = css(f"section.fact[data-service='{service}']")

        def field(name):
            return section.find_element(By.CSS_SELECTOR, f"[data-field={name}]")

        assert field("decision").get_attribute("data-value") == fact["decision"] == "lost"
        assert field("reason").text == fact["reason"]
        assert field("pack").text == fact["pack"]
        assert field("pack_sha256").get_attribute("title") == fact["pack_sha256"]
        assert field("segment").text == fact["segment"]
        assert field("strategy").text == fact["strategy"] and field("channel").text == fact["channel"]
        assert field("message").text == fact["message"]
        assert field("holdout").text == "not held out"
        rules = all_css("[data-field=rule]", section)
        assert [r.get_attribute("data-rule") for r in rules] == [r["rule"] for r in fact["rules"]]
        assert [r.find_element(By.CSS_SELECTOR, "td.tested").text for r in rules] == \
            [values_text(r["tested"]) for r in fact["rules"]]
        assert [e.get_attribute("data-reason") for e in all_css("[data-field=exclusion]", section)] == \
            [x["reason"] for x in fact["exclusions"]]
        assert [q.get_attribute("data-req") for q in all_css("[data-field=requirement]", section)] == \
            [q["field"] for q in fact["requirements"]]
        for q, row in zip(fact["requirements"], all_css("[data-field=requirement]", section)):
            assert q["model_version"] in row.text and ("met" if q["met"] else "MISSED") in row.text
        assert [c.get_attribute("data-outcome") for c in all_css("[data-field=candidate]", section)] == \
            [c["outcome"] for c in fact["arbitration"]["candidates"]]
        models = {m.get_attribute("data-model"): m.find_element(By.CSS_SELECTOR, "code").text
                  for m in all_css("[data-field=model]", section)}
        assert models == fact["model_versions"]
        scores = {s.get_attribute("data-score") for s in all_css("[data-field=score]", section)}
        assert scores == {k for k in fact["scores"] if k != "propensity"} | \
            {f"propensity.{k}" for k in fact["scores"].get("propensity", {})}
        approvals = {a.get_attribute("data-kind"): a.text for a in all_css("[data-field=approval]", section)}
        assert set(approvals) == set(fact["approval"])
        assert all(state["status"] in approvals[kind] for kind, state in fact["approval"].items())

        browser.get(f"{base}/runs/{run.run_id}")
        assert css("[data-field=chain-status]").text.startswith("Not verified")
        css("#chain button").click()
        # the verdict page replaces the one clicked on: wait for it (a slow verify otherwise leaves
        # the old page's element, stale, in our hands)
        WebDriverWait(browser, 300, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda b: not b.find_element(By.CSS_SELECTOR, "[data-field=chain-status]").text.startswith("Not verified"))
        verdict = css("[data-field=chain-status]").text
        assert verdict.startswith("OK:"), verdict
        assert verdict == _rekindle(["audit", "verify", "--run", run.run_id, "--db", db_url]).strip()
        assert len(all_css("figure.chart svg rect.seg")) > 0
        screenshot(browser, shots / "5-run.png")

        browser.get(f"{base}/content/pack/{fact['pack']}")
        assert css("[data-field=current-sha]").text
        screenshot(browser, shots / "6-pack.png")

        browser.get(f"{base}/page-views")
        views = [v.text for v in all_css("[data-field=view]")]
        assert len(views) == 2 and all("auditor1" in v and msisdn in v for v in views)
        screenshot(browser, shots / "7-page-views.png")
    print(f"browser session {time.perf_counter() - started:.1f} s; screenshots in {shots}")
