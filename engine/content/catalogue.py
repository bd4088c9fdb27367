"""The field catalogue as planners read it (`rekindle rules fields`): a table or JSON."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from engine.facts import fields as catalogue
from engine.content.checks_conditions import OPERATORS, SET_OPS, ORDER_OPS


def operators_for(field: catalogue.Field) -> tuple[str, ...]:
    """The operators a condition may use on this field (what the checks accept)."""
    if field.type == catalogue.SET:
        return SET_OPS
    if field.type in catalogue.NUMERIC:
        return OPERATORS[:-2] + ("exists",)
    return tuple(op for op in OPERATORS if op not in ORDER_OPS and op != "contains")


def catalogue_rows() -> list[dict]:
    """One row per catalogue field (plus the propensity pattern), in catalogue order."""
    specs = list(catalogue.FIELDS.values())
    specs.append(catalogue.Field(f"{catalogue.PROPENSITY_PREFIX}<strategy>", catalogue.FLOAT,
                                 "response propensity for that strategy, 0..1, where a response model exists",
                                 nullable=True, group="scores"))
    return [
        {"name": f.name, "type": f.type, "group": f.group, "description": f.doc, "values": list(f.values),
         "nullable": f.nullable, "operators": list(operators_for(f))}
        for f in specs
    ]


def fields_report(fmt: str = "table", console: Console | None = None) -> None:
    """Print the catalogue: a rich table grouped as in the catalogue, or JSON (`fmt="json"`)."""
    rows = catalogue_rows()
    if fmt == "json":
        print(json.dumps({"fields": rows}, ensure_ascii=False, indent=2))
        return
    console = console or Console()
    table = Table(title="Rule fields 规则字段 (use in when / scope / require / given)", show_lines=False)
    for column in ("field", "type", "group"):
        table.add_column(column, no_wrap=True)  # names must stay copyable in one piece
    table.add_column("description", overflow="fold", ratio=3)
    table.add_column("values", overflow="fold", ratio=1)
    for row in rows:
        kind = row["type"] + (" | missing" if row["nullable"] else "")
        table.add_row(row["name"], kind, row["group"], row["description"], ", ".join(row["values"]))
    console.print(table)
