"""Channel files 渠道清单: the list each channel's system takes (SMS gateway, call centre, ...).

One CSV per channel, UTF-8, header row, `\\n` line ends, rows sorted by (msisdn, service):
`msisdn,service,strategy,message` plus the channel's extra fields (CHANNEL_EXTRAS) — the
account manager's name for account-manager tasks, the city for outbound calls (call centres
route by city). An empty list still has its header. No run id or time appears in a file, so
identical runs give byte-identical files. The nightly run writes all five files; `rekindle
export` writes one again from the stored decisions (same function, same bytes).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Iterable, Mapping

from sqlalchemy import text

from engine.snapshot.contract import CHANNEL_VALUES
from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.store.database import get_engine

CHANNELS = CHANNEL_VALUES
BASE_COLUMNS = ("msisdn", "service", "strategy", "message")
CHANNEL_EXTRAS: dict[str, tuple[str, ...]] = {
    "sms": (),
    "mms": (),
    "wap_push": (),
    "outbound_call": ("city",),
    "account_manager": ("account_manager",),
}
UNKNOWN_CHANNEL = "RN201"


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
        writer.writerow([row.get(c) or "" for c in columns])
    return buffer.getvalue()


def write_channel_files(directory: Path, rows_by_channel: Mapping[str, list[Mapping[str, str]]]) -> dict[str, Path]:
    """Write `<channel>.csv` for all five channels into `directory`; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for channel in CHANNELS:
        path = directory / f"{channel}.csv"
        path.write_text(channel_csv(channel, rows_by_channel.get(channel, [])), encoding="utf-8")
        paths[channel] = path
    return paths


def check_channel(channel: str) -> None:
    """Raise DiagnosticError for a channel name that is not one of CHANNELS."""
    if channel not in CHANNELS:
        from engine.base.diagnostics import did_you_mean

        raise DiagnosticError([Diagnostic(UNKNOWN_CHANNEL, f"unknown channel {channel!r}",
                                          hint=did_you_mean(channel, CHANNELS) or f"one of: {', '.join(CHANNELS)}")])


def stored_rows(run_id: str, channel: str, db_url: str | None = None) -> list[dict]:
    """The treated decisions of one channel of a stored run, with the channel's extra fields."""
    with get_engine(db_url).connect() as conn:
        found = conn.execute(text(
            "SELECT d.msisdn, d.service, d.strategy, d.message, t.payload FROM decision d "
            "JOIN trace t ON t.run_id = d.run_id AND t.seq = d.seq "
            "WHERE d.run_id = :run AND d.decision = 'treat' AND d.channel = :channel ORDER BY d.seq"),
            {"run": run_id, "channel": channel})
        rows = []
        for r in found:
            contact = json.loads(r.payload).get("decision", {}).get("contact", {})
            rows.append({"msisdn": r.msisdn, "service": r.service, "strategy": r.strategy, "message": r.message,
                         **{k: contact.get(k, "") for k in CHANNEL_EXTRAS[channel]}})
    return rows


def export_channel(run: str | None, channel: str, out: Path | str, db_url: str | None = None) -> tuple[str, Path, int]:
    """Write the channel file of a stored run (`latest` allowed) to `out`, atomically.

    Returns (run id, path written, rows).
    """
    from engine.outputs.audit import resolve_run

    check_channel(channel)
    info = resolve_run(run, db_url)
    rows = stored_rows(info.id, channel, db_url)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(channel_csv(channel, rows), encoding="utf-8")
    os.replace(tmp, path)
    return info.id, path, len(rows)


def export_text(run: str | None, channel: str, db_url: str | None = None) -> tuple[str, str]:
    """(run id, file text) of a stored run's channel list, for printing to stdout."""
    from engine.outputs.audit import resolve_run

    check_channel(channel)
    info = resolve_run(run, db_url)
    return info.id, channel_csv(channel, stored_rows(info.id, channel, db_url))
