"""Bulk insert of plain row tuples: PostgreSQL `COPY ... FROM STDIN`, else the driver's executemany.

`insert_rows(conn, table, columns, rows)` is the one call the writer makes per batch
(engine/store/write.py `write_batch`). It runs inside the caller's transaction, so a run is
still all-or-nothing: COPY rows become visible only when that transaction commits, and an
error anywhere rolls them back with everything else.

Why COPY: psycopg's executemany sends one INSERT per row (pipelined); COPY streams the rows in
one command and is several times faster for the decision and trace tables of a night
(benchmarks/postgres.py measures it). SQLite has no COPY; there a prepared INSERT through
executemany inside one transaction is already the fast path.

Values are written in COPY's text format by psycopg (`write_row`), which escapes tabs,
newlines and backslashes and encodes text as UTF-8, so payloads and Chinese messages arrive
byte for byte as given. Table and column names come from our own schema, never from input.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection


def _placeholders(conn: Connection, n: int) -> str:
    style = conn.dialect.paramstyle
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(style)
    if mark is None:
        raise RuntimeError(f"unsupported DB-API paramstyle {style!r}")
    return ", ".join([mark] * n)


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """COPY rows into a PostgreSQL table on this connection's current transaction."""
    raw = conn.connection.driver_connection  # the psycopg 3 connection under SQLAlchemy's
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def insert_rows(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert row tuples (in `columns` order) the fastest way the connection's database offers."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        copy_rows(conn, table, columns, rows)
        return
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_placeholders(conn, len(columns))})"
    conn.exec_driver_sql(sql, list(rows))
