"""Fixtures of the console tests: a private copy of the shared stored run (tests/auditrun.py),
console users on it, and a logged-in Starlette TestClient per role (helpers in consolekit.py).

The users are added once per backend per session, to a template copy of the stored run (three
argon2 hashes, deliberately slow, per template instead of per test); each test gets its own
copy of that template, so console tables and page views stay private to the test.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

import shared
from auditrun import copy_db
from consolekit import PASSWORD, USERS, login, make_client


def _template(run, folder):
    """A copy of `run`'s database with the console users of consolekit.USERS (an AuditRun)."""
    from engine.console.accounts import add_user
    from engine.store.database import dispose_all
    from pgserver import TEST_DATABASE, next_schema

    if run.backend == "postgresql":
        schema = next_schema("console_template")
        made = dataclasses.replace(run, db_url=run.server.copy_schema(TEST_DATABASE, run.schema, schema),
                                   schema=schema)
        fingerprint = lambda: shared.postgres_fingerprint(run.server, TEST_DATABASE, schema)  # noqa: E731
        what, fixtures = f"the console template schema {schema}", frozenset({"console_db"})
    else:
        path = folder / "console-template.db"
        made = dataclasses.replace(run, db_url=copy_db(run, path), db_path=path)
        fingerprint = lambda: shared.sqlite_fingerprint(path)  # noqa: E731
        what, fixtures = f"the console template database {path}", frozenset()
    for name, role in USERS.items():
        add_user(name, role, PASSWORD, made.db_url)
    dispose_all()  # pooled connections closed: the SQLite log is checkpointed before the fingerprint
    shared.register(what, fingerprint, "copy it (auditrun.copy_db) and change the copy", fixtures)
    return made


@pytest.fixture(scope="session")
def console_template_sqlite(stored_run_sqlite, tmp_path_factory):
    return _template(stored_run_sqlite, tmp_path_factory.mktemp("console"))


@pytest.fixture(scope="session")
def console_template_postgresql(stored_run_postgresql, tmp_path_factory):
    return _template(stored_run_postgresql, tmp_path_factory.mktemp("console"))


@pytest.fixture
def console_db(run, request, tmp_path):
    """A copy of the stored run's database with the console users (private to the test)."""
    template = request.getfixturevalue(f"console_template_{run.backend}")
    return copy_db(template, tmp_path / "console.db")


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
