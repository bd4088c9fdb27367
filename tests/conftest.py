"""Shared test fixtures. Pytest puts this folder on sys.path, so tests import `snapshots`
(tests/snapshots.py) for the snapshot-writing helpers.

Databases — every test that touches the store should run on both SQLite and PostgreSQL:

- `db_url`: a fresh, empty database for one test, parametrised over BACKENDS ("sqlite",
  "postgresql"): a test that asks for it runs twice, ids `[sqlite]` and `[postgresql]`.
  SQLite is a file in the test's tmp_path; PostgreSQL is a new schema in the session's test
  database (the URL carries `options=-csearch_path=<schema>`, so everything the product creates
  or reads lands there; creating one costs milliseconds, a whole database about a second).
  Pooled connections are closed and the schema dropped afterwards.
- `new_db_url`: a factory for more fresh databases of the same backend within one test
  (`new_db_url("other")`), e.g. to show that `--db` really picks another database.
- `backend`: the parameter itself ("sqlite" / "postgresql"); ask for it to branch (rarely needed).
- `pg_server`: the session's throwaway PostgreSQL server (tests/pgserver.py), started on first
  use (~1-5 s) as the `postgres` user when we are root, on a Unix socket in its own temp folder,
  and stopped at the end of the session. If it cannot start (initdb missing, no `postgres` user,
  ...), the whole session stops with one message saying why: nothing is silently skipped.
  REKINDLE_TEST_PG_URL=postgresql+psycopg://USER@HOST/postgres uses an existing server instead.

The expensive inputs, each built once per session on first use and shared read-only (a test
that needs to change one copies it first; after every test the session checks that the shared
inputs are unchanged and fails the test that changed one — tests/shared.py):

- `night_inputs`: the generated ~3k-subscriber snapshot and the stability model trained on it
  (tests/nightly_inputs.py).
- `stored_run_sqlite`, `stored_run_postgresql`: a finished night of those inputs, stored on
  SQLite / on PostgreSQL (tests/auditrun.py), for the explain / audit / report / console tests.
- `run`: the one of the two stored runs of the test's backend, with REKINDLE_HOME in a fresh
  folder; parametrised like `db_url`. Tamper with a copy (`auditrun.copy_db`).

Run only one backend with `-k sqlite` or `-k postgresql`.

Parallel: `make test` runs the suite in 2 pytest-xdist worker processes (Makefile TEST_WORKERS,
--dist loadscope: each module stays on one worker, so its module fixtures are built once). Each
worker is a session of its own: its own PostgreSQL server and test database, its own audit key
and stored runs. Only `night_inputs` (files) is built once across the workers
(shared.built_once). A plain `pytest` runs in one process, as before.
"""

from __future__ import annotations

import pytest

import shared
from snapshots import write_handmade

from pgserver import TEST_DATABASE, next_schema

BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not beside the golden tests, so `pytest --update-golden` works from the repository root.
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/engine/content/golden/*.expected from the current diagnostics",
    )


@pytest.fixture(scope="session", autouse=True)
def audit_key(tmp_path_factory):
    """One audit key and seal log for the whole session (engine/store/signing.py), outside every
    test's REKINDLE_HOME: runs shared between tests (tests/auditrun.py) are signed with it."""
    import os

    folder = tmp_path_factory.mktemp("audit-key")
    saved = {name: os.environ.get(name) for name in ("REKINDLE_AUDIT_KEY", "REKINDLE_AUDIT_LOG")}
    os.environ["REKINDLE_AUDIT_KEY"] = str(folder / "audit.key")
    os.environ["REKINDLE_AUDIT_LOG"] = str(folder / "audit-seals.log")
    yield folder
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def handmade_dir(tmp_path):
    """The hand-made snapshot of tests/snapshots.py, as CSV files in a fresh folder."""
    return write_handmade(tmp_path / "snapshot")


_pg: dict = {}  # "server": the session's PgServer once started


def _start_pg_server():
    """Start the server and its test database, or stop the whole session with one message."""
    from pgserver import PgServer, PgServerError

    try:
        import psycopg  # noqa: F401  (the driver is a project dependency: say so if it is missing)

        server = PgServer.start()
    except (PgServerError, ImportError) as exc:
        pytest.exit(f"the PostgreSQL tests cannot run: the throwaway PostgreSQL server did not start.\n{exc}",
                    returncode=1)
    try:
        server.create_database(TEST_DATABASE)
    except Exception as exc:  # noqa: BLE001 - any failure here is the same "cannot run" message
        server.stop()
        pytest.exit(f"the PostgreSQL tests cannot run: creating the test database failed: {exc}", returncode=1)
    _pg["server"] = server
    return server


def pytest_collection_finish(session: pytest.Session) -> None:
    # Start the server before any test runs if a collected test needs it: a failure then stops the
    # session at once with one message (not one error per test, nor a skip).
    if any(getattr(item, "callspec", None) is not None and item.callspec.params.get("backend") == "postgresql"
           for item in session.items):
        _start_pg_server()


def pytest_sessionfinish(session: pytest.Session) -> None:
    server = _pg.pop("server", None)
    if server is None:
        return
    from engine.store.database import dispose_all

    dispose_all()
    try:
        server.drop_database(TEST_DATABASE)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_server():
    """The session's PostgreSQL server with an empty TEST_DATABASE (see the module docstring)."""
    return _pg.get("server") or _start_pg_server()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """"sqlite" or "postgresql": every test that uses it (or db_url, new_db_url, run) runs on both."""
    return request.param


@pytest.fixture
def new_db_url(backend, request, tmp_path):
    """A factory of fresh, empty databases of the test's backend: new_db_url(name="db") -> URL."""
    from engine.store.database import dispose_all

    made: list[str] = []
    server = request.getfixturevalue("pg_server") if backend == "postgresql" else None

    def make(name: str = "db") -> str:
        if server is None:
            return f"sqlite:///{tmp_path / f'{name}.db'}"
        schema = next_schema(name)
        made.append(schema)
        return server.create_schema(TEST_DATABASE, schema)

    yield make
    dispose_all()
    for schema in made:
        server.drop_schema(TEST_DATABASE, schema)


@pytest.fixture
def db_url(new_db_url) -> str:
    """A fresh, empty database for this test, on SQLite and on PostgreSQL (see the module docstring)."""
    return new_db_url("test")


@pytest.fixture(autouse=True)
def shared_inputs_unchanged(request):
    """Fail the test that changed a shared input (see the module docstring and tests/shared.py)."""
    yield
    changed = shared.changed_by(request.fixturenames)
    if changed:
        pytest.fail(f"{request.node.nodeid} changed what other tests share:\n" + "\n".join(changed), pytrace=False)


@pytest.fixture(scope="session")
def night_inputs(tmp_path_factory):
    """The shared generated snapshot and stability model (tests/nightly_inputs.py), read-only."""
    from nightly_inputs import build_night_inputs, night_inputs_at

    inputs = shared.built_once(tmp_path_factory, "night", build_night_inputs, night_inputs_at)
    for what, folder in (("snapshot", inputs.data), ("models folder", inputs.models)):
        shared.register(f"the shared {what} {folder}", lambda folder=folder: shared.folder_fingerprint(folder),
                        "copy it (shutil.copytree) and change the copy")
    return inputs


def _stored_run(backend: str, base, inputs, server):
    """Build a shared run (tests/auditrun.py) and register its fingerprints."""
    import os

    from auditrun import build_audit_run
    from engine.store.database import dispose_all

    saved = os.environ.get("REKINDLE_HOME")
    os.environ["REKINDLE_HOME"] = str(base / "home")  # the run's staging journal, not the caller's test's
    try:
        made = build_audit_run(base, inputs, backend, server)
    finally:
        if saved is None:
            os.environ.pop("REKINDLE_HOME", None)
        else:
            os.environ["REKINDLE_HOME"] = saved
    dispose_all()  # pooled connections closed: the SQLite log is checkpointed before the fingerprint
    for name in ("content", "out"):
        shared.register(f"the shared {backend} run's {name} folder {base / name}",
                        lambda folder=base / name: shared.folder_fingerprint(folder),
                        "copy it (shutil.copytree) and change the copy")
    advice = "tamper with a copy: auditrun.copy_db(run, tmp_path / 'x.db')"
    if backend == "sqlite":
        shared.register(f"the shared sqlite run's database {made.db_path}",
                        lambda: shared.sqlite_fingerprint(made.db_path), advice)
    else:
        shared.register(f"the shared postgresql run's schema {made.schema}",
                        lambda: shared.postgres_fingerprint(server, TEST_DATABASE, made.schema), advice,
                        fixtures=frozenset({"stored_run_postgresql"}))
    return made


@pytest.fixture(scope="session")
def stored_run_sqlite(tmp_path_factory, night_inputs):
    """The shared stored run on SQLite (tests/auditrun.py), read-only."""
    return _stored_run("sqlite", tmp_path_factory.mktemp("auditrun"), night_inputs, None)


@pytest.fixture(scope="session")
def stored_run_postgresql(tmp_path_factory, night_inputs, pg_server):
    """The shared stored run on the session's PostgreSQL (tests/auditrun.py), read-only."""
    return _stored_run("postgresql", tmp_path_factory.mktemp("auditrun"), night_inputs, pg_server)


@pytest.fixture
def run(backend, request, tmp_path, monkeypatch):
    """The shared stored run of the test's backend, with REKINDLE_HOME in a fresh folder;
    database connections closed afterwards."""
    from engine.store.database import dispose_all

    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    yield request.getfixturevalue(f"stored_run_{backend}")
    dispose_all()
