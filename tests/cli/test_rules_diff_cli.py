"""`rekindle rules diff` through the CLI: a git revision as the base, a small generated snapshot."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import date

import pytest
from typer.testing import CliRunner

from cli.main import app
from nightly_inputs import RULES, STRATEGIES

runner = CliRunner()
AS_OF = date(2026, 11, 20)


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path, night_inputs, monkeypatch):
    """A git checkout of the shipped content, a 400-subscriber snapshot, and the shared model."""
    from engine.generator import generate

    inputs = night_inputs
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    os.symlink(inputs.models, tmp_path / "home" / "models")  # diff scores like a run: latest model
    root = tmp_path / "repo"
    shutil.copytree(RULES, root / "rules")
    shutil.copytree(STRATEGIES, root / "strategies")
    git(root, "init", "-q", ".")
    git(root, "add", ".")
    git(root, "commit", "-qm", "shipped content")
    generate(tmp_path / "snapshot", 400, 5, AS_OF)
    return root, tmp_path / "snapshot"


def test_diff_against_head_counts_the_newly_excluded(repo):
    root, snapshot = repo
    policy = root / "rules" / "contact_policy.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace("{lt: 30}", "{lt: 90}"), encoding="utf-8")
    args = ["rules", "diff", "--base", "HEAD", "--data", str(snapshot), "--as-of", AS_OF.isoformat(),
            "--rules", str(root / "rules"), "--strategies", str(root / "strategies")]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    newly = doc["newly_excluded"].get("contacted_recently", 0)
    assert newly > 0 and f"{newly:,} newly excluded by contacted_recently" in doc["headline"]
    # a wider recent-contact window can only take contacts away
    assert all(n < 0 for n in doc["channel_deltas"].values())
    assert all(t["new_decision"] == "excluded" for t in doc["transitions"])
    assert sum(t["facts"] for t in doc["transitions"]) == doc["changed_facts"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "Transitions (old → new)" in table.stdout and doc["headline"] in table.stdout


def test_diff_with_an_unknown_revision_exits_1(repo):
    root, snapshot = repo
    result = runner.invoke(app, ["rules", "diff", "--base", "no-such-rev", "--data", str(snapshot), "--as-of",
                                 AS_OF.isoformat(), "--rules", str(root / "rules"), "--strategies",
                                 str(root / "strategies")])
    assert result.exit_code == 1 and "no-such-rev" in result.output and "Traceback" not in result.output
