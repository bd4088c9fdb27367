"""Fixtures of the console tests: a private copy of the shared stored run (tests/auditrun.py),
console users on it, and a logged-in Starlette TestClient per role."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from auditrun import copy_db

PASSWORD = "correct horse battery staple"
USERS = {"ada": "auditor", "sam": "supervisor", "pia": "planner"}


@pytest.fixture
def console_db(run, tmp_path):
    """A copy of the stored run's database (console tables and page views stay private to the test)."""
    from engine.console.accounts import add_user

    url = copy_db(run, tmp_path / "console.db")
    for name, role in USERS.items():
        add_user(name, role, PASSWORD, url)
    return url


def make_client(run, db_url, **settings):
    from starlette.testclient import TestClient

    from engine.console.app import Settings, create_app

    app = create_app(Settings(db_url=db_url, rules_dir=run.rules, strategies_dir=run.strategies, **settings))
    return TestClient(app, follow_redirects=False)


def login(client, username: str, password: str = PASSWORD):
    """Log in through the form, as a browser would (login CSRF token from the page)."""
    page = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"login_token": token, "username": username, "password": password, "next": "/"})


def csrf_of(client, path: str = "/") -> str:
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


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
