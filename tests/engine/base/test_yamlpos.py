"""The position-keeping YAML loader: marks for keys and values, duplicate keys, syntax errors."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.base.yamlpos import join_pointer, load_yaml

PACK = """\
pack: demo
target:
  - rule: silent
    when: {all: [{months_silent: {gte: 3}}, {has_data_spend: true}]}
"""


def test_positions_of_keys_values_and_list_items():
    out = load_yaml(PACK, "demo.yaml")
    assert out.diagnostics == []
    assert out.data["target"][0]["when"]["all"][0] == {"months_silent": {"gte": 3}}
    assert out.key_positions["/pack"] == (1, 1)
    assert out.value_positions["/pack"] == (1, 7)
    assert out.key_positions["/target/0"] == (3, 5)
    assert out.key_positions["/target/0/rule"] == (3, 5)
    assert out.value_positions["/target/0/rule"] == (3, 11)
    assert out.key_positions["/target/0/when"] == (4, 5)
    assert out.key_positions["/target/0/when/all/1/has_data_spend"] == (4, 46)
    assert out.key_positions["/target/0/when/all/0/months_silent/gte"] == (4, 35)


def test_duplicate_keys_are_errors_naming_both_lines():
    out = load_yaml("pack: a\npriority: 1\ntarget:\n  x: 1\n  x: 2\npriority: 2\n", "p.yaml")
    messages = sorted((d.line, d.code, d.path, d.message) for d in out.diagnostics)
    assert messages == [
        (5, "RP002", "/target/x", "duplicate key 'x' (first defined on line 4, again on line 5)"),
        (6, "RP002", "/priority", "duplicate key 'priority' (first defined on line 2, again on line 6)"),
    ]
    assert all(d.file == "p.yaml" for d in out.diagnostics)


def test_syntax_error_carries_the_parser_mark():
    out = load_yaml("pack: a\ntarget: [1, 2\nowner: b\n", "bad.yaml")
    assert out.data is None
    (d,) = out.diagnostics
    assert d.code == "RP001" and d.line == 3 and d.column is not None
    assert "invalid YAML" in d.message and "line 2" in d.message


def test_unsafe_tags_are_refused_not_executed():
    out = load_yaml("x: !!python/object/apply:os.system ['echo hacked']\n", "evil.yaml")
    assert out.data is None
    assert out.diagnostics[0].code == "RP001"
    assert out.diagnostics[0].line == 1


def test_dates_load_as_dates_and_impossible_dates_stay_text():
    out = load_yaml("good: 2026-11-01\nbad: 2026-13-01\n")
    assert out.data == {"good": dt.date(2026, 11, 1), "bad": "2026-13-01"}
    assert out.diagnostics == []


def test_alias_bomb_is_refused_fast_with_a_diagnostic():
    # Issue 11: this file (9 * 4**8 = 589,824 values once expanded) used to load, and every later
    # reader of the data walked the expansion (55 s, 5.6 GB, MemoryError for a deeper one).
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8)
    )
    out = load_yaml(bomb, "bomb.yaml")  # refused while composing: nodes are counted as aliases expand
    [d] = out.diagnostics
    assert (d.code, d.file, d.line) == ("RP005", "bomb.yaml", 8) and "aliases are expanded" in d.message
    assert out.data is None


def test_the_billion_laughs_is_refused_in_milliseconds():
    laughs = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
    )
    out = load_yaml(laughs)
    [d] = out.diagnostics
    assert d.code == "RP005" and out.data is None


def test_an_alias_inside_its_own_value_is_refused():
    [d] = load_yaml("ok: 1\ncycle: &loop [*loop]\n").diagnostics
    assert (d.code, d.line) == ("RP005", 2) and "contains it" in d.message


def test_small_aliases_still_load():
    out = load_yaml("base: &b {channel: sms, cost: 0.05}\nother: *b\n")
    assert out.diagnostics == [] and out.data["other"] == {"channel": "sms", "cost": 0.05}


@pytest.mark.parametrize("depth", [60, 200, 1000])
def test_deep_nesting_is_a_diagnostic_not_a_recursion_error(depth):
    flow = "[" * depth + "]" * depth
    block = "".join(f"{' ' * i}k{i}:\n" for i in range(depth)) + " " * depth + "v\n"
    for text in (flow, block, "[" * 20 * depth + "]" * 20 * depth):
        [d] = load_yaml(text, "deep.yaml").diagnostics
        assert d.code == "RP005" and d.line is not None and "levels deep" in d.message


def test_nesting_up_to_the_limit_loads():
    out = load_yaml("[" * 49 + "1" + "]" * 49)
    assert out.diagnostics == []


def test_a_huge_file_is_refused_before_parsing():
    out = load_yaml("x: " + "a" * 50_000_000 + "\n", "big.yaml")
    [d] = out.diagnostics
    assert (d.code, d.line) == ("RP005", 1) and "characters" in d.message and out.data is None


def test_json_pointer_escaping():
    assert join_pointer("/a", "x/y~z") == "/a/x~1y~0z"
    out = load_yaml("'a/b': {'c~d': 1}\n")
    assert out.key_positions["/a~1b/c~0d"] == (1, 9)


def test_empty_document_has_no_data_and_no_error():
    out = load_yaml("# only a comment\n")
    assert out.data is None and out.diagnostics == []
