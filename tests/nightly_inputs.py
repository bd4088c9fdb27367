"""Inputs for nightly-run tests: one generated ~3k-subscriber snapshot and a stability model.

Built once per test session (generation and training take a few seconds) and shared by
tests/engine/night/test_run.py, tests/engine/outputs/test_export.py and tests/cli/test_run_cli.py.
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


_cache: dict[str, NightInputs] = {}


def night_inputs(tmp_path_factory) -> NightInputs:
    """The shared snapshot and models folder (generated on first use in the session)."""
    if "inputs" not in _cache:
        from engine.generator import generate
        from engine.scoring.training import train_stability_from_snapshot

        base = tmp_path_factory.mktemp("night")
        data, models = base / "snapshot", base / "models"
        generate(data, SUBSCRIBERS, 11, AS_OF)
        train_stability_from_snapshot(data, AS_OF, models_dir=models, hgb_candidates=2)
        _cache["inputs"] = NightInputs(data, models)
    return _cache["inputs"]
