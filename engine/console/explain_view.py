"""Template helpers for `explain`'s document (engine/outputs/explain.py) on the decision page.

The page shows the structured result of `explain()` — the JSON `rekindle explain --json`
prints — field by field; these helpers only format values, with the same wording the terminal
uses (engine.outputs.explain's labels, engine.outputs.explain_details' value formatting).
`mask_doc` replaces the subscriber's number wherever it appears in the document for roles that
see numbers masked.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment

from engine.outputs.explain import ARBITRATION_TEXT, DECISION_LABEL, NOT_IN_SCOPE
from engine.outputs.explain_details import OP_TEXT, test_text, values_text


def score_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def mask_doc(value: Any, msisdn: str, shown: str) -> Any:
    """A copy of `value` with every string equal to `msisdn` replaced by `shown`."""
    if msisdn == shown:
        return value
    if isinstance(value, dict):
        return {k: mask_doc(v, msisdn, shown) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_doc(v, msisdn, shown) for v in value]
    return shown if value == msisdn else value


def register(env: Environment) -> None:
    """Add the filters and names the decision templates use."""
    env.filters["values"] = lambda tested: values_text(tested or {})
    env.filters["test"] = lambda test: test_text(test or {})
    env.filters["score"] = score_text
    env.filters["decision_label"] = lambda d: DECISION_LABEL.get(d, d)
    env.filters["arbitration_text"] = lambda o: ARBITRATION_TEXT.get(o, o)
    env.globals["NOT_IN_SCOPE"] = NOT_IN_SCOPE
    env.globals["OP_TEXT"] = OP_TEXT
