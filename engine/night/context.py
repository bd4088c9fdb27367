"""What every stage of a run needs to know about the content: packs, strategies, policy, services.

`RunContext` is built once from the loaded `Content` and handed to the workers (they are forked
with it in memory). It flattens the YAML documents into the few numbers arbitration and
message rendering need, with the defaults documented here:
- pack `fallback` (default true): a candidate whose channel is full may move to its next
  matching treat entry on another channel;
- policy `value_scale` (default 100 yuan): value score 1.0 is worth this much to a campaign,
  so EV = uplift × value × value_scale − cost is in yuan (engine/night/arbitrate.py);
- strategy `cost` (default 0) and `base_response` (default 0): the incremental response used
  when no response model gives `uplift.<strategy>` for the fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from engine.night.arbitrate import DEFAULT_VALUE_SCALE, Policy


@dataclass(frozen=True)
class PackInfo:
    name: str
    sha256: str
    priority: int
    holdout: float
    fallback: bool
    scope: dict


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    sha256: str
    channel: str
    cost: float
    base_response: float
    message: str


@dataclass
class RunContext:
    """Plain data about one run's content and settings (picklable, shared with workers)."""

    run_id: str
    as_of: date
    period: str  # holdout period, YYYY-MM
    packs: dict[str, PackInfo]
    strategies: dict[str, StrategyInfo]
    policy: Policy
    universal_holdout: float
    value_scale: float
    services: dict[str, dict]  # service id -> catalogue entry (name_zh, client_app, ...)
    hot_content: dict[str, list[tuple[str, frozenset]]] = field(default_factory=dict)  # service -> [(title, tags)]
    model_versions: dict[str, str] = field(default_factory=dict)
    content_hashes: dict[str, str] = field(default_factory=dict)


def content_hashes(content) -> dict[str, str]:
    """{"<kind>/<name>": sha256} of every pack, policy, segments, services and strategy file used."""
    return {f"{doc.kind}/{doc.name}": doc.sha256 for doc in content.documents() if doc.kind != "cases"}


def build_context(content, run_id: str, as_of: date, period: str, hot_content: dict | None = None,
                  model_versions: dict | None = None) -> RunContext:
    """Flatten loaded, checked content into a RunContext (defaults in the module docstring)."""
    packs = {}
    for name, doc in sorted(content.packs.items()):
        data: dict[str, Any] = doc.data
        packs[name] = PackInfo(name=name, sha256=doc.sha256, priority=int(data.get("priority", 0)),
                               holdout=float(data.get("holdout") or 0.0), fallback=bool(data.get("fallback", True)),
                               scope=dict(data.get("scope") or {}))
    strategies = {}
    for name, doc in sorted(content.strategies.items()):
        data = doc.data
        strategies[name] = StrategyInfo(name=name, sha256=doc.sha256, channel=str(data.get("channel", "")),
                                        cost=float(data.get("cost") or 0.0),
                                        base_response=float(data.get("base_response") or 0.0),
                                        message=str(data.get("message") or ""))
    policy_data = content.policy.data if content.policy is not None else {}
    caps = policy_data.get("caps") or {}
    policy = Policy(per_run=caps.get("per_run"), per_30_days=caps.get("per_30_days"),
                    capacities=dict(policy_data.get("capacities") or {}))
    services = {}
    if content.services is not None:
        services = {s["service"]: s for s in content.services.data.get("services", []) if isinstance(s, dict)}
    return RunContext(run_id=run_id, as_of=as_of, period=period, packs=packs, strategies=strategies, policy=policy,
                      universal_holdout=float((policy_data.get("holdout") or {}).get("universal") or 0.0),
                      value_scale=float(policy_data.get("value_scale") or DEFAULT_VALUE_SCALE),
                      services=services, hot_content=hot_content or {}, model_versions=dict(model_versions or {}),
                      content_hashes=content_hashes(content))


def hot_content_index(snapshot) -> dict[str, list[tuple[str, frozenset]]]:
    """service -> [(title, tags)] hottest first, from the optional `content` table."""
    table = snapshot.tables.get("content")
    if table is None or table.empty:
        return {}
    ordered = table.sort_values(["service", "hot_rank", "content_id"], kind="mergesort")
    index: dict[str, list[tuple[str, frozenset]]] = {}
    for service, title, tags in zip(ordered["service"], ordered["title"], ordered["tags"].fillna("")):
        index.setdefault(service, []).append((str(title), frozenset(t for t in str(tags).split("|") if t)))
    return index
