"""The facts of a small generated snapshot, held to a stored expectation (issue 12: facts stay
byte-identical while the loader and the join change underneath).

tests/engine/facts/expected/generated-200.csv was written by the fact build *before* the compact
loader and the join index (commit 6b6bc70): its first line is the frame's dtypes, then the frame
as CSV (floats in their shortest round-trip form, so equal text means equal values). Rewrite it
with `pytest --update-golden` only when a fact definition changes on purpose.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from engine.facts.build import build_facts
from engine.generator import generate
from engine.snapshot.loader import load_snapshot

EXPECTED = Path(__file__).parent / "expected" / "generated-200.csv"
AS_OF = date(2026, 11, 15)


def _text(facts) -> str:
    return ",".join(str(t) for t in facts.dtypes) + "\n" + facts.to_csv(index=False, lineterminator="\n")


def test_generated_snapshot_facts_equal_the_stored_expectation(tmp_path, update_golden):
    generate(tmp_path / "snapshot", 200, 7, AS_OF)
    text = _text(build_facts(load_snapshot(tmp_path / "snapshot"), AS_OF))
    if update_golden:
        EXPECTED.write_text(text)
    assert text == EXPECTED.read_text()


def test_a_partition_build_of_every_subscriber_gives_the_same_text(tmp_path):
    generate(tmp_path / "snapshot", 200, 7, AS_OF)
    facts = build_facts(load_snapshot(tmp_path / "snapshot"), AS_OF, subscribers=list(range(200)))
    assert _text(facts) == EXPECTED.read_text()
