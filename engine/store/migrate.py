"""Columns added to existing tables after a database was first created.

`SQLModel.metadata.create_all` creates missing tables but never changes an existing one, so a
database made by an older Rekindle lacks the columns added since. Each such column is listed
here with the SQL type and default its rows take; when the schema is opened
(engine.store.database), every column a table lacks is added with `ALTER TABLE … ADD COLUMN`,
in the same transaction (and, on PostgreSQL, under the same advisory lock) as `create_all`.
Added columns always have a default, so the rows already stored read as they did before (e.g.
`run.settings` = '{}': "stored before the run recorded its settings"), and the writers of older
rows' digests (engine/store/signing.py) can tell them apart.

Columns are only ever added, never renamed or dropped: an older Rekindle still reads the tables.
"""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

# (table, column, SQL type and default) — both SQLite and PostgreSQL accept these as written.
ADDED = (
    ("run", "settings", "TEXT NOT NULL DEFAULT '{}'"),
)


def add_missing_columns(conn: Connection) -> list[str]:
    """Add every column of ADDED its table lacks; the "table.column" names added."""
    found = inspect(conn)
    added = []
    for table, column, kind in ADDED:
        if not found.has_table(table):
            continue  # create_all makes it whole
        if column in {c["name"] for c in found.get_columns(table)}:
            continue
        conn.execute(text(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {kind}'))
        added.append(f"{table}.{column}")
    return added
