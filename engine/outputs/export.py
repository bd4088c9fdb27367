"""`rekindle export`: a stored run's channel list written again from its decisions — the same
bytes the run wrote (engine.night.channels)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from engine.base.csvsafe import write_private
from engine.base.diagnostics import Diagnostic, DiagnosticError, did_you_mean
from engine.night.channels import CHANNEL_EXTRAS, CHANNELS, channel_csv
from engine.store.database import get_engine
from engine.store.read import resolve_run

UNKNOWN_CHANNEL = "RN201"


def check_channel(channel: str) -> None:
    """Raise DiagnosticError for a channel name that is not one of CHANNELS."""
    if channel not in CHANNELS:
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
    check_channel(channel)
    info = resolve_run(run, db_url)
    rows = stored_rows(info.id, channel, db_url)
    path = Path(out)
    write_private(path, channel_csv(channel, rows))  # 0600, atomic (engine.base.csvsafe)
    return info.id, path, len(rows)


def export_text(run: str | None, channel: str, db_url: str | None = None) -> tuple[str, str]:
    """(run id, file text) of a stored run's channel list, for printing to stdout."""
    check_channel(channel)
    info = resolve_run(run, db_url)
    return info.id, channel_csv(channel, stored_rows(info.id, channel, db_url))
