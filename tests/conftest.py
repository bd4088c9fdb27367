"""Shared test fixtures. Pytest puts this folder on sys.path, so tests import `snapshots`
(tests/snapshots.py) for the snapshot-writing helpers."""

from __future__ import annotations

import pytest

from snapshots import write_handmade


@pytest.fixture
def handmade_dir(tmp_path):
    """The hand-made snapshot of tests/snapshots.py, as CSV files in a fresh folder."""
    return write_handmade(tmp_path / "snapshot")
