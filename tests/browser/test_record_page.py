"""In Chromium, the demo rep works a record: attaches evidence, moves it on, reads a refusal."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import PHONE, Live, check_a11y, png, shoot, sign_in

pytestmark = [pytest.mark.browser]


def test_the_rep_attaches_a_photo_and_moves_the_record_on(
    page: Page, live: Live, rep_deals: dict[str, str]
) -> None:
    record = rep_deals["competitor_analysis"]
    sign_in(page, "rep")
    page.goto(f"/records/opportunity/{record}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Browser Pharmacy 3")
    path = page.get_by_role("region", name="Stage path")
    expect(path.get_by_role("listitem").filter(has_text="competitor_analysis")).to_have_text(
        "competitor_analysis (current)"
    )
    expect(path.get_by_role("listitem").filter(has_text="proposal_demo")).to_have_text(
        "proposal_demo (next)"
    )
    checklist = page.get_by_role("row", name="Price comparison sheet")
    expect(checklist).to_contain_text("missing 1")
    check_a11y(page)
    shoot(page, "record")

    page.get_by_label("What the file shows").select_option(label="Price comparison sheet")
    page.get_by_label("Or choose a file").set_input_files(
        {"name": "prices.png", "mimeType": "image/png", "buffer": png()}
    )
    page.get_by_role("button", name="Attach").click()
    expect(page).to_have_url(f"{live.url}/records/opportunity/{record}?done=uploaded")
    expect(page.get_by_role("status")).to_be_visible()
    expect(checklist).to_contain_text("complete")
    files = page.get_by_role("region", name="Attached files")
    expect(files.get_by_role("link", name="prices.png")).to_be_visible()
    expect(files).to_contain_text("image/png")

    page.get_by_role("button", name="Move to proposal_demo").click()
    expect(page).to_have_url(f"{live.url}/records/opportunity/{record}?done=moved")
    stage = page.get_by_role("definition").filter(has_text="Pharmacy visit SOP")
    expect(stage).to_have_text("proposal_demo (Pharmacy visit SOP)")
    expect(path.get_by_role("listitem").filter(has_text="proposal_demo")).to_have_text(
        "proposal_demo (current)"
    )
    expect(path.get_by_role("listitem").filter(has_text="competitor_analysis")).to_have_text(
        "competitor_analysis (done)"
    )
    timeline = page.get_by_role("region", name="Changes, newest first")
    expect(timeline.get_by_role("listitem").first).to_contain_text(
        "Moved from competitor_analysis to proposal_demo"
    )
    check_a11y(page)
    # The JSON API says the same.
    answer = page.request.get(f"/api/v1/records/opportunity/{record}")
    assert answer.ok, answer.text()
    assert answer.json()["stage"] == "proposal_demo"


def test_a_refused_move_lists_every_missing_piece_of_evidence(
    page: Page, live: Live, rep_deals: dict[str, str]
) -> None:
    record = rep_deals["inventory_count"]
    sign_in(page, "rep")
    page.goto(f"/records/opportunity/{record}")
    page.get_by_role("button", name="Move to competitor_analysis").click()
    refusal = page.get_by_role("alert")
    expect(refusal.get_by_role("heading")).to_have_text("The move was refused")
    problems = refusal.get_by_role("listitem")
    expect(problems).to_have_count(2)
    expect(problems.filter(has_text="Shelf photos")).to_contain_text("0 of 3")
    expect(problems.filter(has_text="Inventory list screenshot")).to_contain_text("0 of 1")
    # Nothing moved: the stage path still has the record where it was.
    path = page.get_by_role("region", name="Stage path")
    expect(path.get_by_role("listitem").filter(has_text="inventory_count")).to_have_text(
        "inventory_count (current)"
    )
    check_a11y(page)
    shoot(page, "record-refused", full=False)


def test_the_record_page_fits_a_phone(page: Page, live: Live, rep_deals: dict[str, str]) -> None:
    record = rep_deals["inventory_count"]
    page.set_viewport_size(PHONE)
    sign_in(page, "rep")
    page.goto(f"/records/opportunity/{record}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Browser Pharmacy 2")
    # The camera input a phone opens, labelled, and the moves as full-width buttons.
    camera = page.get_by_label("Take a photo")
    expect(camera).to_have_attribute("capture", "environment")
    move = page.get_by_role("button", name="Move to competitor_analysis")
    expect(move).to_be_visible()
    box = move.bounding_box()
    assert box is not None and box["width"] > PHONE["width"] * 0.8, box
    # Nothing wider than the screen: no sideways scrolling of the page itself.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"
    check_a11y(page)
    shoot(page, "record-phone", phone=True)
