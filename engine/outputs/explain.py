"""Explain 解释: why a subscriber was — or was not — targeted in a stored run, from the database alone.

`explain(run, msisdn, service, db_url)` reads the subscriber's decision rows and their trace
payloads (docs/TRACE.md), the facts no pack considered (`out_of_scope`), and the approval
records of the exact content versions the run used, and returns one JSON-ready document:

    {run, as_of, msisdn, facts: [{service, segment, segment_reasons, segment_rules, causes, decision, pack,
     pack_sha256, reason, rules, exclusions, requirements, scores, model_versions, holdout,
     arbitration, strategy, channel, message, approval, considered}]}

`causes` are the fact's silent / low-use causes (套餐捆绑 bundle, 双卡 dual_sim, 渠道养卡 card_farming,
换机 handset_change, 换系统 os_change; engine.facts.derived) from the trace's fact; rule ids stay in
`segment_rules` and `rules`.
`rules` are the deciding pack's target rules that fired with the values they tested;
`exclusions` every exclusion hit by any pack that considered the fact (contact policy or pack);
`requirements` the deciding pack's score requirements with value, threshold and model version;
`considered` the outcome of every pack whose scope held the fact; `contacted_by` the earlier
runs' treated decisions behind a `contacted_recently` exclusion (the loop's write-back). `render(doc)` is the readable
form for the terminal (rich), with the operator's Chinese terms beside the English ones.
"""

from __future__ import annotations

from typing import Any

from engine.facts.fields import CAUSE_NAMES_ZH
from engine.store.read import subscriber_in_run
from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.outputs.explain_details import pack_view, requirement_view, scores_of

NO_SUCH_SERVICE = "RN105"
NOT_IN_SCOPE = "not in scope of any pack"
CONTACTED_RECENTLY = "contacted_recently"
ARBITRATION_TEXT = {
    "won": "won 胜出",
    "lost_priority": "lost on priority 优先级 (a better candidate of this subscriber used the contact)",
    "lost_cap": "lost on the contact cap 接触上限 (per run / 30 days)",
    "lost_capacity": "lost on channel capacity 渠道容量 (channel full)",
    "held_out": "held out 对照组",
}


class _Approvals:
    """Approval states of exact content versions, each looked up once per explain call."""

    def __init__(self, db_url: str | None):
        self.db_url = db_url
        self.seen: dict[tuple[str, str, str], dict] = {}

    def __call__(self, kind: str, name: str, sha256: str | None) -> dict:
        """The approval state now of the exact content version the run used."""
        from engine.content.approvals import approval_state

        if not name or not sha256:
            return {"kind": kind, "name": name, "sha256": sha256 or "", "approved": False, "status": "unknown version"}
        key = (kind, name, sha256)
        if key not in self.seen:
            state = approval_state(kind, name, sha256, self.db_url)
            self.seen[key] = {"kind": kind, "name": name, "sha256": sha256, "approved": state.approved,
                              "status": state.describe()}
        return dict(self.seen[key])


def _holdout(payload: dict) -> dict:
    """Was the fact kept as control 对照组, and in which group?"""
    for entry in payload.get("arbitration") or []:
        if entry.get("outcome") == "held_out":
            return {"held_out": True, "group": entry.get("holdout") or "pack", "pack": entry.get("pack")}
    return {"held_out": bool(payload.get("holdout")), "group": None, "pack": None}


def _arbitration(payload: dict, decision_row: dict) -> dict:
    """What won and what lost, and why (priority, cap, capacity), with every candidate's detail."""
    entries = payload.get("arbitration") or []
    won = [e.get("pack") for e in entries if e.get("outcome") == "won"]
    lost = [{"pack": e.get("pack"), "outcome": e.get("outcome"), "why": ARBITRATION_TEXT.get(e.get("outcome"), ""),
             **({"beaten_by": e["beaten_by"]} if e.get("beaten_by") else {}),
             **({"full_channels": e["full_channels"]} if e.get("full_channels") else {})}
            for e in entries if str(e.get("outcome", "")).startswith("lost")]
    return {"outcome": decision_row.get("arbitration") or "", "won": won[0] if won else None, "lost": lost,
            "candidates": entries}


