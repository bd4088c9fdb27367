"""Console users 用户: who may log in, with which role, and how their password is kept.

`rekindle users add/remove/passwd` (cli/users.py) call `add_user`, `remove_user` and
`set_password`; the login form calls `authenticate`. Passwords are hashed with argon2id from
the maintained `argon2-cffi` library (its `PasswordHasher` defaults, RFC 9106's low-memory
profile: time cost 3, 64 MiB, parallelism 4, a random 16-byte salt per hash); the hash string
carries salt and parameters, so raising them later re-hashes each password at its next login
(`check_needs_rehash`). The clear password is never stored or logged.

A login with an unknown name still spends one argon2 verification, so response time does not
tell which names exist. Removing a user or changing a password ends that user's sessions.
Usernames are short lowercase identifiers (they appear in the page-view log); passwords need at
least `MIN_PASSWORD` characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete

from engine.base.diagnostics import Diagnostic, DiagnosticError
from engine.console.access import ROLES
from engine.store.database import session
from engine.store.tables import ConsoleSession, ConsoleUser

MIN_PASSWORD = 10
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,39}$")
BAD_USERNAME = "CN001"
BAD_ROLE = "CN002"
WEAK_PASSWORD = "CN003"
USER_EXISTS = "CN004"
NO_SUCH_USER = "CN005"

_hasher = PasswordHasher()
_dummy: list[str] = []


def _dummy_hash() -> str:
    """Verified against when the name is unknown, so both paths cost one argon2 verification."""
    if not _dummy:
        _dummy.append(_hasher.hash("rekindle: no such user, constant-time path"))
    return _dummy[0]


@dataclass(frozen=True)
class User:
    """A console user as the app sees them (never with the hash)."""

    username: str
    role: str


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _check_username(username: str) -> None:
    if not USERNAME.match(username or ""):
        raise DiagnosticError([Diagnostic(
            BAD_USERNAME, f"username {username!r} is not allowed",
            hint="2–40 characters: lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")])


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise DiagnosticError([Diagnostic(BAD_ROLE, f"unknown role {role!r}", hint=f"one of: {', '.join(ROLES)}")])


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise DiagnosticError([Diagnostic(
            WEAK_PASSWORD, f"password too short ({len(password or '')} characters)",
            hint=f"use at least {MIN_PASSWORD} characters; a passphrase of several words is easiest to remember")])


def add_user(username: str, role: str, password: str, db_url: str | None = None) -> User:
    """Create a user. Raises DiagnosticError for a bad name, role or password, or a taken name."""
    _check_username(username)
    _check_role(role)
    _check_password(password)
    now = utc_now()
    with session(db_url) as s:
        if s.get(ConsoleUser, username) is not None:
            raise DiagnosticError([Diagnostic(USER_EXISTS, f"user {username!r} already exists",
                                              hint="pick another name, or `rekindle users passwd` to reset it")])
        s.add(ConsoleUser(username=username, role=role, password_hash=_hasher.hash(password), created_at=now,
                          password_changed_at=now))
    return User(username, role)


def _missing(username: str) -> DiagnosticError:
    return DiagnosticError([Diagnostic(NO_SUCH_USER, f"no user {username!r}", hint="`rekindle users list` names them")])


def remove_user(username: str, db_url: str | None = None) -> None:
    """Delete a user and end their sessions (their page views stay: the log is append-only)."""
    with session(db_url) as s:
        user = s.get(ConsoleUser, username)
        if user is None:
            raise _missing(username)
        s.delete(user)
        s.exec(delete(ConsoleSession).where(ConsoleSession.username == username))


def set_password(username: str, password: str, db_url: str | None = None) -> None:
    """Replace a user's password and end their sessions."""
    _check_password(password)
    with session(db_url) as s:
        user = s.get(ConsoleUser, username)
        if user is None:
            raise _missing(username)
        user.password_hash = _hasher.hash(password)
        user.password_changed_at = utc_now()
        s.add(user)
        s.exec(delete(ConsoleSession).where(ConsoleSession.username == username))


def list_users(db_url: str | None = None) -> list[User]:
    """Every user, by name."""
    from sqlmodel import select

    with session(db_url) as s:
        return [User(u.username, u.role) for u in s.exec(select(ConsoleUser).order_by(ConsoleUser.username))]


def authenticate(username: str, password: str, db_url: str | None = None) -> User | None:
    """The user when the password is right, else None (same cost either way)."""
    with session(db_url) as s:
        user = s.get(ConsoleUser, username or "")
        stored = user.password_hash if user is not None else _dummy_hash()
        try:
            _hasher.verify(stored, password or "")
        except (VerificationError, InvalidHashError):
            return None
        if user is None:
            return None
        if _hasher.check_needs_rehash(stored):
            user.password_hash = _hasher.hash(password)
            s.add(user)
        return User(user.username, user.role)
