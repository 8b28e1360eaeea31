"""The home page (issue 13): my records by stage with SLA countdowns, my queues, my alerts."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.api.test_ops import EAST, HOUR, REP, opportunity, stock
from tests.api.test_queue_visibility import QUEUE, waiting_lead
from tests.console.conftest import sign_in
from tests.runtime.test_home_reads import _working_bundle

MANAGER = "zhang.min"
V1 = "/api/v1"
SLA = timedelta(days=14)  # pharmacy_visit's appointment stage (definitions/workflows)


def _later(api: Any, client: Any, user: str, by: timedelta) -> None:
    """Move the clock on, and sign in again (a session lasts less than weeks)."""
    api.clock.advance(by)
    assert sign_in(client, user).status_code == 303


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _row_of(html: str, record_id: str) -> str:
    found = re.search(
        rf'<tr>\s*<td><a href="/records/opportunity/{record_id}">.*?</tr>', html, re.S
    )
    assert found, f"record {record_id} is not listed"
    return _text(found.group(0))


def test_my_records_show_the_time_left_until_the_stage_sla(console: Any) -> None:
    api, client = console(REP)
    record_id = opportunity(api, "Kang Pharmacy")
    page = client.get("/")
    assert page.status_code == 200, page.text
    assert "opportunity · pharmacy_visit · appointment (1)" in page.text
    row = _row_of(page.text, record_id)
    assert "336 h left" in row  # 14 days, clock hours (the SLA names no calendar)
    assert "clock hours" in page.text and "+0800" in row
    _later(api, client, REP, SLA - 5 * HOUR)
    assert "5 h left" in _row_of(client.get("/").text, record_id)
    _later(api, client, REP, 5 * HOUR)  # exactly at the limit
    at_limit = client.get("/").text
    assert "due now (0 h left)" in _row_of(at_limit, record_id)
    assert 'class="over"' in at_limit
    _later(api, client, REP, HOUR)
    assert "overdue by 1 h" in _row_of(client.get("/").text, record_id)


def test_a_manager_sees_the_team_overdue_count(console: Any) -> None:
    api, client = console(MANAGER)
    first, _ = opportunity(api, "A"), opportunity(api, "B")
    assert "<strong>0</strong> open records over" in client.get("/").text
    _later(api, client, MANAGER, SLA - HOUR)
    opportunity(api, "C")  # entered later: not over yet
    _later(api, client, MANAGER, HOUR)
    page = client.get("/").text
    assert "<strong>2</strong> open records over their stage" in page
    assert first not in page  # the manager owns none of them: not in "my records"


def test_queue_counts_are_the_json_api_counts(console: Any) -> None:
    api, client = console(MANAGER)
    waiting_lead(api, 1)
    waiting_lead(api, 2)
    page = client.get("/").text
    sizes = {q["name"]: q["waiting"] for q in api.call("GET", f"{V1}/queues", MANAGER).json()}
    assert sizes[QUEUE] == 2
    row = re.search(rf'<tr id="queue-{QUEUE}">(.*?)</tr>', page, re.S)
    assert row and f'<td class="num">{sizes[QUEUE]}</td>' in row.group(1)
    assert f'href="/records/lead?queue={QUEUE}"' in row.group(1)
    listed = api.call("GET", f"{V1}/records/lead?queue={QUEUE}", MANAGER).json()
    assert listed["total"] == sizes[QUEUE]
    # the rep's roles do not see that queue: it is not on the rep's home
    _, rep_client = console(REP)
    assert f"queue-{QUEUE}" not in rep_client.get("/").text


def test_my_alerts_are_the_ones_that_notify_me(console: Any) -> None:
    api, client = console(REP)
    assert "No firing or pending alert notifies you" in client.get("/").text
    stock(api, EAST, 100, 25)  # notifies li.wei (field:rep)
    page = client.get("/").text
    assert "1 firing or pending alert notify you" in page
    assert "stock_below_safety (firing" in _text(page)
    assert 'href="/alerts"' not in page.split('id="my-alerts"')[1]  # a rep has no inbox


def test_a_working_time_sla_shows_working_hours(console: Any, tmp_path: Path) -> None:
    api, client = console(REP, bundle=_working_bundle(tmp_path))
    record_id = opportunity(api, "Kang Pharmacy")
    page = client.get("/").text
    assert "16 working h left" in _row_of(page, record_id)
    assert "working hours of the SLA&#39;s calendar" in page
    _later(api, client, REP, 16 * HOUR)  # Tuesday 09:00 in Shanghai: overnight is not working
    assert "15 working h left" in _row_of(client.get("/").text, record_id)
