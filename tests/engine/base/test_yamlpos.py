"""The position-keeping YAML loader: marks for keys and values, duplicate keys, syntax errors."""

from __future__ import annotations

import datetime as dt
import time

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


def test_alias_bomb_and_cycles_load_quickly():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8)
    )
    started = time.perf_counter()
    out = load_yaml(bomb + "cycle: &loop [*loop]\n")
    assert time.perf_counter() - started < 2
    assert out.diagnostics == []
    assert out.data["cycle"][0] is out.data["cycle"]


def test_json_pointer_escaping():
    assert join_pointer("/a", "x/y~z") == "/a/x~1y~0z"
    out = load_yaml("'a/b': {'c~d': 1}\n")
    assert out.key_positions["/a~1b/c~0d"] == (1, 9)


def test_empty_document_has_no_data_and_no_error():
    out = load_yaml("# only a comment\n")
    assert out.data is None and out.diagnostics == []
