"""F9 channel stock alerts (three actions, response time, dedup, cooldown); F10 feedback."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.clock import FakeClock, iso
from runtime.core import Runtime
from runtime.errors import Invalid
from runtime.metrics import compute_metric
from runtime.outbox import LogChannel, MailboxChannel, Message, OutboxWorker, WebhookChannel
from tests.runtime.scenarios.support import OTHER_REP, REP, START, outbox, webhooks

SUPPLY = "https://supply.example/replenish"
MESSAGES = "https://messages.example/distributors"
EAST, NORTH, TEA = "hangzhou-lianhua", "tianjin-jiajia", "green-tea-500"


def report(
    runtime: Runtime, distributor: str, on_hand: int, daily_sales: float, sku: str = TEA
) -> str:
    """A distributor's stock report through the light ingestion API (merged by key)."""
    data = {"distributor": distributor, "sku": sku, "on_hand": on_hand, "daily_sales": daily_sales}
    record, _ = runtime.ingest("distributor_stock", data)
    return record.id


def stock_alerts(runtime: Runtime) -> list[dict[str, Any]]:
    """The stock alerts, oldest first."""
    return sorted(runtime.alerts(rule="stock_below_safety"), key=lambda a: a["id"])


def test_stock_below_seven_days_fires_three_actions_once_until_resolved(
    runtime: Runtime, clock: FakeClock, tmp_path: Path
) -> None:
    """F9: below 7 days of sales: an alert to the regional rep, a replenishment suggestion
    to supply chain and a tailored promotion to the distributor; repeats while it fires
    are one alert; 8 days does not resolve it (9 does)."""
    record_id = report(runtime, EAST, 400, 25)  # 16 days of sales
    assert stock_alerts(runtime) == [] and outbox(runtime) == []

    clock.advance(days=1)
    report(runtime, EAST, 150, 25)  # 6 days

    [alert] = stock_alerts(runtime)
    assert (alert["state"], alert["record_id"]) == ("firing", record_id)
    assert alert["dedup_key"] == f"stock_below_safety:{EAST}/{TEA}"
    assert alert["values"] == {"stock_days": 6.0}
    [note] = outbox(runtime, template="stock_alert")
    assert (note["channel"], note["payload"]["to"]) == ("mailbox", REP)  # the east rep
    assert note["payload"]["subject"] == f"{EAST} has 6.0 days of {TEA}"
    assert webhooks(runtime, SUPPLY) == [
        {"distributor": EAST, "sku": TEA, "on_hand": 150, "daily_sales": 25.0, "suggested_qty": 200}
    ]  # 14 days of cover (the distributors table) minus what is on hand
    assert webhooks(runtime, MESSAGES) == [
        {
            "to": EAST,
            "sku": TEA,
            "text": f"{EAST}: {TEA} covers 6.0 days of sales. 5% rebate on a full-truck order",
        }
    ]

    clock.advance(hours=2)
    report(runtime, EAST, 120, 25)  # still low: the same alert, no second round of actions
    clock.advance(hours=2)
    report(runtime, EAST, 200, 25)  # 8 days: above 7 but below the resolve level of 9
    assert [a["state"] for a in stock_alerts(runtime)] == ["firing"]
    assert len(outbox(runtime)) == 4  # the note, two webhooks and the suggested promotion
    [promotion] = outbox(runtime, action="suggest")
    assert (promotion["record_id"], promotion["payload"]["table"]) == (
        record_id,
        "stock_promotions",
    )

    clock.advance(hours=20)
    report(runtime, EAST, 250, 25)  # 10 days: resolved
    assert [a["state"] for a in stock_alerts(runtime)] == ["resolved"]
    assert stock_alerts(runtime)[0]["resolved_at"] == iso(START + timedelta(days=2))

    # Delivery: the mailbox gets the rep's alert, supply chain and the distributor their calls.
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(202)

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        sent: list[Message] = []
        worker = OutboxWorker(
            runtime.store,
            clock,
            {
                "webhook": WebhookChannel(client),
                "mailbox": MailboxChannel(tmp_path / "mail"),
                "log": LogChannel(sent),
            },
            worker_id="scenario",
        )
        assert worker.run_once().sent == 4  # the suggested promotion goes to the log
    assert [m.action for m in sent] == ["suggest"]
    assert [str(c.url) for c in calls] == [SUPPLY, MESSAGES]
    assert json.loads(calls[0].content)["suggested_qty"] == 200
    assert (
        calls[0].headers["Idempotency-Key"]
        == outbox(runtime, action="webhook")[0]["idempotency_key"]
    )
    [mail] = (tmp_path / "mail").glob("*.json")
    assert json.loads(mail.read_text())["payload"]["to"] == REP
    assert {r["state"] for r in outbox(runtime)} == {"sent"}


