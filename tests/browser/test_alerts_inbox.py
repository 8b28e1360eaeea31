"""In Chromium: the manager judges an alert a false positive and sees its rule's precision fall."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.helpers import Live, check_a11y, shoot, sign_in

pytestmark = [pytest.mark.browser]


def counts(row: Locator) -> tuple[int, int, int, str]:
    """Fired, useful, false positive and precision of a rule's row in the precision table."""
    cells = row.get_by_role("cell").all_inner_texts()  # severity, fired, useful, fp, precision...
    return int(cells[1]), int(cells[2]), int(cells[3]), cells[4].strip()


def test_a_false_positive_lowers_the_rules_precision(page: Page, live: Live) -> None:
    sign_in(page, "manager")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alerts")
    check_a11y(page)
    precision = page.get_by_role("table").last
    expect(precision.get_by_role("columnheader", name="Precision")).to_be_visible()
    # A rule the demo's feedback judged useful at least once.
    rules = precision.get_by_role("row").filter(has=page.get_by_role("rowheader"))
    judged = [r for r in rules.all() if counts(r)[1] > 0 and counts(r)[0] > 1]
    assert judged, rules.all_inner_texts()
    row = judged[0]
    rule = row.get_by_role("rowheader").inner_text().split("\n")[0].strip()
    _fired, useful, false_positive, before = counts(row)
    assert before == f"{useful / (useful + false_positive):.2f}", (rule, before)

    page.get_by_label("Rule").select_option(rule)
    page.get_by_role("button", name="Show alerts").click()
    expect(page).to_have_url(re.compile(rf"rule={rule}"))
    group = page.get_by_role("region", name=re.compile(rf"{rule}\b"))
    useful_alert = group.get_by_role("row").filter(has_text="marked useful").first
    alert = useful_alert.get_by_role("cell").first.inner_text().strip()  # "#66"
    useful_alert.get_by_label("Note (optional)").fill("the stock report was late, not low")
    useful_alert.get_by_role("button", name=f"Mark {alert} false positive").click()

    expect(page).to_have_url(re.compile(rf"rule={rule}"))
    row = page.locator(f"#rule-{rule}")
    now = (useful - 1) / (useful + false_positive)
    expect(row.get_by_role("cell").nth(4)).to_have_text(f"{now:.2f}")
    expect(row.get_by_role("cell").nth(2)).to_have_text(str(useful - 1))
    expect(row.get_by_role("cell").nth(3)).to_have_text(str(false_positive + 1))
    judged_row = page.get_by_role("row").filter(has_text=alert).first
    expect(judged_row).to_contain_text("marked false positive: the stock report was late, not low")
    # The JSON API agrees.
    answer = page.request.get("/api/v1/alerts/precision")
    assert answer.ok, answer.text()
    found = {r["rule"]: r for r in answer.json()["rules"]}[rule]
    assert (found["useful"], found["false_positive"]) == (useful - 1, false_positive + 1), found
    assert found["precision"] == pytest.approx(now, abs=1e-4), found
    check_a11y(page)
    shoot(page, "alerts")
