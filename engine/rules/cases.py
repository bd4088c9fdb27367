"""`rekindle rules test`: run the example cases of packs (`tests:`) and case files (`cases:`).

A case fact is `engine.facts.fields.NEUTRAL_DEFAULTS` overlaid with `given`; it is segmented by
rules/segments.yaml unless `given` names a `segment`, then decided with the contact policy as a
nightly run decides one fact (`Decider.decide_fact`), never held out. Where the cases apply:

- a pack's own `tests:` run against that pack and the contact policy: they describe the pack
  (an `out_of_scope` case reports the pack itself), whatever other packs would do;
- a case file (`--cases`, or a cases document among PATHS) runs against every pack together
  with the contact policy, and the final outcome across packs is compared
  (`engine.rules.decide.final_outcome`).

A case passes when every key of `expect` (decision, pack, reason, strategy, channel) equals the
actual outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from engine.base.diagnostics import format_report, has_errors
from engine.facts.fields import NEUTRAL_DEFAULTS
from engine.content.validate import validate_paths
from engine.content.document import Content
from engine.content.documents import load_document
from engine.rules.decide import Decider, PackOutcome

EXPECT_KEYS = ("decision", "pack", "reason", "strategy", "channel")


@dataclass
class CaseResult:
    name: str
    file: str
    expected: dict
    actual: dict  # decision, pack, reason, strategy, channel
    rules: list[str] = field(default_factory=list)  # ids of the named rules that fired: segment, policy, exclude, target

    @property
    def passed(self) -> bool:
        return all(self.actual.get(k) == v for k, v in self.expected.items())

    def differences(self) -> list[tuple[str, Any, Any]]:
        """(key, expected, actual) for every expected key that differs."""
        return [(k, v, self.actual.get(k)) for k, v in self.expected.items() if self.actual.get(k) != v]

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, **self.actual, "rules": self.rules, "file": self.file}


def case_fact(given: dict) -> dict:
    """The fact of one case: neutral defaults overlaid with `given`."""
    fact = dict(NEUTRAL_DEFAULTS)
    fact.update(given or {})
    return fact


def _rules_fired(outcome: PackOutcome, fact: dict) -> list[str]:
    rules = list(fact.get("segment_rules", []))
    rules += [x["rule"] for x in outcome.exclusions if x["source"] == "contact_policy"]
    for kind in ("exclude", "target"):  # require and treat entries have no rule ids
        rules += outcome.fired.get(kind, [])
    return rules


def run_case(decider: Decider, case: dict, file: str, home: str | None = None) -> CaseResult:
    """Decide one case (against pack `home` only, or all packs when home is None)."""
    packs = None if home is None else [home]
    outcome, fact = decider.decide_fact(case_fact(case.get("given") or {}), packs=packs, home=home)
    actual = {k: getattr(outcome, k) for k in EXPECT_KEYS}
    return CaseResult(str(case["name"]), file, dict(case.get("expect") or {}), actual, _rules_fired(outcome, fact))


def _with_policy(content: Content, paths: list[Path]) -> None:
    """Load contact_policy.yaml beside the given rules when the paths did not include it."""
    if content.policy is not None:
        return
    for path in paths:
        folder = path if path.is_dir() else path.parent
        candidate = folder / "contact_policy.yaml"
        if candidate.is_file():
            doc, _ = load_document(candidate)
            if doc is not None:
                content.policy = doc
            return


def run_cases(content: Content) -> list[CaseResult]:
    """Every pack test (pack by pack, in name order) and every case-file case (file by file)."""
    decider = Decider(content)
    try:
        results = []
        for name in sorted(content.packs):
            doc = content.packs[name]
            for case in doc.data.get("tests") or []:
                results.append(run_case(decider, case, str(doc.path), home=name))
        for name in sorted(content.cases):
            doc = content.cases[name]
            for case in doc.data.get("cases") or []:
                results.append(run_case(decider, case, str(doc.path)))
        return results
    finally:
        decider.close()


def format_results(results: list[CaseResult], as_json: bool = False) -> str:
    """Text: PASS/FAIL per case with expected vs actual on failure, and a count line. JSON: one object a line."""
    if as_json:
        return "\n".join(json.dumps(r.to_dict(), ensure_ascii=False) for r in results)
    lines = []
    for r in results:
        lines.append(f"{'PASS' if r.passed else 'FAIL'}  {r.file}: {r.name}")
        for key, expected, actual in r.differences():
            lines.append(f"        {key}: expected {expected!r}, got {actual!r}")
        if not r.passed:
            lines.append(f"        rules fired: {', '.join(r.rules) or '(none)'}")
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results) - failed} passed, {failed} failed ({len(results)} case{'s' if len(results) != 1 else ''}).")
    return "\n".join(lines)


def test_paths(paths: Iterable[Path | str] = (), case_files: Iterable[Path | str] = (),
               strategies_dir: Path | str | None = None, as_json: bool = False) -> tuple[str, int]:
    """What `rekindle rules test` prints and its exit code (1 when content is invalid or a case fails).

    Default PATHS: rules/ (strategies from strategies/ beside it).
    """
    given = [Path(p) for p in paths] or [Path("rules")]
    cases = [Path(p) for p in case_files]
    content, diagnostics = validate_paths([*given, *cases], strategies_dir)
    if has_errors(diagnostics):
        return format_report(diagnostics), 1
    _with_policy(content, given)
    try:
        results = run_cases(content)
    except ValueError as error:  # a shape the validator let through but the compiler cannot compile
        return f"error: cannot compile the rules: {error}", 1
    return format_results(results, as_json), int(any(not r.passed for r in results))


test_paths.__test__ = False  # not a pytest test despite the name
