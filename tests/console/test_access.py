"""Who sees what: login required everywhere, roles, masking, session expiry, CSRF, the page-view log."""

from __future__ import annotations

import re
import sqlite3
import time

import psycopg
import pytest

from auditrun import execute
from consolekit import PASSWORD, csrf_of, login, make_client

GET_PAGES = ["/", "/runs", "/runs/latest", "/content", "/content/pack/long_term_silent", "/page-views",
             "/subscribers/13800000001", "/subscribers/13800000001/runs/latest"]
POST_FORMS = ["/logout", "/search", "/runs/latest/verify", "/content/pack/long_term_silent/diff"]


def test_every_page_needs_a_login(run, console_db):
    client = make_client(run, console_db)
    for path in GET_PAGES:
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next="), path
    for path in POST_FORMS:
        answer = client.post(path, data={"msisdn": run.examples["treat"]})
        assert answer.status_code == 403, path
        assert "Log in again" in answer.text
    assert login(client, "ada", "wrong password!").status_code == 401
    assert client.get("/").status_code == 303


def test_login_returns_to_the_page_asked_for_but_never_to_another_site(run, console_db):
    client = make_client(run, console_db)
    page = client.get("/login?next=/runs")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    answer = client.post("/login", data={"login_token": token, "username": "ada", "password": PASSWORD,
                                         "next": "//evil.example/"})
    assert answer.headers["location"] == "/"
    page = client.get("/login?next=/runs")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    answer = client.post("/login", data={"login_token": token, "username": "ada", "password": PASSWORD, "next": "/runs"})
    assert answer.headers["location"] == "/runs"


def test_roles_see_what_their_role_allows(run, clients):
    msisdn = run.examples["treat"]
    masked = msisdn[:3] + "****" + msisdn[-4:]
    expected = {  # path -> status per role (auditor, supervisor, planner)
        "/runs/latest": (200, 200, 200),
        "/content": (200, 200, 200),
        "/content/pack/long_term_silent": (200, 200, 200),
        f"/subscribers/{msisdn}": (200, 200, 403),
        f"/subscribers/{msisdn}/runs/latest": (200, 200, 403),
        "/page-views": (200, 403, 403),
    }
    for path, statuses in expected.items():
        for role, status in zip(("auditor", "supervisor", "planner"), statuses):
            assert clients[role].get(path).status_code == status, (path, role)

    # the planner's run page shows example subscribers masked, and nowhere in full
    page = clients["planner"].get("/runs/latest").text
    assert masked in page and msisdn not in page
    assert "Subscribers 用户" not in page  # no search for planners
    # the supervisor sees the account with the number masked, the auditor in full
    for role, shown in (("supervisor", masked), ("auditor", msisdn)):
        page = clients[role].get(f"/subscribers/{msisdn}/runs/latest").text
        assert re.search(r'data-field="msisdn">([^<]+)<', page).group(1) == shown
        raw = re.search(r'data-field="explain-json">([^<]+)<', page).group(1)
        assert f"&#34;msisdn&#34;: &#34;{shown}&#34;" in raw
        if role == "supervisor":
            assert f"&#34;{msisdn}&#34;" not in raw


def test_a_session_ends_after_idle_time_and_at_logout(run, console_db, short_idle):
    assert login(short_idle, "ada").status_code == 303
    assert short_idle.get("/").status_code == 200
    time.sleep(4.5)
    assert short_idle.get("/").status_code == 303  # idle too long: back to the login page

    client = make_client(run, console_db)
    login(client, "ada")
    cookie = client.cookies.get("rekindle_session")
    token = csrf_of(client)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    client.cookies.set("rekindle_session", cookie)  # a kept copy of the cookie is worthless
    assert client.get("/").status_code == 303


def test_every_form_carries_a_csrf_token_and_posts_without_it_are_refused(run, clients, console_db):
    auditor = clients["auditor"]
    pages = ["/", "/runs/latest", "/content/pack/long_term_silent", f"/subscribers/{run.examples['treat']}"]
    for path in pages:
        html = auditor.get(path).text
        forms = re.findall(r"<form\b.*?</form>", html, flags=re.S)
        assert forms, path
        for form in forms:
            assert 'method="post"' in form, (path, form[:80])
            assert 'name="csrf_token"' in form, (path, form[:80])
    other = clients["supervisor"]
    foreign = csrf_of(other)
    for path in POST_FORMS:
        for data in ({}, {"csrf_token": "forged"}, {"csrf_token": foreign}):
            answer = auditor.post(path, data=dict(data, msisdn=run.examples["treat"]))
            assert answer.status_code == 403, (path, data)
    assert auditor.get("/").status_code == 200  # still logged in: the refused logout did nothing
    # the login form has its own token
    fresh = make_client(run, console_db)
    fresh.get("/login")
    answer = fresh.post("/login", data={"login_token": "forged", "username": "ada", "password": PASSWORD})
    assert answer.status_code == 403 and "rekindle_session" not in answer.headers.get("set-cookie", "")


def test_subscriber_page_views_are_recorded_listed_for_auditors_and_cannot_be_changed(run, clients, console_db):
    msisdn = run.examples["excluded"]
    assert clients["supervisor"].get(f"/subscribers/{msisdn}").status_code == 200
    assert clients["auditor"].get(f"/subscribers/{msisdn}/runs/{run.run_id}").status_code == 200
    clients["planner"].get(f"/subscribers/{msisdn}")  # refused: not a view

    from engine.console.access import list_views

    views = list_views(console_db)
    assert [(v.username, v.role, v.msisdn, v.run_id) for v in views] == [
        ("ada", "auditor", msisdn, run.run_id), ("sam", "supervisor", msisdn, "")]
    page = clients["auditor"].get(f"/page-views?msisdn={msisdn}").text
    assert page.count('data-field="view"') == 2 and "sam" in page and "ada" in page

    for statement in ("UPDATE console_page_view SET username = 'someone'", "DELETE FROM console_page_view"):
        with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):
            execute(console_db, statement)
    assert len(list_views(console_db)) == 2
