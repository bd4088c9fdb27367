"""Inputs for nightly-run tests: one generated ~3k-subscriber snapshot and a stability model.

`build_night_inputs` makes them; tests get them from the session fixture `night_inputs`
(tests/conftest.py), built once per session (generation and training take a few seconds) and
shared read-only by the night, export, rules-diff, loop and CLI tests: a test that needs to
change the snapshot or the models works on its own copy (the session checks after every test
that the shared files are unchanged; see tests/shared.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

AS_OF = date(2026, 11, 20)
SUBSCRIBERS = 3000
ROOT = Path(__file__).resolve().parents[1]
RULES, STRATEGIES = ROOT / "rules", ROOT / "strategies"


@dataclass(frozen=True)
class NightInputs:
    data: Path
    models: Path
    as_of: date = AS_OF


def night_inputs_at(base: Path) -> NightInputs:
    """The inputs that `build_night_inputs(base)` made (nothing is built)."""
    return NightInputs(base / "snapshot", base / "models")


def build_night_inputs(base: Path) -> NightInputs:
    """Generate the snapshot (seed 11) and train the stability model into `base`."""
    from engine.generator import generate
    from engine.scoring.training import train_stability_from_snapshot

    inputs = night_inputs_at(base)
    generate(inputs.data, SUBSCRIBERS, 11, AS_OF)
    train_stability_from_snapshot(inputs.data, AS_OF, models_dir=inputs.models, hgb_candidates=2)
    return inputs
