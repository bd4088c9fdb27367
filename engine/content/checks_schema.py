"""JSON Schema validation of content files, with every error mapped back to a YAML line.

The schemas in `engine/content/schemas/` (draft 2020-12) describe the structure of each kind of file
and are what editors check as you type. Here all schema errors (`iter_errors`) become one clear
diagnostic each, naming the offending key, at that key's line. Conditions, scopes, requires and
test `given` blocks are skipped here: `checks_conditions` checks them by hand against the field
catalogue, which gives one precise message instead of jsonschema's anyOf noise.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine.base.diagnostics import Diagnostic, did_you_mean
from engine.base.yamlpos import join_pointer

if TYPE_CHECKING:
    from engine.content.document import Document

UNKNOWN_KEY = "RP010"
MISSING_KEY = "RP011"
WRONG_TYPE = "RP013"
NOT_ALLOWED = "RP014"
OUT_OF_RANGE = "RP015"

KINDS = ("pack", "contact_policy", "segments", "services", "strategy", "cases", "sensitivity", "value_stability")

# Paths (as tuples, "*" = any list index) whose subtree is checked by hand in checks_conditions.
_HAND_CHECKED: dict[str, tuple[tuple[Any, ...], ...]] = {
    "pack": (("scope",), ("require",), ("exclude", "*", "when"), ("target", "*", "when"),
             ("treat", "*", "when"), ("tests", "*", "given")),
    "contact_policy": (("exclude", "*", "when"),),
    "segments": (("segments", "*", "when"),),
    "cases": (("cases", "*", "given"),),
}

_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping (key: value)",
    "null": "empty",
}


@lru_cache(maxsize=None)
def load_schema(kind: str) -> dict:
    """The shipped JSON Schema for a kind of content file (package data)."""
    text = resources.files("engine.content").joinpath("schemas", f"{kind}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def schema_version(kind: str) -> str:
    """The `version` of the shipped schema for `kind` (recorded in compiled packs)."""
    return str(load_schema(kind)["version"])


@lru_cache(maxsize=None)
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(kind))


def to_json(value: Any) -> Any:
    """YAML data as JSON data: dates become ISO text and keys become strings (what editors see)."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def describe_value(value: Any) -> str:
    """How a value reads in a message: its YAML type and a short rendering."""
    if value is None:
        return "nothing (empty)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text '{shown}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _is_hand_checked(kind: str, path: tuple[Any, ...]) -> bool:
    for prefix in _HAND_CHECKED.get(kind, ()):
        if len(path) >= len(prefix) and all(p == "*" or p == q for p, q in zip(prefix, path)):
            return True
    return False


def _pointer(path: tuple[Any, ...]) -> str:
    pointer = ""
    for part in path:
        pointer = join_pointer(pointer, part)
    return pointer


def _name(path: tuple[Any, ...]) -> str:
    """The key a message is about: 'priority', or "item 2 of 'reasons'" for list items."""
    if not path:
        return "the top level"
    last = path[-1]
    if isinstance(last, int):
        parent = _name(path[:-1])
        return f"item {last + 1} of {parent}"
    return f"'{last}'"


def _where(path: tuple[Any, ...]) -> str:
    return "at the top level" if not path else f"in {_name(path)}"


def _expected(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_WORDS.get(t, t) for t in names)


def _range(schema: dict) -> str:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None and high is not None:
        return f"between {low} and {high}"
    if low is not None:
        return f"at least {low}"
    return f"at most {high}"


def _diagnostics_for(error: ValidationError, doc: "Document") -> list[Diagnostic]:
    path = tuple(error.absolute_path)
    pointer = _pointer(path)
    file = str(doc.path)

    def at(code: str, where: str, message: str, hint: str = "") -> Diagnostic:
        line, column = doc.position(where)
        return Diagnostic(code, message, file=file, line=line, column=column, path=where, hint=hint)

    kind, schema, instance = error.validator, error.schema, error.instance
    if "propertyNames" in error.schema_path:  # a bad key of a mapping, e.g. capacities: {smss: 10}
        allowed = [str(v) for v in error.validator_value] if kind == "enum" else []
        return [at(NOT_ALLOWED, join_pointer(pointer, instance),
                   f"key '{instance}' in {_name(path)} is not one of {', '.join(allowed)}",
                   did_you_mean(str(instance), allowed))]
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        return [
            at(UNKNOWN_KEY, join_pointer(pointer, key), f"unknown key '{key}' {_where(path)}",
               did_you_mean(str(key), known) or f"allowed keys: {', '.join(known)}")
            for key in instance
            if key not in schema.get("properties", {})
        ]
    if kind == "required" and isinstance(instance, dict):
        # A misspelt key is reported once, as unknown with a suggestion, not also as missing.
        extras = [str(k) for k in instance if k not in schema.get("properties", {})]
        return [
            at(MISSING_KEY, pointer, f"missing required key '{key}' {_where(path)}")
            for key in error.validator_value
            if key not in instance and not difflib.get_close_matches(key, extras, n=1, cutoff=0.6)
        ]
    if kind == "type":
        return [at(WRONG_TYPE, pointer, f"{_name(path)} must be {_expected(error.validator_value)}, "
                                        f"got {describe_value(instance)}")]
    if kind in ("enum", "const"):
        allowed = error.validator_value if kind == "enum" else [error.validator_value]
        field = path[-1] if path and isinstance(path[-1], str) else _name(path)
        return [at(NOT_ALLOWED, pointer, f"{field} '{instance}' is not one of {', '.join(map(str, allowed))}",
                   did_you_mean(str(instance), map(str, allowed)))]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return [at(OUT_OF_RANGE, pointer, f"{_name(path)} is {instance}; it must be {_range(schema)}")]
    if kind == "minItems":
        n = error.validator_value
        text = "must not be empty" if n == 1 else f"needs at least {n} items"
        return [at(OUT_OF_RANGE, pointer, f"{_name(path)} {text}")]
    if kind == "maxItems":  # e.g. a pack's `tests:` (issue 11: limits on content)
        return [at(OUT_OF_RANGE, pointer, f"{_name(path)} has {len(instance):,} items; at most "
                                          f"{error.validator_value:,} are allowed", "split them over several files")]
    if kind == "minLength":
        return [at(OUT_OF_RANGE, pointer, f"{_name(path)} must not be empty")]
    if kind == "minProperties":
        known = ", ".join(schema.get("properties", {}))
        return [at(OUT_OF_RANGE, pointer, f"{_name(path)} must not be empty", f"give at least one of {known}" if known else "")]
    if kind == "pattern":
        return [at(NOT_ALLOWED, pointer, f"{_name(path)} '{instance}' is not a valid id",
                   "use lower-case letters, digits and _, starting with a letter")]
    return [at(OUT_OF_RANGE, pointer, f"{_name(path)}: {error.message}")]


def schema_diagnostics(doc: "Document") -> list[Diagnostic]:
    """Every schema error of one document, one diagnostic per problem, at the offending key."""
    instance = to_json(doc.data)
    out: list[Diagnostic] = []
    for error in _validator(doc.kind).iter_errors(instance):
        if _is_hand_checked(doc.kind, tuple(error.absolute_path)):
            continue
        out.extend(_diagnostics_for(error, doc))
    return out
