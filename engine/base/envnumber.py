"""A positive number read from an environment variable, or a clear error naming it.

Settings such as the loader's part size (REKINDLE_LOAD_PART_BYTES), Spark's chunk size
(REKINDLE_SPARK_CHUNK_BYTES) and its stall time (REKINDLE_SPARK_STALL_SECONDS) are read the
same way: unset or blank gives the default; anything that is not a finite number > 0 stops the
run with the caller's diagnostic code, before any work starts.
"""

from __future__ import annotations

import math
import os
from typing import Callable

from engine.base.diagnostics import Diagnostic, DiagnosticError


def positive_number(name: str, default, *, code: str, unit: str, hint: str, parse: Callable = int):
    """`parse` of $name (int by default), `default` when unset or blank; DiagnosticError `code`
    ("NAME='…' is not a number of UNIT", with `hint`) when it is not a finite number > 0."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = parse(text)
    except ValueError:
        value = 0
    if not value > 0 or math.isinf(value):
        raise DiagnosticError([Diagnostic(code, f"{name}={text!r} is not a number of {unit}", hint=hint)])
    return value
