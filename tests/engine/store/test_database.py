"""engine.store.database and engine.store.bulk on SQLite and PostgreSQL: URLs, time zones,
bulk rows byte for byte, all-or-nothing transactions, fork safety, clear connection errors."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from engine.base.diagnostics import DiagnosticError
from engine.store.bulk import insert_rows
from engine.store.database import BAD_URL, CANNOT_CONNECT, dispose_all, get_engine, normalise_url
from engine.store.tables import Run

# Text a COPY or an INSERT could mangle: separators, escapes, quotes, newlines, Chinese, emoji.
AWKWARD = ["tab\there", "line\nbreak\r\n", "back\\slash \\N \\t", "quote ' and \"", "", "尊敬的客户，您好",
           "emoji 🎉", "comma, semicolon; pipe |", "%s %(x)s ?", "x" * 10_000]


def test_a_bare_postgresql_url_means_the_psycopg_3_driver():
    assert normalise_url("postgresql://u@/db?host=/s") == "postgresql+psycopg://u@/db?host=/s"
    assert normalise_url("postgres://u:p@h:5/db") == "postgresql+psycopg://u:p@h:5/db"
    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_an_unsupported_or_malformed_url_is_a_clear_error():
    with pytest.raises(DiagnosticError) as info:
        get_engine("mysql://someone@somewhere/db")
    assert [d.code for d in info.value.diagnostics] == [BAD_URL]
    assert "unsupported database 'mysql'" in str(info.value)
    with pytest.raises(DiagnosticError, match="not a database URL"):
        get_engine("not a url")


def test_a_server_that_cannot_be_reached_is_a_clear_error_naming_the_url(tmp_path):
    url = f"postgresql://nobody:secret@/nodb?host={tmp_path / 'no-server-here'}"
    with pytest.raises(DiagnosticError) as info:
        get_engine(url)
    [diagnostic] = info.value.diagnostics
    assert diagnostic.code == CANNOT_CONNECT and "cannot open the database" in diagnostic.message
    assert "secret" not in diagnostic.message  # the password is never printed
    assert "nobody" in diagnostic.message and "nodb" in diagnostic.message


def test_bulk_rows_arrive_byte_for_byte(db_url):
    rows = [("r", seq, value, "", "") for seq, value in enumerate(AWKWARD)]
    engine = get_engine(db_url)
    with engine.begin() as conn:
        insert_rows(conn, "trace", ("run_id", "seq", "payload", "prev_hash", "hash"), rows)
        insert_rows(conn, "trace", ("run_id", "seq", "payload", "prev_hash", "hash"), [])  # nothing to do
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(text("SELECT run_id, seq, payload, prev_hash, hash FROM trace "
                                                      "ORDER BY seq"))]
    assert stored == rows


def test_bulk_rows_are_rolled_back_with_their_transaction(db_url):
    engine = get_engine(db_url)
    with pytest.raises(RuntimeError, match="after the rows"):
        with engine.begin() as conn:
            insert_rows(conn, "out_of_scope", ("run_id", "msisdn", "service", "segment"),
                        [("r", f"1380000{i:04d}", "reading", "active") for i in range(2000)])
            raise RuntimeError("failure after the rows were sent")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM out_of_scope")).scalar_one() == 0


def test_a_duplicate_key_in_a_bulk_batch_fails_the_whole_batch(db_url):
    engine = get_engine(db_url)
    row = ("r", "13800000001", "reading", "active")
    with pytest.raises(Exception):  # IntegrityError (SQLite) / UniqueViolation (PostgreSQL COPY)
        with engine.begin() as conn:
            insert_rows(conn, "out_of_scope", ("run_id", "msisdn", "service", "segment"), [row, row])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM out_of_scope")).scalar_one() == 0


def test_times_are_stored_and_read_back_as_utc(db_url):
    # 17:30 in UTC+8 is 09:30 UTC; a naive value read back means UTC (SQLModel's convention).
    at = datetime(2026, 11, 2, 17, 30, tzinfo=timezone(timedelta(hours=8)))
    with get_engine(db_url).begin() as conn:
        conn.execute(Run.__table__.insert(), {"id": "r", "as_of": "2026-11-02", "status": "failed", "started_at": at})
    with get_engine(db_url).connect() as conn:
        stored = conn.execute(text("SELECT started_at FROM run")).scalar_one()
    stored = stored if isinstance(stored, datetime) else datetime.fromisoformat(stored)
    assert stored.replace(tzinfo=stored.tzinfo or timezone.utc) == datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite has no session time zone at all
def test_a_server_in_another_time_zone_still_stores_utc(db_url):
    # The URL asks for Shanghai time; the engine's own timezone=UTC comes after it and wins.
    url = db_url.replace("options=", "options=-ctimezone%3DAsia%2FShanghai+")
    with get_engine(url).connect() as conn:
        assert conn.execute(text("SELECT current_setting('TimeZone'), current_setting('search_path')")).one() \
            == ("UTC", db_url.rsplit("search_path%3D", 1)[1])


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(db_url, backend):
    engine = get_engine(db_url)
    whoami = "SELECT CAST(pg_backend_pid() AS TEXT)" if backend == "postgresql" else "SELECT 'x'"
    with engine.begin() as conn:
        parent = conn.execute(text(whoami)).scalar_one()
        conn.execute(text("INSERT INTO out_of_scope (run_id, msisdn, service, segment) VALUES ('p', '1', 's', :w)"),
                     {"w": parent})
    pid = os.fork()
    if pid == 0:  # the child: a connection of its own through the same cached engine
        code = 1
        try:
            with get_engine(db_url).begin() as conn:
                conn.execute(text(f"INSERT INTO out_of_scope (run_id, msisdn, service, segment) "
                                  f"VALUES ('c', '2', 's', ({whoami}))"))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with engine.connect() as conn:  # the parent's pooled connection still works
        found = dict(tuple(r) for r in conn.execute(text("SELECT run_id, segment FROM out_of_scope")))
        assert conn.execute(text(whoami)).scalar_one() == parent
    if backend == "postgresql":  # another server process: not the parent's socket reused
        assert found["c"] != found["p"]
    assert set(found) == {"c", "p"}
