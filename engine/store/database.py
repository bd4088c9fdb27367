"""Database engine, sessions and schema creation (tables live in their own modules)."""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from engine.base.home import default_db_url

# Modules that define tables; imported before the schema is created so every table exists.
TABLE_MODULES = ("engine.store.tables", "engine.store.approval")

_engines: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (explain, report) work while a run writes; busy_timeout waits for locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def get_engine(url: str | None = None) -> Engine:
    """The engine for `url` (default: the SQLite file under REKINDLE_HOME), schema created."""
    url = url or default_db_url()
    if url not in _engines:
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        for module in TABLE_MODULES:  # registers every table with SQLModel.metadata
            importlib.import_module(module)
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
