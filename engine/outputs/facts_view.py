"""`rekindle facts`: one subscriber's facts exactly as the rules see them on a night.

The whole snapshot is prepared the way a run prepares it (facts, scores, segment) — scores
are percentiles and tiers over the whole base, so they cannot be computed for one subscriber
alone — and then the subscriber's rows are picked out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from engine.base.diagnostics import Diagnostic, DiagnosticError

NOT_FOUND = "RN020"
NO_FACTS = "RN021"


@dataclass
class SubscriberFacts:
    msisdn: str
    as_of: date
    facts: list[dict]  # one per active subscription, every catalogue field present (None = missing)
    model_versions: dict[str, str]
    notes: list[str]


def subscriber_facts(data: str | Path, as_of: date, msisdn: str, rules_dir: str | Path = "rules",
                     strategies_dir: str | Path = "strategies", models_dir=None) -> SubscriberFacts:
    """Facts of `msisdn` on `as_of`; raises DiagnosticError for a bad snapshot or unknown subscriber."""
    from engine.facts.fields import FIELDS
    from engine.snapshot.loader import load_snapshot
    from engine.night.run import load_run_content
    from engine.night.prepare import prepare_frame

    snapshot = load_snapshot(data)
    content = load_run_content(rules_dir, strategies_dir)
    people = snapshot.tables["subscribers"]["msisdn"]
    if not (people == msisdn).any():
        raise DiagnosticError([Diagnostic(NOT_FOUND, f"subscriber {msisdn} is not in the snapshot",
                                          file=str(Path(data) / "subscribers"), path="msisdn",
                                          hint="check the number (11 digits, no country code)")])
    frame, _extras, versions = prepare_frame(snapshot, as_of, content, models_dir, require_stability=False)
    rows = frame[frame["msisdn"] == msisdn].sort_values("service", kind="stable")
    notes = []
    if versions.get("stability") == "none":
        notes.append("no stability model is trained yet: churn_risk, stability and retention_group are missing "
                     "(rekindle models train stability --data DIR --as-of DATE)")
    if rows.empty:
        notes.append(f"subscriber {msisdn} has no active subscription, so no facts")
    facts = [_plain(record, FIELDS) for record in rows.to_dict(orient="records")]
    return SubscriberFacts(msisdn, as_of, facts, versions, notes)


def _plain(record: dict, catalogue) -> dict:
    """A fact with every catalogue field in catalogue order, sets as sorted lists, missing as None."""
    out = {"msisdn": record["msisdn"]}
    for name, spec in catalogue.items():
        value = record.get(name)
        if spec.type == "set":
            value = sorted(v for v in str(value or "").split("|") if v)
        elif value is None or (isinstance(value, float) and value != value):
            value = None
        elif hasattr(value, "item"):  # numpy scalar
            value = value.item()
        if spec.type == "int" and isinstance(value, float):
            value = int(value)
        out[name] = value
    for name in sorted(k for k in record if k.startswith("propensity.")):
        out[name] = record[name]
    return out
