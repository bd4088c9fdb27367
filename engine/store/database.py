"""Database engine, sessions and schema creation (tables live in their own modules)."""

from __future__ import annotations

import importlib
import os
from contextlib import contextmanager
from typing import Iterator

from pathlib import Path

from sqlalchemy import event, make_url
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from engine.base.home import default_db_url

# Modules that define tables; imported before the schema is created so every table exists.
TABLE_MODULES = ("engine.store.tables", "engine.store.approval", "engine.store.signing")

_engines: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (explain, report) work while a run writes; busy_timeout waits for locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:" \
            or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def _writable(path: Path) -> bool:
    """Whether we may write `path` (a file): its mode and its folder's mode allow it, as do the
    OS permissions (mode bits count even for root, who could write anyway: a 0444 database
    was made read-only on purpose)."""
    def allowed(p: Path) -> bool:
        return os.access(p, os.W_OK) and bool(p.stat().st_mode & 0o222)

    return allowed(path) and allowed(path.parent)


def _read_only_engine(path: Path) -> Engine:
    """An engine that only reads an SQLite file we may not write (a read-only file, folder or
    mount): `mode=ro` when the folder is writable (SQLite keeps its WAL index there), else
    `immutable=1` (nothing is written at all; nobody can be writing a WAL database there)."""
    import sqlite3

    folder_writable = os.access(path.parent, os.W_OK) and bool(path.parent.stat().st_mode & 0o222)
    uri = f"{path.resolve().as_uri()}?{'mode=ro' if folder_writable else 'immutable=1'}"

    def connect():
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    return create_engine("sqlite://", creator=connect)


def get_engine(url: str | None = None) -> Engine:
    """The engine for `url` (default: the SQLite file under REKINDLE_HOME), schema created.

    A new SQLite file is created 0600 (it holds subscriber data). An existing SQLite file this
    process cannot write is opened read-only (no schema creation, no WAL switch), so `audit
    verify`, `explain` and the reports still work on a read-only copy or mount; writing to it
    fails with SQLite's "attempt to write a readonly database" (exit code 4).
    """
    url = url or default_db_url()
    if url not in _engines:
        path = _sqlite_file(url)
        if path is not None and path.exists() and not _writable(path):
            _engines[url] = _read_only_engine(path)
            return _engines[url]
        if path is not None and not path.exists() and path.parent.is_dir():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        for module in TABLE_MODULES:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:  # a table module not written yet
                if exc.name != module:
                    raise
        SQLModel.metadata.create_all(engine)
        _engines[url] = engine
    return _engines[url]


@contextmanager
def session(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(get_engine(url)) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def dispose_all() -> None:
    """Close every pooled connection (tests and worker processes call this)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
