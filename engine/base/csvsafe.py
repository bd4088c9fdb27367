"""Every CSV Rekindle writes is safe to open in a spreadsheet, and private to its owner.

**Formula injection (OWASP "CSV Injection").** Call-centre and account-manager staff open the
channel files and the strategy knowledge-base export in a spreadsheet. A cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read there as a formula (``=HYPERLINK(…)``,
``@SUM(…)``, DDE payloads); the subscriber data and strategy CSV imports that fill those cells
are not ours. OWASP's rule: prefix such a cell with a single quote ``'`` so the spreadsheet
shows it as text. `neutralise` applies it to one cell, `safe_row` to a row; every CSV writer
calls one of them (engine.night.channels for the channel files and `rekindle export`,
engine.content.strategies_csv for the knowledge base, the report CSVs). Cells that do not start
with one of those characters are returned unchanged, so ordinary files (msisdns, Chinese
text, ids) keep exactly their bytes. Numbers are written by the writers as numbers, not as
text cells, and are left alone (a numeric cell cannot carry a formula).

`restore` is the inverse for our own re-importable files: the strategy CSV import strips the
quote that our export added, so export → import gives the files back.

**Privacy.** Contact lists and exports hold msisdns. `write_private` writes a file created
0600 (owner read/write only) atomically (temp file in the same folder + os.replace), and
creates missing parent folders 0700 — whatever the process umask says.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
FILE_MODE = 0o600
FOLDER_MODE = 0o700


def neutralise(cell: object) -> object:
    """`cell` with a leading `'` when it is text starting with a formula character.

    A carriage return inside the text also becomes a line feed: our writers end lines with
    `\n`, so Python's csv module quotes cells holding `\n` but writes a bare `\r` as is, and
    a spreadsheet would start a new row there.
    """
    if not isinstance(cell, str):
        return cell
    if cell[:1] in FORMULA_START:
        cell = QUOTE + cell
    if "\r" in cell:
        cell = cell.replace("\r\n", "\n").replace("\r", "\n")
    return cell


def safe_row(cells: Iterable[object]) -> list[object]:
    """A row of cells, each neutralised (for csv.writer.writerow)."""
    return [neutralise(c) for c in cells]


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text columns are neutralised (vectorised; numbers untouched)."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if column.dtype != object and not isinstance(column.dtype, pd.StringDtype):
            continue
        is_text = column.map(lambda v: isinstance(v, str)).astype(bool)
        risky = is_text & column.where(is_text, "").astype(str).str.contains(r"^[=+\-@\t\r]|\r", regex=True)
        if risky.any():
            out[name] = pd.Series([neutralise(v) if r else v for v, r in zip(column.tolist(), risky.tolist())],
                                  index=column.index, dtype=object)
    return out


def restore(cell: str) -> str:
    """The inverse of `neutralise` for one text cell read back from a file we wrote."""
    if cell[:1] == QUOTE and cell[1:2] in (*FORMULA_START, "\n") and cell[1:2] != "":
        return cell[1:]
    return cell


def make_private_dir(folder: Path) -> None:
    """Create `folder` (and missing parents) with mode 0700; existing folders are left as they are."""
    missing = []
    current = Path(folder)
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue
        os.chmod(path, FOLDER_MODE)  # mkdir's mode is masked by the umask


def write_private(path: str | Path, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8) to `path`: mode 0600, atomically; parents created 0700."""
    path = Path(path)
    make_private_dir(path.parent)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mkstemp: 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
