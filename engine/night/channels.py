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
from pathlib import Path
from typing import Iterable, Mapping

from engine.base.csvsafe import safe_row, write_private
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
