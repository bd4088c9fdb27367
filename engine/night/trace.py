"""The trace payload of one decision, and the values a strategy's message is rendered with.

The payload is the auditor's record (docs/TRACE.md documents every key): which run and as-of
date, the fact exactly as the rules saw it (fields, segment, scores), the segmentation rules that
matched, every pack that considered the fact (name, content hash, outcome, rules fired with the
values they tested, exclusions, require results), the model versions, holdout and arbitration
(with each loser's cause), and the final decision with its rendered message. It is stored as
canonical JSON (engine.store.chain.canonical) and sealed into the run's hash chain.
"""

from __future__ import annotations

import secrets
from typing import Any, Mapping

from engine.base.jsonfile import canonical
from engine.night.context import RunContext
from engine.night.decider import jsonable

TRACE_VERSION = 1


def trace_payload(*, ctx: RunContext, msisdn: str, service: str, segment: dict, fact: Any, packs: Any,
                  arbitration: list[dict], decision: dict) -> dict:
    """The payload dict of one fact's trace (see docs/TRACE.md).

    `fact` and `packs` may be `Fragment` placeholders for JSON serialised earlier (see
    `splice`), so a worker need not keep every fact's dicts between its two phases.
    """
    return {
        "v": TRACE_VERSION,
        "run_id": ctx.run_id,
        "as_of": ctx.as_of.isoformat(),
        "msisdn": msisdn,
        "service": service,
        "segment": segment,
        "fact": fact,  # as the rules saw it; canonical JSON refuses NaN, so a bad value cannot slip in
        "models": ctx.model_versions,
        "packs": packs,
        "holdout": any(a.get("outcome") == "held_out" for a in arbitration),
        "arbitration": arbitration,
        "decision": decision,
    }


class Fragments:
    """Placeholders for canonical JSON serialised earlier, spliced into a payload's text.

    Canonical JSON of a dict whose value is a placeholder string differs from that of the dict
    holding the real value only where the placeholder stands, because keys are sorted and the
    separators are fixed. Each placeholder carries a random nonce and a NUL character, which a
    JSON text can only hold escaped, so no data value can imitate it.
    """

    def __init__(self, names: tuple[str, ...]):
        nonce = secrets.token_hex(8)
        self.marks = {name: f"\x00{name}:{nonce}\x00" for name in names}
        self._texts = {name: canonical(mark) for name, mark in self.marks.items()}

    def splice(self, text: str, values: Mapping[str, str]) -> str:
        """`text` with each placeholder replaced by the JSON text given for it."""
        for name, value in values.items():
            text = text.replace(self._texts[name], value, 1)
        return text


def payload_text(payload: dict) -> str:
    """The payload as canonical JSON. The Decider's trace fields are plain lists and dicts, so
    the fast path serialises them as they are; a stray set or numpy value is converted instead
    of failing the night."""
    try:
        return canonical(payload)
    except TypeError:
        return canonical(jsonable(payload))


def _hot_content(record: Mapping[str, Any], ctx: RunContext) -> str:
    """The hottest title of the service, preferring one tagged with the subscriber's preferences."""
    titles = ctx.hot_content.get(record.get("service"), [])
    if not titles:
        return ""
    liked = set(record.get("preferences") or [])
    for title, tags in titles:
        if liked & tags:
            return title
    return titles[0][0]


MESSAGE_FACT_FIELDS = ("service", "device_os", "preferences", "city", "brand", "plan")


def message_values(record: Mapping[str, Any], manager: str, ctx: RunContext) -> dict[str, Any]:
    """Values for the message fields of engine.content.messages.ALLOWED_FIELDS, for one fact."""
    service = ctx.services.get(record.get("service"), {})
    apps = service.get("client_app") or {}
    return {
        "service_name": service.get("name_zh") or record.get("service"),
        "service": record.get("service"),
        "hot_content": _hot_content(record, ctx),
        "client_app": apps.get(record.get("device_os"), ""),
        "account_manager": manager,
        "city": record.get("city"),
        "brand": record.get("brand"),
        "plan": record.get("plan"),
    }
