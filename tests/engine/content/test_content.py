"""Loading content files and folders; what `validate_paths` resolves and reports."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from engine.content.validate import check_content, validate_paths, validation_report

from engine.content.documents import load_content, load_document

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the fixture content laid out as a project: rules/ and strategies/."""
    shutil.copytree(FIXTURES / "rules", tmp_path / "rules")
    shutil.copytree(FIXTURES / "strategies", tmp_path / "strategies")
    return tmp_path


def codes(diagnostics) -> list[str]:
    return [d.code for d in diagnostics]


def test_load_document_infers_kind_name_hash_and_status():
    path = FIXTURES / "rules" / "long_term_silent.yaml"
    doc, diags = load_document(path)
    assert diags == []
    assert (doc.kind, doc.name, doc.status) == ("pack", "long_term_silent", "draft")
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.data["treat"][1] == {"strategy": "ltsilent_sms_tips"}
    assert doc.position("/priority") == (6, 1)
    # unknown paths fall back to the nearest known ancestor
    assert doc.position("/treat/1/when/nothing") == doc.position("/treat/1")
    assert doc.value_position("/priority") == (6, 11)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("contact_policy.yaml", "contact_policy"), ("segments.yaml", "segments"), ("services.yaml", "services")],
)
def test_kind_from_top_level_key(name: str, kind: str):
    doc, diags = load_document(FIXTURES / "rules" / name)
    assert diags == [] and doc.kind == kind and doc.name == Path(name).stem


def test_kind_from_file_name_when_the_key_is_missing(tmp_path: Path):
    path = tmp_path / "segments.yaml"
    path.write_text("default: active\n", encoding="utf-8")
    doc, diags = load_document(path)
    assert doc.kind == "segments"
    assert codes(diags) == ["RP011"] and "'segments'" in diags[0].message


def test_explicit_kind_wins(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_text("cases:\n  - {name: a, given: {}, expect: {decision: treat}}\n", encoding="utf-8")
    doc, diags = load_document(path, kind="cases")
    assert doc.kind == "cases" and diags == []


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"", "RP003"), (b"# nothing\n", "RP003"), (b"\xff\xfe\x00bad", "RP004"), (b"just text\n", "RP003")],
)
def test_unusable_files(tmp_path: Path, raw: bytes, code: str):
    path = tmp_path / "thing.yaml"
    path.write_bytes(raw)
    doc, diags = load_document(path)
    assert doc is None
    assert codes(diags) == [code] and diags[0].file == str(path)


def test_missing_file_is_a_diagnostic(tmp_path: Path):
    doc, diags = load_document(tmp_path / "nope.yaml")
    assert doc is None and codes(diags) == ["RP004"]


def test_load_content_files_every_kind(tree: Path):
    content, diags = load_content(tree / "rules", tree / "strategies")
    assert diags == []
    assert sorted(content.packs) == ["long_term_silent"]
    assert content.policy.name == "contact_policy"
    assert content.segments is not None and content.services is not None
    assert sorted(content.strategies) == ["ltsilent_am_coaching", "ltsilent_sms_tips"]
    assert len(content.files) == 6
    assert check_content(content) == []


def test_a_pack_defined_twice_is_an_error(tree: Path):
    text = (tree / "rules" / "long_term_silent.yaml").read_text(encoding="utf-8")
    (tree / "rules" / "copy.yaml").write_text(text, encoding="utf-8")
    _content, diags = load_content(tree / "rules", tree / "strategies")
    assert codes(diags) == ["RP037"]
    assert diags[0].file.endswith("long_term_silent.yaml") or diags[0].file.endswith("copy.yaml")
    assert "defined twice" in diags[0].message


def test_validate_a_pack_alone_finds_strategies_beside_the_rules_folder(tree: Path, monkeypatch):
    monkeypatch.chdir(tree)
    content, diags = validate_paths([Path("rules/long_term_silent.yaml")])
    assert diags == []
    assert content.files == [Path("rules/long_term_silent.yaml")]
    assert sorted(content.strategies) == ["ltsilent_am_coaching", "ltsilent_sms_tips"]
    assert content.services is not None  # sibling services.yaml loaded as context


def test_without_strategies_references_are_skipped_with_a_warning(tmp_path: Path, monkeypatch):
    shutil.copytree(FIXTURES / "rules", tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    content, diags = validate_paths([Path("rules/long_term_silent.yaml")])
    assert [(d.code, d.severity) for d in diags] == [("RP041", "warning")]
    assert content.strategies_known is False
    text, code = validation_report(content, diags)
    assert code == 0 and text.endswith("All 1 file valid.") and "warning[RP041]" in text


def test_explicit_strategies_folder_must_exist(tree: Path):
    _content, diags = validate_paths([tree / "rules"], strategies_dir=tree / "nowhere")
    assert "RP004" in codes(diags)


def test_only_validated_files_are_reported(tree: Path):
    (tree / "strategies" / "ltsilent_am_coaching.yaml").write_text("strategy: ltsilent_am_coaching\nchannel: fax\n")
    content, diags = validate_paths([tree / "rules" / "long_term_silent.yaml"])
    assert diags == []  # the broken strategy is context here, still known by name
    _content, diags = validate_paths([tree / "strategies"])
    assert diags and all(d.file.endswith("ltsilent_am_coaching.yaml") for d in diags)


def test_json_report(tree: Path):
    (tree / "rules" / "long_term_silent.yaml").write_text(
        (tree / "rules" / "long_term_silent.yaml").read_text(encoding="utf-8").replace("months_silent: {gte", "months_silnt: {gte"),
        encoding="utf-8",
    )
    content, diags = validate_paths([tree / "rules", tree / "strategies"])
    text, code = validation_report(content, diags, "json")
    body = json.loads(text)
    assert code == 1 and body["valid"] is False and body["files"] == 6 and body["errors"] == 1
    (d,) = body["diagnostics"]
    assert d["code"] == "RP012" and d["line"] == 18 and d["path"] == "/target/0/when/all/0/months_silnt"
