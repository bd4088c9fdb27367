"""Fixtures of the console tests: a private copy of the shared stored run (tests/auditrun.py),
console users on it, and a logged-in Starlette TestClient per role (helpers in consolekit.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auditrun import copy_db
from consolekit import PASSWORD, USERS, login, make_client


@pytest.fixture
def console_db(run, tmp_path):
    """A copy of the stored run's database (console tables and page views stay private to the test)."""
    from engine.console.accounts import add_user

    url = copy_db(run, tmp_path / "console.db")
    for name, role in USERS.items():
        add_user(name, role, PASSWORD, url)
    return url


@pytest.fixture
def clients(run, console_db):
    """role -> a TestClient logged in as the user with that role."""
    out = {}
    for name, role in USERS.items():
        client = make_client(run, console_db)
        assert login(client, name).status_code == 303
        out[role] = client
    return out


@pytest.fixture
def short_idle(run, console_db):
    return make_client(run, console_db, idle=timedelta(seconds=4))
