"""Limits on content files (issue 11): each refused with a diagnostic naming file and line."""

from __future__ import annotations

from engine.content.documents import load_document

PACK_HEAD = """\
pack: many_tests
title: t
owner: team
status: draft
priority: 10
target:
  - {rule: silent_3m, when: {months_silent: {gte: 3}}, reason: silent_3_months}
treat:
  - strategy: demo_sms
tests:
"""
CASE = "  - {name: case %d, given: {months_silent: 3}, expect: {decision: treat}}\n"


def test_a_pack_with_too_many_tests_is_refused_at_its_tests_key(tmp_path):
    path = tmp_path / "many_tests.yaml"
    path.write_text(PACK_HEAD + "".join(CASE % i for i in range(1001)), encoding="utf-8")
    _, diagnostics = load_document(path)
    [d] = [d for d in diagnostics if "tests" in d.path]
    assert (d.code, d.line, d.file) == ("RP015", 10, str(path)) and "1,001 items; at most 1,000" in d.message
    assert len(d.format()) < 300


def test_a_thousand_tests_are_allowed(tmp_path):
    path = tmp_path / "many_tests.yaml"
    path.write_text(PACK_HEAD + "".join(CASE % i for i in range(1000)), encoding="utf-8")
    _, diagnostics = load_document(path)
    assert not [d for d in diagnostics if "tests" in d.path and d.code == "RP015"]


def test_content_loaders_refuse_an_alias_bomb_with_the_file_and_line(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text("pack: bomb\nx: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"x{i}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)), encoding="utf-8")
    document, [d] = load_document(path)
    assert document is None and (d.code, d.file, d.line) == ("RP005", str(path), 7)
