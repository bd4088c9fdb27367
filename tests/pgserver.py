"""A throwaway PostgreSQL server for tests and benchmarks: initdb + pg_ctl in a temp folder.

    server = PgServer.start()            # ~1 s idle (5-10 s on a busy machine): initdb, then postgres
    url = server.create_database("t1")   # postgresql+psycopg://postgres@/t1?host=<socket dir>  (~1 s)
    url = server.create_schema("t1", "s1")  # the same + &options=-csearch_path%3Ds1  (milliseconds)
    server.drop_database("t1")
    server.stop()                        # pg_ctl stop -m immediate, folder removed

Tests get one database per session (TEST_DATABASE) and one schema per test (`next_schema`): the
product creates its tables wherever search_path points, so a schema is as fresh as a database.

PostgreSQL refuses to run as root, and CI runs as root: then the server runs as the `postgres`
system user (`runuser -u postgres -- initdb/pg_ctl`) in a folder that user owns; run as anyone
else it runs as the current user. It listens only on a Unix socket inside its own folder
(listen_addresses=''), so parallel test sessions never collide on a port. Durability is off
(fsync, synchronous_commit, full_page_writes): a test server is thrown away, never recovered.
The cluster is UTF-8 with the C collation, so text sorts bytewise as in SQLite.

Binaries are found on the PATH, else under /usr/lib/postgresql/<version>/bin. Anything that
stops the server from starting raises PgServerError with what failed and its output, so the
test session can fail with one clear message (tests/conftest.py) instead of skipping.

REKINDLE_TEST_PG_URL=postgresql+psycopg://user@host/db uses an existing server instead (its
user must be allowed to CREATE DATABASE); nothing is started or stopped then.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ENV_URL = "REKINDLE_TEST_PG_URL"
SERVER_SETTINGS = ("-c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=100 -c shared_buffers=64MB -c timezone=UTC")


# The database (on the session's server) whose schemas the PostgreSQL tests use.
TEST_DATABASE = f"rekindle_tests_{os.getpid()}"
_schema_numbers = itertools.count(1)


def next_schema(name: str) -> str:
    """A schema name not used before in this session (`t<n>_<name>`, lower case)."""
    return f"t{next(_schema_numbers)}_{name}".lower()


class PgServerError(RuntimeError):
    """The test server could not be started (the message says which step failed and why)."""


def find_binary(name: str) -> str:
    """The path of a PostgreSQL program (PATH first, then Debian's /usr/lib/postgresql/*/bin)."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return candidate
    raise PgServerError(f"`{name}` not found on the PATH nor under /usr/lib/postgresql/*/bin: "
                        "install PostgreSQL (Debian: apt-get install postgresql) to run the PostgreSQL tests")


def _run(argv: list[str], step: str, timeout: float = 60) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PgServerError(f"{step} failed: {exc}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-2000:]
        raise PgServerError(f"{step} failed (exit {done.returncode}): {' '.join(argv)}\n{output}")


@dataclass
class PgServer:
    """A running server (or an existing one named by REKINDLE_TEST_PG_URL)."""

    socket_dir: str
    user: str
    base: Path | None = None  # the temp folder we own (None for an existing server)
    as_user: list[str] = field(default_factory=list)  # runuser prefix when started as root
    host_url: str = ""  # for an existing server: its URL up to (excluding) the database
    pg_ctl: str = ""

    @classmethod
    def start(cls) -> "PgServer":
        """An existing server if REKINDLE_TEST_PG_URL is set, else a fresh one (see module docstring)."""
        existing = os.environ.get(ENV_URL)
        if existing:
            return cls._existing(existing)
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        as_user: list[str] = []
        user = pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:  # postgres refuses root: run it as the `postgres` system user
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PgServerError("running as root and there is no `postgres` system user to run the server as "
                                    "(PostgreSQL refuses to run as root): create one, or run the tests as a "
                                    "non-root user") from exc
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PgServerError("running as root and `runuser` is missing: cannot switch to the `postgres` "
                                    "user to start the server")
            as_user, user = [runuser, "-u", "postgres", "--"], "postgres"
        # The postgres user must reach the folder: as root, make it under /tmp (world-traversable).
        base = Path(tempfile.mkdtemp(prefix="rekindle-pg-", dir="/tmp" if as_user else None))
        if as_user:
            os.chown(base, owner.pw_uid, owner.pw_gid)
            os.chmod(base, 0o700)
        server = cls(socket_dir=str(base), user=user, base=base, as_user=as_user, pg_ctl=pg_ctl)
        data = base / "data"
        try:
            _run(as_user + [initdb, "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C",
                            "--no-sync"], "initdb" + (" as user postgres" if as_user else ""))
            _run(as_user + [pg_ctl, "-D", str(data), "-l", str(base / "server.log"), "-w", "-t", "60",
                            "-o", f"{SERVER_SETTINGS} -c unix_socket_directories={base}", "start"],
                 "pg_ctl start" + (" as user postgres" if as_user else ""), timeout=90)
        except PgServerError as exc:
            log = base / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            shutil.rmtree(base, ignore_errors=True)
            raise PgServerError(f"{exc}\n{tail}".strip()) from None
        return server

    @classmethod
    def _existing(cls, url: str) -> "PgServer":
        from engine.store.database import normalise_url

        return cls(socket_dir="", user="", host_url=normalise_url(url))

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of a database on this server."""
        if self.host_url:
            from sqlalchemy.engine import make_url

            return make_url(self.host_url).set(database=database).render_as_string(hide_password=False)
        return f"postgresql+psycopg://{quote(self.user)}@/{database}?host={quote(self.socket_dir)}"

    def _admin(self):
        return self._connect("postgres")

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database `name` (a copy of `template` if given; nobody may be connected to it); its URL.

        Costs about a second (PostgreSQL copies its template); tests use schemas instead.
        """
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database `name`, closing whatever connections are still open to it."""
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def schema_url(self, database: str, schema: str) -> str:
        """The URL of `database` whose connections see only `schema` (search_path), with the
        libpq `options` parameter: every table the product creates or reads lands in it."""
        from sqlalchemy.engine import make_url

        url = make_url(self.url(database)).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def create_schema(self, database: str, schema: str) -> str:
        """A fresh, empty schema in `database` (a few ms: the per-test isolation); its URL."""
        with self._connect(database) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return self.schema_url(database, schema)

    def copy_schema(self, database: str, source: str, target: str) -> str:
        """A new schema `target` with a copy of every table of `source` (structure, indexes, rows); its URL."""
        with self._connect(database) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{target}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{target}"')
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (source,))]
            for table in tables:
                conn.execute(f'CREATE TABLE "{target}"."{table}" (LIKE "{source}"."{table}" INCLUDING ALL)')
                conn.execute(f'INSERT INTO "{target}"."{table}" SELECT * FROM "{source}"."{table}"')
        return self.schema_url(database, target)

    def drop_schema(self, database: str, schema: str) -> None:
        with self._connect(database) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def _connect(self, database: str):
        import psycopg

        from sqlalchemy.engine import make_url

        parsed = make_url(self.url(database))
        host = parsed.query.get("host") or parsed.host
        try:
            return psycopg.connect(host=host, port=parsed.port, user=parsed.username, password=parsed.password,
                                   dbname=database, autocommit=True, connect_timeout=20)
        except psycopg.OperationalError as exc:
            raise PgServerError(f"cannot connect to {parsed.render_as_string(hide_password=True)}: {exc}") from None

    def database_bytes(self, name: str) -> int:
        """pg_database_size of `name` (tables, indexes, TOAST; the server's own files excluded)."""
        with self._admin() as conn:
            return int(conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()[0])

    def stop(self) -> None:
        """Stop the server and remove its folder (an existing server is left alone)."""
        if self.base is None:
            return
        try:
            subprocess.run(self.as_user + [self.pg_ctl, "-D", str(self.base / "data"), "-m", "immediate", "-w",
                                           "stop"], capture_output=True, timeout=60)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None
