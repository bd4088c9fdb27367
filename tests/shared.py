"""Keeping the session's shared inputs read-only: fingerprints taken when a shared input is
built and compared after every test (tests/conftest.py, fixture `shared_inputs_unchanged`).

The expensive inputs (the generated snapshot and trained models, the stored runs) are built
once per session and shared by many tests, so a test that changed one would change what every
later test sees — and a later, unrelated test would fail, far from the cause. Instead the test
that changed it fails, naming what changed and what to do (copy it first).

Fingerprints:
- folders (snapshot, models, a run's content copies and channel files): every file's relative
  path, size and modification time (nanoseconds) — a few stat calls;
- a SQLite store: its file's size and modification time and the size of its write-ahead log
  (a reader leaves both alone; any committed write changes one of them);
- a PostgreSQL schema: per table, the row count and the newest row version (`xmin`): an insert
  or update makes a newer one, a delete lowers the count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


def folder_fingerprint(root: Path) -> tuple:
    if not root.exists():
        return ()
    out = []
    for path in sorted(root.rglob("*")):
        st = path.stat()
        out.append((str(path.relative_to(root)), path.is_dir(), 0 if path.is_dir() else st.st_size,
                    0 if path.is_dir() else st.st_mtime_ns))
    return tuple(out)


def sqlite_fingerprint(path: Path) -> tuple:
    wal = path.with_name(path.name + "-wal")
    st = path.stat()
    return st.st_size, st.st_mtime_ns, wal.stat().st_size if wal.exists() else 0


def postgres_fingerprint(server, database: str, schema: str) -> tuple:
    with server._connect(database) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,))]
        out = []
        for table in tables:
            count, newest = conn.execute(
                f'SELECT count(*), max(xmin::text::bigint) FROM "{schema}"."{table}"').fetchone()
            out.append((table, count, newest))
    return tuple(out)


@dataclass
class Shared:
    """One shared input: what it is, how to fingerprint it, and its fingerprint when built."""

    what: str
    fingerprint: Callable[[], tuple]
    advice: str
    fixtures: frozenset = frozenset()  # only checked after tests using one of these (for costly checks)
    expected: tuple = field(default=())

    def __post_init__(self) -> None:
        self.expected = self.fingerprint()

    def changed(self) -> bool:
        now = self.fingerprint()
        if now == self.expected:
            return False
        self.expected = now  # report it once, at the test that changed it
        return True


REGISTRY: list[Shared] = []


def register(what: str, fingerprint: Callable[[], tuple], advice: str, fixtures: frozenset = frozenset()) -> None:
    REGISTRY.append(Shared(what, fingerprint, advice, fixtures))


def changed_by(fixturenames: list[str]) -> list[str]:
    """Lines naming each shared input changed since it was built (or last reported)."""
    names = set(fixturenames)
    return [f"{s.what} changed: {s.advice}" for s in REGISTRY
            if (not s.fixtures or s.fixtures & names) and s.changed()]


def built_once(tmp_path_factory, name: str, build: Callable[[Path], object], at: Callable[[Path], object]):
    """An input built once per test session, also when pytest-xdist runs the session in several
    worker processes (`make test` does): the first worker to ask builds it with `build(folder)`
    under an exclusive lock, the others wait for it and take `at(folder)` (the same input, read
    from the folder). The folder is in the session's own temp folder (the parent of every
    worker's), so parallel sessions never share it; without xdist it is an ordinary temp folder.
    Only for inputs that are files (a generated snapshot, trained models): they are then
    fingerprinted by every worker, and a test that changes one still fails (see above)."""
    import fcntl
    import os
    import shutil

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build(tmp_path_factory.mktemp(name))
    folder = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    with open(folder.with_name(folder.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if build() raises
        done = folder.with_name(folder.name + ".done")
        if done.exists():
            return at(folder)
        shutil.rmtree(folder, ignore_errors=True)  # a build that failed half-way is started afresh
        folder.mkdir()
        made = build(folder)
        done.touch()
        return made
