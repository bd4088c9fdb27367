"""The read side's stdlib engine (engine/store/lite.py) reads exactly what SQLAlchemy reads, never
writes, and leaves every case it does not serve to SQLAlchemy as before."""

from __future__ import annotations

import os
import sqlite3

import pytest

import engine.store.read as read
from engine.base.diagnostics import DiagnosticError
from engine.content.approvals import history, record_event
from engine.store import database, lite
from engine.store.loopback import prior_contacts

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # the subject is reading an SQLite file


def _both(monkeypatch, call):
    """call() through the stdlib engine, then through SQLAlchemy's (engine.store.database)."""
    ours = call()
    with monkeypatch.context() as m:
        m.setattr(read, "get_engine", database.get_engine)
        theirs = call()
    return ours, theirs


def test_an_existing_store_is_read_with_the_standard_library(run):
    assert isinstance(lite.get_engine(run.db_url), lite.LiteEngine)


def test_the_read_side_gives_the_same_records_through_either_engine(run, monkeypatch):
    for msisdn in sorted(set(run.examples.values())):
        ours, theirs = _both(monkeypatch, lambda: read.subscriber_in_run("latest", msisdn, run.db_url))
        assert ours == theirs and ours[1] + ours[2]
    ours, theirs = _both(monkeypatch, lambda: list(read.decision_records(run.run_id, run.db_url, batch=997)))
    assert ours == theirs and len(ours) > 997
    ours, theirs = _both(monkeypatch, lambda: (read.succeeded_for(run.db_url, run.inputs.as_of.isoformat()),
                                               read.succeeded_run(run.db_url, run.run_id)))
    assert ours == theirs == (run.run_id, True)
    for bad in ("no-such-run", None):
        errors = []
        for engine in (lite.get_engine, database.get_engine):
            monkeypatch.setattr(read, "get_engine", engine)
            with pytest.raises(DiagnosticError) as caught:
                read.subscriber_in_run(bad, "19999999999", run.db_url)
            errors.append(str(caught.value))
        assert errors[0] == errors[1]


def test_approval_history_and_prior_contacts_read_alike(run, tmp_path):
    db = f"sqlite:///{tmp_path / 'copy.db'}"
    source, dest = sqlite3.connect(run.db_path), sqlite3.connect(tmp_path / "copy.db")
    source.backup(dest)
    source.close()
    dest.close()
    record_event("pack", "retention", "a" * 64, "approved", "王主管", db_url=db)
    record_event("pack", "retention", "a" * 64, "revoked", "王主管", db_url=db)
    events = history("pack", "retention", db)
    assert [(e.action, e.actor, e.at.tzinfo is not None) for e in events] == [("approved", "王主管", True),
                                                                           ("revoked", "王主管", True)]
    assert events[0].at <= events[1].at
    assert prior_contacts(db, run.examples["treat"], "2027-01-01") == []  # no earlier run in the window


def test_cases_it_does_not_serve_go_through_sqlalchemy_as_before(tmp_path, run):
    new = tmp_path / "new.db"
    with pytest.raises(DiagnosticError, match="RN101|no succeeded run"):
        read.resolve_run("latest", f"sqlite:///{new}")
    assert new.exists() and oct(new.stat().st_mode & 0o777) == "0o600"  # created with the schema, as before
    empty = tmp_path / "empty.db"
    empty.touch()
    assert not isinstance(lite.get_engine(f"sqlite:///{empty}"), lite.LiteEngine)
    with pytest.raises(DiagnosticError, match="no succeeded run"):
        read.resolve_run("latest", f"sqlite:///{empty}")
    assert not isinstance(lite.get_engine("sqlite:///:memory:"), lite.LiteEngine)
    database.dispose_all()


def test_a_read_only_store_in_a_read_only_folder_is_read_immutable(run, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    source, dest = sqlite3.connect(run.db_path), sqlite3.connect(folder / "audit.db")
    source.backup(dest)
    source.close()
    dest.close()
    (folder / "audit.db").chmod(0o444)
    folder.chmod(0o555)
    try:
        engine = lite.get_engine(f"sqlite:///{folder / 'audit.db'}")
        assert engine.uri.endswith("?immutable=1")
        info, records, _outside = read.subscriber_in_run("latest", run.examples["treat"],
                                                         f"sqlite:///{folder / 'audit.db'}")
        assert info.id == run.run_id and records
        assert sorted(os.listdir(folder)) == ["audit.db"]  # nothing written beside it
    finally:
        folder.chmod(0o755)
