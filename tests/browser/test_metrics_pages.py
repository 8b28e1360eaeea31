"""In Chromium: the funnel, the dwell heatmap (through to a cell's records) and the forecast."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import Live, check_a11y, shoot, sign_in

pytestmark = [pytest.mark.browser]
QUARTER = ("2026-01-01", "2026-03-31")  # the demo's quarter (PLAN)
CELL = re.compile(r"^(\d+) stays? in (\S+), ")


def money(value: float) -> str:
    return f"{value:,.2f}"


def test_the_manager_reads_the_funnel_as_the_api_counts_it(page: Page, live: Live) -> None:
    sign_in(page, "manager")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Funnel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Funnel")
    expect(page.get_by_label("Workflow")).to_have_value("pharmacy_visit")
    answer = page.request.get("/api/v1/metrics/funnel?workflow=pharmacy_visit")
    assert answer.ok, answer.text()
    report = answer.json()
    assert report["entered"] > 10, report  # the demo made opportunities
    expect(page.get_by_text(f"{report['entered']} records entered pharmacy_visit")).to_be_visible()
    table = page.get_by_role("table", name="Stage-to-stage conversion")
    for stage in report["stages"]:
        row = table.get_by_role("row").filter(
            has=page.get_by_role("rowheader", name=stage["title"], exact=True)
        )
        conversion = "—" if stage["conversion"] is None else f"{stage['conversion'] * 100:.1f}%"
        expect(row.get_by_role("cell")).to_have_text(
            [str(stage["reached"]), str(stage["current"]), conversion]
        )
    bars = page.get_by_role("list", name="Records that reached each stage")
    expect(bars.get_by_role("listitem")).to_have_count(len(report["stages"]))
    check_a11y(page)
    shoot(page, "funnel")
    # A filter narrows it, as the API does.
    page.get_by_label("Region").select_option("sichuan")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"region=sichuan"))
    narrowed = page.request.get("/api/v1/metrics/funnel?workflow=pharmacy_visit&region=sichuan")
    entered = narrowed.json()["entered"]
    expect(page.get_by_text(f"{entered} records entered pharmacy_visit")).to_contain_text(
        "region sichuan"
    )


def test_the_dwell_heatmap_leads_to_the_records_behind_a_cell(page: Page, live: Live) -> None:
    # The analyst sees every opportunity: a cell's count and its records agree. (A
    # manager's cells count the whole workflow; their list holds their team's records.)
    sign_in(page, "analyst")
    page.goto("/dwell")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dwell heatmap")
    page.get_by_label("Entered from").fill(QUARTER[0])
    page.get_by_label("Entered to").fill(QUARTER[1])
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"from=2026-01-01&to=2026-03-31"))
    table = page.get_by_role("table")
    expect(table.get_by_role("columnheader", name=re.compile("2026-W05"))).to_be_visible()
    # One cell at least is over a limit, saying so in words (not by colour alone).
    expect(table.get_by_text(re.compile("over (SLA|alert limit)")).first).to_be_visible()
    check_a11y(page)
    shoot(page, "dwell")
    cells = table.get_by_role("link", name=CELL)
    assert cells.count() > 5, cells.count()
    cell = cells.first
    label = cell.get_attribute("aria-label") or ""
    found = CELL.match(label)
    assert found, label
    stays = int(found.group(1))
    cell.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Records behind a dwell cell")
    expect(page.get_by_text(re.compile(rf"^{stays} stays? in"))).to_be_visible()
    records = page.get_by_role("table").get_by_role("link", name=re.compile(r"^Record "))
    expect(records).to_have_count(min(stays, 50))
    check_a11y(page)
    shoot(page, "dwell-records")
    records.first.click()
    expect(page).to_have_url(re.compile(r"/records/opportunity/\w+$"))
    expect(page.get_by_role("region", name="Stage path")).to_be_visible()


def test_the_dwell_heatmap_by_team_for_the_analyst(page: Page, live: Live) -> None:
    sign_in(page, "analyst")
    page.goto(f"/dwell?view=team&from={QUARTER[0]}&to={QUARTER[1]}")
    expect(page.get_by_label("Columns")).to_have_value("team")
    answer = page.request.get(
        f"/api/v1/metrics/dwell/heatmap?workflow=pharmacy_visit&by=team&from={QUARTER[0]}&to={QUARTER[1]}"
    )
    assert answer.ok, answer.text()
    used = {c["column"] for s in answer.json()["stages"] for c in s["cells"] if c["stays"]}
    assert used, answer.json()
    # One column per team with stays in the quarter.
    headers = page.get_by_role("table").get_by_role("columnheader")
    expect(headers).to_have_count(1 + len(used))
    check_a11y(page)


def test_the_forecast_shows_its_weeks_with_the_seasonal_coefficient(
    page: Page, live: Live, forecast_deals: list[str]
) -> None:
    sign_in(page, "analyst")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Forecast").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Forecast")
    answer = page.request.get("/api/v1/metrics/forecast/distributor_pipeline")
    assert answer.ok, answer.text()
    report = answer.json()
    assert report["open_records"] >= len(forecast_deals), report
    coming = page.get_by_role("table").first
    expect(coming.get_by_role("columnheader", name="Seasonal coefficient")).to_be_visible()
    rows = coming.get_by_role("row")
    expect(rows).to_have_count(1 + len(report["buckets"]))
    for i, bucket in enumerate(report["buckets"]):
        row = rows.nth(i + 1)
        expect(row.get_by_role("rowheader")).to_have_text(bucket["start"][:10])
        expect(row.get_by_role("cell")).to_have_text(
            [
                str(bucket["open_records"]),
                money(bucket["pipeline"]),
                money(bucket["weighted"]),
                f"x{bucket['coefficient']:.2f}",
                money(bucket["expected"]),
            ]
        )
    weeks = [b for b in report["buckets"] if b["open_records"]]
    assert len(weeks) >= len(forecast_deals) - 1, report["buckets"]  # the deals' weeks
    expect(page.get_by_text(f"Expected in all: {money(report['expected'])}")).to_be_visible()
    past = page.get_by_role("heading", name="Forecast against actual, past weeks")
    expect(past).to_be_visible()
    check_a11y(page)
    shoot(page, "forecast")


def test_a_rep_may_not_open_the_metrics(page: Page, live: Live) -> None:
    sign_in(page, "rep")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Funnel")).to_have_count(0)
    answer = page.goto("/funnel")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("alert")).to_contain_text("see metrics")
    check_a11y(page)
