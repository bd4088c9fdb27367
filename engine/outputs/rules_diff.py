"""Impact of a content edit 规则变更影响 (`rekindle rules diff`): what the edit does to the audience.

Decides one snapshot twice — with the base content (a folder, or rules/ and strategies/ at a
git revision) and with the working content — and compares each fact's final outcome. It uses
the run's own stages (engine.night.prepare: facts, scores, segments; engine.rules.decide: the
Decider's `decide_frame` and `final_outcome`) and stores nothing. Holdouts, contact caps and
channel capacities are left out on purpose: they depend on the whole night and on chance, and
would blur what the edit itself changes. A fact's outcome is therefore the one `rules test`
gives (`final_outcome`): a contact-policy exclusion, else the best-priority pack's `treat`,
else the best-priority in-scope pack's outcome, else `out_of_scope`.

Counts are of facts (subscriber × subscribed service); `subscribers` counts distinct msisdns
whose outcome changed.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from engine.base.diagnostics import Diagnostic, DiagnosticError

OUTCOME_COLUMNS = ("decision", "pack", "reason", "strategy", "channel")
OUT_OF_SCOPE = "out_of_scope"
BAD_BASE = "RN112"


def _content(rules_dir: Path, strategies_dir: Path, as_of: date):
    """Load and check content exactly as a (non-production) run does."""
    from engine.night.run import load_run_content

    return load_run_content(rules_dir, strategies_dir)


def decide_outcomes(snapshot, as_of: date, content, models_dir=None) -> pd.DataFrame:
    """Per fact (msisdn, service): the final outcome with this content, without holdout or capacity.

    Facts, scores and segments come from the run's `prepare_frame`; every in-scope fact goes
    through the Decider (`decide_frame`), and `final_outcome` picks its outcome across packs.
    """
    from engine.rules.decide import Decider, final_outcome
    from engine.night.prepare import prepare_frame

    frame, _extras, _versions = prepare_frame(snapshot, as_of, content, models_dir)
    frame = frame.reset_index(drop=True)
    decider = Decider(content)
    try:
        decided = decider.decide_frame(frame)
    finally:
        decider.close()
    out = pd.DataFrame({"msisdn": frame["msisdn"].to_numpy(), "service": frame["service"].to_numpy()})
    columns = {c: np.full(len(frame), "", dtype=object) for c in OUTCOME_COLUMNS}
    columns["decision"][:] = OUT_OF_SCOPE
    for row, group in decided.groupby("row", sort=False)["outcome"]:
        final = final_outcome(list(group))
        for column in OUTCOME_COLUMNS:
            columns[column][row] = getattr(final, column) or ""
    for column in OUTCOME_COLUMNS:
        out[column] = columns[column]
    return out


@dataclass
class DiffResult:
    """Both sides' outcomes, joined per fact, and the summaries a supervisor reads."""

    base: str
    as_of: str
    joined: pd.DataFrame  # msisdn, service, old_*, new_* (OUTCOME_COLUMNS)

    @property
    def changed(self) -> pd.DataFrame:
        old = self.joined[[f"old_{c}" for c in OUTCOME_COLUMNS]].to_numpy()
        new = self.joined[[f"new_{c}" for c in OUTCOME_COLUMNS]].to_numpy()
        return self.joined[(old != new).any(axis=1)]

    def channel_deltas(self) -> dict[str, int]:
        """Treated facts per channel: new − old (channels with a change only)."""
        j = self.joined
        old = j.loc[j["old_decision"] == "treat", "old_channel"].value_counts()
        new = j.loc[j["new_decision"] == "treat", "new_channel"].value_counts()
        delta = new.reindex(old.index.union(new.index), fill_value=0) - old.reindex(old.index.union(new.index),
                                                                                     fill_value=0)
        return {str(k): int(v) for k, v in sorted(delta.items()) if v}

    def newly(self, decision: str) -> dict[str, int]:
        """Facts newly given `decision` (e.g. excluded) by reason: not so decided for that reason before."""
        c = self.changed
        hit = c[(c["new_decision"] == decision)
                & ~((c["old_decision"] == decision) & (c["old_reason"] == c["new_reason"]))]
        return {str(k): int(v) for k, v in sorted(hit["new_reason"].value_counts().items())}

    def transitions(self) -> pd.DataFrame:
        """Counts of changed facts by (old decision, reason, pack, channel) → (new ...), largest first."""
        keys = ["old_decision", "old_reason", "old_pack", "old_channel",
                "new_decision", "new_reason", "new_pack", "new_channel"]
        c = self.changed
        if c.empty:
            return pd.DataFrame(columns=[*keys, "facts"])
        table = c.groupby(keys, sort=True).size().reset_index(name="facts")
        return table.sort_values(["facts", *keys], ascending=[False] + [True] * len(keys), kind="mergesort",
                                 ignore_index=True)

    def headline(self) -> str:
        """'+1,204 sms, −310 outbound_call, 88 newly excluded by contacted_recently' (or 'no change')."""
        parts = [f"{'+' if n > 0 else '−'}{abs(n):,} {channel}" for channel, n in self.channel_deltas().items()]
        parts += [f"{n:,} newly excluded by {reason}" for reason, n in self.newly("excluded").items()]
        parts += [f"{n:,} newly not selected ({reason})" for reason, n in self.newly("not_selected").items()]
        return ", ".join(parts) if parts else "no change"

    def to_dict(self) -> dict:
        c = self.changed
        return {"base": self.base, "as_of": self.as_of, "facts": int(len(self.joined)), "changed_facts": int(len(c)),
                "changed_subscribers": int(c["msisdn"].nunique()), "headline": self.headline(),
                "channel_deltas": self.channel_deltas(), "newly_excluded": self.newly("excluded"),
                "newly_not_selected": self.newly("not_selected"),
                "transitions": self.transitions().to_dict(orient="records")}