def _fact_doc(record: dict, content_hashes: dict, approval_of: _Approvals) -> dict:
    payload = record["payload"]
    fact = payload.get("fact") or {}
    segment = payload.get("segment") or {}
    considered = [pack_view(entry, fact) for entry in payload.get("packs") or []]
    deciding = next((p for p in considered if p["pack"] == record["pack"]), None)
    exclusions = [dict(hit, pack=p["pack"]) for p in considered for hit in p["exclusions"]]
    models = payload.get("models") or {}
    strategy = record.get("strategy") or ""
    approval = {
        "pack": approval_of("pack", record["pack"], deciding["sha256"] if deciding else content_hashes.get(
            f"pack/{record['pack']}")),
        "contact_policy": approval_of("contact_policy", "contact_policy",
                                      content_hashes.get("contact_policy/contact_policy")),
        "segments": approval_of("segments", "segments", content_hashes.get("segments/segments")),
    }
    if strategy:
        approval["strategy"] = approval_of("strategy", strategy, content_hashes.get(f"strategy/{strategy}"))
    return {
        "service": record["service"],
        "segment": segment.get("segment") or fact.get("segment"),
        "segment_reasons": list(segment.get("reasons") or []),
        "segment_rules": list(segment.get("rules") or []),
        "causes": list(fact.get("causes") or []),  # 沉默/低使用原因 (engine.facts.derived), as the run saw them
        "decision": record["decision"],
        "pack": record["pack"],
        "pack_sha256": deciding["sha256"] if deciding else content_hashes.get(f"pack/{record['pack']}", ""),
        "reason": record["reason"],
        "rules": deciding["rules"] if deciding else [],
        "exclusions": exclusions,
        "requirements": [requirement_view(r, models) for r in (deciding["requirements"] if deciding else [])],
        "scores": scores_of(fact),
        "model_versions": models,
        "holdout": _holdout(payload),
        "arbitration": _arbitration(payload, record),
        "strategy": strategy,
        "channel": record.get("channel") or "",
        "message": record.get("message") or "",
        "approval": approval,
        "considered": considered,
    }


def _out_of_scope_doc(row: dict) -> dict:
    return {
        "service": row["service"], "segment": row["segment"], "segment_reasons": [], "segment_rules": [],
        "causes": [], "decision": "out_of_scope", "pack": None, "pack_sha256": None, "reason": NOT_IN_SCOPE,
        "rules": [], "exclusions": [], "requirements": [], "scores": {}, "model_versions": {},
        "holdout": {"held_out": False, "group": None, "pack": None},
        "arbitration": {"outcome": "", "won": None, "lost": [], "candidates": []},
        "strategy": "", "channel": "", "message": "", "approval": {}, "considered": [],
    }


def explain(run: str | None, msisdn: str, service: str | None = None, db_url: str | None = None) -> dict:
    """The account of every decision for `msisdn` in run `run` (id or `latest`), as one document.

    Raises DiagnosticError when the run is unknown, the subscriber is not in it, or has no
    fact for `service`.
    """
    info, records, outside = subscriber_in_run(run, msisdn, db_url)
    approval_of = _Approvals(db_url)
    facts: list[dict[str, Any]] = [_fact_doc(r, info.content_hashes, approval_of) for r in records]
    facts += [_out_of_scope_doc(r) for r in outside]
    facts.sort(key=lambda f: f["service"])
    _name_prior_contacts(facts, msisdn, info.as_of, db_url)
    if service is not None:
        chosen = [f for f in facts if f["service"] == service]
        if not chosen:
            have = ", ".join(f["service"] for f in facts)
            raise DiagnosticError([Diagnostic(NO_SUCH_SERVICE, f"subscriber {msisdn} has no fact for service "
                                              f"{service!r} in run {info.id}", hint=f"their services: {have}")])
        facts = chosen
    return {"run": info.id, "as_of": info.as_of, "msisdn": msisdn, "facts": facts}


