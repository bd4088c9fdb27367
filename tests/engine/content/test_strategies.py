"""The strategy knowledge base: add, edit, remove, list."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from engine.content import strategies as kb
from engine.base.diagnostics import DiagnosticError

TODAY = date(2026, 11, 25)

HAND_WRITTEN = """\
# yaml-language-server: $schema=../engine/content/schemas/strategy.schema.json
# Strategy 促进措施 demo_sms — a planner's comment that must survive edits.
strategy: demo_sms
title: 短信使用指南
reasons: [silent_3_months]
measure: 短信推送使用指南
channel: sms
message: "尊敬的客户，您的{service_name}有新内容：{hot_content}"
cost: 0.05               # yuan per SMS
regions: []              # all cities
maintainer: 张伟
maintained_on: 2026-11-01
status: approved         # approved by the supervisor
"""


def values(**over) -> dict:
    base = {"strategy": "lts_sms_tips", "reasons": ["silent_3_months", "no_use"], "measure": "短信推送使用指南",
            "channel": "sms", "message": "您的{service_name}有新内容", "cost": 0.05}
    base.update(over)
    return base


def codes(error) -> list[tuple[str, str]]:
    return [(d.code, d.path) for d in error.value.diagnostics]


def test_add_writes_the_header_stable_key_order_and_defaults(tmp_path):
    path = kb.add_strategy(tmp_path, values(title="标题", regions=["西安"]), user="李娜", today=TODAY)
    assert path == tmp_path / "lts_sms_tips.yaml"
    assert path.read_text(encoding="utf-8") == (
        "# yaml-language-server: $schema=../engine/content/schemas/strategy.schema.json\n"
        "strategy: lts_sms_tips\n"
        "title: 标题\n"
        "reasons: [silent_3_months, no_use]\n"
        "measure: 短信推送使用指南\n"
        "channel: sms\n"
        "message: 您的{service_name}有新内容\n"
        "cost: 0.05\n"
        "regions: [西安]\n"
        "maintainer: 李娜\n"
        "maintained_on: 2026-11-25\n"
        "status: draft\n"
    )
    document = kb.get_strategy(tmp_path, "lts_sms_tips")
    assert document.data["maintained_on"] == TODAY and document.status == "draft"


def test_maintainer_and_date_can_be_set(tmp_path):
    kb.add_strategy(tmp_path, values(maintainer="王芳", maintained_on=date(2026, 1, 2)), user="李娜", today=TODAY)
    data = kb.get_strategy(tmp_path, "lts_sms_tips").data
    assert (data["maintainer"], data["maintained_on"]) == ("王芳", date(2026, 1, 2))


def test_add_reports_every_problem_and_writes_nothing(tmp_path):
    bad = values(measure=None, channel="fax", message="您好{name}", maintained_on=kb.coerce("maintained_on", "2026-13-01"))
    with pytest.raises(DiagnosticError) as error:
        kb.add_strategy(tmp_path, bad, user="李娜", today=TODAY)
    found = codes(error)
    assert ("ST204", "measure") in found  # required, with the option to give
    assert ("RP014", "/channel") in found  # channel enum
    assert ("ST001", "/message") in found  # unknown message field
    assert ("ST002", "/maintained_on") in found  # not a real date
    assert "--measure" in error.value.diagnostics[0].hint
    assert list(tmp_path.iterdir()) == []


def test_add_refuses_an_existing_id_and_unsafe_ids(tmp_path):
    kb.add_strategy(tmp_path, values(), user="李娜", today=TODAY)
    with pytest.raises(DiagnosticError) as error:
        kb.add_strategy(tmp_path, values(), user="李娜", today=TODAY)
    assert codes(error) == [("ST202", "")]
    with pytest.raises(DiagnosticError) as error:
        kb.add_strategy(tmp_path, values(strategy="../evil"), user="李娜", today=TODAY)
    assert codes(error)[0][0] == "ST206"
    assert not (tmp_path.parent / "evil.yaml").exists()


def test_coerce_turns_text_into_values():
    assert kb.coerce("reasons", " a, b ,,c ") == ["a", "b", "c"]
    assert kb.coerce("reasons", "a|b", "|") == ["a", "b"]
    assert kb.coerce("cost", "2") == 2 and kb.coerce("cost", "0.05") == 0.05
    assert kb.coerce("cost", "cheap") == "cheap"  # left for validation to report at its key
    assert kb.coerce("maintained_on", "2026-11-01") == date(2026, 11, 1)
    assert kb.coerce("maintained_on", "20261101") == "20261101"
    assert kb.coerce("title", "  ") is None


def write_hand_written(directory: Path) -> Path:
    path = directory / "demo_sms.yaml"
    path.write_text(HAND_WRITTEN, encoding="utf-8")
    return path


def test_edit_changes_only_the_edited_keys_and_returns_approved_content_to_draft(tmp_path):
    path = write_hand_written(tmp_path)
    _, changed = kb.edit_strategy(tmp_path, "demo_sms", {"cost": 0.08}, today=TODAY)
    assert changed
    expected = (HAND_WRITTEN.replace("cost: 0.05 ", "cost: 0.08 ")
                .replace("maintained_on: 2026-11-01", "maintained_on: 2026-11-25")
                .replace("status: approved ", "status: draft "))
    assert path.read_text(encoding="utf-8") == expected


def test_edit_can_clear_optional_fields_and_add_new_ones(tmp_path):
    path = write_hand_written(tmp_path)
    kb.edit_strategy(tmp_path, "demo_sms", {"cost": None, "services": ["reading", "video"],
                                             "maintained_on": date(2026, 11, 3)}, today=TODAY)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert "cost" not in data and data["services"] == ["reading", "video"]
    assert data["regions"] == []  # clearing an empty list is no change
    assert data["maintained_on"] == date(2026, 11, 3)
    keys = [line.split(":")[0] for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert keys.index("services") == keys.index("reasons") + 1  # inserted in the stable order


def test_an_edit_that_changes_nothing_leaves_the_file_alone(tmp_path):
    path = write_hand_written(tmp_path)
    _, changed = kb.edit_strategy(tmp_path, "demo_sms", {"cost": 0.05, "channel": "sms", "regions": None}, today=TODAY)
    assert not changed and path.read_text(encoding="utf-8") == HAND_WRITTEN


def test_a_bad_edit_is_refused_and_the_file_kept(tmp_path):
    path = write_hand_written(tmp_path)
    with pytest.raises(DiagnosticError) as error:
        kb.edit_strategy(tmp_path, "demo_sms", {"channel": "telegram", "message": "{service_nam}"}, today=TODAY)
    found = error.value.diagnostics
    assert {(d.code, d.line) for d in found} == {("RP014", 7), ("ST001", 8)}
    assert "service_name" in found[1].message
    assert path.read_text(encoding="utf-8") == HAND_WRITTEN
    with pytest.raises(DiagnosticError) as error:
        kb.edit_strategy(tmp_path, "demo_sms", {"strategy": "other"}, today=TODAY)
    assert codes(error) == [("ST205", "/strategy")]
    with pytest.raises(DiagnosticError) as error:
        kb.edit_strategy(tmp_path, "demo_sms", {"status": "approved"}, today=TODAY)
    assert codes(error) == [("ST203", "/status")]


def test_list_filters_and_remove(tmp_path):
    write_hand_written(tmp_path)
    kb.add_strategy(tmp_path, values(strategy="b_mms", channel="mms"), user="李娜", today=TODAY)
    kb.add_strategy(tmp_path, values(strategy="a_sms"), user="李娜", today=TODAY)
    names = lambda **f: [d.name for d in kb.list_strategies(tmp_path, **f)[0]]  # noqa: E731
    assert names() == ["a_sms", "b_mms", "demo_sms"]
    assert names(channel="sms") == ["a_sms", "demo_sms"]
    assert names(status="approved") == ["demo_sms"]
    assert names(status="draft", channel="mms") == ["b_mms"]
    kb.remove_strategy(tmp_path, "b_mms")
    assert names() == ["a_sms", "demo_sms"]
    with pytest.raises(DiagnosticError) as error:
        kb.remove_strategy(tmp_path, "a_smss")
    assert codes(error) == [("ST201", "")] and "a_sms" in error.value.diagnostics[0].hint
    with pytest.raises(DiagnosticError) as error:
        kb.list_strategies(tmp_path, status="aproved", channel="wap")
    assert codes(error) == [("ST203", "--channel"), ("ST203", "--status")]
    assert "'approved'" in error.value.diagnostics[1].hint
