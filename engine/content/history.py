"""Finding earlier versions of the planners' content: by sha256, in folders or in git history.

A run records the sha256 of every pack, policy, segmentation and strategy file it used. To
replay a decision months later (`rekindle audit replay`) those exact bytes are needed again:
they are looked up first in the given folders, then in the git history of those folders
(`git log -- <folder>`, `git show <rev>:<path>`). `rekindle rules diff --base REV` needs a
whole folder as it was at a revision (`extract_revision`). Git is called as a program with an
argument list (never through a shell); a folder outside any git work tree simply has no history.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from engine.base.diagnostics import Diagnostic, DiagnosticError

YAML_SUFFIXES = (".yaml", ".yml")
GIT_FAILED = "RN111"


@dataclass(frozen=True)
class Found:
    """One content file found by its hash: its name, bytes and where it came from."""

    sha256: str
    filename: str  # file name only (e.g. long_term_silent.yaml)
    data: bytes
    source: str  # "rules/long_term_silent.yaml" or "git 3f2a9c1b7d0e:rules/long_term_silent.yaml"


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)


def repo_root(path: Path) -> Path | None:
    """The top of the git work tree holding `path`, or None (not in a repository, or no git)."""
    folder = path if path.is_dir() else path.parent
    try:
        done = _git(["rev-parse", "--show-toplevel"], folder)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if done.returncode != 0:
        return None
    return Path(done.stdout.decode().strip())


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in YAML_SUFFIXES)


def _in_folders(wanted: set[str], folders: Iterable[Path], found: dict[str, Found]) -> None:
    for folder in folders:
        for path in _yaml_files(folder):
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in wanted and digest not in found:
                found[digest] = Found(digest, path.name, data, str(path))


def _in_history(wanted: set[str], folder: Path, found: dict[str, Found]) -> None:
    """Walk the commits touching `folder`, newest first, until every wanted hash is found."""
    root = repo_root(folder)
    if root is None or not folder.is_dir():
        return
    rel = folder.resolve().relative_to(root.resolve()).as_posix() or "."
    log = _git(["log", "--format=%H", "--", rel], root)
    if log.returncode != 0:
        return
    seen_blobs: set[str] = set()
    for rev in log.stdout.decode().split():
        if wanted <= found.keys():
            return
        tree = _git(["ls-tree", rev, "--", rel + "/"], root)
        for line in tree.stdout.decode("utf-8", "replace").splitlines():
            meta, _, path = line.partition("\t")
            parts = meta.split()
            if len(parts) != 3 or parts[1] != "blob" or not path.endswith(YAML_SUFFIXES) or parts[2] in seen_blobs:
                continue
            seen_blobs.add(parts[2])
            shown = _git(["cat-file", "blob", parts[2]], root)
            if shown.returncode != 0:
                continue
            digest = hashlib.sha256(shown.stdout).hexdigest()
            if digest in wanted and digest not in found:
                found[digest] = Found(digest, Path(path).name, shown.stdout, f"git {rev[:12]}:{path}")


def find_versions(wanted: Iterable[str], folders: Iterable[Path | str]) -> dict[str, Found]:
    """The files whose sha256 is in `wanted`: from the folders as they are, else from their git history.

    Hashes found nowhere are simply absent from the result; the caller says which are missing.
    """
    wanted = {w for w in wanted if w}
    folders = [Path(f) for f in folders]
    found: dict[str, Found] = {}
    _in_folders(wanted, folders, found)
    for folder in folders:
        if wanted <= found.keys():
            break
        _in_history(wanted, folder, found)
    return found


def extract_revision(rev: str, folders: Iterable[Path | str], dest: Path) -> list[Path]:
    """Write each folder as it was at git revision `rev` into `dest/<folder name>`; returns them.

    Raises DiagnosticError when a folder is not in a git repository or `rev` is unknown there.
    """
    out: list[Path] = []
    for folder in (Path(f) for f in folders):
        root = repo_root(folder)
        if root is None:
            raise DiagnosticError([Diagnostic(
                GIT_FAILED, f"{folder} is not inside a git repository, so revision {rev!r} cannot be read",
                file=str(folder), hint="pass --base a folder instead, or run inside the project's git checkout")])
        rel = folder.resolve().relative_to(root.resolve()).as_posix()
        done = _git(["archive", "--format=tar", rev, "--", rel], root)
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise DiagnosticError([Diagnostic(GIT_FAILED, f"git cannot read {rel}/ at revision {rev!r}: "
                                              f"{message[-1] if message else 'unknown error'}", file=str(folder),
                                              hint="name a commit, branch or tag that contains this folder")])
        target = dest / folder.resolve().name
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
            for member in archive.getmembers():
                if not member.isfile():
                    continue
                inner = Path(member.name).relative_to(rel) if rel else Path(member.name)
                if len(inner.parts) != 1:
                    continue  # only the folder's own files, as the loader reads them
                handle = archive.extractfile(member)
                if handle is not None:
                    (target / inner.name).write_bytes(handle.read())
        out.append(target)
    return out
