"""Compile once (issue 9): the compiled rule set is an artefact with a content hash; a Decider
built from the loaded artefact decides exactly as one compiled from the YAML; `rekindle rules
compile` writes it and prints its hash."""

from __future__ import annotations

import hashlib

from typer.testing import CliRunner

from cli.main import app
from engine.content.documents import load_content
from engine.facts.fields import NEUTRAL_DEFAULTS
from engine.rules.compiler import CompiledSet, compile_set
from engine.rules.decide import Decider
from nightly_inputs import RULES, STRATEGIES


def _content():
    content, diags = load_content(RULES, STRATEGIES)
    assert not [d for d in diags if d.severity == "error"], diags
    return content


def test_the_artefact_round_trips_and_its_hash_is_stable():
    content = _content()
    compiled = compile_set(content)
    text = compiled.to_json()
    assert compile_set(_content()).sha256 == compiled.sha256 == hashlib.sha256(text.encode()).hexdigest()
    loaded = CompiledSet.from_json(text)
    assert loaded == compiled
    assert loaded.to_json() == text


def test_a_decider_from_the_loaded_artefact_decides_as_one_from_yaml():
    content = _content()
    loaded = CompiledSet.from_json(compile_set(content).to_json())
    from_yaml, from_artefact = Decider(content), Decider(content, compiled=loaded)
    facts = [dict(NEUTRAL_DEFAULTS, segment="silent_long", billing="monthly", bundled=True, reasons=[],
                  months_silent=m, has_data_spend=True, sensitivity_pct=s, uses_m0=u)
             for m in (0, 3, 6) for s in (50.0, 90.0) for u in (0, 3)]
    facts += [dict(NEUTRAL_DEFAULTS, service="gprs", segment="active", reasons=[], arpu_trend=a, traffic_mb_3m=t)
              for a in (0.5, 1.5) for t in (100.0, 5000.0)]
    for fact in facts:
        assert [o.to_dict() for o in from_artefact.decide(fact)] == [o.to_dict() for o in from_yaml.decide(fact)]
    from_yaml.close()
    from_artefact.close()


def test_rules_compile_writes_the_artefact_and_prints_its_hash(tmp_path):
    out = tmp_path / "build" / "compiled.json"
    result = CliRunner().invoke(app, ["rules", "compile", "--rules", str(RULES), "--strategies", str(STRATEGIES),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert result.output.split()[0] == digest == compile_set(_content()).sha256
    assert [p.name for p in out.parent.iterdir()] == ["compiled.json"]  # no temp file left


def test_rules_compile_refuses_broken_content_with_a_diagnostic(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yaml").write_text("pack: [unclosed\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["rules", "compile", "--rules", str(rules), "--strategies", str(STRATEGIES),
                                      "--out", str(tmp_path / "c.json")])
    assert result.exit_code == 1
    assert not (tmp_path / "c.json").exists()
