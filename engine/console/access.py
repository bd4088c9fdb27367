"""Who may see what in the console 权限, and the record of who looked at which subscriber.

Three roles (SPEC §1), each a fixed set of capabilities:

| role | runs, packs, strategies, campaign report | subscriber pages | msisdn shown | page-view log |
|---|---|---|---|---|
| `auditor` 审计 | yes | yes | in full | yes |
| `supervisor` 主管 | yes | yes | masked `139****5678` | no |
| `planner` 策划 | yes | no | masked | no |

Every role is read-only: the console never changes a decision, a trace, a run or content
(the only rows it writes are its own sessions and the page-view log). A supervisor traces a
complaint about one subscriber but sees the number masked, as on a shared screen; a planner
works on packs and strategies and meets numbers only as examples on a run page, masked.

The page-view log (`console_page_view`) is append-only: the console only inserts, and on
SQLite and PostgreSQL triggers make the database itself refuse UPDATE and DELETE of its rows
(`ensure_append_only`, run when the app starts). Rows are written before the page is sent,
in their own transaction, so a view that was shown is always on record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import text

from engine.store.database import get_engine, session
from engine.store.tables import ConsolePageView

AUDITOR, SUPERVISOR, PLANNER = "auditor", "supervisor", "planner"
ROLES = (AUDITOR, SUPERVISOR, PLANNER)
ROLE_LABELS = {AUDITOR: "审计 auditor", SUPERVISOR: "主管 supervisor", PLANNER: "策划 planner"}

RUNS, CONTENT, SUBSCRIBERS, FULL_MSISDN, PAGE_VIEWS = "runs", "content", "subscribers", "full_msisdn", "page_views"
CAPABILITIES = {
    AUDITOR: frozenset({RUNS, CONTENT, SUBSCRIBERS, FULL_MSISDN, PAGE_VIEWS}),
    SUPERVISOR: frozenset({RUNS, CONTENT, SUBSCRIBERS}),
    PLANNER: frozenset({RUNS, CONTENT}),
}


def can(role: str, capability: str) -> bool:
    """Does `role` have `capability`? Unknown roles have none."""
    return capability in CAPABILITIES.get(role, frozenset())


def mask(msisdn: str) -> str:
    """13912345678 → 139****5678: the first three and last four digits stay (never more than half)."""
    value = str(msisdn or "")
    if len(value) >= 8:
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    keep = len(value) // 4
    return value[:keep] + "*" * (len(value) - keep)


def shown_msisdn(role: str, msisdn: str) -> str:
    """The number as this role may see it."""
    return msisdn if can(role, FULL_MSISDN) else mask(msisdn)


# -- the page-view log -------------------------------------------------------------------------

_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS console_page_view_no_update BEFORE UPDATE ON console_page_view "
    "BEGIN SELECT RAISE(ABORT, 'console_page_view is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS console_page_view_no_delete BEFORE DELETE ON console_page_view "
    "BEGIN SELECT RAISE(ABORT, 'console_page_view is append-only'); END",
)


_PG_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION console_page_view_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'console_page_view is append-only'; END $$",
    "DROP TRIGGER IF EXISTS console_page_view_no_change ON console_page_view",
    "CREATE TRIGGER console_page_view_no_change BEFORE UPDATE OR DELETE ON console_page_view "
    "FOR EACH ROW EXECUTE FUNCTION console_page_view_append_only()",
)


def ensure_append_only(db_url: str | None = None) -> None:
    """Make the database refuse changes to logged page views (triggers on SQLite and
    PostgreSQL; idempotent). Still grant the console's own role INSERT and SELECT only
    (docs/CONSOLE.md): a database owner can drop a trigger."""
    engine = get_engine(db_url)
    statements = {"sqlite": _TRIGGERS, "postgresql": _PG_TRIGGERS}.get(engine.dialect.name, ())
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # one creator at a time (CREATE OR REPLACE races)
            conn.execute(text("SELECT pg_advisory_xact_lock(7211)"))
        for statement in statements:
            conn.execute(text(statement))


@dataclass(frozen=True)
class PageView:
    at: datetime
    username: str
    role: str
    msisdn: str
    run_id: str
    service: str
    path: str


def record_view(username: str, role: str, msisdn: str, path: str, run_id: str = "", service: str = "",
                db_url: str | None = None) -> None:
    """Append one row: `username` (with `role`) viewed subscriber `msisdn` now."""
    with session(db_url) as s:
        s.add(ConsolePageView(at=datetime.now(timezone.utc), username=username, role=role, msisdn=msisdn,
                              run_id=run_id, service=service, path=path[:500]))


def list_views(db_url: str | None = None, *, msisdn: str | None = None, username: str | None = None,
               limit: int = 500) -> list[PageView]:
    """The latest page views, newest first, optionally of one subscriber or one user."""
    where, params = [], {"limit": int(limit)}
    if msisdn:
        where.append("msisdn = :msisdn")
        params["msisdn"] = msisdn
    if username:
        where.append("username = :username")
        params["username"] = username
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    with get_engine(db_url).connect() as conn:
        rows = conn.execute(text(
            "SELECT at, username, role, msisdn, run_id, service, path FROM console_page_view"
            f"{clause} ORDER BY at DESC, id DESC LIMIT :limit"), params).all()
    return [PageView(_utc(r.at), r.username, r.role, r.msisdn, r.run_id or "", r.service or "", r.path or "")
            for r in rows]


def _utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
