"""Database engine, sessions and schema creation (tables live in their own modules).

Two databases are supported and tested alike (tests/conftest.py runs the store, run, explain,
audit and lifecycle tests on both):

- SQLite, the default (a file under REKINDLE_HOME): WAL so readers work while a run writes,
  a busy timeout instead of "database is locked", foreign keys on.
- PostgreSQL, `--db postgresql+psycopg://USER@HOST/DB` (or a Unix socket:
  `postgresql+psycopg://USER@/DB?host=/socket/dir`). A bare `postgresql://` or `postgres://`
  URL means the psycopg 3 driver (the one the project depends on), not SQLAlchemy's default
  psycopg2. Every connection runs with `timezone=UTC`, so the aware UTC datetimes we store in
  `timestamp without time zone` columns are kept as UTC whatever the server's own time zone.
  Options in the URL (`&options=-csearch_path%3Dmyschema`) are kept. Schema creation takes a transaction-level advisory lock, so two processes opening a new
  database at once do not race on CREATE TABLE. Bulk rows go in with COPY (engine/store/bulk.py).

Engines are cached per URL. A forked child (the night's workers) must not reuse the parent's
pooled connections: after a fork the child's pools are dropped without closing the parent's
sockets (SQLAlchemy's `dispose(close=False)`), so the child opens its own if it needs one.
A URL that names another database or cannot be connected to raises a DiagnosticError that says
which URL and why (the CLI prints it like any other input error).
"""

from __future__ import annotations

import importlib
import os
from contextlib import contextmanager
from typing import Iterator

from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlmodel import Session, SQLModel, create_engine

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.base.home import default_db_url
from engine.store.migrate import add_missing_columns

# Modules that define tables; imported before the schema is created so every table exists.
TABLE_MODULES = ("engine.store.tables", "engine.store.approval", "engine.store.signing")
# Databases we test and support; anything else is refused with BAD_URL.
DIALECTS = ("sqlite", "postgresql")
BAD_URL = "DB001"
CANNOT_CONNECT = "DB002"
# Arbitrary constant key of the advisory lock held while creating the schema on PostgreSQL.
SCHEMA_LOCK_KEY = 7_311_024_517

_engines: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (explain, report) work while a run writes; busy_timeout waits for locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def normalise_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean the psycopg 3 driver; other URLs are kept as given."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _new_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DiagnosticError([Diagnostic(BAD_URL, f"not a database URL: {url!r} ({exc})",
                                          hint="use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")]) from None
    if parsed.get_backend_name() not in DIALECTS:
        raise DiagnosticError([Diagnostic(BAD_URL, f"unsupported database {parsed.get_backend_name()!r} in "
                                                    f"{_redacted(url)}",
                                          hint="use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")])
    kwargs: dict = {}
    if parsed.get_backend_name() == "postgresql":
        # Keep the URL's own libpq options (e.g. `options=-csearch_path=myschema`) and add UTC.
        given = parsed.query.get("options", "")
        given = " ".join(given) if isinstance(given, tuple) else given
        kwargs["connect_args"] = {"options": f"{given} -c timezone=UTC".strip()}
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise DiagnosticError([Diagnostic(BAD_URL, f"no driver for {_redacted(url)}: {exc}",
                                          hint="use postgresql+psycopg:// (psycopg 3 is installed with Rekindle)")]) \
            from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _create_schema(engine: Engine) -> None:
    for module in TABLE_MODULES:  # registers every table with SQLModel.metadata
        importlib.import_module(module)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        SQLModel.metadata.create_all(conn)
        add_missing_columns(conn)  # columns added since an older Rekindle made this database


def _sqlite_file(url: str) -> Path | None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # reported by _new_engine
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
    url = normalise_url(url or default_db_url())
    if url not in _engines:
        path = _sqlite_file(url)
        if path is not None and path.exists() and not _writable(path):
            _engines[url] = _read_only_engine(path)
            return _engines[url]
        if path is not None and not path.exists() and path.parent.is_dir():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        engine = _new_engine(url)
        try:
            _create_schema(engine)
        except OperationalError as exc:
            engine.dispose()
            reason = str(exc.orig or exc).strip().splitlines()[0] if (exc.orig or exc) else "unknown error"
            raise DiagnosticError([Diagnostic(CANNOT_CONNECT, f"cannot open the database {_redacted(url)}: {reason}",
                                              hint="check the --db URL, that the server runs and accepts this user")]) \
                from None
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


def _forget_parent_connections() -> None:
    """In a forked child: drop the inherited pools without touching the parent's connections."""
    for engine in _engines.values():
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_connections)
