"""`rekindle facts`: a subscriber's facts as the rules see them, from a hand-made snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from snapshots import HANDMADE_AS_OF, HANDMADE_FACTS, SUB1, SUB2

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _facts(snapshot: Path, msisdn: str, *extra: str):
    return runner.invoke(app, ["facts", "--data", str(snapshot), "--as-of", HANDMADE_AS_OF.isoformat(),
                               "--msisdn", msisdn, "--rules", str(ROOT / "rules"),
                               "--strategies", str(ROOT / "strategies"), *extra])


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))


@pytest.mark.parametrize("msisdn", [SUB1, SUB2])
def test_json_facts_carry_the_hand_computed_catalogue_values(handmade_dir, msisdn):
    result = _facts(handmade_dir, msisdn, "--json")
    assert result.exit_code == 0, result.output
    got = {fact["service"]: fact for fact in json.loads(result.output)}
    expected = [e for e in HANDMADE_FACTS if e["msisdn"] == msisdn]
    assert sorted(got) == sorted(e["service"] for e in expected)
    for want in expected:
        fact = got[want["service"]]
        for name, value in want.items():
            assert fact[name] == value, (want["service"], name)
        # what the rules see beyond the snapshot: a segment and the scores that need no training
        assert fact["segment"] in ("silent_long", "silent_short", "low_monthly", "low_unpaid", "low_paid", "active", "new")
        assert 0 <= fact["sensitivity"] <= 1 and 0 <= fact["value"] <= 1
        assert fact["churn_risk"] is None  # no stability model trained in this home


def test_missing_values_are_null_in_json(handmade_dir):
    facts = json.loads(_facts(handmade_dir, SUB2, "--json").output)
    assert all(f["arpu_trend"] is None and f["contract_months_left"] is None and f["days_since_contact"] is None
               for f in facts)


def test_unknown_subscriber_is_a_clear_error(handmade_dir):
    result = _facts(handmade_dir, "13999999999")
    assert result.exit_code == 1
    assert "13999999999 is not in the snapshot" in result.output


def test_table_output_names_every_service(handmade_dir):
    result = _facts(handmade_dir, SUB1)
    assert result.exit_code == 0, result.output
    assert "months_silent" in result.output and "reading" in result.output and "gprs" in result.output
