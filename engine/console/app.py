"""The audit console's web application 审计控制台 (Starlette, server-rendered Jinja2 pages).

`create_app(settings)` builds the ASGI app `rekindle serve` runs with uvicorn. Pages:

| path | who | what |
|---|---|---|
| `/login`, `/logout` | anyone | the login form; logout ends the session |
| `/` | every role | recent runs, and the subscriber search when the role may search |
| `/subscribers/{msisdn}` | auditor, supervisor | every decision of the subscriber across runs, on a timeline |
| `/subscribers/{msisdn}/runs/{run}?service=S` | auditor, supervisor | `explain`'s account of those decisions |
| `/runs`, `/runs/{run}` | every role | funnel charts, content and model versions, chain status |
| `/content`, `/content/{kind}/{name}` | every role | packs and strategies: version, approvals, diffs |
| `/page-views` | auditor | who looked at which subscriber, when |
| `/campaign` | every role | the campaign report, when its module exists |

Every handler is a plain function run in a worker thread (the store is synchronous); the
`_page` wrapper logs the user in from the session cookie, checks the role's capability, reads
and CSRF-checks the form of a POST, and turns a DiagnosticError into an escaped 404 page.
Every form is a POST carrying a CSRF token; every query binds its parameters; every template
is autoescaped; URL parameters are checked against strict patterns before any lookup.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from engine.base.diagnostics import DiagnosticError
from engine.console import access, campaign, content, runs, sessions, timeline
from engine.console.accounts import authenticate
from engine.console.explain_view import mask_doc
from engine.console.web import SecurityHeaders, incident_id, log

SESSION_COOKIE = "rekindle_session"
LOGIN_COOKIE = "rekindle_login"
STATIC = Path(__file__).resolve().parent / "static"


@dataclass
class Settings:
    """What one console serves: which database and content folders, and how long sessions last."""

    db_url: str | None = None
    rules_dir: Path = Path("rules")
    strategies_dir: Path = Path("strategies")
    idle: timedelta = sessions.DEFAULT_IDLE
    lifetime: timedelta = sessions.DEFAULT_LIFETIME
    login_tokens: sessions.LoginTokens = field(default_factory=sessions.LoginTokens)
    verify_cache: runs.VerifyCache = field(default_factory=runs.VerifyCache)


class Denied(Exception):
    """The logged-in role may not see this page."""


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("engine.console", "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["short"] = lambda sha: (sha or "")[:12] or "?"
    env.filters["num"] = lambda n: f"{int(n):,}" if isinstance(n, (int, float)) else n
    env.filters["when"] = lambda at: at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "-"
    env.filters["urlq"] = lambda value: quote(str(value), safe="")
    from engine.console.explain_view import register

    register(env)
    return env


def create_app(settings: Settings | None = None):
    """The console as an ASGI application (security headers outermost)."""
    settings = settings or Settings()
    env = _environment()
    db = settings.db_url
    access.ensure_append_only(db)

    def render(request: Request, name: str, context: dict, status: int = 200, active=None) -> HTMLResponse:
        role = active.user.role if active else None
        base = {"active": active, "role": role, "can": (lambda cap: bool(role) and access.can(role, cap)),
                "caps": access, "campaign_available": campaign.available(), "path": request.url.path,
                "role_label": access.ROLE_LABELS.get(role or "", "")}
        html = env.get_template(name).render(**base, **context)
        return HTMLResponse(html, status_code=status)

    def session_of(request: Request):
        return sessions.lookup(request.cookies.get(SESSION_COOKIE), db, idle=settings.idle)

    def page(capability: str | None = None, *, post: bool = False) -> Callable:
        def wrap(handler: Callable) -> Callable:
            async def endpoint(request: Request) -> Response:
                active = await run_in_threadpool(session_of, request)
                if active is None:
                    if post:
                        return render(request, "error.html", {"title": "Session ended",
                                      "message": "Your session has ended. Log in again."}, 403)
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
                if capability and not access.can(active.user.role, capability):
                    return render(request, "error.html", {"title": "Not for your role",
                                  "message": "Your role does not include this page."}, 403, active)
                form = {}
                if post:
                    form = dict(await request.form())
                    if not sessions.csrf_ok(active.csrf_token, form.get("csrf_token")):
                        return render(request, "error.html", {"title": "Form expired",
                                      "message": "The form was not sent from this console (CSRF check failed). "
                                                 "Reload the page and try again."}, 403, active)
                try:
                    return await run_in_threadpool(handler, request, active, form)
                except DiagnosticError as error:
                    messages = [d.message for d in error.diagnostics]
                    return render(request, "error.html", {"title": "Not found", "message": "; ".join(messages)},
                                  404, active)
            return endpoint
        return wrap

    # -- login / logout ------------------------------------------------------------------------

    def login_page(request: Request, error: str = "", status: int = 200) -> HTMLResponse:
        nonce = settings.login_tokens.nonce()
        nxt = request.query_params.get("next", "")
        response = render(request, "login.html", {"login_token": settings.login_tokens.token(nonce), "error": error,
                                                  "next": nxt if _local(nxt) else "/"}, status)
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=1800, httponly=True, samesite="strict", path="/login",
                            secure=request.url.scheme == "https")
        return response

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return login_page(request)
        form = await request.form()
        if not settings.login_tokens.ok(request.cookies.get(LOGIN_COOKIE), form.get("login_token")):
            return login_page(request, "The login form expired or was not sent from this console. Try again.", 403)
        user = await run_in_threadpool(authenticate, str(form.get("username", "")), str(form.get("password", "")), db)
        if user is None:
            log.warning("failed console login for %r", str(form.get("username", ""))[:40])
            return login_page(request, "Wrong username or password.", 401)
        token = await run_in_threadpool(sessions.start, user, db, lifetime=settings.lifetime)
        nxt = str(form.get("next", "/"))
        response = RedirectResponse(nxt if _local(nxt) else "/", status_code=303)
        response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.lifetime.total_seconds()), httponly=True,
                            samesite="strict", path="/", secure=request.url.scheme == "https")
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @page(post=True)
    def logout(request, active, form):
        sessions.end(request.cookies.get(SESSION_COOKIE), db)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- home and search -----------------------------------------------------------------------

    @page()
    def home(request, active, form):
        return render(request, "home.html", {"runs": runs.list_runs(db, 20), "error": "", "typed": ""}, 200, active)

    @page(access.SUBSCRIBERS, post=True)
    def search(request, active, form):
        typed = str(form.get("msisdn", "")).strip().replace(" ", "")
        if not timeline.valid_msisdn(typed):
            return render(request, "home.html", {"runs": runs.list_runs(db, 20), "typed": typed,
                          "error": "Enter a subscriber number: digits only (5 to 20)."}, 400, active)
        return RedirectResponse(f"/subscribers/{quote(typed, safe='+')}", status_code=303)

    # -- subscribers ---------------------------------------------------------------------------

    def _msisdn(request) -> str:
        value = request.path_params["msisdn"]
        if not timeline.valid_msisdn(value):
            raise HTTPException(404)
        return value

    @page(access.SUBSCRIBERS)
    def subscriber(request, active, form):
        msisdn = _msisdn(request)
        access.record_view(active.user.username, active.user.role, msisdn, request.url.path, db_url=db)
        entries = timeline.subscriber_timeline(msisdn, db)
        shown = access.shown_msisdn(active.user.role, msisdn)
        return render(request, "subscriber.html", {"msisdn": msisdn, "shown": shown, "entries": entries,
                      "layout": timeline.timeline_layout(entries)}, 200 if entries else 404, active)

    @page(access.SUBSCRIBERS)
    def decision(request, active, form):
        from engine.outputs.explain import explain

        msisdn = _msisdn(request)
        run_id = request.path_params["run_id"]
        service = request.query_params.get("service") or None
        if not runs.valid_run_id(run_id) or (service is not None and not content.NAME.match(service)):
            raise HTTPException(404)
        access.record_view(active.user.username, active.user.role, msisdn, request.url.path + (
            f"?service={service}" if service else ""), run_id, service or "", db)
        shown = access.shown_msisdn(active.user.role, msisdn)
        doc = mask_doc(explain(run_id, msisdn, service, db), msisdn, shown)
        raw = json.dumps(doc, ensure_ascii=False, indent=2)
        return render(request, "decision.html", {"doc": doc, "msisdn": msisdn, "shown": shown, "raw": raw,
                      "service": service, "verified": settings.verify_cache.get(db, doc["run"])}, 200, active)

    # -- runs ----------------------------------------------------------------------------------

    @page(access.RUNS)
    def run_list(request, active, form):
        return render(request, "runs.html", {"runs": runs.list_runs(db)}, 200, active)

    @page(access.RUNS)
    def run_detail(request, active, form):
        run_id = request.path_params["run_id"]
        if not runs.valid_run_id(run_id):
            raise HTTPException(404)
        data = runs.run_page(run_id, db)
        examples = [(kind, m, access.shown_msisdn(active.user.role, m)) for kind, m in
                    sorted(data["report"]["examples"].items()) if m]
        return render(request, "run.html", dict(data, examples=examples,
                      verified=settings.verify_cache.get(db, data["info"].id)), 200, active)

    @page(access.RUNS, post=True)
    def run_verify(request, active, form):
        run_id = request.path_params["run_id"]
        if not runs.valid_run_id(run_id):
            raise HTTPException(404)
        result = settings.verify_cache.verify(db, run_id, active.user.username)
        return RedirectResponse(f"/runs/{quote(result.report.run_id, safe='')}#chain", status_code=303)

    # -- content -------------------------------------------------------------------------------

    def _ref(request) -> tuple[str, str]:
        kind, name = request.path_params["kind"], request.path_params["name"]
        if not content.valid_ref(kind, name):
            raise HTTPException(404)
        return kind, name

    @page(access.CONTENT)
    def content_list(request, active, form):
        items = content.list_content(settings.rules_dir, settings.strategies_dir, db)
        return render(request, "content_list.html", {"items": items}, 200, active)

    @page(access.CONTENT)
    def content_detail(request, active, form):
        kind, name = _ref(request)
        item = content.current_item(kind, name, settings.rules_dir, settings.strategies_dir, db)
        known = content.versions(kind, name, item.sha256 if item else None, db)
        if item is None and not known:
            raise HTTPException(404)
        a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
        diff, missing = [], []
        if a or b:
            if not (content.SHA.match(a) and content.SHA.match(b)):
                raise HTTPException(404)
            diff, missing = content.diff_versions(kind, a, b, settings.rules_dir, settings.strategies_dir)
        text, source = (content.version_text(item.sha256, kind, settings.rules_dir, settings.strategies_dir)
                        if item else (None, ""))
        return render(request, "content.html", {"kind": kind, "name": name, "item": item, "versions": known,
                      "text": text, "source": source, "a": a, "b": b, "diff": diff, "missing": missing}, 200, active)

    @page(access.CONTENT, post=True)
    def content_diff(request, active, form):
        kind, name = _ref(request)
        a, b = str(form.get("a", "")), str(form.get("b", ""))
        if not (content.SHA.match(a) and content.SHA.match(b)):
            raise HTTPException(404)
        return RedirectResponse(f"/content/{kind}/{quote(name, safe='')}?" + urlencode({"a": a, "b": b}) + "#diff",
                                status_code=303)

    # -- page views and campaign ---------------------------------------------------------------

    @page(access.PAGE_VIEWS)
    def page_views(request, active, form):
        msisdn = request.query_params.get("msisdn") or None
        if msisdn is not None and not timeline.valid_msisdn(msisdn):
            raise HTTPException(404)
        views = access.list_views(db, msisdn=msisdn)
        return render(request, "page_views.html", {"views": views, "msisdn": msisdn or ""}, 200, active)

    @page(access.RUNS)
    def campaign_page(request, active, form):
        if not campaign.available():
            raise HTTPException(404)
        try:
            columns, rows, notes = campaign.campaign_table(None, db, settings.strategies_dir)
            error = ""
        except LookupError as exc:
            columns, rows, notes, error = [], [], [], str(exc)
        return render(request, "campaign.html", {"columns": columns, "rows": rows, "notes": notes, "error": error},
                      200, active)

    # -- errors --------------------------------------------------------------------------------

    async def http_error(request: Request, exc: HTTPException) -> Response:
        titles = {404: "Not found", 405: "Not allowed", 400: "Bad request"}
        return render(request, "error.html", {"title": titles.get(exc.status_code, "Error"),
                      "message": "There is nothing here." if exc.status_code == 404 else ""}, exc.status_code)

    async def server_error(request: Request, exc: Exception) -> Response:
        incident = incident_id()
        log.error("console error %s on %s %s", incident, request.method, request.url.path, exc_info=exc)
        return HTMLResponse(f"<!doctype html><title>Error</title><h1>Something went wrong</h1>"
                            f"<p>Incident {incident}: the details are in the server log.</p>", status_code=500)

    routes = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", home),
        Route("/search", search, methods=["POST"]),
        Route("/subscribers/{msisdn}", subscriber),
        Route("/subscribers/{msisdn}/runs/{run_id}", decision),
        Route("/runs", run_list),
        Route("/runs/{run_id}", run_detail),
        Route("/runs/{run_id}/verify", run_verify, methods=["POST"]),
        Route("/content", content_list),
        Route("/content/{kind}/{name}", content_detail),
        Route("/content/{kind}/{name}/diff", content_diff, methods=["POST"]),
        Route("/page-views", page_views),
        Route("/campaign", campaign_page),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(debug=False, routes=routes,
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.settings = settings
    return SecurityHeaders(app)


def _local(target: str) -> bool:
    """Only paths on this site may be a post-login destination (no open redirect)."""
    return target.startswith("/") and not target.startswith("//") and "\\" not in target


def quiet_access_log() -> None:
    """uvicorn's access log prints URLs, which hold subscriber numbers: keep it off by default."""
    logging.getLogger("uvicorn.access").disabled = True

