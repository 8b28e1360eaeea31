"""P5 dwell per stage and the slow-demo alert; P6 stalled opportunities flagged to managers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runtime.clock import FakeClock, iso
from runtime.core import Runtime
from runtime.metrics import stage_dwell
from tests.runtime.scenarios.support import MANAGER, REP, START, outbox, run_for, walk_visit

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def open_opportunity(runtime: Runtime, name: str, tier: str = "chain") -> str:
    record = runtime.create(
        "opportunity",
        {"pharmacy_name": name, "region": "sichuan", "pharmacy_tier": tier},
        actor=REP,
    )
    return record.id


def test_a_slow_proposal_demo_stage_fires_after_for_and_pushes_success_cases(
    runtime: Runtime, clock: FakeClock
) -> None:
    """P5: the average dwell in proposal demo (open stays count their time so far) passes
    72 hours; the alert is pending, fires 1 hour later and notifies the manager with the
    links of the stage's success cases; the heatmap and the history show each dwell."""
    ids = [open_opportunity(runtime, n, t) for n, t in (("A", "chain"), ("B", "single"))]
    quick = open_opportunity(runtime, "C")
    for record_id in [*ids, quick]:
        walk_visit(runtime, runtime.get(record_id), "proposal_demo")
    run_for(runtime, clock, 12 * HOUR, 6 * HOUR)
    walk_visit(runtime, runtime.get(quick), "quote", quote={"quote_price": 30.0})

    # avg = (12 + 2t) / 3 passes 72 hours after t = 102 h: nothing until then.
    run_for(runtime, clock, 90 * HOUR, 6 * HOUR)
    assert clock.now() == START + 102 * HOUR
    assert runtime.alerts(rule="proposal_demo_slow") == []

    run_for(runtime, clock, HOUR, HOUR)
    [pending] = runtime.alerts(rule="proposal_demo_slow")
    assert (
        pending["state"] == "pending"
        and pending["dedup_key"] == "proposal_demo_slow:stage=proposal_demo"
    )
    assert pending["values"]["value"] == pytest.approx((12 + 2 * 103) / 3)
    assert outbox(runtime, template="slow_demo") == []

    run_for(runtime, clock, HOUR, HOUR)  # `for: 1h` has run out and the average still holds
    [firing] = runtime.alerts(rule="proposal_demo_slow")
    assert firing["state"] == "firing" and firing["fired_at"] == iso(START + 104 * HOUR)
    notes = outbox(runtime, template="slow_demo")  # one to each manager (`role:manager`)
    users = runtime.bundle.manifest.users
    managers = sorted(u for u, spec in users.items() if "manager" in spec.roles)
    assert {"deng.hui", "xu.tao", MANAGER} < set(managers)  # and the regions' managers
    assert sorted(n["payload"]["to"] for n in notes) == managers
    [note] = [n for n in notes if n["payload"]["to"] == MANAGER]
    assert note["payload"]["subject"] == "Proposal demos average 73.3 hours"
    assert note["payload"]["body"] == (
        "- Chain store shelf reset: https://kb.example/c1\n"
        "- Single store demo: https://kb.example/c2\n"
    )  # the proposal-demo cases, not the quote-stage one

    run_for(runtime, clock, DAY, 6 * HOUR)  # one alert per key: no repeat while it fires
    assert len(outbox(runtime, template="slow_demo")) == len(managers)  # still one each

    # Dwell history of the quick demo, and the per-stage heatmap.
    stays = {h["stage"]: h for h in runtime.history(quick)}
    assert stays["proposal_demo"]["dwell_seconds"] == 12 * 3600
    assert stays["quote"]["left_at"] is None
    with runtime.store.read() as conn:
        heat = {row["stage"]: row for row in stage_dwell(conn, "pharmacy_visit", clock.now())}
    demo = heat["proposal_demo"]
    assert (demo["stays"], demo["open"]) == (3, 2)
    assert demo["avg_hours"] == pytest.approx((12 + 2 * 128) / 3)
    assert heat["quote"]["open"] == 1 and heat["appointment"]["avg_hours"] == 0.0


def test_an_opportunity_stalled_14_days_in_appointment_is_flagged_to_its_manager(
    runtime: Runtime, clock: FakeClock
) -> None:
    """P6: day by day, only the records still in their early stage 14 days after entering
    it are flagged, to the owner's manager; a move cancels the clock, an edit does not."""
    stalled = open_opportunity(runtime, "Stalled")
    moving = open_opportunity(runtime, "Moving")
    run_for(runtime, clock, 3 * DAY, DAY)
    edited = open_opportunity(runtime, "Edited")
    run_for(runtime, clock, 7 * DAY, DAY)
    walk_visit(runtime, runtime.get(moving), "inventory_count")
    runtime.update(edited, {"expected_amount": 12000}, actor=REP)

    run_for(runtime, clock, 3 * DAY, DAY)
    assert outbox(runtime, template="stalled_opportunity") == []

    reports = run_for(runtime, clock, DAY, DAY)  # day 14
    assert reports[-1].timers == 1 and reports[-1].late == 0
    [flag] = outbox(runtime, template="stalled_opportunity")
    assert (flag["record_id"], flag["payload"]["to"]) == (stalled, MANAGER)
    assert flag["payload"]["subject"] == "Opportunity Stalled has not moved for 14 days"
    assert flag["payload"]["body"] == "It is still in appointment. Please check with li.wei."
    [breach] = [e for e in runtime.events(stalled) if e["kind"] == "sla_breached"]
    assert breach["at"] == iso(START + 14 * DAY)
    assert breach["detail"]["stage"] == "appointment" and breach["detail"]["late"] is False

    run_for(runtime, clock, 10 * DAY, DAY)
    flagged = [r["record_id"] for r in outbox(runtime, template="stalled_opportunity")]
    assert flagged == [stalled, edited]  # 'Edited' on day 17; 'Moving' never
    [late_flag] = [e for e in runtime.events(edited) if e["kind"] == "sla_breached"]
    assert late_flag["at"] == iso(START + 17 * DAY)
    assert not [e for e in runtime.events(moving) if e["kind"] == "sla_breached"]
