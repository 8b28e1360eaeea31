"""In Chromium: the records list (filters, sorting, paging, CSV) and the definitions page."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import Live, check_a11y, shoot, sign_in

pytestmark = [pytest.mark.browser]
SHOWN = re.compile(r"Records ([\d,]+)\u2013([\d,]+) of (more than )?([\d,]+)\.")


def _shown(page: Page) -> tuple[int, int, int]:
    text = page.get_by_text(SHOWN).inner_text()
    found = SHOWN.search(text)
    assert found, text
    first, last, _, total = (found.group(i) for i in range(1, 5))
    return int(first.replace(",", "")), int(last.replace(",", "")), int(total.replace(",", ""))


def test_a_rep_lists_only_their_leads_pages_sorts_and_exports(page: Page, live: Live) -> None:
    rep = sign_in(page, "rep")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Records").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.locator('main a[href="/records/lead"]').click()
    expect(page).to_have_url(re.compile(r"/records/lead$"))
    api = page.request.get("/api/v1/records/lead?limit=1")
    assert api.ok, api.text()
    total = api.json()["total"]
    assert total > 0
    first, last, shown_total = _shown(page)
    assert (first, shown_total) == (1, total) and last == min(total, 50)
    # Row access: every listed owner is the rep (the bundle's rows: {rep: assigned}).
    owners = page.request.get("/api/v1/records/lead?limit=200").json()["items"]
    assert {o["owner"] for o in owners} == {rep}
    check_a11y(page)
    shoot(page, "records-list")
    # Sorting: a column's title sorts it, and says so to a screen reader.
    header = page.get_by_role("columnheader", name=re.compile(r"^Created"))
    header.get_by_role("link").click()
    expect(page.get_by_role("columnheader", name=re.compile(r"^Created"))).to_have_attribute(
        "aria-sort", re.compile("ascending|descending")
    )
    # A filter narrows the list as the API does; the address names only the filters used.
    source = owners[0]["data"]["source"]
    page.get_by_text("Filter on fields").click()
    page.locator("#f-source").select_option(source)
    page.get_by_role("button", name="Show records").click()
    expect(page).to_have_url(re.compile(rf"/records/lead\?field\.source={source}&sort=[\w-]+$"))
    narrowed = page.request.get(f"/api/v1/records/lead?field.source={source}&limit=1")
    assert _shown(page)[2] == narrowed.json()["total"]
    # CSV: every matching record the rep may see, as a download.
    with page.expect_download() as waiting:
        page.get_by_role("link", name="Export CSV (all matching records)").click()
    download = waiting.value
    text = open(download.path(), encoding="utf-8-sig").read()  # noqa: SIM115
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == narrowed.json()["total"]
    assert {r["owner"] for r in rows} == {rep} and {r["source"] for r in rows} == {source}


def test_a_bad_filter_is_named_on_the_page(page: Page, live: Live) -> None:
    sign_in(page, "manager")
    page.goto("/records/lead?field.quality_score.from=lots")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("quality_score")
    check_a11y(page)


def test_the_analyst_reads_the_definitions_and_a_workflow_diagram(page: Page, live: Live) -> None:
    sign_in(page, "analyst")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Definitions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Definitions")
    for heading in ("Version served", "History", "Last reload", "Workflows", "Scoring models"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    served = page.request.get("/api/v1/definitions").json()["hash"]
    expect(page.get_by_text(served[:12]).first).to_be_visible()
    bundle = live.app.state.server.bundle
    expect(page.locator("svg[aria-label]")).to_have_count(len(bundle.workflows))
    check_a11y(page)
    shoot(page, "definitions")
    page.locator('a[href="/definitions/workflows/pharmacy_visit"]').first.click()
    expect(page).to_have_url(re.compile(r"/definitions/workflows/pharmacy_visit$"))
    svg = page.locator("svg[aria-label]").first
    workflow = bundle.workflows["pharmacy_visit"]
    for stage in workflow.body.stages:
        expect(svg.locator(f'g[data-id="{stage.id}"]')).to_have_count(1)
    expect(svg.locator("path > title")).to_have_count(len(workflow.moves))
    check_a11y(page)
    shoot(page, "definitions-workflow")
