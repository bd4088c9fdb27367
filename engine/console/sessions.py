"""Login sessions and CSRF tokens 会话.

A login creates a random 256-bit token; the browser keeps it in an HttpOnly, SameSite=Strict
cookie, the `console_session` table keeps only its sha256 (a copy of the database does not
let anyone log in). A session ends after `idle` without a request, at `lifetime` after login
whatever happens, at logout, and when its user is removed or their password changed.

CSRF: every form of a logged-in page carries the session's own random token (the synchroniser
pattern), compared in constant time; the login form, which has no session yet, carries an HMAC
of a random nonce held in a short-lived cookie (`login_token` / `login_token_ok`), keyed by a
secret made when the app starts. SameSite=Strict cookies are the second layer: a request from
another site arrives without the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete

from engine.console.accounts import User
from engine.store.database import session
from engine.store.tables import ConsoleSession, ConsoleUser

DEFAULT_IDLE = timedelta(minutes=30)
DEFAULT_LIFETIME = timedelta(hours=8)


@dataclass(frozen=True)
class Active:
    """A live session: who, their role, and the CSRF token of their forms."""

    user: User
    csrf_token: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def start(user: User, db_url: str | None = None, *, lifetime: timedelta = DEFAULT_LIFETIME) -> str:
    """Open a session for `user`; returns the cookie token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(timezone.utc)
    with session(db_url) as s:
        # housekeeping: sessions past their absolute end are of no use to anyone
        s.exec(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
        s.add(ConsoleSession(token_sha256=_digest(token), username=user.username, csrf_token=secrets.token_urlsafe(32),
                             created_at=now, last_seen_at=now, expires_at=now + lifetime))
    return token


def lookup(token: str | None, db_url: str | None = None, *, idle: timedelta = DEFAULT_IDLE) -> Active | None:
    """The live session of this cookie token, touched; None when unknown, idle too long or expired."""
    if not token:
        return None
    now = datetime.now(timezone.utc)
    with session(db_url) as s:
        row = s.get(ConsoleSession, _digest(token))
        if row is None:
            return None
        if _utc(row.expires_at) <= now or _utc(row.last_seen_at) + idle <= now:
            s.delete(row)
            return None
        user = s.get(ConsoleUser, row.username)
        if user is None:
            s.delete(row)
            return None
        row.last_seen_at = now
        s.add(row)
        return Active(User(user.username, user.role), row.csrf_token, _utc(row.expires_at))


def end(token: str | None, db_url: str | None = None) -> None:
    """Log out: the session row goes, so the cookie is worthless even if kept."""
    if token:
        with session(db_url) as s:
            s.exec(delete(ConsoleSession).where(ConsoleSession.token_sha256 == _digest(token)))


def csrf_ok(expected: str, given: str | None) -> bool:
    """Does the form's token match the session's (constant-time)?"""
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


class LoginTokens:
    """CSRF for the login form: a nonce in a cookie, its HMAC in the form."""

    def __init__(self, secret: bytes | None = None):
        self.secret = secret or secrets.token_bytes(32)

    def nonce(self) -> str:
        return secrets.token_urlsafe(24)

    def token(self, nonce: str) -> str:
        return hmac.new(self.secret, nonce.encode("utf-8"), hashlib.sha256).hexdigest()

    def ok(self, nonce: str | None, given: str | None) -> bool:
        return bool(nonce) and bool(given) and hmac.compare_digest(self.token(nonce), str(given))
