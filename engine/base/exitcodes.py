"""The one exit-code table of every `rekindle` command, and the mapping from an error to its code.

| code | meaning                                                                  |
|------|--------------------------------------------------------------------------|
| 0    | ok                                                                       |
| 1    | findings (verify/replay/validate found a problem) or invalid input       |
| 2    | usage: an unknown option, a missing argument, a bad value (Typer's own)  |
| 3    | refused: another run holds the lock, approvals, four eyes, rerun needed   |
| 4    | environment: disk full, permissions, read-only or unreachable database    |
| 70   | internal error (a bug: rerun with --debug and report the traceback)       |

`classify(error)` gives (code, one-line message) for any exception the commands let through;
cli/common.py's `fail()` and the entry point in cli/main.py print the line and exit with the
code, so no command decides codes on its own. The message never carries an exception's
arguments verbatim when they may hold subscriber data (database errors carry the SQL
parameters, i.e. trace payloads with msisdns): only the driver's own first line is kept.
The README's exit-code table is this one.
"""

from __future__ import annotations

import errno

from engine.base.diagnostics import DiagnosticError, Refused

OK = 0
FINDINGS = 1
INVALID = 1
USAGE = 2
REFUSED = 3
ENVIRONMENT = 4
INTERNAL = 70

TABLE = {
    OK: "ok",
    FINDINGS: "findings or invalid input",
    USAGE: "usage error",
    REFUSED: "refused (lock, approvals, four eyes, rerun)",
    ENVIRONMENT: "environment (disk full, permissions, database unreachable)",
    INTERNAL: "internal error",
}

_DISK_FULL_WORDS = ("database or disk is full", "disk i/o error", "no space left")
_ENVIRONMENT_WORDS = ("readonly database", "read-only", "unable to open database", "permission denied",
                      "could not connect", "connection refused", "database is locked", "unable to open")


def _chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _first_line(text: str, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line[:limit]


def _driver_message(error: BaseException) -> str:
    """The database driver's own message without SQL or parameters (SQLAlchemy appends both)."""
    orig = getattr(error, "orig", None)
    if orig is not None:
        return _first_line(str(orig))
    return _first_line(str(error).split("[SQL:")[0])


def classify(error: BaseException) -> tuple[int, str]:
    """(exit code, one clear line) for an error that reached the command line."""
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            where = f" writing {cause.filename}" if cause.filename else ""
            return ENVIRONMENT, f"disk full{where}: free some space and run again"
        if isinstance(cause, OSError) and cause.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            where = f" on {cause.filename}" if cause.filename else ""
            return ENVIRONMENT, f"permission denied{where}: {cause.strerror or 'not allowed'}"
    if isinstance(error, Refused):  # before DiagnosticError: a refusal is one
        return REFUSED, "\n".join(error.lines())
    if isinstance(error, DiagnosticError):
        return INVALID, str(error)
    for cause in _chain(error):
        module = type(cause).__module__ or ""
        if module.startswith(("sqlalchemy", "sqlite3")):
            text = _driver_message(cause)
            low = text.lower()
            if any(word in low for word in _DISK_FULL_WORDS):
                return ENVIRONMENT, "disk full: the database could not be written (free some space and run again)"
            if any(word in low for word in _ENVIRONMENT_WORDS):
                return ENVIRONMENT, redact(f"database unavailable: {text}")
            if type(cause).__name__ == "OperationalError":
                return ENVIRONMENT, redact(f"database error: {text}")
    if getattr(error, "exit_code", None) == ENVIRONMENT:  # an error that knows it is the machine's (a Spark JVM gone)
        return ENVIRONMENT, redact(_first_line(str(error), 500))
    if isinstance(error, MemoryError):
        return ENVIRONMENT, "out of memory: run with fewer --workers or on a bigger machine"
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        return ENVIRONMENT, f"{error.strerror or type(error).__name__}{where}"
    return INTERNAL, (f"internal error ({type(error).__name__}); rerun with --debug for the traceback "
                      "and report it")


_NUMBER = None


def redact(text: str) -> str:
    """`text` with every run of 7 or more digits replaced by '#' (no msisdn ever leaves in a message)."""
    global _NUMBER
    if _NUMBER is None:
        import re

        _NUMBER = re.compile(r"\d{7,}")
    return _NUMBER.sub("#", text)


def stored_error(error: BaseException) -> str:
    """What `run.error` keeps about a failure: the error's type and one clear line, without SQL
    parameters, trace payloads or phone numbers (a failed run row is read by operations staff)."""
    code, line = classify(error)
    if code == INTERNAL:
        line = _first_line(str(error)) or "no message"
    return redact(f"{type(error).__name__}: {line}")[:500]
