"""Targeted key edits keep every other line of a hand-written YAML file."""

from __future__ import annotations

from datetime import date

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.base.yamltext import key_block, remove_key, set_key

PACK = """\
# yaml-language-server: $schema=../engine/content/schemas/pack.schema.json
# A planner's comment that must survive.
pack: demo
title: 演示 demo
status: draft            # 预存 until reviewed
priority: 10

treat:
  - strategy: a   # first
  # a comment between items

  - strategy: b
holdout: 0.05
"""


def test_set_key_replaces_only_that_line_and_keeps_its_comment():
    out = set_key(PACK, "status", "review")
    assert out == PACK.replace("status: draft            # 预存", "status: review            # 预存")


def test_set_key_keeps_crlf_line_endings():
    crlf = PACK.replace("\n", "\r\n")
    out = set_key(crlf, "status", "approved")
    assert out == crlf.replace("status: draft ", "status: approved ")


def test_block_spans_indented_lines_and_inner_blank_lines_but_not_the_separator():
    lines = PACK.splitlines(keepends=True)
    start, end = key_block(lines, "treat")
    assert lines[start].startswith("treat:")
    assert lines[end - 1].strip() == "- strategy: b"
    assert lines[end].startswith("holdout:")
    start, end = key_block(lines, "priority")
    assert end - start == 1  # the blank line after priority belongs to nobody


def test_set_key_replaces_a_multi_line_block():
    out = set_key(PACK, "treat", [{"strategy": "c"}])
    assert yaml.safe_load(out)["treat"] == [{"strategy": "c"}]
    assert "# A planner's comment that must survive." in out
    assert out.endswith("holdout: 0.05\n")


def test_missing_key_is_inserted_after_the_preceding_key():
    text = "strategy: s\nreasons: [a]\nmaintained_on: 2026-11-01\n"
    out = set_key(text, "status", "draft", after=("strategy", "maintained_on"))
    assert out == text + "status: draft\n"
    out = set_key(text, "title", "标题", after=("strategy",))
    assert out.splitlines()[1] == "title: 标题"


def test_values_are_rendered_as_yaml():
    out = set_key("a: 1\n", "maintained_on", date(2026, 11, 2))
    assert out == "a: 1\nmaintained_on: 2026-11-02\n"
    out = set_key("a: 1\n", "message", "尊敬的客户: {service_name}")
    assert yaml.safe_load(out)["message"] == "尊敬的客户: {service_name}"


def test_a_key_only_matches_at_the_top_level():
    text = "treat:\n  - status: x\nstatus: draft\n"
    assert set_key(text, "status", "review") == "treat:\n  - status: x\nstatus: review\n"


def test_remove_key():
    assert remove_key("a: 1\nb: [x, y]\nc: 3\n", "b") == "a: 1\nc: 3\n"
    assert remove_key("a: 1\n", "zz") == "a: 1\n"


@settings(max_examples=100, deadline=None)
@given(
    value=st.one_of(
        st.text(max_size=40),
        st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8), max_size=4),
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(),
        st.dates(),
        st.booleans(),
    ),
    key=st.sampled_from(["status", "title", "priority", "new_key"]),
)
def test_set_key_sets_exactly_that_key(value, key):
    """Whatever the value, the file reads back with that key set and every other key as it was."""
    out = set_key(PACK, key, value, after=("title",))
    before, after = yaml.safe_load(PACK), yaml.safe_load(out)
    assert after[key] == value
    assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in before.items() if k != key}
    assert "# A planner's comment that must survive." in out


def test_an_atomic_rewrite_keeps_the_files_permission_bits(tmp_path):
    """A planner's edit must not make a content file unreadable to the supervisor's login."""
    import os
    import stat

    from engine.base.jsonfile import write_atomic

    path = tmp_path / "demo.yaml"
    path.write_text("a: 1\n", encoding="utf-8")
    os.chmod(path, 0o644)
    write_atomic(path, b"a: 2\n")
    assert path.read_bytes() == b"a: 2\n" and stat.S_IMODE(path.stat().st_mode) == 0o644
    os.chmod(path, 0o640)
    write_atomic(path, b"a: 3\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "new.yaml", b"b: 1\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.yaml").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
