"""The alerts inbox (issue 13, F9, F10): what a person sees, and acting on alerts."""

from __future__ import annotations

import re
from typing import Any

from tests.api.test_ops import AGENT, EAST, HOUR, NORTH, REP, get, stock
from tests.console.conftest import csrf_of

MANAGER = "zhang.min"


def _row(html: str, rule: str) -> str:
    found = re.search(rf'<tr id="rule-{rule}">(.*?)</tr>', html, re.S)
    assert found, f"no precision row for {rule}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def _act(client: Any, alert_id: int, action: str, note: str = "") -> Any:
    page = client.get("/alerts")
    data = {"action": action, "note": note, "back": "/alerts", "_csrf_token": csrf_of(page.text)}
    return client.post(f"/alerts/{alert_id}", data=data, follow_redirects=False)


def test_a_rep_may_not_open_the_inbox(console: Any) -> None:
    _, client = console(REP)
    page = client.get("/alerts")
    assert page.status_code == 403
    assert "your roles may not see or handle alerts" in page.text


def test_the_inbox_lists_firing_alerts_by_rule_with_their_record(console: Any) -> None:
    api, client = console(MANAGER)
    east = stock(api, EAST, 100, 25)
    page = client.get("/alerts")
    assert page.status_code == 200, page.text
    assert "stock_below_safety" in page.text and ">high</span>" in page.text
    assert f'href="/records/distributor_stock/{east}"' in page.text
    assert "+0800" in page.text  # when it fired, in the bundle's time zone
    assert "1 alert match" in page.text
    # filters: a severity with no alert, and bad values are a 400 page saying what is wrong
    assert "No alert matches" in client.get("/alerts?severity=info").text
    bad = client.get("/alerts?state=nope&severity=loud")
    assert bad.status_code == 400
    assert "state &#39;nope&#39; is not one of" in bad.text
    assert "severity &#39;loud&#39; is not one of" in bad.text


def test_acknowledge_and_false_positive_change_the_page(console: Any) -> None:
    api, client = console(MANAGER)
    ids = []
    for n, who in enumerate((EAST, NORTH, EAST, NORTH)):
        stock(api, who, 10, 5, sku=f"sku-{n}")
        ids.append(get(api, "/alerts?limit=1", user=AGENT)["items"][0]["id"])
    api.clock.advance(2 * HOUR)
    answer = _act(client, ids[0], "acknowledge")
    assert answer.status_code == 303 and answer.headers["location"] == "/alerts"
    page = client.get("/alerts").text
    assert "acknowledged by Zhang Min" in page
    assert f"Acknowledge #{ids[0]}" not in page and f"Acknowledge #{ids[1]}" in page
    assert _row(page, "stock_below_safety").endswith("4 0 0 n/a 1 2.0 h")
    for alert_id in ids[:3]:
        assert _act(client, alert_id, "useful").status_code == 303
    assert " 4 3 0 1.00 " in _row(client.get("/alerts").text, "stock_below_safety")
    assert _act(client, ids[3], "false_positive", "stock was counted wrong").status_code == 303
    page = client.get("/alerts").text
    assert " 4 3 1 0.75 " in _row(page, "stock_below_safety")  # F10: 3 / (3 + 1)
    assert "marked false positive: stock was counted wrong" in page
    precision = get(api, "/alerts/precision", user=MANAGER)["rules"]
    mine = next(r for r in precision if r["rule"] == "stock_below_safety")
    assert mine["precision"] == 0.75


def test_a_refused_action_says_why(console: Any) -> None:
    _, client = console(MANAGER)
    answer = _act(client, 999, "acknowledge")
    assert answer.status_code == 404
    assert "Alert 999 was not changed" in answer.text and "no such alert" in answer.text
    bad = _act(client, 999, "delete")
    assert bad.status_code == 400 and "&#39;delete&#39; is not one of" in bad.text
