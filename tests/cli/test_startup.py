"""Reading a stored run must not pay for scikit-learn: `rekindle explain` is what an auditor
types, and importing sklearn costs seconds. Checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["engine.outputs.explain", "engine.outputs.audit", "engine.outputs.export",
                                    "cli.main"])
def test_readers_do_not_import_scikit_learn(module):
    code = f"import sys, {module}; print(any(m == 'sklearn' or m.startswith('sklearn.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
