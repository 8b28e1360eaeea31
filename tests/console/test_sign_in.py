"""Signing in and out of the console: sessions, CSRF, redirects, wrong passwords."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tests.console.conftest import PASSWORD, csrf_of, give_password, sign_in

REP = "li.wei"


def test_a_visitor_is_sent_to_sign_in_and_back(console: Callable[..., Any]) -> None:
    api, client = console()
    answer = client.get("/?severity=critical", follow_redirects=False)
    assert answer.status_code in (302, 303, 307)
    assert answer.headers["location"] == "/sign-in?next=%2F%3Fseverity%3Dcritical"
    form = client.get(answer.headers["location"])
    assert form.status_code == 200
    assert 'name="next" value="/?severity=critical"' in form.text
    give_password(api, REP)
    back = client.post(
        "/sign-in",
        data={
            "user": REP,
            "password": PASSWORD,
            "next": "/?severity=critical",
            "_csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    assert back.status_code == 303
    assert back.headers["location"] == "/?severity=critical"
    assert "httponly" in back.headers["set-cookie"].lower()


def test_the_home_page_names_who_is_signed_in(console: Callable[..., Any]) -> None:
    api, client = console(REP)
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    name = api.server.bundle.manifest.users[REP].name
    assert name in page.text
    # a rep's navigation has no definitions page (access: definitions is analyst, admin)
    assert 'href="/definitions"' not in page.text
    _analyst_api, analyst = console("ma.lin")
    assert 'href="/definitions"' in analyst.get("/").text


def test_a_wrong_password_or_unknown_user_is_refused_alike(console: Callable[..., Any]) -> None:
    api, client = console()
    give_password(api, REP)
    wrong = sign_in(client, REP, "not the password")
    unknown = sign_in(client, "nobody.here", PASSWORD)
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert "The user or the password is wrong." in answer.text
        assert "sopflow_session" not in answer.headers.get("set-cookie", "")
    assert client.get("/", follow_redirects=False).status_code in (302, 303, 307)


def test_sign_in_waits_after_five_failures(console: Callable[..., Any]) -> None:
    api, client = console()
    give_password(api, REP)
    for _ in range(5):
        assert sign_in(client, REP, "guess-guess").status_code == 401
    blocked = sign_in(client, REP, PASSWORD)
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.text


def test_a_form_without_its_csrf_token_is_refused_as_a_page(console: Callable[..., Any]) -> None:
    api, client = console()
    give_password(api, REP)
    client.get("/sign-in")
    answer = client.post(
        "/sign-in", data={"user": REP, "password": PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "This form has expired" in answer.text


def test_sign_out_ends_the_session(console: Callable[..., Any]) -> None:
    _api, client = console(REP)
    home = client.get("/")
    cookie = client.cookies.get("sopflow_session")
    out = client.post("/sign-out", data={"_csrf_token": csrf_of(home.text)}, follow_redirects=False)
    assert out.headers["location"] == "/sign-in"
    # the old cookie no longer opens a page, even sent by hand
    client.cookies.set("sopflow_session", cookie)
    assert client.get("/", follow_redirects=False).status_code in (302, 303, 307)


def test_a_session_ends_when_idle_and_with_a_new_password(console: Callable[..., Any]) -> None:
    api, client = console(REP)
    assert client.get("/").status_code == 200
    api.clock.advance(timedelta(hours=11, minutes=59))
    assert client.get("/").status_code == 200
    api.clock.advance(timedelta(hours=12))
    assert client.get("/", follow_redirects=False).status_code in (302, 303, 307)
    assert sign_in(client, REP).status_code == 303
    give_password(api, REP, "another password")
    assert client.get("/", follow_redirects=False).status_code in (302, 303, 307)


def test_next_never_leads_to_another_site(console: Callable[..., Any]) -> None:
    api, client = console()
    give_password(api, REP)
    form = client.get("/sign-in?next=//evil.example/x")
    assert 'name="next" value="/"' in form.text
    answer = client.post(
        "/sign-in",
        data={
            "user": REP,
            "password": PASSWORD,
            "next": "https://evil.example/",
            "_csrf_token": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_a_session_reads_the_api_but_never_writes_through_it(console: Callable[..., Any]) -> None:
    _api, client = console(REP)
    assert client.get("/api/v1/records/lead").status_code == 200
    write = client.post("/api/v1/records/lead", json={"data": {}})
    assert write.status_code == 401
    client.cookies.clear()
    assert client.get("/api/v1/records/lead").status_code == 401


def test_a_console_error_is_a_page_not_a_trace(console: Callable[..., Any]) -> None:
    _api, client = console(REP)
    answer = client.get("/no/such/page")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "Nothing is at /no/such/page." in answer.text
    assert "Traceback" not in answer.text
