"""Shared test fixtures. Pytest puts this folder on sys.path, so tests import `snapshots`
(tests/snapshots.py) for the snapshot-writing helpers."""

from __future__ import annotations

import pytest

from snapshots import write_handmade


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


@pytest.fixture
def run(tmp_path_factory, tmp_path, monkeypatch):
    """The stored nightly run shared by the explain / audit / report tests (tests/auditrun.py),
    with REKINDLE_HOME in a fresh folder; database connections closed afterwards."""
    from auditrun import audit_run
    from engine.store.database import dispose_all

    monkeypatch.setenv("REKINDLE_HOME", str(tmp_path / "home"))
    yield audit_run(tmp_path_factory)
    dispose_all()
