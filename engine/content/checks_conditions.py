"""Hand checks of conditions, scopes, requires and test facts against the field catalogue.

The JSON Schema only says "a condition is a one-key mapping"; here each condition is read the
way the compiler will read it, so a planner gets one precise message per mistake: an unknown
field with suggestions, an unknown operator, an operator that does not fit the field's type,
a value of the wrong type or outside the field's allowed values, an empty `all`/`any`, a field
whose operators contradict each other. Codes are listed in `engine.content.checks`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from engine.facts import fields as catalogue
from engine.base.diagnostics import Diagnostic, did_you_mean
from engine.content.checks_schema import describe_value
from engine.base.yamlpos import join_pointer

if TYPE_CHECKING:
    from engine.content.document import Document

UNKNOWN_FIELD = "RP012"
BAD_CONDITION = "RP020"
UNKNOWN_OPERATOR = "RP021"
OPERATOR_FIELD_TYPE = "RP022"
VALUE_TYPE = "RP023"
NEEDS_LIST = "RP024"
UNKNOWN_VALUE = "RP025"
EMPTY_GROUP = "RP026"
CONTRADICTION = "RP027"

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists")
ORDER_OPS = ("gt", "gte", "lt", "lte")
GROUPS = ("all", "any", "not")
SET_OPS = ("contains", "exists")
# Fields a test fact may give besides the catalogue: the subscriber id drives the holdout hash.
EXTRA_GIVEN = ("msisdn",)

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def contradiction(spec: catalogue.Field, tests: list[tuple[str, Any]]) -> list[str]:
    """The numeric tests on one field that no value can satisfy together ([] when satisfiable)."""
    if spec.type not in catalogue.NUMERIC:
        return []
    low, low_open, high, high_open = -math.inf, False, math.inf, False
    used = []
    for op, value in tests:
        if op not in ("eq", *ORDER_OPS) or not _is_number(value):
            continue
        used.append(f"{op} {value}")
        if op in ("gt", "gte", "eq") and (value > low or (value == low and op == "gt")):
            low, low_open = value, op == "gt"
        if op in ("lt", "lte", "eq") and (value < high or (value == high and op == "lt")):
            high, high_open = value, op == "lt"
    if low > high or (low == high and (low_open or high_open)):
        return used
    return []


@dataclass
class ConditionChecker:
    """Checks conditions of one document; collects diagnostics and counts compiled comparisons.

    `strategies` is None when no strategy files are known (propensity fields are then not
    checked); `services` and `segment_reasons` narrow the `service` field and `reasons contains`.
    """

    doc: "Document"
    services: tuple[str, ...] = catalogue.FIELDS["service"].values
    strategies: frozenset[str] | None = None
    segment_reasons: frozenset[str] | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    # -- reporting -----------------------------------------------------------------------
    def report(self, code: str, path: str, message: str, hint: str = "") -> None:
        line, column = self.doc.position(path)
        self.diagnostics.append(
            Diagnostic(code, message, file=str(self.doc.path), line=line, column=column, path=path, hint=hint)
        )

    # -- fields ----------------------------------------------------------------------------
    def lookup(self, name: Any, path: str) -> catalogue.Field | None:
        """The catalogue field for `name`, reporting an unknown field (with suggestions) at `path`."""
        if not isinstance(name, str):
            self.report(UNKNOWN_FIELD, path, f"unknown field '{name}'", "field names are text; see `rekindle rules fields`")
            return None
        found = catalogue.lookup(name)
        if found is None:
            hint = did_you_mean(name, list(catalogue.FIELDS) + list(GROUPS)) or "see `rekindle rules fields`"
            self.report(UNKNOWN_FIELD, path, f"unknown field '{name}'", hint)
            return None
        if name.startswith(catalogue.PROPENSITY_PREFIX) and self.strategies is not None:
            strategy = name[len(catalogue.PROPENSITY_PREFIX):]
            if strategy not in self.strategies:
                hint = did_you_mean(strategy, self.strategies) or "propensity.<strategy> needs a known strategy"
                self.report(UNKNOWN_FIELD, path, f"unknown field '{name}': no strategy '{strategy}'", hint)
                return None
        return found

    def allowed_values(self, spec: catalogue.Field) -> tuple[str, ...]:
        if spec.name == "service":
            return self.services
        return spec.values

    def check_value(self, spec: catalogue.Field, value: Any, path: str, what: str = "") -> None:
        """One comparison value against the field's type and allowed values.

        `what` names the operator ("'in'") in messages; empty for `FIELD: VALUE` and test facts.
        """
        subject = f"{what} on '{spec.name}'" if what else f"'{spec.name}'"
        if value is None:
            self.report(VALUE_TYPE, path, f"{subject} has no value",
                        "to test for a missing value write {exists: false}")
        elif spec.type in catalogue.NUMERIC:
            if not _is_number(value):
                self.report(VALUE_TYPE, path, f"{subject} needs a number, got {describe_value(value)}",
                            "write the number without quotes")
        elif spec.type == catalogue.BOOL:
            if not isinstance(value, bool):
                self.report(VALUE_TYPE, path, f"{subject} needs true or false, got {describe_value(value)}")
        elif spec.type in (catalogue.STRING, catalogue.ENUM, catalogue.SET):
            if not isinstance(value, str):
                self.report(VALUE_TYPE, path, f"{subject} needs text, got {describe_value(value)}",
                            "put the value in quotes")
                return
            self.check_member(spec, value, path)

    def check_member(self, spec: catalogue.Field, value: str, path: str) -> None:
        """A text value must be one of an ENUM's values (or a SET's known members)."""
        allowed: Iterable[str] = self.allowed_values(spec)
        if spec.name == "reasons" and self.segment_reasons is not None:
            allowed = sorted(self.segment_reasons)
        allowed = tuple(allowed)
        if allowed and value not in allowed:
            self.report(UNKNOWN_VALUE, path, f"unknown value '{value}' for '{spec.name}'",
                        did_you_mean(value, allowed) or f"allowed: {', '.join(allowed)}")

    # -- operators -------------------------------------------------------------------------
    def check_operator(self, spec: catalogue.Field, op: Any, value: Any, path: str) -> int:
        """One `OP: VALUE` on a field; returns how many comparisons it compiles to."""
        if op not in OPERATORS:
            self.report(UNKNOWN_OPERATOR, path, f"unknown operator '{op}' on '{spec.name}'",
                        did_you_mean(str(op), OPERATORS) or f"operators: {', '.join(OPERATORS)}")
            return 1
        if spec.type == catalogue.SET and op not in SET_OPS:
            self.report(OPERATOR_FIELD_TYPE, path, f"'{op}' does not work on set field '{spec.name}'",
                        "set fields support contains and exists only")
            return 1
        if op in ORDER_OPS:
            if spec.type not in catalogue.NUMERIC:
                self.report(OPERATOR_FIELD_TYPE, path, f"'{op}' needs a numeric field; '{spec.name}' is {spec.type}",
                            "use eq, ne, in or not_in")
            elif not _is_number(value):
                self.report(VALUE_TYPE, path, f"'{op}' on '{spec.name}' needs a number, got {describe_value(value)}",
                            "write the number without quotes")
            return 1
        if op == "contains":
            if spec.type != catalogue.SET:
                self.report(OPERATOR_FIELD_TYPE, path,
                            f"'contains' works only on set fields; '{spec.name}' is {spec.type}", "use eq or in")
            else:
                self.check_value(spec, value, path, "'contains'")
            return 1
        if op == "exists":
            if not isinstance(value, bool):
                self.report(VALUE_TYPE, path, f"'exists' on '{spec.name}' needs true or false, got {describe_value(value)}")
            return 1
        if op in ("in", "not_in"):
            if not isinstance(value, list):
                self.report(NEEDS_LIST, path, f"'{op}' on '{spec.name}' needs a list, got {describe_value(value)}",
                            f"write {op}: [a, b], or use {'eq' if op == 'in' else 'ne'} for one value")
                return 1
            if not value:
                self.report(NEEDS_LIST, path, f"'{op}' on '{spec.name}' has an empty list")
                return 1
            for index, item in enumerate(value):
                self.check_value(spec, item, join_pointer(path, index), f"'{op}'")
            return len(value)
        self.check_value(spec, value, path, f"'{op}'")
        return 1

    def check_test(self, name: Any, test: Any, path: str) -> int:
        """`FIELD: {OP: VALUE, ...}` or `FIELD: SCALAR`; `path` is the field key's path."""
        spec = self.lookup(name, path)
        if isinstance(test, dict):
            if not test:
                self.report(BAD_CONDITION, path, f"'{name}' has no operator", f"operators: {', '.join(OPERATORS)}")
                return 0
            if spec is None:
                return len(test)
            count = sum(self.check_operator(spec, op, value, join_pointer(path, op)) for op, value in test.items())
            self.check_bounds(spec, [(op, v) for op, v in test.items()], path, f"'{name}'")
            return count
        if spec is None:
            return 1
        if isinstance(test, list):
            self.report(NEEDS_LIST, path, f"'{name}' is given a list; a condition compares with one value",
                        "write {in: [...]} to test membership")
            return 1
        if spec.type == catalogue.SET:
            self.report(OPERATOR_FIELD_TYPE, path, f"set field '{name}' cannot be compared with one value",
                        "write {contains: VALUE} or {exists: true}")
            return 1
        self.check_value(spec, test, path)
        return 1

    def check_bounds(self, spec: catalogue.Field, tests: list[tuple[str, Any]], path: str, where: str) -> bool:
        """Report numeric operators on one field that no value satisfies ({gte: 5, lt: 3})."""
        used = contradiction(spec, tests)
        if used:
            self.report(CONTRADICTION, path, f"{where} can never match: {', '.join(used)} contradict",
                        "check the thresholds")
        return bool(used)

    # -- conditions ------------------------------------------------------------------------
    def check_condition(self, cond: Any, path: str) -> int:
        """A whole condition tree; returns the number of comparisons it compiles to."""
        if not isinstance(cond, dict):
            self.report(BAD_CONDITION, path, f"a condition must be a mapping like {{field: {{op: value}}}}, "
                                             f"got {describe_value(cond)}")
            return 0
        if len(cond) != 1:
            keys = ", ".join(map(str, cond)) or "nothing"
            self.report(BAD_CONDITION, path, f"a condition has exactly one key, this one has {len(cond)} ({keys})",
                        "wrap several conditions in all: [...] or any: [...]")
            return sum(self.check_condition({k: v}, path) for k, v in cond.items())
        key, value = next(iter(cond.items()))
        child = join_pointer(path, key)
        if key in ("all", "any"):
            if not isinstance(value, list):
                self.report(BAD_CONDITION, child, f"'{key}' needs a list of conditions, got {describe_value(value)}")
                return 0
            if not value:
                self.report(EMPTY_GROUP, child, f"'{key}' is empty",
                            "an empty all/any has no clear meaning; add conditions or remove it")
                return 0
            count = sum(self.check_condition(item, join_pointer(child, i)) for i, item in enumerate(value))
            if key == "all":
                self.check_all_bounds(value, child)
            return count
        if key == "not":
            return self.check_condition(value, child)
        return self.check_test(key, value, child)

    def check_all_bounds(self, items: list, path: str) -> None:
        """Contradictions between sibling conditions of one `all` on the same numeric field."""
        by_field: dict[str, list[tuple[str, Any]]] = {}
        for item in items:
            if not (isinstance(item, dict) and len(item) == 1):
                continue
            name, test = next(iter(item.items()))
            if name in GROUPS or not isinstance(name, str):
                continue
            tests = list(test.items()) if isinstance(test, dict) else [("eq", test)]
            by_field.setdefault(name, []).append(tests)
        for name, groups in sorted(by_field.items()):
            spec = catalogue.lookup(name)
            if len(groups) < 2 or spec is None:
                continue
            if any(contradiction(spec, g) for g in groups):
                continue  # already reported on that item
            flat = [t for g in groups for t in g]
            self.check_bounds(spec, flat, path, f"the conditions on '{name}' in this 'all'")

    # -- other places that name fields -----------------------------------------------------
    def check_scope(self, scope: Any, path: str) -> None:
        """`scope`: field -> scalar (eq) or non-empty list (in), ANDed."""
        if not isinstance(scope, dict):
            self.report(BAD_CONDITION, path, f"'scope' must be a mapping of field: value, got {describe_value(scope)}")
            return
        for name, value in scope.items():
            child = join_pointer(path, name)
            if isinstance(value, dict):
                self.report(BAD_CONDITION, child, f"scope '{name}' takes a value or a list of values, not operators",
                            "put conditions with operators in target or require")
                continue
            spec = self.lookup(name, child)
            if spec is None:
                continue
            op = "in" if isinstance(value, list) else "eq"
            self.check_operator(spec, op, value, child)

    def check_require(self, require: Any, path: str) -> int:
        """`require`: field -> operators (or a scalar), ANDed."""
        if not isinstance(require, dict):
            self.report(BAD_CONDITION, path, f"'require' must be a mapping of field: {{op: value}}, got {describe_value(require)}")
            return 0
        return sum(self.check_test(name, test, join_pointer(path, name)) for name, test in require.items())

    def check_given(self, given: Any, path: str) -> None:
        """A test case's fact: known fields with values of the field's type (None = missing)."""
        if not isinstance(given, dict):
            self.report(BAD_CONDITION, path, f"'given' must be a mapping of field: value, got {describe_value(given)}")
            return
        for name, value in given.items():
            child = join_pointer(path, name)
            if name in EXTRA_GIVEN:
                continue
            if name == "propensity" and isinstance(value, dict):
                # the nested form facts use: {propensity: {strategy: p}}
                for strategy, p in value.items():
                    self.check_given_value(f"{catalogue.PROPENSITY_PREFIX}{strategy}", p, join_pointer(child, strategy))
                continue
            self.check_given_value(name, value, child)

    def check_given_value(self, name: Any, value: Any, path: str) -> None:
        """One field of a test fact; None (missing) is always allowed."""
        spec = self.lookup(name, path)
        if spec is None or value is None:
            return
        if spec.type != catalogue.SET:
            self.check_value(spec, value, path)
        elif not isinstance(value, list):
            self.report(NEEDS_LIST, path, f"set field '{name}' needs a list, got {describe_value(value)}",
                        "write [] for an empty set")
        else:
            for index, item in enumerate(value):
                self.check_value(spec, item, join_pointer(path, index))
