"""Issue 11 (run side): nothing of the user's deleted, temp folders never left, a post-commit
crash rolled forward, a second run for a date only with --rerun, private files."""

from __future__ import annotations

import re
import stat

import pytest
from sqlalchemy import text

import engine.night.run as night_run
from engine.base.diagnostics import DiagnosticError, Refused
from engine.night import outdir
from engine.night.channels import CHANNELS
from engine.night.run import RunOptions, run_night
from engine.store.verify import verify_chain
from engine.store.database import get_engine
from nightly_inputs import RULES, STRATEGIES


def options(inputs, home, out, **kw):
    return RunOptions(data=inputs.data, as_of=inputs.as_of, db_url=f"sqlite:///{home / 'night.db'}", out=out,
                      rules_dir=RULES, strategies_dir=STRATEGIES, models_dir=inputs.models, **kw)


def rows(db_url, sql, **params):
    with get_engine(db_url).connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_out_refuses_a_folder_holding_the_users_files(inputs, home):
    """Issue 11: `--out "$PWD"` deleted rules/, strategies/ and a notes file, exit 0."""
    project = home / "project"
    (project / "rules").mkdir(parents=True)
    (project / "rules" / "pack.yaml").write_text("id: mine\n", encoding="utf-8")
    (project / "notes.txt").write_text("my notes\n", encoding="utf-8")
    opts = options(inputs, home, project)
    with pytest.raises(DiagnosticError) as info:
        run_night(opts)
    assert [d.code for d in info.value.diagnostics] == [outdir.NOT_OURS]
    assert "did not write" in str(info.value) and str(project) in str(info.value)
    assert (project / "rules" / "pack.yaml").read_text(encoding="utf-8") == "id: mine\n"
    assert (project / "notes.txt").is_file() and sorted(p.name for p in project.iterdir()) == ["notes.txt", "rules"]
    assert rows(opts.db_url, "SELECT count(*) FROM run")[0][0] == 0
    assert hidden(home) == []  # no staging folder beside it


def test_out_may_be_new_empty_or_a_folder_rekindle_made(inputs, home):
    empty = home / "lists"
    empty.mkdir()
    first = run_night(options(inputs, home, empty))
    assert (empty / outdir.MARKER).is_file()
    assert sorted(p.name for p in empty.iterdir() if p.suffix == ".csv") == sorted(f"{c}.csv" for c in CHANNELS)
    second = run_night(options(inputs, home, empty, rerun=True))  # ours: replaced
    assert (empty / outdir.MARKER).read_text(encoding="utf-8").strip() == second.run_id
    assert first.run_id != second.run_id and hidden(home) == []


def test_a_second_succeeded_run_for_a_date_needs_rerun_and_is_labelled(inputs, home):
    """Issue 11: a rerun added a second succeeded run for the same date with no warning."""
    first = run_night(options(inputs, home, home / "one"))
    with pytest.raises(Refused) as info:
        run_night(options(inputs, home, home / "two"))
    assert first.run_id in str(info.value) and "--rerun" in str(info.value)
    db = options(inputs, home, None).db_url
    assert rows(db, "SELECT count(*) FROM run")[0][0] == 1 and rows(db, "SELECT count(*) FROM run_lock")[0][0] == 0
    assert not (home / "two").exists() and hidden(home) == []
    again = run_night(options(inputs, home, home / "two", rerun=True))
    assert again.rerun_of == first.run_id
    assert rows(db, "SELECT rerun_of FROM run WHERE id = :r", r=again.run_id) == [(first.run_id,)]
    from engine.outputs.reports.run_report import run_report, to_rich
    from rich.console import Console

    report = run_report(again.run_id, db)
    assert report["rerun_of"] == first.run_id
    console = Console(record=True, width=160)
    console.print(to_rich(report))
    assert f"rerun of {first.run_id}" in console.export_text()


def test_a_killed_runs_staging_folder_is_removed_at_the_next_start(inputs, home):
    """Issue 11: after a kill, runs/.<id>.tmp-<id>/ with five full contact lists stays forever."""
    db = options(inputs, home, None).db_url
    get_engine(db)
    dead = "2026-11-20.deadbeef0001"
    staging = outdir.open_staging(home / "out", dead, db)  # what a run killed before its commit leaves
    (staging / "sms.csv").write_text("msisdn\n13800000001\n", encoding="utf-8")
    result = run_night(options(inputs, home, home / "out"))
    assert not staging.exists()
    assert (home / "out" / outdir.MARKER).read_text(encoding="utf-8").strip() == result.run_id
    assert hidden(home) == [] and list((home / "home" / "pending").iterdir()) == []


