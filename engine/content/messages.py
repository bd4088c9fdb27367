"""Message templates of strategies: named fields only, rendered without `str.format`.

A strategy's `message` is written by planners ("尊敬的客户，您的{service_name}……") and sent to
subscribers, so it may only name fields from `ALLOWED_FIELDS`. Templates are parsed with
`string.Formatter().parse` and the text is assembled here: no attribute or index access
(`{a.b}`, `{a[0]}`), no conversions (`!r`) and no format specs, so a template can neither
reach into Python objects nor blow up memory with a huge width.
"""

from __future__ import annotations

import string
from typing import Any, Mapping

from engine.base.diagnostics import did_you_mean

ALLOWED_FIELDS: tuple[str, ...] = (
    "service_name",  # the service's name in the subscriber's language (手机阅读)
    "service",  # the service id (reading)
    "hot_content",  # the hottest content titles for the subscriber's preferences
    "client_app",  # the client app that fits the subscriber's handset OS
    "account_manager",  # the subscriber's account manager (客户经理)
    "city",
    "brand",
    "plan",
)

_FORMATTER = string.Formatter()


def _parse(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    return list(_FORMATTER.parse(template))


def template_problems(template: str) -> list[str]:
    """What is wrong with a message template, one sentence per problem ([] when it is fine)."""
    if not isinstance(template, str):
        return ["the message must be text"]
    try:
        parts = _parse(template)
    except ValueError as error:  # unbalanced braces, e.g. "{service_name"
        return [f"broken placeholder: {error} (write {{{{ and }}}} for literal braces)"]
    problems: list[str] = []
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name == "" or name.isdigit():
            problems.append(f"placeholder {{{name}}} must name a field, one of: {', '.join(ALLOWED_FIELDS)}")
            continue
        if "." in name or "[" in name:
            problems.append(f"placeholder {{{name}}} uses attribute or index access; write a plain field name")
            continue
        if name not in ALLOWED_FIELDS:
            hint = did_you_mean(name, ALLOWED_FIELDS) or f"allowed: {', '.join(ALLOWED_FIELDS)}"
            problems.append(f"unknown message field {{{name}}} ({hint})")
        if conversion:
            problems.append(f"placeholder {{{name}!{conversion}}} uses a conversion; remove '!{conversion}'")
        if spec:
            problems.append(f"placeholder {{{name}:{spec}}} uses a format spec; remove ':{spec}'")
    return problems


def template_fields(template: str) -> list[str]:
    """The field names a valid template uses, in order of first use."""
    names: list[str] = []
    for _literal, name, _spec, _conversion in _parse(template):
        if name and name not in names:
            names.append(name)
    return names


def render(template: str, values: Mapping[str, Any]) -> str:
    """The message with each {field} replaced by its value; a missing or None value renders as ''.

    Raises ValueError for a template with problems (validate strategies first).
    """
    problems = template_problems(template)
    if problems:
        raise ValueError("; ".join(problems))
    out: list[str] = []
    for literal, name, _spec, _conversion in _parse(template):
        out.append(literal)
        if name is not None:
            value = values.get(name)
            out.append("" if value is None else str(value))
    return "".join(out)
