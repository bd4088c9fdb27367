"""engine.rules.cases: pack tests run against their pack, case files against all packs; text and JSON reports."""

from __future__ import annotations

import json
from pathlib import Path

from engine.rules.cases import case_fact, test_paths as run_test_paths

FIXTURES = Path(__file__).parent / "backend_fixtures"
RULES, STRATEGIES, CASES = FIXTURES / "rules", FIXTURES / "strategies", FIXTURES / "cases" / "mixed.yaml"


def test_case_fact_overlays_neutral_defaults():
    fact = case_fact({"uses_m1": 4})
    assert fact["uses_m1"] == 4 and fact["uses_m0"] == 0 and fact["on_list"] == []


def test_pack_tests_pass_in_text():
    text, code = run_test_paths([RULES], [], STRATEGIES)
    assert code == 0, text
    assert text.splitlines()[-1] == "2 passed, 0 failed (2 cases)."
    assert "PASS  " in text and "silent sensitive spender gets SMS tips" in text


def test_case_file_runs_against_all_packs_and_a_failure_shows_the_difference():
    text, code = run_test_paths([RULES], [CASES], STRATEGIES)
    assert code == 1
    lines = text.splitlines()
    assert lines[-1] == "5 passed, 1 failed (6 cases)."
    i = next(n for n, line in enumerate(lines) if line.startswith("FAIL"))
    assert lines[i].endswith("wrong on purpose")
    assert "strategy: expected 'lts_am_coaching', got 'lts_sms_usage_tips'" in lines[i + 1]


def test_json_lines_carry_the_actual_outcome_and_fired_rules():
    text, code = run_test_paths([RULES], [CASES], STRATEGIES, as_json=True)
    assert code == 1
    rows = {r["name"]: r for r in map(json.loads, text.splitlines())}
    assert len(rows) == 6
    first = rows["better-priority pack treats a long-silent subscriber with a manager"]
    assert first["passed"] is True
    assert {k: first[k] for k in ("decision", "pack", "reason", "strategy", "channel")} == {
        "decision": "treat", "pack": "other_pack", "reason": "silent_some", "strategy": "lts_am_coaching",
        "channel": "account_manager"}
    assert first["rules"] == ["silent_3_months", "monthly_any", "silent_any", "silent_long"]
    assert rows["do-not-disturb"]["rules"][2] == "dnd"
    assert rows["wrong on purpose"]["passed"] is False
    assert rows["free billing is in no pack"]["pack"] is None


def test_invalid_content_reports_diagnostics_and_exit_1(tmp_path):
    bad = tmp_path / "rules"
    bad.mkdir()
    (bad / "broken.yaml").write_text("pack: broken\ntitle: t\nowner: o\nstatus: draft\npriority: 1\n"
                                     "target: [{rule: t, when: {months_silnt: {gte: 3}}, reason: r}]\n"
                                     "treat: [{strategy: lts_sms_usage_tips}]\n", encoding="utf-8")
    text, code = run_test_paths([bad], [], STRATEGIES)
    assert code == 1 and "months_silnt" in text and "RP012" in text
