"""A second real OS identity for the four-eyes tests: run `rekindle` as another login via runuser.

Approvals record the OS login of the process (engine.content.approvals.current_user) and the
submitter may not approve, so a test of the whole lifecycle needs two logins. Tests run as
root in CI, and root can run a command as `nobody` with `runuser` — the same mechanism a
supervisor's own login is in production, with no test-only override anywhere in the code.

`shared_tree` is a folder both logins can use (pytest's own tmp folders are root-only, 0700);
`rekindle_as` opens the tree to the other login (files Rekindle creates are private to their
creator) and runs `python -m cli.main` as that login. The interpreter is this one when the other
login can execute it; here it lives under /root (0700), so then the system python of the same
minor version runs, with this checkout and the venv's site-packages on PYTHONPATH — the same
code and libraries. Without root (or without a usable interpreter) the tests that need it are
skipped with that reason (an unprivileged machine cannot act as two people).
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

OTHER_USER = "nobody"
REPO = Path(__file__).resolve().parents[1]
PYTHONPATH = os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])


@functools.lru_cache(maxsize=1)
def _interpreter() -> str | None:
    """A python the other login can run that imports our code and libraries, or None."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return None
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        probe = subprocess.run([shutil.which("runuser"), "-u", OTHER_USER, "--", python, "-c", "import cli.main"], cwd="/",
                               env={"PATH": "/usr/bin:/bin", "PYTHONPATH": PYTHONPATH},
                               capture_output=True, timeout=120)
        if probe.returncode == 0:
            return python
    return None


def can_switch_user() -> bool:
    return _interpreter() is not None


@pytest.fixture
def shared_tree():
    """An empty folder under /tmp that the other login can reach, removed afterwards."""
    if not can_switch_user():
        pytest.skip("needs root, runuser and a python the login 'nobody' can run, to act as a second OS login")
    folder = Path(tempfile.mkdtemp(prefix="rekindle-shared-", dir="/tmp"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def open_to_all(root: Path) -> None:
    """Let every login read and write everything under `root` (as a shared team folder would)."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)


def popen_as(user: str | None, root: Path, args: list[str]) -> subprocess.Popen:
    """Start `rekindle ARGS` in `root` as OS login `user` (None: this login), as a real process."""
    from engine.store.database import dispose_all

    dispose_all()  # close this process's SQLite handles so the WAL is folded back first
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("COV_", "PYTEST_"))}
    environment["PYTHONPATH"] = PYTHONPATH
    command = [sys.executable, "-m", "cli.main", *args]
    if user is not None:
        open_to_all(root)
        environment["HOME"] = str(root)
        command = [shutil.which("runuser"), "-u", user, "--", _interpreter(), "-m", "cli.main", *args]
    return subprocess.Popen(command, cwd=root, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def rekindle_as(user: str, root: Path, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `rekindle ARGS` as OS login `user` in `root`; returns the finished process."""
    process = popen_as(user, root, args)
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def login_of(user: str) -> str:
    return pwd.getpwnam(user).pw_name
