"""In Chromium: the home page of the demo staff, reached and worked with the keyboard too."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import Live, check_a11y, shoot, sign_in

pytestmark = [pytest.mark.browser]
LEFT = re.compile(r"^(\d+(?:\.\d)?) h left$")


def test_the_rep_sees_the_sla_countdown_of_their_records(
    page: Page, live: Live, rep_deals: dict[str, str]
) -> None:
    sign_in(page, "rep")
    mine = page.get_by_role("region", name="My records by stage")
    expect(mine.get_by_role("heading", name=re.compile(r"appointment \(\d+\)"))).to_be_visible()
    record = rep_deals["appointment"]
    row = mine.get_by_role("row").filter(has=page.get_by_role("link", name=f"opportunity {record}"))
    expect(row).to_have_count(1)
    # The appointment stage's SLA is 14 days (336 h) from now, when the record entered it.
    left = row.get_by_role("cell").last
    expect(left).to_have_text(LEFT)
    hours = float(LEFT.match(left.inner_text().strip()).group(1))  # type: ignore[union-attr]
    assert 330 <= hours <= 336, hours
    queues = page.get_by_role("region", name="My queues")
    expect(
        queues.get_by_role("rowheader", name=re.compile("General service queue"))
    ).to_be_visible()
    expect(page.get_by_role("region", name="My alerts")).to_be_visible()
    check_a11y(page)
    shoot(page, "home")


def test_the_manager_sees_their_queues_as_the_api_counts_them(page: Page, live: Live) -> None:
    sign_in(page, "manager")
    answer = page.request.get("/api/v1/queues")
    assert answer.ok, answer.text()
    queues = page.get_by_role("region", name="My queues")
    listed = answer.json()
    assert any(q["name"] == "unmatched_leads" for q in listed), listed
    for q in listed:
        row = queues.get_by_role("row").filter(has=page.get_by_role("rowheader", name=q["title"]))
        expect(row.get_by_role("cell").first).to_have_text(str(q["waiting"]))
    expect(page.locator("#team-overdue")).to_contain_text("over their stage's SLA")
    alerts = page.get_by_role("region", name="My alerts")
    expect(alerts.get_by_role("link", name="Open the alerts inbox")).to_be_visible()
    check_a11y(page)
    shoot(page, "home-manager")


def test_the_keyboard_skips_to_the_content_and_opens_a_record(
    page: Page, live: Live, rep_deals: dict[str, str]
) -> None:
    sign_in(page, "rep")
    expect(page.get_by_role("heading", level=1)).to_have_text("What needs you now")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # shown when focused (hidden off-screen otherwise)
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # The next Tabs land in the content, past the navigation: the records' table (it may
    # scroll sideways on a phone, so it takes the focus), then its first record link.
    mine = page.get_by_role("region", name="My records by stage")
    page.keyboard.press("Tab")
    expect(mine.locator(".table-wrap").first).to_be_focused()
    page.keyboard.press("Tab")
    first = mine.get_by_role("link").first
    expect(first).to_be_focused()
    name = first.inner_text()
    href = first.get_attribute("href")
    assert href and href.startswith("/records/opportunity/"), href
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live.url}{href}")
    expect(page.get_by_text(f"record {name.split()[-1]}")).to_be_visible()
    check_a11y(page)
