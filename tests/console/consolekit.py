"""Helpers shared by the console tests (a uniquely named module: every test folder's conftest is
called `conftest`, so tests must not import from it)."""

from __future__ import annotations

import re

PASSWORD = "correct horse battery staple"
USERS = {"ada": "auditor", "sam": "supervisor", "pia": "planner"}


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
