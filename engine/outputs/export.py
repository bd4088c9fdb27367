"""`rekindle export`: a stored run's channel list written again from its decisions — the same
bytes the run wrote (engine.night.channels).

The run is verified first (`audit verify`: hash chain and signed seal). A run that does not
verify is refused (exit 3) unless `force` is given; a forced export is written to the audit log
(who, when, which run and channel, and why verify failed) and warned about on stderr.
`--out` must name a file: a folder is refused with a diagnostic, and the file is written
through a temp file beside it that is removed on any failure.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.base.csvsafe import write_private
from engine.base.diagnostics import Diagnostic, DiagnosticError, Refused, did_you_mean
from engine.content.approvals import current_user
from engine.night.channels import CHANNEL_EXTRAS, CHANNELS, channel_csv
from engine.store.read import decisions_with_payloads, resolve_run

UNKNOWN_CHANNEL = "RN201"
OUT_IS_FOLDER = "RN202"
NOT_VERIFIED = "RN203"


def check_channel(channel: str) -> None:
    """Raise DiagnosticError for a channel name that is not one of CHANNELS."""
    if channel not in CHANNELS:
        raise DiagnosticError([Diagnostic(UNKNOWN_CHANNEL, f"unknown channel {channel!r}",
                                          hint=did_you_mean(channel, CHANNELS) or f"one of: {', '.join(CHANNELS)}")])


def stored_rows(run_id: str, channel: str, db_url: str | None = None) -> list[dict]:
    """The treated decisions of one channel of a stored run, with the channel's extra fields."""
    rows = []
    found = decisions_with_payloads(run_id, db_url, columns=("msisdn", "service", "strategy", "message"),
                                    where="d.decision = 'treat' AND d.channel = :channel", params={"channel": channel})
    for r, payload in found:
        if payload is None:
            continue  # a treated decision without its trace (as the inner join did): `audit verify` reports it
        contact = json.loads(payload).get("decision", {}).get("contact", {})
        rows.append({"msisdn": r["msisdn"], "service": r["service"], "strategy": r["strategy"], "message": r["message"],
                     **{k: contact.get(k, "") for k in CHANNEL_EXTRAS[channel]}})
    return rows


def verified(run: str | None, channel: str, db_url: str | None, force: bool) -> tuple[str, list[str]]:
    """(run id, warnings): the run verified, or forced (logged); raises Refused otherwise."""
    from engine.outputs.audit import verify_run
    from engine.store.signing import append_log

    check_channel(channel)
    info = resolve_run(run, db_url)
    report = verify_run(info.id, db_url)
    if report.ok:
        return info.id, []
    if not force:
        raise Refused([Diagnostic(NOT_VERIFIED, f"run {info.id} does not verify, so it is not exported: "
                                                f"{report.describe()}",
                                  hint="investigate with `rekindle audit verify`; --force exports anyway "
                                       "(and is written to the audit log)")])
    append_log({"event": "forced_export", "run_id": info.id, "channel": channel, "by": current_user(),
                "verify": report.describe()})
    return info.id, [f"warning: run {info.id} does not verify; exported because of --force (logged): "
                     f"{report.describe()}"]


def export_channel(run: str | None, channel: str, out: Path | str, db_url: str | None = None,
                   force: bool = False) -> tuple[str, Path, int, list[str]]:
    """Write the channel file of a stored run (`latest` allowed) to `out`, atomically.

    Returns (run id, path written, rows, warnings).
    """
    path = Path(out)
    if path.is_dir():
        raise DiagnosticError([Diagnostic(OUT_IS_FOLDER, f"--out {path} is a folder", file=str(path),
                                          hint=f"name the file to write, e.g. {path / (channel + '.csv')}")])
    run_id, warnings = verified(run, channel, db_url, force)
    rows = stored_rows(run_id, channel, db_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, channel_csv(channel, rows))  # 0600, atomic (engine.base.csvsafe)
    return run_id, path, len(rows), warnings


def export_text(run: str | None, channel: str, db_url: str | None = None,
                force: bool = False) -> tuple[str, str, list[str]]:
    """(run id, file text, warnings) of a stored run's channel list, for printing to stdout."""
    run_id, warnings = verified(run, channel, db_url, force)
    return run_id, channel_csv(channel, stored_rows(run_id, channel, db_url)), warnings
