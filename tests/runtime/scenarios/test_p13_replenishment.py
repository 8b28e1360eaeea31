"""P13 replenishment health check: weak margin pushes bundles, falling turnover starts coaching."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.records import RecordView
from runtime.store import T_RECORD
from tests.runtime.scenarios.support import MANAGER, REP, START, outbox, run_for

WEEK = timedelta(weeks=1)


def request(
    runtime: Runtime, pharmacy: str, margin: float, turnover: float, region: str = "sichuan"
) -> RecordView:
    """A replenishment request: 3-month revenue 100 000 at `margin`, this month's turnover."""
    data: dict[str, Any] = {
        "pharmacy_name": pharmacy,
        "region": region,
        "revenue_3m": 100000,
        "cost_3m": round(100000 * (1 - margin)),
        "turnover_rate": turnover,
    }
    return runtime.create("replenishment_request", data, actor=REP)


def coaching_visits(runtime: Runtime) -> list[RecordView]:
    with runtime.store.read() as conn:
        query = select(T_RECORD.c.id).where(T_RECORD.c.entity == "coaching_visit")
        ids = list(conn.execute(query).scalars())
    return [runtime.get(i) for i in ids]


def test_three_months_of_requests_push_bundles_and_start_coaching_when_due(
    runtime: Runtime, clock: FakeClock
) -> None:
    """P13: Kang's turnover falls 5 -> 4 -> 3 over three monthly requests and its margin
    drops to 20% while Sichuan averages 33%: its third request gets high-margin bundles
    and opens an on-site coaching visit; the healthy pharmacy's requests get neither."""
    first = request(runtime, "Kang", 0.30, 5.0)
    run_for(runtime, clock, 2 * WEEK, WEEK)
    request(runtime, "Heping", 0.40, 2.0)
    request(runtime, "Chongqing Store", 0.10, 1.0, region="chongqing")  # another region
    run_for(runtime, clock, 2 * WEEK, WEEK)
    second = request(runtime, "Kang", 0.30, 4.0)  # one month down: not yet two in a row

    assert runtime.alerts() == [] and coaching_visits(runtime) == []
    assert first.data["margin_rate_3m"] == pytest.approx(0.30)

    run_for(runtime, clock, 2 * WEEK, WEEK)
    request(runtime, "Heping", 0.35, 2.5)  # above 85% of the regional average, turnover up
    run_for(runtime, clock, 2 * WEEK, WEEK)
    assert runtime.alerts() == []
    third = request(runtime, "Kang", 0.20, 3.0)
    assert clock.now() == START + 8 * WEEK

    # Margin: 20% < 0.85 x avg(30%, 40%, 30%, 35%) = 28.05% -> high-margin bundles.
    by_rule = {a["rule"]: a for a in runtime.alerts()}
    assert set(by_rule) == {"replenishment_weak_margin", "replenishment_turnover_falling"}
    weak = by_rule["replenishment_weak_margin"]
    assert (weak["record_id"], weak["state"]) == (third.id, "firing")
    assert weak["values"]["margin_rate_3m"] == pytest.approx(0.20)
    [push] = outbox(runtime, template="high_margin_bundle")
    assert (push["payload"]["to"], push["record_id"]) == (REP, third.id)
    assert push["payload"]["subject"] == "Kang: 3-month gross margin below the sichuan average"
    assert push["payload"]["body"] == (
        "Offer these high-margin bundles with the replenishment:\n"
        "- Cold-season herbal bundle: https://kb.example/bundles/b1\n"
        "- Vitamin starter shelf: https://kb.example/bundles/b2\n"
    )  # the Sichuan bundles only

    # Turnover: 3.0 < 4.0 (last 30 days) < 5.0 (30 to 60 days ago) -> on-site coaching.
    assert by_rule["replenishment_turnover_falling"]["record_id"] == third.id
    [visit] = coaching_visits(runtime)
    assert (visit.workflow, visit.stage, visit.owner) == ("onsite_coaching", "plan_visit", REP)
    assert visit.data["pharmacy_name"] == "Kang" and visit.data["request"] == third.id
    assert visit.data["reason"] == "Inventory turnover fell two months in a row"
    told = [
        (n["payload"]["to"], n["record_id"]) for n in outbox(runtime, template="coaching_started")
    ]
    assert told == [(REP, third.id), (MANAGER, third.id)]
    assert [h["stage"] for h in runtime.history(visit.id)] == ["plan_visit"]
    assert second.id not in {a["record_id"] for a in runtime.alerts()}


def test_a_healthy_request_gets_no_push_and_no_coaching(runtime: Runtime, clock: FakeClock) -> None:
    """P13: a margin at the regional average and a turnover going up trigger nothing."""
    request(runtime, "Heping", 0.30, 2.0)
    run_for(runtime, clock, 4 * WEEK, WEEK)
    request(runtime, "Heping", 0.30, 1.5)
    run_for(runtime, clock, 4 * WEEK, WEEK)
    request(runtime, "Heping", 0.29, 1.8)  # turnover fell once, then rose; margin ~ average

    assert runtime.alerts() == []
    assert coaching_visits(runtime) == []
    assert outbox(runtime, action="notify") == []