def _name_prior_contacts(facts: list[dict], msisdn: str, as_of: str, db_url: str | None) -> None:
    """`contacted_by` on every fact a `contacted_recently` exclusion stopped: the earlier runs'
    treated decisions (run id, seq, strategy, channel) the loop wrote back (engine.store.loopback);
    empty when the contact came from the input contact_history only."""
    if not any(hit.get("reason") == CONTACTED_RECENTLY for f in facts for hit in f["exclusions"]):
        for fact in facts:
            fact["contacted_by"] = []
        return
    from engine.store.loopback import prior_contacts

    earlier = prior_contacts(db_url, msisdn, as_of)
    for fact in facts:
        hit = any(h.get("reason") == CONTACTED_RECENTLY for h in fact["exclusions"])
        fact["contacted_by"] = earlier if hit else []


# -- the readable form -------------------------------------------------------------------------

DECISION_LABEL = {"treat": "TREAT 触达", "excluded": "EXCLUDED 排除", "held_out": "HELD OUT 对照组",
                  "not_selected": "NOT SELECTED 未入选", "lost": "LOST IN ARBITRATION 仲裁落选",
                  "out_of_scope": "NOT IN SCOPE 不在规则包范围"}
DECISION_STYLE = {"treat": "bold green", "excluded": "bold red", "held_out": "bold yellow", "lost": "bold magenta"}


def _short(sha: str | None) -> str:
    return (sha or "")[:12] or "?"


def _candidate_line(entry: dict) -> str:
    outcome = entry.get("outcome") or ""
    line = f"{entry.get('pack')} (priority {entry.get('priority')}): {ARBITRATION_TEXT.get(outcome, outcome)}"
    if outcome == "won":
        line += f" — {entry.get('strategy')} via {entry.get('channel')}"
        if entry.get("fell_back"):
            line += f" (fell back: {', '.join(entry.get('full_channels') or [])} full)"
    elif outcome == "held_out":
        line += f" — {entry.get('holdout', 'pack')} control group"
    elif outcome == "lost_priority" and entry.get("beaten_by"):
        b = entry["beaten_by"]
        line += f" — beaten by {b.get('pack')} on {b.get('service')}"
    elif outcome == "lost_capacity":
        line += f" — full: {', '.join(entry.get('full_channels') or []) or '?'}"
    options = entry.get("options") or []
    if options:
        line += "; options " + ", ".join(f"{o.get('strategy')}/{o.get('channel')} EV {o.get('ev', 0):.2f}"
                                         for o in options)
    return line


