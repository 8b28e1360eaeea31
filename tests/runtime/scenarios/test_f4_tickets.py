"""F4 service tickets: seat group by decision table, SLA per severity with reminders, transfers."""

from __future__ import annotations

from datetime import timedelta

from runtime.clock import FakeClock, iso
from runtime.core import Runtime
from tests.runtime.scenarios.support import AGENT, START, outbox, run_for

HOUR = timedelta(hours=1)


def ticket(runtime: Runtime, tier: str, keyword: str, severity: int) -> str:
    data = {"customer_tier": tier, "keyword_class": keyword, "severity": severity}
    return runtime.create("ticket", data, actor=AGENT).id


def test_the_decision_table_picks_the_seat_group_and_says_why(runtime: Runtime) -> None:
    """F4: VIP severity 1 -> vip_critical, other VIP -> vip, invoices -> finance, else general."""
    cases = {
        ("VIP", "system_error", 1): "vip_critical",
        ("VIP", "invoice", 2): "vip",  # first hit: the VIP row wins over the invoice row
        ("normal", "invoice", 3): "finance",
        ("trial", "out_of_stock", 2): "general",
    }
    for (tier, keyword, severity), group in cases.items():
        record_id = ticket(runtime, tier, keyword, severity)
        record = runtime.get(record_id)
        assert (record.data["seat_group"], record.stage) == (group, "triage")
        [decision] = runtime.explain(record_id, kind="decision_table")
        assert decision["rule"] == "ticket_seat_group"
        assert group in decision["outcome"]
        assert decision["detail"]["inputs"] == [
            "customer_tier",
            "keyword_class",
            "severity",
            "history_resolution_hours",
            "channel",
            "product_line",
            "recent_tickets_30d",
        ]


def test_each_severity_has_its_sla_and_a_reminder_one_hour_before_breach(
    runtime: Runtime, clock: FakeClock
) -> None:
    """F4: severities 1, 2, 3 get 4, 8 and 24 hours; the owner is reminded 1 hour before each
    breach; a ticket taken up in time gets neither reminder nor breach."""
    ids = {severity: ticket(runtime, "normal", "other", severity) for severity in (1, 2, 3)}
    handled = ticket(runtime, "VIP", "other", 1)
    run_for(runtime, clock, HOUR, HOUR)
    runtime.transition(handled, "in_progress", actor=AGENT)

    run_for(runtime, clock, 24 * HOUR, HOUR)

    reminders = outbox(runtime, template="sla_reminder")
    assert [(r["record_id"], r["created_at"]) for r in reminders] == [
        (ids[1], START + 3 * HOUR),
        (ids[2], START + 7 * HOUR),
        (ids[3], START + 23 * HOUR),
    ]
    assert {r["payload"]["to"] for r in reminders} == {AGENT}
    due = iso(START + 4 * HOUR)
    assert reminders[0]["payload"]["subject"] == f"Ticket {ids[1]} is close to its SLA"
    assert reminders[0]["payload"]["body"] == f"Resolve it before {due}."
    for severity, hours in ((1, 4), (2, 8), (3, 24)):
        [breach] = [e for e in runtime.events(ids[severity]) if e["kind"] == "sla_breached"]
        assert breach["at"] == iso(START + hours * HOUR)
        assert breach["detail"]["late"] is False
    kinds = {e["kind"] for e in runtime.events(handled)}
    assert not kinds & {"sla_reminder", "sla_breached"}


def test_transfers_between_departments_are_counted(runtime: Runtime, clock: FakeClock) -> None:
    """F4: a ticket worked by finance, sent back to triage and re-routed to the general desk
    counts one transfer; going back to the same desk is no transfer."""
    record_id = ticket(runtime, "normal", "invoice", 2)
    record = runtime.transition(record_id, "in_progress", actor=AGENT)
    assert (record.data["department"], record.data["transfers"]) == ("finance", 0)

    clock.advance(hours=2)
    runtime.transition(record_id, "triage", actor=AGENT)
    record = runtime.update(record_id, {"keyword_class": "system_error"}, actor=AGENT)
    assert record.data["seat_group"] == "general"  # the decision table ran again
    assert (record.queue, record.owner) == ("general_service", None)  # triage's on_update
    record = runtime.transition(record_id, "in_progress", actor=AGENT)
    assert (record.data["department"], record.data["transfers"]) == ("general", 1)

    clock.advance(hours=1)
    runtime.transition(record_id, "triage", actor=AGENT)
    record = runtime.transition(record_id, "in_progress", actor=AGENT)
    assert (record.data["department"], record.data["transfers"]) == ("general", 1)

    record = runtime.transition(record_id, "resolved", actor=AGENT)
    record = runtime.transition(record_id, "closed", actor=AGENT)
    assert (record.status, record.data["transfers"]) == ("closed", 1)
    moves = [
        (e["detail"]["source"], e["detail"]["target"])
        for e in runtime.events(record_id)
        if e["kind"] == "stage_changed"
    ]
    assert moves == [
        ("triage", "in_progress"),
        ("in_progress", "triage"),
        ("triage", "in_progress"),
        ("in_progress", "triage"),
        ("triage", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "closed"),
    ]
