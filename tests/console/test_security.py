"""Safe by construction: security headers, injection in the search box and URL parameters, no traces."""

from __future__ import annotations

from urllib.parse import quote

from auditrun import execute, query
from consolekit import csrf_of, make_client, login
from engine.console.web import CSP

PAYLOADS = ["13800000001' OR '1'='1", "1; DROP TABLE decision; --", "<script>alert(1)</script>",
            '13800000001" onmouseover="alert(1)', "../../etc/passwd", "13800000001%00", "' UNION SELECT * FROM console_user --"]


def _count(db_url: str, table: str) -> int:
    return query(db_url, f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]


def test_security_headers_on_every_response(run, clients, console_db):
    anonymous = make_client(run, console_db)
    answers = [anonymous.get("/login"), anonymous.get("/"), anonymous.get("/static/console.css"),
               clients["auditor"].get("/runs/latest"), clients["auditor"].get("/no/such/page"),
               clients["planner"].get("/page-views")]
    for answer in answers:
        h = answer.headers
        assert h["content-security-policy"] == CSP, answer.url
        assert "script-src" not in CSP and "unsafe-inline" not in CSP
        assert h["x-frame-options"] == "DENY"
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert "server" not in h
    assert answers[3].headers["cache-control"] == "no-store"  # pages with personal data are never cached
    cookie = clients["auditor"].cookies.jar
    session = next(c for c in cookie if c.name == "rekindle_session")
    assert session.has_nonstandard_attr("HttpOnly") and session.get_nonstandard_attr("SameSite") == "strict"


def test_injection_in_the_search_box_is_refused_and_shown_escaped(run, clients, console_db):
    auditor = clients["auditor"]
    before = {t: _count(console_db, t) for t in ("decision", "trace_block", "console_user", "console_page_view")}
    for payload in PAYLOADS:
        answer = auditor.post("/search", data={"csrf_token": csrf_of(auditor), "msisdn": payload})
        assert answer.status_code == 400, payload
        assert "digits only" in answer.text
        assert "<script>alert" not in answer.text and 'onmouseover="alert' not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in auditor.post(
        "/search", data={"csrf_token": csrf_of(auditor), "msisdn": PAYLOADS[2]}).text
    after = {t: _count(console_db, t) for t in before}
    assert after == before  # nothing dropped, nothing added, no page view for a non-number


def test_injection_in_url_parameters_finds_nothing_and_leaks_nothing(run, clients, console_db):
    auditor = clients["auditor"]
    msisdn = run.examples["treat"]
    before = _count(console_db, "decision")
    for payload in PAYLOADS:
        q = quote(payload, safe="")
        paths = [f"/subscribers/{q}", f"/subscribers/{q}/runs/latest", f"/subscribers/{msisdn}/runs/{q}",
                 f"/subscribers/{msisdn}/runs/latest?service={q}", f"/runs/{q}", f"/content/pack/{q}",
                 f"/content/{q}/long_term_silent", f"/content/pack/long_term_silent?a={q}&b={q}",
                 f"/page-views?msisdn={q}"]
        for path in paths:
            answer = auditor.get(path)
            assert answer.status_code == 404, (path, answer.status_code)
            assert "<script>alert" not in answer.text and "Traceback" not in answer.text, path
    # well-formed but unknown: the store's own message, escaped
    answer = auditor.get(f"/subscribers/{msisdn}/runs/2026-01-01.0000")
    assert answer.status_code == 404 and "no run &#39;2026-01-01.0000&#39;" in answer.text
    assert _count(console_db, "decision") == before


def test_queries_bind_their_parameters_even_without_the_url_checks(console_db):
    """Below the URL patterns, the readers themselves treat hostile text as a value, not as SQL."""
    from engine.console.access import list_views
    from engine.console.timeline import subscriber_timeline

    for payload in PAYLOADS:
        assert subscriber_timeline(payload, console_db) == []
        assert list_views(console_db, msisdn=payload, username=payload) == []
    assert _count(console_db, "decision") > 0


def test_an_internal_error_shows_an_incident_id_not_a_stack_trace(run, console_db):
    client = make_client(run, console_db)
    login(client, "ada")
    execute(console_db, "DROP TABLE trace_block CASCADE" if console_db.startswith("postgresql")
            else "DROP TABLE trace_block")
    # the store breaks under the running console
    answer = client.get(f"/subscribers/{run.examples['treat']}/runs/latest")
    assert answer.status_code == 500
    assert "Incident" in answer.text
    for leak in ("Traceback", "sqlite", "trace", "File \"", "engine/"):
        assert leak not in answer.text.replace("Incident", ""), leak
    assert answer.headers["x-frame-options"] == "DENY"
