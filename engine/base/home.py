"""Where Rekindle keeps its state: REKINDLE_HOME (default `.rekindle/` in the current directory)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The state folder; created on first use, readable by its owner only (it holds the
    database, the audit key and the channel lists)."""
    path = Path(os.environ.get("REKINDLE_HOME") or ".rekindle")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def default_db_url() -> str:
    return f"sqlite:///{(home() / 'rekindle.db').resolve()}"


def models_dir() -> Path:
    path = home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    path = home() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path