def _fact_text(fact: dict):
    from rich.text import Text

    from engine.outputs.explain_details import rule_lines, test_text, values_text

    t = Text()

    def line(label: str, body: str = "", style: str | None = None, indent: int = 0) -> None:
        t.append(" " * indent)
        if label:
            t.append(label, style="bold")
            t.append(" ")
        t.append(body, style=style)
        t.append("\n")

    decision = fact["decision"]
    if decision == "out_of_scope":
        line("Decision 决策:", f"{NOT_IN_SCOPE} (不在任何规则包范围)", "bold")
        line("Segment 细分:", str(fact["segment"]))
        t.rstrip()
        return t
    line("Decision 决策:", f"{DECISION_LABEL.get(decision, decision)} — reason {fact['reason']}, "
         f"by pack {fact['pack']} (version {_short(fact['pack_sha256'])})", DECISION_STYLE.get(decision))
    # segment rules are ids, or {rule, reason, tested} when the run stored the values they tested
    rules = "; ".join(rule_lines({"rule": r, "tested": {}} if isinstance(r, str) else r
                                 for r in fact["segment_rules"])) or "none (default)"
    line("Segment 细分:", f"{fact['segment']} — rules {rules}; reasons {', '.join(fact['segment_reasons']) or '-'}")
    if fact.get("causes"):
        line("Causes 原因:", ", ".join(f"{c} {CAUSE_NAMES_ZH.get(c, '')}".strip() for c in fact["causes"]))
    if fact["strategy"]:
        verb = "Sent 发送:" if decision == "treat" else "Would have sent 本应发送:"
        line(verb, f"{fact['strategy']} via {fact['channel']}")
        if fact["message"]:
            line("", f"“{fact['message']}”", "italic", indent=2)
    line("Packs that considered it 考虑过的规则包:")
    for pack in fact["considered"]:
        outcome = f"{pack['decision']} ({pack['reason']})" + (f" → {pack['strategy']}" if pack["strategy"] else "")
        line(f"• {pack['pack']}", f"priority {pack['priority']}, version {_short(pack['sha256'])}: {outcome}",
             indent=2)
        for text_ in rule_lines(pack["rules"]):
            line("", f"target 目标 fired: {text_}", indent=6)
        for hit in pack["exclusions"]:
            values = values_text(hit.get("tested") or {})
            line("", f"excluded 排除 by {hit['reason'] or hit['rule']} ({hit.get('source') or pack['pack']} rule "
                 f"{hit['rule']})" + (f" [{values}]" if values else ""), "red", indent=6)
        for req in pack["requirements"]:
            req = requirement_view(req, fact["model_versions"])
            met = {True: "met ✓", False: "MISSED ✗"}.get(req["met"], "?")
            model = f" (model {req['model']} {req['model_version'] or '?'})" if req["model"] else ""
            line("", f"requires 要求 {req['field']} {test_text(req['test'])}: score {req['value']} — {met}{model}",
                 None if req["met"] else "yellow", indent=6)
    for c in fact.get("contacted_by") or []:
        line("Contacted by 已触达:", f"run {c['run_id']} decision #{c['seq']} (as of {c['as_of']}): "
             f"{c['pack']} → {c['strategy']} by {c['channel']}" + (f" for {c['service']}" if c["service"] else ""),
             "red")
    holdout = fact["holdout"]
    if holdout["held_out"]:
        group = "the universal control group 全局对照组" if holdout["group"] == "universal" else \
            f"the control group of pack {holdout['pack']}"
        line("Holdout 对照组:", f"held out — in {group}; no contact, measured as control", "yellow")
    else:
        line("Holdout 对照组:", "not held out")
    candidates = fact["arbitration"]["candidates"]
    if candidates:
        line("Arbitration 仲裁:", f"{len(candidates)} candidate(s)")
        for entry in candidates:
            line("", _candidate_line(entry), indent=4)
    else:
        line("Arbitration 仲裁:", "no pack made it a candidate")
    scores = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in fact["scores"].items() if k != "propensity")
    line("Scores 评分:", scores or "-")
    line("Models 模型:", ", ".join(f"{k} {v}" for k, v in sorted(fact["model_versions"].items())) or "-")
    for kind, state in fact["approval"].items():
        line(f"Approval 审批 ({kind}):", f"{state['name']} {_short(state['sha256'])}: {state['status']}",
             "green" if state["approved"] else "yellow")
    t.rstrip()
    return t


def render(doc: dict):
    """The readable account of `explain`'s document: one panel per fact."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    head = Text(f"Subscriber {doc['msisdn']} in run {doc['run']} (as of {doc['as_of']}): "
                f"{len(doc['facts'])} fact(s)", style="bold")
    panels = [Panel(_fact_text(f), title=f"{doc['msisdn']} · {f['service']}", title_align="left")
              for f in doc["facts"]]
    return Group(head, *panels)
