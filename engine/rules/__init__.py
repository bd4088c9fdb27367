"""Rule-pack language: loading YAML content with positions, schema and semantic checks.

The compiler (`engine.rules.compiler`) and evaluator build on `Content` and `Document`.
"""

from engine.rules.checks_schema import load_schema, schema_version
from engine.rules.content import (
    Content,
    Document,
    check_content,
    load_content,
    load_document,
    validate_paths,
    validation_report,
)

__all__ = [
    "Content",
    "Document",
    "check_content",
    "load_content",
    "load_document",
    "load_schema",
    "schema_version",
    "validate_paths",
    "validation_report",
]