def test_cooldown_keeps_a_resolved_alert_quiet_for_24_hours(
    runtime: Runtime, clock: FakeClock
) -> None:
    """F9: after it resolves, the same distributor/SKU stays quiet for 24 hours, then alerts
    again; another distributor's alert goes to its own regional rep with its own offer."""
    report(runtime, EAST, 100, 25)
    clock.advance(hours=6)
    report(runtime, EAST, 300, 25)  # resolved
    clock.advance(hours=12)
    report(runtime, EAST, 90, 25)  # low again, within the cooldown: quiet
    assert [a["state"] for a in stock_alerts(runtime)] == ["resolved"]
    clock.advance(hours=13)
    report(runtime, EAST, 80, 25)  # 25 hours after resolving: a new alert
    assert [a["state"] for a in stock_alerts(runtime)] == ["resolved", "firing"]
    assert [n["payload"]["to"] for n in outbox(runtime, template="stock_alert")] == [REP, REP]

    report(runtime, NORTH, 20, 5)  # 4 days; a slow seller in the north
    report(runtime, NORTH, 5, 2, sku="jasmine-tea-250")
    notes = outbox(runtime, template="stock_alert")
    assert [n["payload"]["to"] for n in notes[2:]] == [OTHER_REP, OTHER_REP]
    texts = [body["text"] for body in webhooks(runtime, MESSAGES)[2:]]
    assert texts == [
        f"{NORTH}: {TEA} covers 4.0 days of sales. Buy 10 cases, get 1 free",
        f"{NORTH}: jasmine-tea-250 covers 2.5 days of sales. Free display stand with the next order",
    ]


def test_response_time_and_false_positive_feedback_give_each_rule_its_precision(
    runtime: Runtime, clock: FakeClock
) -> None:
    """F9, F10: acknowledging an alert records its response time (a metric averages it);
    marking alerts useful or false positive gives each alert rule its precision."""
    report(runtime, EAST, 100, 25)
    report(runtime, NORTH, 20, 5)
    report(runtime, NORTH, 5, 2, sku="jasmine-tea-250")
    east, north, jasmine = (a["id"] for a in stock_alerts(runtime))

    clock.advance(hours=3)
    acked = runtime.acknowledge_alert(east, actor=REP)
    assert (acked["acked_by"], acked["acked_at"]) == (REP, iso(START + timedelta(hours=3)))
    clock.advance(hours=1)
    runtime.acknowledge_alert(north, actor=OTHER_REP)
    with runtime.store.read() as conn:
        spec = runtime.bundle.metrics["stock_alert_response_hours"]
        [row] = compute_metric(conn, spec, clock.now())
    assert row.value == pytest.approx((3 + 4) / 2)  # unanswered alerts do not count yet

    # P13's rule gets feedback too: precision is per rule.
    data = {"region": "sichuan", "revenue_3m": 100000, "turnover_rate": 2.0}
    runtime.create(
        "replenishment_request", {**data, "pharmacy_name": "Heping", "cost_3m": 60000}, actor=REP
    )
    runtime.create(
        "replenishment_request", {**data, "pharmacy_name": "Kang", "cost_3m": 80000}, actor=REP
    )
    [weak] = runtime.alerts(rule="replenishment_weak_margin")

    runtime.alert_feedback(east, "useful", actor=REP)
    runtime.alert_feedback(north, "useful", actor=OTHER_REP)
    marked = runtime.alert_feedback(
        jasmine,
        "false_positive",
        actor=OTHER_REP,
        note="the distributor cleared this SKU on purpose before the new packaging",
    )
    assert (marked["feedback"], marked["feedback_by"]) == ("false_positive", OTHER_REP)
    runtime.alert_feedback(weak["id"], "false_positive", actor=REP)

    assert runtime.alert_precision() == [
        {
            "rule": "replenishment_weak_margin",
            "fired": 1,
            "judged": 1,
            "useful": 0,
            "false_positive": 1,
            "precision": 0.0,
        },
        {
            "rule": "stock_below_safety",
            "fired": 3,
            "judged": 3,
            "useful": 2,
            "false_positive": 1,
            "precision": 0.6667,
        },
    ]
    with pytest.raises(Invalid) as bad:
        runtime.alert_feedback(east, "maybe", actor=REP)
    assert bad.value.problems[0].message == "'maybe' is not one of useful, false_positive"
