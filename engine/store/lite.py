"""The read side's engine: an existing SQLite store read with the standard library's sqlite3.

Why: `rekindle explain MSISDN` is what an auditor types, and importing SQLAlchemy (with
SQLModel and pydantic behind it) costs more than the whole answer (~0.5 s of 1.2 s on the demo
database). Reading needs none of it: the store's read queries are plain SQL text with `:name`
parameters, which sqlite3 runs as they are.

Contract:
- `get_engine(url)` is a drop-in for `engine.store.database.get_engine` *for reading*. For an
  existing SQLite file that already holds the store's tables it returns a `LiteEngine`; for
  anything else (PostgreSQL, a file not created yet, a file without our tables) it returns the
  SQLAlchemy engine of engine.store.database, so those cases behave exactly as before (schema
  created, errors worded as before).
- A `LiteEngine` opens the file read-only (`mode=ro`; `immutable=1` when its folder is not
  writable, as engine.store.database does for read-only files), one connection per `connect()`,
  closed when the `with` block ends: nothing is pooled, nothing to dispose.
- It implements only the SQLAlchemy Core calls the read side makes: `engine.connect()` as a
  context manager (`execution_options` accepted and ignored), `conn.execute(sql, params)` with
  a result's `first()`, `all()`, `scalar()`, `fetchmany(n)`, iteration and `mappings()`; rows
  by position, by name (`row["id"]` through mappings) and as attributes (`row.status`).
  Values are sqlite3's own, which is what SQLAlchemy's `text()` queries return on SQLite too.
- `text(sql)` is SQLAlchemy's `text()` when SQLAlchemy is loaded (a SQLAlchemy connection
  exists only then) and the SQL string itself otherwise; a `LiteEngine` runs either.
Writers keep using engine.store.database.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Any, Iterator

# The tables the read side reads; a file without all of them goes through SQLAlchemy (which
# creates them, so an empty database reads as "no run" as it always did).
STORE_TABLES = frozenset({"run", "decision", "trace", "out_of_scope", "trace_block", "out_of_scope_block", "approval"})
_PREFIX = "sqlite:///"


def text(sql: str):
    """SQLAlchemy's `text(sql)` when SQLAlchemy is loaded, else `sql` (for a LiteEngine)."""
    if "sqlalchemy" in sys.modules:
        from sqlalchemy import text as sa_text

        return sa_text(sql)
    return sql


def sqlite_path(url: str) -> Path | None:
    """The file of a plain `sqlite:///PATH` URL, or None (other databases, `:memory:`, URI options)."""
    if not url.startswith(_PREFIX):
        return None
    path = url[len(_PREFIX):]
    if not path or path == ":memory:" or path.startswith("file:") or "?" in path:
        return None
    return Path(path)


def _has_store_tables(uri: str) -> bool:
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30)
    except sqlite3.Error:
        return False
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return STORE_TABLES <= names


def get_engine(url: str | None = None):
    """A LiteEngine for an existing SQLite store, else engine.store.database.get_engine(url)."""
    if url is None:
        from engine.base.home import default_db_url

        url = default_db_url()
    path = sqlite_path(url)
    if path is not None and path.is_file():
        folder = path.resolve().parent
        writable = os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)
        uri = f"{path.resolve().as_uri()}?{'mode=ro' if writable else 'immutable=1'}"
        if _has_store_tables(uri):
            return LiteEngine(uri)
    from engine.store.database import get_engine as sqlalchemy_engine

    return sqlalchemy_engine(url)


class Row(tuple):
    """A result row: by position, and by column name as an attribute."""

    _index: dict[str, int]

    def __getattribute__(self, name: str) -> Any:
        # a column name wins over tuple's own attributes (a column called `count` or `index`), as
        # on SQLAlchemy's rows
        index = type(self)._index
        if name in index:
            return tuple.__getitem__(self, index[name])
        return tuple.__getattribute__(self, name)


class _Mappings:
    def __init__(self, cursor: sqlite3.Cursor, names: list[str]):
        self.cursor, self.names = cursor, names

    def _map(self, rows: list) -> list[dict]:
        return [dict(zip(self.names, row)) for row in rows]

    def all(self) -> list[dict]:
        return self._map(self.cursor.fetchall())

    def fetchmany(self, size: int) -> list[dict]:
        return self._map(self.cursor.fetchmany(size))

    def first(self) -> dict | None:
        row = self.cursor.fetchone()
        return dict(zip(self.names, row)) if row is not None else None

    def __iter__(self) -> Iterator[dict]:
        for row in self.cursor:
            yield dict(zip(self.names, row))


class Result:
    """The part of SQLAlchemy's CursorResult the read side uses."""

    def __init__(self, cursor: sqlite3.Cursor):
        self.cursor = cursor
        self.names = [d[0] for d in cursor.description or ()]
        index = {name: i for i, name in enumerate(self.names)}
        self._row = type("Row", (Row,), {"_index": index, "__slots__": ()})

    def _wrap(self, row):
        return None if row is None else self._row(row)

    def first(self):
        return self._wrap(self.cursor.fetchone())

    def fetchone(self):
        return self._wrap(self.cursor.fetchone())

    def all(self) -> list:
        return [self._row(r) for r in self.cursor.fetchall()]

    def fetchmany(self, size: int) -> list:
        return [self._row(r) for r in self.cursor.fetchmany(size)]

    def scalar(self):
        row = self.cursor.fetchone()
        return None if row is None else row[0]

    def mappings(self) -> _Mappings:
        return _Mappings(self.cursor, self.names)

    def __iter__(self):
        for row in self.cursor:
            yield self._row(row)


class LiteConnection:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def execute(self, sql, params: dict | None = None) -> Result:
        return Result(self.conn.execute(str(sql), params or {}))

    def execution_options(self, **_options) -> "LiteConnection":
        return self


class LiteEngine:
    """A read-only SQLite store (see the module docstring)."""

    def __init__(self, uri: str):
        self.uri = uri
        self.dialect_name = "sqlite"

    def connect(self) -> "_Connecting":
        return _Connecting(self.uri)


class _Connecting:
    """`engine.connect()`: a context manager opening one connection, closed when the block ends;
    `.execution_options(...)` is accepted (and ignored: sqlite3 reads lazily) as on SQLAlchemy."""

    def __init__(self, uri: str):
        self.uri, self.conn = uri, None

    def execution_options(self, **_options) -> "_Connecting":
        return self

    def __enter__(self) -> LiteConnection:
        self.conn = sqlite3.connect(self.uri, uri=True, timeout=30)
        return LiteConnection(self.conn)

    def __exit__(self, *exc) -> None:
        self.conn.close()
