"""In Chromium: the demo staff sign in and out through the form; the API docs render locally."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.helpers import PASSWORD, STAFF, Live, check_a11y, shoot, sign_in

# `make test` runs these after the rest, in one process: one demo fill, one browser.
pytestmark = [pytest.mark.browser]
DOCS_WAIT = 60_000  # ms: Swagger UI renders ~90 operations (seconds on a busy machine)


def test_a_wrong_password_shows_the_error_and_keeps_the_user(page: Page, live: Live) -> None:
    page.goto("/")
    expect(page).to_have_url(f"{live.url}/sign-in?next=%2F")  # nobody signed in yet
    check_a11y(page)
    shoot(page, "sign-in")
    sign_in(page, "rep", PASSWORD + "-wrong")
    expect(page.get_by_role("alert")).to_have_text("The user or the password is wrong.")
    expect(page.get_by_label("User")).to_have_value(STAFF["rep"])
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    check_a11y(page)  # with the error shown


@pytest.mark.parametrize("role", ["rep", "manager", "analyst"])
def test_the_demo_staff_sign_in_land_home_and_sign_out(page: Page, live: Live, role: str) -> None:
    user = sign_in(page, role)
    expect(page).to_have_url(f"{live.url}/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    header = page.get_by_role("banner")
    spec = live.app.state.server.bundle.manifest.users[user]
    expect(header).to_contain_text(spec.name or user)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Home")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="API")).to_be_visible()
    # Only an analyst's roles see the definitions (the bundle's access: parts).
    definitions = nav.get_by_role("link", name="Definitions")
    expect(definitions).to_have_count(1 if role == "analyst" else 0)
    if role == "rep":
        check_a11y(page)  # the home page: tests/browser/test_home_page.py
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live.url}/sign-in")
    page.goto("/")
    expect(page).to_have_url(f"{live.url}/sign-in?next=%2F")  # the session is over


def test_the_api_docs_render_from_the_server_alone(page: Page, live: Live) -> None:
    asked: list[str] = []

    def record(request: Request) -> None:
        asked.append(request.url)

    page.on("request", record)
    page.goto("/schema/swagger")
    expect(page).to_have_url(f"{live.url}/sign-in?next=%2Fschema%2Fswagger")
    sign_in(page, "manager")  # ... and comes back here (the console's API link goes here too)
    expect(page).to_have_url(f"{live.url}/schema/swagger")
    expect(page.get_by_role("heading", name="sopflow")).to_be_visible()
    # Swagger UI fetches the document and renders it (seconds on a busy machine).
    expect(page.get_by_text("/api/v1/me", exact=True)).to_be_visible(timeout=DOCS_WAIT)
    expect(page.get_by_text("/api/v1/records/lead", exact=True).first).to_be_visible()
    page.wait_for_load_state("networkidle")
    check_a11y(page)
    shoot(page, "api-docs", full=False)  # the first screen (the whole is ~1 MB)
    assert asked, "no request was recorded"
    away = [url for url in asked if urlsplit(url).netloc != live.host]
    assert not away, f"requests left the server: {away}"