def test_a_crash_after_the_commit_is_rolled_forward_at_the_next_start(inputs, home, monkeypatch):
    """Issue 11: killed right after the commit, the run is `succeeded` but its folder never appears."""
    out = home / "night-lists"

    def crash(staging, out_dir):
        raise KeyboardInterrupt  # the run stops between the commit and the rename

    monkeypatch.setattr(night_run, "_swap_into_place", crash)
    with pytest.raises(KeyboardInterrupt):
        run_night(options(inputs, home, out))
    db = options(inputs, home, None).db_url
    (run_id, status), = rows(db, "SELECT id, status FROM run")
    assert status == "succeeded" and not out.exists()
    assert rows(db, "SELECT count(*) FROM run_lock")[0][0] == 0
    staging = outdir.staging_for(out, run_id)
    assert staging.is_dir()

    monkeypatch.undo()
    monkeypatch.setenv("REKINDLE_HOME", str(home / "home"))
    second = run_night(options(inputs, home, home / "other", rerun=True))
    assert not staging.exists() and (out / "sms.csv").is_file()
    assert (out / outdir.MARKER).read_text(encoding="utf-8").strip() == run_id
    assert verify_chain(second.run_id, db).ok and second.rerun_of == run_id


def test_run_files_are_private(inputs, home):
    """Issue 11 item 11: the database, run folders and channel files are 0600/0700."""
    out = home / "private"
    run_night(options(inputs, home, out))
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(home / "night.db") == 0o600
    assert mode(out) == 0o700
    assert all(mode(p) == 0o600 for p in out.iterdir())
    assert mode(home / "home") == 0o700


def test_stored_error_of_a_failed_run_carries_no_payload(inputs, home, monkeypatch):
    """Issue 11: the disk-full message printed trace payloads with msisdns; run.error never stores them."""
    import sqlite3

    import engine.store.write as run_store
    from sqlalchemy.exc import OperationalError

    def full(conn, table, columns, batch):
        raise OperationalError("INSERT INTO trace ...", [tuple(r) for r in batch[:2]],
                               sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(run_store, "write_batch", full)
    opts = options(inputs, home, home / "full")
    with pytest.raises(OperationalError) as info:
        run_night(opts)
    assert re.search(r"\d{11}", str(info.value))  # the raw error does carry subscriber numbers
    (status, error), = rows(opts.db_url, "SELECT status, error FROM run")
    assert status == "failed" and "disk full" in error
    assert not re.search(r"\d{7,}", error) and "[SQL" not in error and "parameters" not in error


def test_a_swap_stopped_before_deleting_the_old_folder_is_finished_at_the_next_start(home):
    """The rename into place moves an older folder of ours aside first; a stop right after leaves it."""
    from engine.store.read import succeeded_run

    db = f"sqlite:///{home / 'night.db'}"
    get_engine(db)
    out = home / "lists"
    out.mkdir()
    (out / outdir.MARKER).write_text("older-run\n", encoding="utf-8")
    staging = outdir.open_staging(out, "2026-11-20.0000000000aa", db)
    (staging / "sms.csv").write_text("msisdn\n", encoding="utf-8")
    aside = home / ".lists.old-1234abcd"
    out.rename(aside)  # what swap_into_place did before it was stopped ...
    staging.rename(out)  # ... and this, but not the deletion of the aside nor of the journal entry
    user = home / ".lists.old-mine"
    user.mkdir()  # not ours: no marker, kept
    done = outdir.recover(db, lambda rid: succeeded_run(db, rid))
    assert done == [] and not aside.exists() and user.is_dir() and (out / "sms.csv").is_file()
    assert list((home / "home" / "pending").iterdir()) == []


def test_an_out_folder_taken_during_the_run_is_not_replaced_and_the_lists_are_kept(inputs, home):
    out = home / "lists"

    def someone_writes_there(stage):
        if stage == "store":  # after the check at the start, before the rename into place
            out.mkdir()
            (out / "mine.txt").write_text("mine\n", encoding="utf-8")

    with pytest.raises(DiagnosticError) as info:
        run_night(options(inputs, home, out), progress=someone_writes_there)
    assert [d.code for d in info.value.diagnostics] == [outdir.NOT_OURS]
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    db = options(inputs, home, None).db_url
    (run_id, status), = rows(db, "SELECT id, status FROM run")
    assert status == "succeeded" and rows(db, "SELECT count(*) FROM run_lock")[0][0] == 0
    staging = outdir.staging_for(out, run_id)
    assert (staging / "sms.csv").is_file()  # kept, and journalled for the next start
    assert [p.name for p in (home / "home" / "pending").iterdir()] == [f"{run_id}.json"]
