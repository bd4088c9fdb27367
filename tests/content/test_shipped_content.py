"""The content the product ships (rules/, strategies/, tests/cases/) validates and passes its tests.

Runs `rekindle rules validate` and `rekindle rules test` on the shipped files through the CLI, as
a planner would, and checks the playbook conventions the validator does not enforce: every
strategy id the team fixed exists, each pack's tests cover each of its exclusions, and every
strategy a pack treats with serves that pack's target reasons.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
STRATEGIES = ROOT / "strategies"
SEED_CASES = ROOT / "tests" / "cases" / "seed_scenarios.yaml"
PLAYBOOK_CASES = ROOT / "tests" / "cases" / "playbooks.yaml"  # PLAYBOOKS.md §3 step by step

PACKS = ("long_term_silent", "short_term_silent", "monthly_low_use", "unpaid_low_use", "paid_low_use", "retention",
         "retention_care")
POLICY_REASONS = ("do_not_disturb", "red_list", "black_list", "contacted_recently")
# Strategy ids are fixed across the team (the data generator writes them into contact_history).
STRATEGY_IDS = {
    "long_term_silent": ("lts_sms_usage_tips", "lts_mms_hot_content", "lts_am_coaching"),
    "short_term_silent": ("sts_wap_client_app", "sts_sms_client_app", "sts_mms_client_guide"),
    "monthly_low_use": ("mlu_wap_hot_content", "mlu_sms_usage_tips", "mlu_mms_hot_content"),
    "unpaid_low_use": ("ulu_am_contact", "ulu_wap_push_guide", "ulu_sms_guide", "ulu_mms_guide"),
    "paid_low_use": ("plu_sms_free_trial", "plu_call_monthly_upgrade", "plu_wap_prize"),
    "retention": ("ret_call_plan_upgrade", "ret_am_contract_offer", "ret_sms_family_plan", "ret_call_loyalty",
                  "ret_sms_secondary_card", "ret_sms_vnet"),
    "retention_care": ("care_sms_benefits", "care_wap_usage_tips"),
}

runner = CliRunner()


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # nothing may depend on the current directory


def _load(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _pack(name: str) -> dict:
    return _load(RULES / f"{name}.yaml")


def _json_objects(output: str) -> list[dict]:
    """`--json` output: one JSON object per line (a single JSON list is accepted too)."""
    text = output.strip()
    try:
        parsed = json.loads(text)
        return parsed if isinstance(parsed, list) else [parsed]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_shipped_rules_and_strategies_validate():
    result = runner.invoke(app, ["rules", "validate", str(RULES), str(STRATEGIES)])
    assert result.exit_code == 0, result.output


def test_seed_case_file_validates():
    result = runner.invoke(app, ["rules", "validate", str(RULES), str(STRATEGIES), str(SEED_CASES), str(PLAYBOOK_CASES)])
    assert result.exit_code == 0, result.output


def test_pack_tests_pass():
    result = runner.invoke(app, ["rules", "test", str(RULES)])
    assert result.exit_code == 0, result.output


def test_pack_tests_pass_case_by_case_in_json():
    result = runner.invoke(app, ["rules", "test", str(RULES), "--json"])
    assert result.exit_code == 0, result.output
    outcomes = _json_objects(result.output)
    expected = sum(len(_pack(name).get("tests", [])) for name in PACKS)
    assert len(outcomes) == expected
    failed = [o for o in outcomes if not o["passed"]]
    assert failed == []


@pytest.mark.parametrize("case_file", [SEED_CASES, PLAYBOOK_CASES], ids=["seed_scenarios", "playbooks"])
def test_seed_scenarios_pass_against_all_packs(case_file):
    result = runner.invoke(app, ["rules", "test", str(RULES), "--cases", str(case_file), "--json"])
    assert result.exit_code == 0, result.output
    # Pack tests run too and reuse names across packs ("red list (contact policy)"), so keep the
    # case file's results only: by `file` where reported, else the last ones (case files run last).
    cases = _load(case_file)["cases"]
    printed = _json_objects(result.output)
    if all("file" in o for o in printed):
        printed = [o for o in printed if Path(o["file"]).name == case_file.name]
    outcomes = {o["name"]: o for o in printed[-len(cases):]}
    assert len(outcomes) == len(cases) == len(printed[-len(cases):])
    for case in cases:
        assert case["name"] in outcomes, case["name"]
        actual = outcomes[case["name"]]
        assert actual["passed"], (case["name"], actual)
        for key, value in case["expect"].items():
            assert actual[key] == value, (case["name"], key, actual)


def test_every_fixed_strategy_id_has_an_approved_file():
    for pack, ids in STRATEGY_IDS.items():
        for sid in ids:
            path = STRATEGIES / f"{sid}.yaml"
            assert path.is_file(), f"{pack}: strategies/{sid}.yaml is missing"
            data = _load(path)
            assert data["strategy"] == sid
            assert data["status"] == "approved"
    shipped = {p.stem for p in STRATEGIES.glob("*.yaml")}
    assert shipped == {sid for ids in STRATEGY_IDS.values() for sid in ids}


@pytest.mark.parametrize("name", PACKS)
def test_pack_is_approved_and_treats_only_with_its_own_strategies(name):
    pack = _pack(name)
    assert pack["pack"] == name and pack["status"] == "approved"
    treated = [t["strategy"] for t in pack["treat"]]
    assert sorted(treated) == sorted(STRATEGY_IDS[name])
    target_reasons = {t["reason"] for t in pack["target"]}
    for sid in treated:
        reasons = set(_load(STRATEGIES / f"{sid}.yaml")["reasons"])
        # a pack whose treat entries split by target group (retention_care: 放心 / 用心) needs each
        # strategy to serve at least one of the pack's target reasons
        assert (target_reasons <= reasons) if name != "retention_care" else (target_reasons & reasons), \
            f"{sid} does not list the target reasons {target_reasons} of {name}"


@pytest.mark.parametrize("name", PACKS)
def test_pack_tests_cover_every_exclusion_and_every_decision(name):
    pack = _pack(name)
    expects = [case["expect"] for case in pack["tests"]]
    excluded = {e.get("reason") for e in expects if e.get("decision") == "excluded"}
    own = {rule["reason"] for rule in pack.get("exclude", [])}
    missing = (own | set(POLICY_REASONS)) - excluded
    assert not missing, f"{name}: no test for exclusion(s) {sorted(missing)}"
    decisions = {e.get("decision") for e in expects}
    assert {"treat", "excluded", "not_selected", "out_of_scope"} <= decisions
    for strategy in STRATEGY_IDS[name]:
        assert any(e.get("strategy") == strategy for e in expects), f"{name}: no test reaches {strategy}"


def test_seed_scenarios_cover_the_playbooks_and_every_exclusion_of_the_spec():
    expects = [case["expect"] for case in _load(SEED_CASES)["cases"]]
    treated_packs = {e.get("pack") for e in expects if e.get("decision") == "treat"}
    assert set(PACKS) <= treated_packs
    excluded = {e.get("reason") for e in expects if e.get("decision") == "excluded"}
    assert set(POLICY_REASONS) | {"dual_sim", "card_farming", "used_this_month"} <= excluded


def test_contact_policy_holds_the_fixed_exclusions():
    policy = _load(RULES / "contact_policy.yaml")
    assert [rule["reason"] for rule in policy["exclude"]] == list(POLICY_REASONS)
    assert policy["status"] == "approved"


# PLAYBOOKS.md §3: every step of every playbook is a named rule of its pack (or of the contact
# policy, which every pack obeys, or the pack's `require`), tested positive and negative in the pack.
PLAYBOOK_STEPS = {
    "long_term_silent": {"target": ["silent_3m_with_data_spend"], "exclude": ["used_this_month", "dual_sim", "card_farming"],
                         "require": ["data_sensitive"]},
    "short_term_silent": {"target": ["new_handset_60d", "new_os_90d"], "exclude": ["used_this_month"],
                          "require": ["data_sensitive"]},
    "monthly_low_use": {"target": ["low_use_3m"], "exclude": ["used_this_month"], "require": ["data_sensitive"]},
    "unpaid_low_use": {"target": ["low_use_unpaid_3m"], "exclude": [], "require": ["data_sensitive"]},
    "paid_low_use": {"target": ["low_use_paid_3m"], "exclude": [], "require": ["data_sensitive"]},
}
SPEND_STEP = {"long_term_silent", "short_term_silent", "monthly_low_use"}  # data payment or GPRS traffic


@pytest.mark.parametrize("name", sorted(PLAYBOOK_STEPS))
def test_every_playbook_step_is_a_named_rule_with_tests_both_ways(name):
    pack = _pack(name)
    steps = PLAYBOOK_STEPS[name]
    assert [t["rule"] for t in pack["target"]] == steps["target"]
    assert {e["rule"] for e in pack.get("exclude", [])} >= set(steps["exclude"])
    assert sorted(pack.get("require", {})) == steps["require"]
    policy = {e["rule"] for e in _load(RULES / "contact_policy.yaml")["exclude"]}
    assert policy == {"dnd", "red_list", "black_list", "contacted_recently"}
    if name in SPEND_STEP:
        for target in pack["target"]:
            assert {"has_data_spend": True} in target["when"]["all"], (name, target["rule"])
    if name == "paid_low_use":
        assert any("fee_share" in c for c in pack["target"][0]["when"]["all"])  # 资费敏感
    tests = pack["tests"]
    outcomes = [(t["expect"]["decision"], t["expect"].get("reason")) for t in tests]
    for rule in pack.get("exclude", []):
        assert ("excluded", rule["reason"]) in outcomes, (name, rule["rule"])
    assert ("not_selected", "require:data_sensitive") in outcomes, name
    assert ("not_selected", "no_target") in outcomes, name  # the extract step stops someone
    assert any(d == "treat" for d, _ in outcomes), name  # and lets someone through


def test_scopes_do_not_filter_on_bundled():
    # long-term silent covers ALL silent monthly subscriptions: bundled is a cause, not a filter
    for name in PACKS:
        assert "bundled" not in (_pack(name).get("scope") or {}), name
