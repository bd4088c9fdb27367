"""Audit 审计: find a stored run, verify its hash chain, read its records back.

Finding a run and reading its rows is the store's read side (engine.store.read).
`verify_run` wraps `engine.store.verify.verify_chain` and names the first record that fails (seq,
msisdn, service) so an auditor knows where to look, then checks the run's signed seal
(engine.store.signing: the run fields, the out-of-scope rows, the key outside the database and
the append-only log); `replay` re-decides one subscriber from
the inputs stored in its traces with the pack versions the run used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import text

from engine.store.verify import verify_chain
from engine.store.signing import verify_seal
from engine.store.database import get_engine
from engine.store.blocks import BlockCorrupt
from engine.store.read import RunInfo, json_object, payloads_at, resolve_run, subscriber_in_run
from engine.night.settings import settings_line

@dataclass(frozen=True)
class VerifyReport:
    """Outcome of `audit verify`: ok, records checked, the head, and the first bad record."""

    run_id: str
    ok: bool
    count: int
    head: str
    message: str
    first_bad_seq: int | None = None
    msisdn: str | None = None
    service: str | None = None
    settings: dict = field(default_factory=dict)  # how the night was run (engine/night/settings.py)

    def settings_text(self) -> str:
        """The line `rekindle audit verify` prints on stderr (its stdout is the verdict, `describe`,
        which the console shows too): how the verified night was run."""
        return f"Run settings 运行设置: {settings_line(self.settings)}"

    def describe(self) -> str:
        """The line `rekindle audit verify` prints."""
        if self.ok:
            return f"OK: {self.count:,} records, head {self.head}"
        where = ""
        if self.first_bad_seq is not None:
            who = f", msisdn {self.msisdn}, service {self.service}" if self.msisdn else ""
            where = f" at record seq {self.first_bad_seq}{who}"
        return f"FAILED: run {self.run_id}{where}: {self.message}"


def _record_at(run_id: str, seq: int, db_url: str | None) -> tuple[str | None, str | None]:
    """(msisdn, service) of record `seq`, from its decision row, else from its trace payload."""
    with get_engine(db_url).connect() as conn:
        row = conn.execute(text("SELECT msisdn, service FROM decision WHERE run_id = :r AND seq = :s"),
                           {"r": run_id, "s": seq}).first()
        if row is not None:
            return row.msisdn, row.service
        try:
            found = payloads_at(conn, run_id, [seq])
        except BlockCorrupt:
            found = {}
    if seq in found:
        payload = json_object(found[seq])
        return payload.get("msisdn"), payload.get("service")
    return None, None


def verify_run(run: str | None, db_url: str | None = None) -> VerifyReport:
    """Recompute the hash chain of a run (`latest` allowed) and report the first bad record."""
    info = resolve_run(run, db_url)
    result = verify_chain(info.id, db_url)
    if result.ok:
        with get_engine(db_url).connect() as conn:
            sealed = verify_seal(conn, info.id)
        if not sealed.ok:
            return VerifyReport(info.id, False, result.count, info.chain_head, sealed.message, settings=info.settings)
        return VerifyReport(info.id, True, result.count, info.chain_head, f"{result.message}; {sealed.message}",
                            settings=info.settings)
    msisdn = service = None
    if result.first_bad_seq is not None:
        msisdn, service = _record_at(info.id, result.first_bad_seq, db_url)
    return VerifyReport(info.id, False, result.count, info.chain_head, result.message,
                        result.first_bad_seq, msisdn, service, info.settings)


# -- replay -----------------------------------------------------------------------------------

VERSION_NOT_FOUND = "RN103"
# Fields of a pack outcome that decide what happened to the fact in that pack (SPEC §5 order).
OUTCOME_FIELDS = ("decision", "reason", "strategy")
MATCH = "match"
MISMATCH = "MISMATCH"


@dataclass(frozen=True)
class ReplayRow:
    """One (fact, pack) outcome: as stored by the run and as replayed now."""

    service: str
    pack: str
    stored: dict  # OUTCOME_FIELDS -> value ({} when the pack did not consider the fact then)
    replayed: dict  # same, {} when the pack does not consider the fact now
    details_equal: bool  # rules fired, tested values, exclusions and requirements also equal

    @property
    def status(self) -> str:
        return MATCH if self.stored == self.replayed and self.details_equal else MISMATCH


@dataclass
class ReplayReport:
    """What `audit replay` found for one subscriber."""

    run_id: str
    as_of: str
    msisdn: str
    rows: list[ReplayRow]
    missing: list[str]  # content versions that could not be found ("pack/x sha256 …")
    sources: dict[str, str]  # "kind/name" -> where its stored version was found
    not_replayed: list[dict]  # out-of-scope facts (their inputs are not stored)
    conflicts: list[str] = field(default_factory=list)  # pack versions named differently by run row and trace

    @property
    def ok(self) -> bool:
        return not self.missing and not self.conflicts and all(r.status == MATCH for r in self.rows)

    def summary(self) -> str:
        """Closing lines: the verdict, and what replay does not cover."""
        lines = []
        if self.missing:
            lines.append("cannot replay: stored content version(s) not found in the folders or their git history: "
                         + "; ".join(self.missing))
        else:
            bad = sum(r.status != MATCH for r in self.rows)
            lines.append(f"{'MISMATCH' if bad else 'OK'}: {len(self.rows) - bad} of {len(self.rows)} pack outcomes "
                         f"of {self.msisdn} in run {self.run_id} replayed identically")
        if self.conflicts:
            lines.append("CONFLICT: the run row names other pack versions than the traces (replayed with the "
                         "traces' versions, which the hash chain seals): " + "; ".join(self.conflicts))
        lines.append("Compared: each pack's outcome per fact before holdout and arbitration (decision, reason, "
                     "strategy, plus rules fired and tested values). Holdout and arbitration depend on the whole "
                     "run and are not replayed.")
        if self.not_replayed:
            services = ", ".join(f["service"] for f in self.not_replayed)
            lines.append(f"Not replayed: {len(self.not_replayed)} fact(s) in no pack's scope ({services}); "
                         "the run stores only their segment.")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"run": self.run_id, "as_of": self.as_of, "msisdn": self.msisdn, "ok": self.ok,
                "missing": self.missing, "conflicts": self.conflicts, "sources": self.sources,
                "not_replayed": self.not_replayed,
                "rows": [{"service": r.service, "pack": r.pack, "stored": r.stored, "replayed": r.replayed,
                          "details_equal": r.details_equal, "status": r.status} for r in self.rows]}


def _wanted(info: RunInfo, records: list[dict]) -> tuple[dict[str, str], list[str]]:
    """The content versions to replay with ("kind/name" -> sha256), and conflicts found.

    The run row lists every file the run used; each trace names the pack versions that decided
    it. The trace is what the hash chain seals, so where the two disagree the trace wins and
    the disagreement is reported (the run row's list is not sealed).
    """
    wanted = {key: sha for key, sha in info.content_hashes.items() if sha}
    conflicts = []
    for record in records:
        for entry in record["payload"].get("packs") or []:
            key, sha = f"pack/{entry.get('pack')}", entry.get("hash")
            if sha and wanted.get(key) != sha:
                conflicts.append(f"{key}: trace seq {record['seq']} names sha256 {sha[:12]}, the run row "
                                 f"{(wanted.get(key) or 'nothing')[:12]}")
                wanted[key] = sha
    return wanted, conflicts


def _materialise(wanted: dict[str, str], rules_dir, strategies_dir, dest) -> tuple[list[str], dict[str, str]]:
    """Write every wanted content version (by sha256) into dest/rules and dest/strategies."""
    from pathlib import Path

    from engine.content.history import find_versions

    found = find_versions(wanted.values(), [Path(rules_dir), Path(strategies_dir)])
    missing, sources = [], {}
    (Path(dest) / "rules").mkdir(parents=True, exist_ok=True)
    (Path(dest) / "strategies").mkdir(parents=True, exist_ok=True)
    for key, sha in sorted(wanted.items()):
        hit = found.get(sha)
        if hit is None:
            missing.append(f"{key} sha256 {sha[:12]}")
            continue
        folder = "strategies" if key.startswith("strategy/") else "rules"
        (Path(dest) / folder / hit.filename).write_bytes(hit.data)
        sources[key] = hit.source
    return missing, sources


def _canonical_copy(value):
    from engine.base.jsonfile import canonical

    return json.loads(canonical(value))


def _outcome(entry: dict) -> dict:
    return {f: entry.get(f) or "" for f in OUTCOME_FIELDS}


def _details(entry: dict) -> dict:
    """A pack entry without its identity fields, for the detail comparison."""
    return {k: v for k, v in entry.items() if k not in ("pack", "hash", "priority")}


def replay(run: str | None, msisdn: str, db_url: str | None = None, *, rules_dir="rules",
           strategies_dir="strategies") -> ReplayReport:
    """Re-decide one subscriber's facts from their stored inputs with the content versions the run used.

    Raises DiagnosticError when the run does not exist or the subscriber is not in it.
    """
    import tempfile
    from datetime import date
    from pathlib import Path

    info, records, outside = subscriber_in_run(run, msisdn, db_url)
    with tempfile.TemporaryDirectory(prefix="rekindle-replay-") as tmp:
        wanted, conflicts = _wanted(info, records)
        missing, sources = _materialise(wanted, rules_dir, strategies_dir, tmp)
        report = ReplayReport(info.id, info.as_of, msisdn, [], missing, sources, outside, conflicts)
        if missing or not records:
            return report
        adapter = _decider(Path(tmp), info.id, date.fromisoformat(info.as_of))
    for record in records:
        payload = record["payload"]
        fact = dict(payload.get("fact") or {})
        segment, reasons = adapter.decider.segment(fact)[:2]
        stored_segment = payload.get("segment") or {}
        report.rows.append(ReplayRow(
            record["service"], "(segment)",
            {"decision": stored_segment.get("segment") or "", "reason": "|".join(stored_segment.get("reasons") or []),
             "strategy": ""},
            {"decision": segment or "", "reason": "|".join(sorted(reasons)), "strategy": ""}, True))
        fact["segment"], fact["reasons"] = segment, sorted(reasons)
        now = {o["pack"]: _canonical_copy(dict(o["trace"], pack=o["pack"])) for o in adapter.decide(fact)}
        then = {e["pack"]: e for e in payload.get("packs") or []}
        for pack in sorted(set(now) | set(then)):
            stored, replayed = then.get(pack, {}), now.get(pack, {})
            report.rows.append(ReplayRow(
                record["service"], pack, _outcome(stored) if stored else {}, _outcome(replayed) if replayed else {},
                _details(stored) == _details(replayed)))
    return report


def _decider(folder, run_id: str, as_of):
    """A Decider over the materialised content (checked like a run checks it)."""
    from engine.night.holdout import period_of
    from engine.night.run import load_run_content
    from engine.night.context import build_context
    from engine.night.decider import DeciderAdapter

    content = load_run_content(folder / "rules", folder / "strategies")
    return DeciderAdapter(content, build_context(content, run_id, as_of, period_of(as_of)))


def replay_table(report: ReplayReport):
    """A rich table: per fact and pack, stored vs replayed outcome and match / MISMATCH."""
    from rich.table import Table

    table = Table(title=f"Replay 重放 of {report.msisdn} in run {report.run_id} (as of {report.as_of})")
    for column in ("service", "pack", "stored", "replayed", "result"):
        table.add_column(column)

    def show(outcome: dict) -> str:
        if not outcome:
            return "(not in scope)"
        return " / ".join(str(outcome.get(f) or "-") for f in OUTCOME_FIELDS)

    for row in report.rows:
        status = row.status
        if status == MISMATCH and row.stored == row.replayed:
            status = "MISMATCH (rules fired / tested values)"
        table.add_row(row.service, row.pack, show(row.stored), show(row.replayed),
                      f"[green]{status}[/green]" if status == MATCH else f"[bold red]{status}[/bold red]")
    return table
