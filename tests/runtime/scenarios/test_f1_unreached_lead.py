"""F1: a consumer-goods lead nobody owns after 15 minutes is raised; assigning it resolves it."""

from __future__ import annotations

from runtime.clock import FakeClock
from runtime.core import Runtime

COLD = {
    "source": "web_form",
    "external_id": "F1-R1",
    "pharmacy_name": "Yongjiang Mart",
    "industry": "personal_care",
    "city": "ningbo",  # heat 0.45: match 89 < 90
}


def _states(runtime: Runtime) -> list[str]:
    return [a["state"] for a in runtime.alerts(rule="lead_not_reached")]


def test_an_unreached_lead_fires_at_15_minutes_and_an_assignment_resolves_it(
    runtime: Runtime, clock: FakeClock
) -> None:
    record = runtime.create("lead", COLD)
    assert (record.owner, record.queue) == (None, "unmatched_leads")
    assert _states(runtime) == ["pending"]
    clock.advance(minutes=14, seconds=59)
    runtime.tick()
    assert _states(runtime) == ["pending"]
    clock.advance(seconds=1)
    runtime.tick()
    assert _states(runtime) == ["firing"]

    runtime.assign(record.id, user="wu.hao", actor="xu.tao")

    assert _states(runtime) == ["resolved"]  # the assignment re-evaluates the alert


def test_a_lead_that_reaches_a_rep_raises_nothing(runtime: Runtime, clock: FakeClock) -> None:
    record = runtime.create("lead", {**COLD, "external_id": "F1-R2", "city": "nanjing"})
    assert record.owner == "wu.hao"  # heat 0.5: match 90, exactly the threshold
    clock.advance(minutes=15)
    runtime.tick()
    assert _states(runtime) == []
