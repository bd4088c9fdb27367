"""Golden diagnostics: each golden/<case>.yaml is validated and its report compared with <case>.expected.

Regenerate with `pytest tests/engine/content --update-golden` and review the diff by eye.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.content.validate import validate_paths, validation_report

HERE = Path(__file__).parent
CASES = sorted(p.stem for p in (HERE / "golden").glob("*.yaml"))


@pytest.mark.parametrize("case", CASES)
def test_golden_report(case: str, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)  # reports name files relative to here: golden/<case>.yaml
    content, diagnostics = validate_paths([Path("golden") / f"{case}.yaml"], strategies_dir=Path("fixtures/strategies"))
    text, code = validation_report(content, diagnostics)
    expected_file = HERE / "golden" / f"{case}.expected"
    if update_golden:
        expected_file.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == expected_file.read_text(encoding="utf-8")
    # Every golden case is a broken file: it fails, and every problem points at a line in it.
    assert code == 1
    assert diagnostics
    for d in diagnostics:
        assert d.file == f"golden/{case}.yaml"
        assert d.line is not None, d.format()
