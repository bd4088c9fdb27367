"""`rekindle strategies ...` through the real CLI: every command once, errors without tracebacks."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from engine.store.database import dispose_all
from identities import OTHER_USER, rekindle_as, shared_tree  # noqa: F401 - a fixture

runner = CliRunner()

HAND_WRITTEN = """\
# yaml-language-server: $schema=../engine/content/schemas/strategy.schema.json
# a planner's comment
strategy: demo_mms
reasons: [silent_3_months]
measure: 彩信热门内容
channel: mms
maintainer: 张伟
maintained_on: 2026-11-01
status: draft            # 预存
"""


@pytest.fixture
def kb(tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    directory = tmp_path / "strategies"
    directory.mkdir()
    (directory / "demo_mms.yaml").write_text(HAND_WRITTEN, encoding="utf-8")
    yield directory
    dispose_all()


def run(kb: Path, *args: str, input: str | None = None):
    return runner.invoke(app, ["strategies", *args, "--dir", str(kb)], input=input)


def add_sms(kb: Path):
    return run(kb, "add", "--strategy", "lts_sms_tips", "--measure", "短信使用指南", "--channel", "sms",
               "--reasons", "silent_3_months,no_use", "--message", "您的{service_name}", "--cost", "0.05",
               "--maintainer", "李娜", "--title", "短信")


def test_add_then_show_and_list_in_each_format(kb):
    result = add_sms(kb)
    assert result.exit_code == 0, result.output
    text = (kb / "lts_sms_tips.yaml").read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../engine/content/schemas/strategy.schema.json\n")
    assert "reasons: [silent_3_months, no_use]\n" in text and "maintainer: 李娜\n" in text
    assert f"maintained_on: {date.today().isoformat()}\n" in text and text.endswith("status: draft\n")

    result = run(kb, "show", "lts_sms_tips")
    assert result.exit_code == 0, result.output
    assert "measure: 短信使用指南" in result.output and "current content never approved" in result.output

    rows = json.loads(run(kb, "list", "--format", "json").output)
    assert [r["strategy"] for r in rows] == ["demo_mms", "lts_sms_tips"]
    assert rows[1]["reasons"] == ["silent_3_months", "no_use"] and rows[1]["maintained_on"] == date.today().isoformat()
    rows = list(csv.DictReader(io.StringIO(run(kb, "list", "--channel", "mms", "--format", "csv").output)))
    assert [r["strategy"] for r in rows] == ["demo_mms"]
    table = run(kb, "list", "--status", "draft").output
    assert "demo_mms" in table and "lts_sms_tips" in table
    assert "demo_mms" not in run(kb, "list", "--status", "approved").output


def test_add_defaults_the_maintainer_to_the_current_user(kb, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "planner7")
    result = run(kb, "add", "--strategy", "x_one", "--measure", "m", "--channel", "sms", "--reasons", "a")
    assert result.exit_code == 0, result.output
    assert "maintainer: planner7\n" in (kb / "x_one.yaml").read_text(encoding="utf-8")


def test_add_reports_all_problems_with_exit_code_1(kb):
    result = run(kb, "add", "--strategy", "bad_one", "--channel", "fax", "--reasons", "a",
                 "--message", "{nme}", "--maintained-on", "2026-02-30")
    assert result.exit_code == 1
    out = result.output
    assert "error[ST204] measure: 'measure' is required (give --measure)" in out
    assert "error[RP014] /channel" in out and "error[ST001] /message" in out and "error[ST002] /maintained_on" in out
    assert "Found 4 errors." in out and "Traceback" not in out
    assert not (kb / "bad_one.yaml").exists()


@pytest.fixture
def team_kb(shared_tree, monkeypatch):
    """The knowledge base in a folder a second OS login (the supervisor) can use too."""
    monkeypatch.setenv("REKINDLE_HOME", str(shared_tree / "home"))
    directory = shared_tree / "strategies"
    directory.mkdir()
    (directory / "demo_mms.yaml").write_text(HAND_WRITTEN, encoding="utf-8")
    yield directory
    dispose_all()


def supervisor(kb: Path, *args: str):
    """`rekindle strategies ARGS` as another OS login (the approver), as a real process."""
    return rekindle_as(OTHER_USER, kb.parent, ["strategies", *args, "--dir", str(kb)])


def test_edit_keeps_comments_and_moves_approved_back_to_draft(team_kb):
    kb = team_kb
    assert run(kb, "submit", "demo_mms").exit_code == 0
    result = supervisor(kb, "approve", "demo_mms")
    assert result.returncode == 0, result.stdout + result.stderr
    path = kb / "demo_mms.yaml"
    assert "status: approved            # 预存" in path.read_text(encoding="utf-8")
    assert f"current content approved by {OTHER_USER}" in run(kb, "show", "demo_mms").output

    result = run(kb, "edit", "demo_mms", "--cost", "0.15", "--regions", "西安,宝鸡")
    assert result.exit_code == 0, result.output
    assert "status approved → draft" in result.output
    text = path.read_text(encoding="utf-8")
    assert "# a planner's comment\n" in text and "cost: 0.15\n" in text and "regions: [西安, 宝鸡]\n" in text
    assert "status: draft            # 预存" in text
    assert "edited since approval on " in run(kb, "show", "demo_mms").output

    assert "nothing changed" in run(kb, "edit", "demo_mms", "--cost", "0.15").output
    result = run(kb, "edit", "demo_mms", "--channel", "fax")
    assert result.exit_code == 1 and "error[RP014]" in result.output


def test_approve_takes_no_free_text_approver_and_needs_a_submitted_strategy(kb):
    result = run(kb, "approve", "demo_mms", "--by", "王芳")
    assert result.exit_code == 2 and "No such option: --by" in result.output  # identity is the OS login
    result = run(kb, "approve", "demo_mms")
    assert result.exit_code == 1 and "rekindle strategies submit demo_mms" in result.output


def test_remove_asks_unless_yes(kb):
    result = run(kb, "remove", "demo_mms", input="n\n")
    assert result.exit_code == 1 and (kb / "demo_mms.yaml").exists()
    result = run(kb, "remove", "demo_mms", "--yes")
    assert result.exit_code == 0 and not (kb / "demo_mms.yaml").exists()
    result = run(kb, "remove", "demo_mms", "--yes")
    assert result.exit_code == 1 and "error[ST201]" in result.output


def test_import_errors_name_the_csv_line_and_nothing_is_imported(kb, tmp_path):
    source = tmp_path / "kb.csv"
    source.write_text(
        "strategy,reasons,measure,channel,maintainer,maintained_on\n"
        "new_one,a,m,sms,李娜,2026-11-01\n"
        "new_two,a,,sms,李娜,2026-11-01\n"
        "demo_mms,a,m,mms,李娜,2026-11-01\n",
        encoding="utf-8",
    )
    result = run(kb, "import", str(source))
    assert result.exit_code == 1
    assert f"{source}:3:3: error[ST204] measure: 'measure' is empty" in result.output
    assert f"{source}:4:1: error[ST202] strategy: strategy 'demo_mms' already exists" in result.output
    assert sorted(p.name for p in kb.iterdir()) == ["demo_mms.yaml"]


def test_export_import_round_trip_through_the_cli(kb, tmp_path):
    assert add_sms(kb).exit_code == 0
    out = tmp_path / "kb.csv"
    result = run(kb, "export", str(out))
    assert result.exit_code == 0 and "exported 2 strategies" in result.output
    assert run(kb, "export", "-").output == out.read_text(encoding="utf-8")
    fresh = tmp_path / "fresh"
    result = runner.invoke(app, ["strategies", "import", str(out), "--dir", str(fresh)])
    assert result.exit_code == 0 and "created 2, updated 0, unchanged 0" in result.output
    assert (fresh / "lts_sms_tips.yaml").read_bytes() == (kb / "lts_sms_tips.yaml").read_bytes()
    result = run(kb, "import", str(out), "--update")
    assert result.exit_code == 0 and "created 0, updated 0, unchanged 2" in result.output  # re-import is a no-op


def _ids(kb: Path, *filters: str) -> list[str]:
    result = run(kb, "list", *filters, "--format", "json")
    assert result.exit_code == 0, result.output
    return [r["strategy"] for r in json.loads(result.output)]


def test_list_filters_by_every_knowledge_base_field(kb):
    # the operator's query fields (PLAYBOOKS.md §5): reason, service, measure, region, maintainer, status, channel
    assert add_sms(kb).exit_code == 0  # lts_sms_tips: sms, 李娜, any service, all cities, draft
    assert run(kb, "add", "--strategy", "xa_reading", "--measure", "阅读热门内容推荐", "--channel", "wap_push",
               "--reasons", "low_use_monthly", "--services", "reading", "--regions", "xian",
               "--maintainer", "王芳").exit_code == 0
    assert _ids(kb, "--reason", "silent_3_months") == ["demo_mms", "lts_sms_tips"]
    assert _ids(kb, "--reason", "low_use_monthly") == ["xa_reading"]
    assert _ids(kb, "--service", "video") == ["demo_mms", "lts_sms_tips"]  # any-service strategies fit
    assert _ids(kb, "--service", "reading") == ["demo_mms", "lts_sms_tips", "xa_reading"]
    assert _ids(kb, "--region", "baoji") == ["demo_mms", "lts_sms_tips"]  # all-city strategies fit
    assert _ids(kb, "--region", "xian", "--maintainer", "王芳") == ["xa_reading"]
    assert _ids(kb, "--measure", "热门内容") == ["demo_mms", "xa_reading"]
    assert _ids(kb, "--maintainer", "张伟") == ["demo_mms"]
    assert _ids(kb, "--status", "draft", "--channel", "sms") == ["lts_sms_tips"]
    bad = run(kb, "list", "--service", "readnig")
    assert bad.exit_code == 1 and "reading" in bad.output
