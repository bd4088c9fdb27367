"""Channel files 渠道清单: the list each channel's system takes (SMS gateway, call centre, ...).

One CSV per channel, UTF-8, header row, `\\n` line ends, rows sorted by (msisdn, service):
`msisdn,service,strategy,message` plus the channel's extra fields (CHANNEL_EXTRAS) — the
account manager's name for account-manager tasks, the city for outbound calls (call centres
route by city). An empty list still has its header. No run id or time appears in a file, so
identical runs give byte-identical files. Cells a spreadsheet would read as a formula get a
leading `'` (engine.base.csvsafe); files are created 0600. The nightly run writes all five files; `rekindle
export` (engine.outputs.export) writes one again from the stored decisions (same function,
same bytes).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

from engine.base.csvsafe import FILE_MODE, make_private_dir, safe_row, write_private
from engine.snapshot.contract import CHANNEL_VALUES

CHANNELS = CHANNEL_VALUES
BASE_COLUMNS = ("msisdn", "service", "strategy", "message")
CHANNEL_EXTRAS: dict[str, tuple[str, ...]] = {
    "sms": (),
    "mms": (),
    "wap_push": (),
    "outbound_call": ("city",),
    "account_manager": ("account_manager",),
}


def columns_of(channel: str) -> tuple[str, ...]:
    """The header of a channel's file."""
    return BASE_COLUMNS + CHANNEL_EXTRAS[channel]


def channel_csv(channel: str, rows: Iterable[Mapping[str, str]]) -> str:
    """The text of one channel file; `rows` are dicts with at least the channel's columns."""
    columns = columns_of(channel)
    ordered = sorted(rows, key=lambda r: (r["msisdn"], r["service"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in ordered:
        writer.writerow(safe_row(row.get(c) or "" for c in columns))  # formula cells quoted (csvsafe)
    return buffer.getvalue()


def write_channel_files(directory: Path, rows_by_channel: Mapping[str, list[Mapping[str, str]]]) -> dict[str, Path]:
    """Write `<channel>.csv` for all five channels into `directory`; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for channel in CHANNELS:
        path = directory / f"{channel}.csv"
        write_private(path, channel_csv(channel, rows_by_channel.get(channel, [])))  # 0600, atomic
        paths[channel] = path
    return paths


class ChannelFiles:
    """The five channel files of a night, written while its rows are sealed: the run's rows come
    in (msisdn, service) order, the files' own order, so no channel's rows are held in memory
    (a 1M base treats ~460k facts). The same bytes as `write_channel_files`; a row out of order
    is refused (it would be a bug upstream, and a file must never be silently unsorted).

    Each file is written to a private temporary name in `directory` and renamed to
    `<channel>.csv` by `close`; `discard` removes the temporary files (the night's staging
    folder is discarded on failure too)."""

    def __init__(self, directory: Path):
        make_private_dir(directory)
        self.directory = directory
        self._open: dict[str, tuple[Path, Any, Any]] = {}
        self._last: dict[str, tuple[str, str]] = {}
        for channel in CHANNELS:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{channel}.csv.", suffix=".tmp")  # 0600
            handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(columns_of(channel))
            self._open[channel] = (Path(tmp), handle, writer)

    def add(self, channel: str, row: Mapping[str, str]) -> None:
        """One treated row (a dict with at least the channel's columns), after every row before it."""
        key = (row["msisdn"], row["service"])
        last = self._last.get(channel)
        if last is not None and key < last:
            raise RuntimeError(f"{channel} row {key} came after {last}: "
                               "channel rows must come in (msisdn, service) order")
        self._last[channel] = key
        self._open[channel][2].writerow(safe_row(row.get(c) or "" for c in columns_of(channel)))

    def close(self) -> dict[str, Path]:
        """Finish every file under its own name; the paths."""
        paths = {}
        for channel, (tmp, handle, _writer) in self._open.items():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.chmod(tmp, FILE_MODE)
            paths[channel] = tmp.replace(self.directory / f"{channel}.csv")
        self._open = {}
        return paths

    def discard(self) -> None:
        for tmp, handle, _writer in self._open.values():
            handle.close()
            tmp.unlink(missing_ok=True)
        self._open = {}
