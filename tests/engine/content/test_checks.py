"""Semantic checks beyond the golden cases: cross-file rules, limits, schemas, the code table."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import engine.content.checks as checks_module
from engine.facts import fields as catalogue
from engine.content import checks_conditions, checks_schema
from engine.content import documents as content
from engine.content.checks import MAX_CONDITIONS_PER_PACK
from engine.content.checks_conditions import ConditionChecker, contradiction
from engine.content.validate import validate_paths
from engine.content.document import Document

FIXTURES = Path(__file__).parent / "fixtures"
PACK = (FIXTURES / "rules" / "long_term_silent.yaml").read_text(encoding="utf-8")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "rules", tmp_path / "rules")
    shutil.copytree(FIXTURES / "strategies", tmp_path / "strategies")
    return tmp_path


def write_pack(tree: Path, name: str, text: str) -> Path:
    path = tree / "rules" / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shared_priority_is_a_warning_on_the_later_pack(tree: Path):
    write_pack(tree, "short_term_silent", PACK.replace("pack: long_term_silent", "pack: short_term_silent"))
    content_, diags = validate_paths([tree / "rules", tree / "strategies"])
    assert [(d.code, d.severity, Path(d.file).name, d.line) for d in diags] == [
        ("RP035", "warning", "short_term_silent.yaml", 6)
    ]
    assert "long_term_silent" in diags[0].message


def test_too_many_conditions_for_one_ruleset(tree: Path):
    cities = ", ".join(f"c{i}" for i in range(MAX_CONDITIONS_PER_PACK))
    big = PACK.replace("reason: dual_sim", f"reason: dual_sim\n  - {{rule: cities, when: {{city: {{in: [{cities}]}}}}, reason: city}}")
    write_pack(tree, "long_term_silent", big)
    _content, diags = validate_paths([tree / "rules" / "long_term_silent.yaml"])
    assert [d.code for d in diags] == ["RP036"]
    assert diags[0].path == "/pack" and diags[0].line == 2
    assert f"at most {MAX_CONDITIONS_PER_PACK}" in diags[0].message


def test_reasons_contains_is_checked_against_segment_reasons(tree: Path):
    text = PACK.replace("{has_data_spend: true}", "{reasons: {contains: silent_3_month}}")
    write_pack(tree, "long_term_silent", text)
    _content, diags = validate_paths([tree / "rules" / "long_term_silent.yaml"])
    assert [(d.code, d.path) for d in diags] == [("RP025", "/target/0/when/all/1/reasons/contains")]
    assert "did you mean 'silent_3_months'" in diags[0].hint


def test_service_values_follow_the_service_catalogue(tree: Path):
    # video is a known service id, but this operator's catalogue (services.yaml) does not list it
    (tree / "rules" / "services.yaml").write_text(
        "services:\n  - {service: reading, name_zh: 手机阅读, name_en: Reading, billing: [monthly], activity: read}\n",
        encoding="utf-8",
    )
    _content, diags = validate_paths([tree / "rules", tree / "strategies"])
    assert sorted((d.code, Path(d.file).name, d.path) for d in diags) == [
        ("RP025", "long_term_silent.yaml", "/target/0/when/all/2/not/service/in/0"),
        ("RP025", "long_term_silent.yaml", "/target/0/when/all/2/not/service/in/1"),
        ("ST003", "ltsilent_sms_tips.yaml", "/services/1"),
    ]


def test_duplicate_service_in_catalogue(tree: Path):
    path = tree / "rules" / "services.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines + [lines[1]]) + "\n", encoding="utf-8")
    _content, diags = validate_paths([path])
    assert [(d.code, d.line) for d in diags] == [("RP030", 6)]
    assert "first on line 2" in diags[0].message


def test_expect_pack_must_be_a_loaded_pack(tree: Path):
    cases = tree / "rules" / "cases.yaml"
    cases.write_text("cases:\n  - {name: x, given: {}, expect: {pack: long_term_silnt}}\n", encoding="utf-8")
    _content, diags = validate_paths([tree / "rules", tree / "strategies"])
    assert [(d.code, d.line) for d in diags] == [("RP040", 2)]
    assert "long_term_silent" in diags[0].hint


def test_propensity_of_a_known_strategy_is_a_field(tree: Path):
    text = PACK.replace("{has_data_spend: true}", "{propensity.ltsilent_sms_tips: {gte: 0.1}}")
    write_pack(tree, "long_term_silent", text)
    _content, diags = validate_paths([tree / "rules" / "long_term_silent.yaml"])
    assert diags == []
    write_pack(tree, "long_term_silent", text.replace("propensity.ltsilent_sms_tips", "propensity.nothing"))
    _content, diags = validate_paths([tree / "rules" / "long_term_silent.yaml"])
    assert [d.code for d in diags] == ["RP012"]


@pytest.mark.parametrize(
    ("tests", "bad"),
    [
        ([("gte", 5), ("lt", 3)], True),
        ([("gt", 3), ("lte", 3)], True),
        ([("gte", 3), ("lte", 3)], False),
        ([("eq", 2), ("eq", 3)], True),
        ([("eq", 2), ("ne", 2)], False),  # not a bound; the engine's problem, not an obvious one
        ([("gt", 1.5), ("lt", 2)], False),
    ],
)
def test_numeric_contradictions(tests, bad):
    assert bool(contradiction(catalogue.FIELDS["arpu"], tests)) is bad


def _doc(data) -> Document:
    return Document(kind="pack", name="x", path=Path("x.yaml"), data=data, sha256="")


def _valid_test(field: catalogue.Field):
    """Hypothesis strategy: a condition on `field` that the checker must accept."""
    if field.type == catalogue.SET:
        member = st.sampled_from(field.values) if field.values else st.sampled_from(["a", "b"])
        return st.one_of(st.builds(lambda v: {"contains": v}, member), st.builds(lambda b: {"exists": b}, st.booleans()))
    if field.type in catalogue.NUMERIC:
        num = st.integers(-5, 100)
        return st.one_of(num, st.builds(lambda op, v: {op: v}, st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]), num),
                         st.builds(lambda vs: {"in": vs}, st.lists(num, min_size=1, max_size=3)))
    if field.type == catalogue.BOOL:
        return st.one_of(st.booleans(), st.builds(lambda v: {"ne": v}, st.booleans()))
    values = st.sampled_from(field.values) if field.values else st.text("abc", min_size=1, max_size=3)
    return st.one_of(values, st.builds(lambda vs: {"not_in": vs}, st.lists(values, min_size=1, max_size=3)))


_leaf = st.sampled_from(sorted(catalogue.FIELDS)).flatmap(
    lambda name: _valid_test(catalogue.FIELDS[name]).map(lambda test: {name: test}))
_conditions = st.recursive(
    _leaf,
    lambda inner: st.one_of(st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
                            st.builds(lambda x: {"not": x}, inner)),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(_conditions)
def test_well_formed_conditions_pass_and_a_misspelt_field_is_named(cond):
    checker = ConditionChecker(_doc({"when": cond}))
    checker.check_condition(cond, "/when")
    assert checker.diagnostics == []
    # the same tree with its first field misspelt reports exactly that field
    text = json.dumps(cond, ensure_ascii=False)
    name = next(n for n in re.findall(r'"([a-z_0-9]+)":', text) if n in catalogue.FIELDS)
    broken = json.loads(text.replace(f'"{name}":', f'"{name}x":', 1))
    checker = ConditionChecker(_doc({"when": broken}))
    checker.check_condition(broken, "/when")
    assert {d.code for d in checker.diagnostics} == {"RP012"}
    assert all(f"'{name}x'" in d.message for d in checker.diagnostics)


def test_schemas_are_valid_versioned_and_share_their_definitions():
    defs = None
    for kind in checks_schema.KINDS:
        schema = checks_schema.load_schema(kind)
        Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith(f"/{kind}.schema.json")
        assert checks_schema.schema_version(kind) == "1"
        defs = defs or schema["$defs"]
        assert schema["$defs"] == defs, f"{kind}.schema.json $defs drifted from the others"


def test_every_code_in_use_is_in_the_table():
    table = checks_module.__doc__
    documented = set(re.findall(r"^((?:RP|ST)\d{3})\s", table, re.M))
    used = set()
    for module in (checks_module, checks_conditions, checks_schema, content,
                   __import__("engine.base.yamlpos", fromlist=["x"])):
        used |= {v for k, v in vars(module).items() if k.isupper() and isinstance(v, str) and re.fullmatch(r"(RP|ST)\d{3}", v)}
    assert used and used <= documented, used - documented
    assert documented <= used, documented - used
