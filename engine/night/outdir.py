"""The run's channel-files folder: never delete what Rekindle did not create, never leave temp behind.

A run writes its five channel files into a staging folder beside `--out` (`.NAME.tmp-RUNID`),
commits the database, then renames the staging folder into place. This module keeps that
safe for the user's files:

* ownership: every folder Rekindle creates holds a MARKER file. `check_out_dir` refuses an
  `--out` that exists and is not an empty folder or one of ours (`--out "$PWD"` once deleted
  rules/ and strategies/); `swap_into_place` checks again just before replacing.
* a journal: `REKINDLE_HOME/pending/RUNID.json` names each staging folder while it exists.
  `recover` (called at the start of every run, under the run lock) reads it: a staging folder
  whose run committed (`succeeded` in the database) is rolled forward into place — the crash
  came between the commit and the rename; any other is deleted (the run failed or was killed
  before its commit). A failing run cleans up its own staging folder at once (`discard`).
* privacy: folders are created 0700 and files 0600 (the run sets umask 077, see `private`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.base.home import home

MARKER = ".rekindle-run"
NOT_OURS = "RN005"
NOT_A_FOLDER = "RN006"


def _owned(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def check_out_dir(out_dir: Path) -> None:
    """Raise DiagnosticError unless `out_dir` is absent, an empty folder, or a folder Rekindle made."""
    out_dir = Path(out_dir)
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir() or out_dir.is_symlink():
        raise DiagnosticError([Diagnostic(NOT_A_FOLDER, f"--out {out_dir} exists and is not a folder",
                                          file=str(out_dir), hint="give a new folder name")])
    if _owned(out_dir) or not any(out_dir.iterdir()):
        return
    raise DiagnosticError([Diagnostic(
        NOT_OURS, f"--out {out_dir} is a folder with files Rekindle did not write; nothing was changed",
        file=str(out_dir), hint="give a new or empty folder (Rekindle replaces only folders it created: "
                                f"they hold a {MARKER} file)")])


def staging_for(out_dir: Path, run_id: str) -> Path:
    return Path(out_dir).parent / f".{Path(out_dir).name}.tmp-{run_id}"


def _journal_dir() -> Path:
    path = home() / "pending"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _journal(run_id: str) -> Path:
    return _journal_dir() / f"{run_id}.json"


def open_staging(out_dir: Path, run_id: str, db_url: str | None) -> Path:
    """Create the run's staging folder (empty, marked, journalled) and return it."""
    staging = staging_for(out_dir, run_id)
    entry = {"run_id": run_id, "staging": str(staging.resolve()), "out_dir": str(Path(out_dir).resolve()),
             "db": _db_key(db_url)}
    tmp = _journal(run_id).with_suffix(".tmp")
    tmp.write_text(json.dumps(entry, sort_keys=True), encoding="utf-8")
    os.replace(tmp, _journal(run_id))
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True, mode=0o700)
    (staging / MARKER).write_text(f"{run_id}\n", encoding="utf-8")
    return staging


def discard(staging: Path, run_id: str) -> None:
    """Delete a staging folder (ours: it carries the marker) and its journal entry."""
    staging = Path(staging)
    if staging.is_dir() and _owned(staging):
        shutil.rmtree(staging, ignore_errors=True)
    _journal(run_id).unlink(missing_ok=True)


def swap_into_place(staging: Path, out_dir: Path, run_id: str) -> None:
    """Rename the staged folder to `out_dir`, replacing only an empty folder or one of ours."""
    staging, out_dir = Path(staging), Path(out_dir)
    check_out_dir(out_dir)  # again: the folder may have changed since the run started
    aside = None
    if out_dir.exists():
        if _owned(out_dir):
            aside = out_dir.parent / f".{out_dir.name}.old-{secrets.token_hex(4)}"
            out_dir.rename(aside)
        else:
            out_dir.rmdir()  # empty (check_out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(out_dir)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    _journal(run_id).unlink(missing_ok=True)  # last: a crash before it leaves `recover` the aside to delete


def _remove_asides(out_dir: Path) -> None:
    """Delete older folders of ours moved aside by a swap that was stopped before deleting them."""
    for aside in Path(out_dir).parent.glob(f".{Path(out_dir).name}.old-*"):
        if aside.is_dir() and _owned(aside):
            shutil.rmtree(aside, ignore_errors=True)


def _db_key(db_url: str | None) -> str:
    from engine.base.home import default_db_url

    return db_url or default_db_url()


def recover(db_url: str | None, committed: Callable[[str], bool]) -> list[str]:
    """Finish or clean up what earlier runs on this database left (call under the run lock).

    `committed(run_id)` says whether a run is stored as succeeded. Returns one line per action.
    """
    done = []
    key = _db_key(db_url)
    for path in sorted(_journal_dir().glob("*.json")):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            continue
        if entry.get("db") != key:
            continue  # another database's run: its next run recovers it
        run_id, staging, out_dir = entry["run_id"], Path(entry["staging"]), Path(entry["out_dir"])
        if committed(run_id) and staging.is_dir() and _owned(staging):
            try:
                swap_into_place(staging, out_dir, run_id)
                done.append(f"run {run_id}: channel files moved into {out_dir} (the run had stopped after its commit)")
                continue
            except (OSError, DiagnosticError):
                done.append(f"run {run_id}: its channel files stay in {staging}: {out_dir} is not free")
                continue
        _remove_asides(out_dir)
        if not staging.exists():
            _journal(run_id).unlink(missing_ok=True)  # moved into place; only the old folder was left
            continue
        discard(staging, run_id)
        done.append(f"run {run_id}: removed its unfinished temp folder {staging}")
    return done


@contextmanager
def private() -> Iterator[None]:
    """Files and folders created inside are readable by their owner only (umask 077)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)