def _base_folders(base: str, rules_dir: Path, strategies_dir: Path, tmp: Path) -> tuple[Path, Path]:
    """(rules, strategies) folders of the base: a folder given as is, or a git revision extracted."""
    from engine.content.history import extract_revision

    path = Path(base)
    if path.is_dir():
        if (path / "rules").is_dir():  # a checkout or copy of the project: rules/ and strategies/ inside
            return path / "rules", (path / "strategies" if (path / "strategies").is_dir() else strategies_dir)
        return path, strategies_dir
    if path.exists():
        raise DiagnosticError([Diagnostic(BAD_BASE, f"--base {base} is a file; give a rules folder or a git revision")])
    rules_out, strategies_out = extract_revision(base, [rules_dir, strategies_dir], tmp)
    return rules_out, strategies_out


def rules_diff(base: str, data_dir: Path, as_of: date, *, rules_dir: Path = Path("rules"),
               strategies_dir: Path = Path("strategies"), models_dir=None) -> DiffResult:
    """Decide the snapshot with the base content and with the current content; join per fact.

    Raises DiagnosticError for an invalid snapshot or content (either side), or an unknown revision.
    """
    from engine.snapshot.loader import load_snapshot

    rules_dir, strategies_dir = Path(rules_dir), Path(strategies_dir)
    with tempfile.TemporaryDirectory(prefix="rekindle-diff-") as tmp:
        old_rules, old_strategies = _base_folders(base, rules_dir, strategies_dir, Path(tmp))
        old_content = _content(old_rules, old_strategies, as_of)
    new_content = _content(rules_dir, strategies_dir, as_of)
    snapshot = load_snapshot(data_dir)
    old = decide_outcomes(snapshot, as_of, old_content, models_dir)
    new = decide_outcomes(snapshot, as_of, new_content, models_dir)
    joined = old.merge(new, on=["msisdn", "service"], suffixes=("_old", "_new"), validate="one_to_one")
    joined = joined.rename(columns={f"{c}_old": f"old_{c}" for c in OUTCOME_COLUMNS}
                           | {f"{c}_new": f"new_{c}" for c in OUTCOME_COLUMNS})
    joined = joined.sort_values(["msisdn", "service"], kind="mergesort", ignore_index=True)
    return DiffResult(base=base, as_of=as_of.isoformat(), joined=joined)


def diff_table(result: DiffResult, limit: int = 40):
    """rich renderables: the headline, and the transition table (largest moves first)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    summary = result.to_dict()
    head = Text(f"Rules diff 规则变更影响 vs {result.base} on the snapshot as of {result.as_of}: "
                f"{summary['changed_facts']:,} of {summary['facts']:,} facts change "
                f"({summary['changed_subscribers']:,} subscribers)\n{summary['headline']}\n"
                "(final outcome per fact as `rules test` decides: no holdouts, caps or channel capacities)")
    table = Table(title="Transitions (old → new)")
    for column in ("old outcome", "old pack", "old channel", "new outcome", "new pack", "new channel", "facts"):
        table.add_column(column, justify="right" if column == "facts" else "left")
    transitions = result.transitions()
    for row in transitions.head(limit).to_dict(orient="records"):
        cells = []
        for side in ("old", "new"):
            decision, reason = row[f"{side}_decision"], row[f"{side}_reason"]
            outcome = f"{decision} ({reason})" if reason and decision != "treat" else decision
            cells += [outcome, row[f"{side}_pack"] or "-", row[f"{side}_channel"] or "-"]
        table.add_row(*cells, f"{row['facts']:,}")
    parts = [head, table]
    if len(transitions) > limit:
        parts.append(Text(f"… {len(transitions) - limit} more transitions (use --json for all)"))
    return Group(*parts)
