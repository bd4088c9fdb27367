"""Fixtures of the night tests: the shared generated snapshot and models, and a fresh
REKINDLE_HOME per test (database connections closed afterwards)."""

from __future__ import annotations

import pytest

from engine.store.database import dispose_all


@pytest.fixture
def inputs(night_inputs):
    """The session's shared snapshot and models (tests/conftest.py), read-only."""
    return night_inputs


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    yield tmp_path
    dispose_all()
