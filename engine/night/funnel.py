"""The run summary 漏斗: per pack and channel, how facts flowed from scope to treatment.

in scope → excluded (by each reason) → not selected (by reason) → held out → lost in
arbitration (by cause) → treated. Counts are of (fact, pack) outcomes: a fact excluded by one
pack and treated by another counts in both packs' funnels. Facts in no pack's scope are counted
by segment. The funnel is stored as JSON on the run row and printed as tables at the end.
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping

from engine.night.arbitrate import WON
from engine.base.vocabulary import EXCLUDED, HELD_OUT, NOT_SELECTED


def build_funnel(pack_counts: Counter, arbitrated: Mapping[tuple[str, str, str], int], out_of_scope: Mapping[str, int],
                 decisions: Mapping[str, int], facts: int, capacities: Mapping[str, int]) -> dict:
    """The funnel summary (JSON-ready) from the workers' counts and the arbitration's.

    `pack_counts` maps (pack, decision, reason, channel) to counts for every non-candidate
    outcome and every held-out candidate; `arbitrated` maps (pack, outcome, channel) to the
    arbitrated candidates (engine.night.candidates.arbitrate_table: a winner on the channel it
    was contacted on, a loser on its first option's).
    """
    packs: dict[str, dict] = {}
    channels: dict[str, dict] = {}

    def pack_row(name: str) -> dict:
        return packs.setdefault(name, {"in_scope": 0, "excluded": {}, "not_selected": {}, "held_out": 0,
                                       "lost": {}, "treated": 0, "channels": {}})

    def channel_row(row: dict, channel: str) -> dict:
        return row.setdefault(channel, {"held_out": 0, "lost": {}, "treated": 0})

    def bump(counts: dict, key: str, n: int = 1) -> None:
        counts[key] = counts.get(key, 0) + n

    for (pack, decision, reason, channel), n in sorted(pack_counts.items()):
        row = pack_row(pack)
        row["in_scope"] += n
        if decision == EXCLUDED:
            bump(row["excluded"], reason, n)
        elif decision == NOT_SELECTED:
            bump(row["not_selected"], reason, n)
        elif decision == HELD_OUT:
            row["held_out"] += n
            channel_row(row["channels"], channel)["held_out"] += n
            channel_row(channels, channel)["held_out"] += n
    for (pack, outcome, channel), n in sorted(arbitrated.items()):
        row = pack_row(pack)
        row["in_scope"] += n
        if outcome == WON:
            row["treated"] += n
            channel_row(row["channels"], channel)["treated"] += n
            channel_row(channels, channel)["treated"] += n
        else:
            bump(row["lost"], outcome, n)
            bump(channel_row(row["channels"], channel)["lost"], outcome, n)
            bump(channel_row(channels, channel)["lost"], outcome, n)
    for name, row in channels.items():
        row["capacity"] = capacities.get(name)
    return {
        "facts": facts,
        "out_of_scope": dict(sorted(out_of_scope.items())),
        "packs": dict(sorted(packs.items())),
        "channels": dict(sorted(channels.items())),
        "decisions": dict(sorted(decisions.items())),
    }


def _breakdown(counts: Mapping[str, int]) -> str:
    if not counts:
        return "0"
    total = sum(counts.values())
    return f"{total} (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"


def funnel_tables(funnel: dict):
    """rich Tables: one row per pack, one row per channel, and the out-of-scope segments."""
    from rich.table import Table

    packs = Table(title="Funnel per pack 漏斗 (facts)")
    for column in ("pack", "in scope", "excluded", "not selected", "held out", "lost", "treated"):
        packs.add_column(column, justify="left" if column in ("pack", "excluded", "not selected", "lost") else "right")
    for name, row in funnel["packs"].items():
        packs.add_row(name, str(row["in_scope"]), _breakdown(row["excluded"]), _breakdown(row["not_selected"]),
                      str(row["held_out"]), _breakdown(row["lost"]), str(row["treated"]))
    channels = Table(title="Per channel")
    for column in ("channel", "capacity", "held out", "lost", "treated"):
        channels.add_column(column)
    for name, row in funnel["channels"].items():
        capacity = "unlimited" if row.get("capacity") is None else str(row["capacity"])
        channels.add_row(name, capacity, str(row["held_out"]), _breakdown(row["lost"]), str(row["treated"]))
    scope = Table(title=f"Facts in no pack's scope, by segment (of {funnel['facts']} facts)")
    scope.add_column("segment")
    scope.add_column("facts", justify="right")
    for segment, n in funnel["out_of_scope"].items():
        scope.add_row(segment, str(n))
    return [packs, channels, scope]
