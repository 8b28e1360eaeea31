"""The alert state machine at its edges: `for:`, hysteresis, cooldown, dedup, feedback (issue 15)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.compiler.pipeline import compile_bundle
from runtime import alerts
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.errors import Invalid, NotFound
from runtime.store import Store

BUNDLE = """kind: bundle
version: 1
name: alert-edges
timezone: UTC
roles: [rep]
users:
  li.wei: {roles: [rep]}
  wang.fang: {roles: [rep]}
---
kind: form
version: 1
entity: item
fields:
  sku: {type: text}
  stock: {type: integer}
---
kind: alert
version: 1
name: low
entity: item
severity: critical
when: "stock < 10"
for: 1h
labels: {team: ops}
---
kind: alert
version: 1
name: empty
entity: item
when: "stock < 5"
resolve_when: "stock >= 8"
dedup_key: "{{ sku }}"
cooldown: 2h
actions:
  - notify: {to: "user:wang.fang", template: ping}
on_resolve:
  - notify: {to: owner, template: ping}
---
kind: notification
version: 1
name: ping
subject: ping
body: ping
"""

START = datetime(2026, 1, 5, 9, 0)


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Runtime:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bundle.yaml").write_text(BUNDLE)
    bundle = compile_bundle(tmp_path / "b").bundle
    assert bundle is not None
    return Runtime(bundle, store, FakeClock(START), evidence_dir=tmp_path / "ev")


def at(rt: Runtime, when: datetime) -> None:
    rt.clock.set(when)


def states(rt: Runtime, rule: str) -> list[tuple[str, str]]:
    return [(a["dedup_key"], a["state"]) for a in rt.alerts(rule=rule)]


def kinds(rt: Runtime, record_id: str, rule: str = "low") -> list[str]:
    return [
        e["kind"]
        for e in rt.events(record_id)
        if str(e["kind"]).startswith("alert_") and (e["detail"] or {}).get("rule") == rule
    ]


def test_a_pending_alert_fires_exactly_at_for_and_not_a_second_before(rt: Runtime) -> None:
    item = rt.create("item", {"sku": "A", "stock": 3}, actor="li.wei")
    [alert] = rt.alerts(rule="low")
    assert (alert["state"], alert["dedup_key"], alert["record_id"]) == (
        "pending",
        f"low:{item.id}",
        item.id,
    )
    assert (alert["severity"], alert["labels"], alert["fired_at"]) == (
        "critical",
        {"team": "ops"},
        None,
    )
    assert alert["values"] == {"stock": 3}
    early = START + timedelta(hours=1) - timedelta(seconds=1)
    assert rt.tick(early).alerts == {}
    assert states(rt, "low") == [(f"low:{item.id}", "pending")]
    due = START + timedelta(hours=1)
    at(rt, due)
    assert rt.tick(due).alerts == {"firing": 1}
    [fired] = rt.alerts(rule="low")
    assert fired["state"] == "firing"
    assert fired["fired_at"] == "2026-01-05T10:00:00+00:00"
    assert fired["started_at"] == "2026-01-05T09:00:00+00:00"
    assert kinds(rt, item.id) == ["alert_pending", "alert_fired"]
    # Still true on a later change: nothing new, the firing alert stays one alert.
    rt.update(item.id, {"stock": 2}, actor="li.wei")
    assert states(rt, "low") == [(f"low:{item.id}", "firing")]
    rt.update(item.id, {"stock": 10}, actor="li.wei")
    assert states(rt, "low") == [(f"low:{item.id}", "resolved")]
    assert kinds(rt, item.id) == ["alert_pending", "alert_fired", "alert_resolved"]


def test_a_pending_alert_that_stops_holding_is_cancelled_without_firing(rt: Runtime) -> None:
    item = rt.create("item", {"sku": "A", "stock": 9}, actor="li.wei")
    rt.update(item.id, {"stock": 10}, actor="li.wei")  # exactly not below 10
    [alert] = rt.alerts(rule="low")
    assert (alert["state"], alert["fired_at"]) == ("resolved", None)
    assert alert["resolved_at"] == "2026-01-05T09:00:00+00:00"
    due = START + timedelta(hours=1)
    at(rt, due)
    assert rt.tick(due).alerts == {}
    assert kinds(rt, item.id) == ["alert_pending", "alert_cancelled"]
    # Nothing fired, so there is nothing to judge and no precision figure.
    assert rt.alert_precision() == []


def test_a_pending_alert_false_when_its_for_runs_out_is_cancelled(
    rt: Runtime, store: Store
) -> None:
    item = rt.create("item", {"sku": "A", "stock": 3}, actor="li.wei")
    # Change the stock behind the runtime's back: only the `for:` timer sees it.
    from sqlalchemy import update

    from runtime.store import T_RECORD

    with store.begin(START) as tx:
        row = tx.conn.execute(T_RECORD.select().where(T_RECORD.c.id == item.id)).one()
        tx.conn.execute(
            update(T_RECORD).where(T_RECORD.c.id == item.id).values(data={**row.data, "stock": 50})
        )
    due = START + timedelta(hours=1)
    at(rt, due)
    assert rt.tick(due).alerts == {"cancelled": 1}
    [alert] = rt.alerts(rule="low")
    assert (alert["state"], alert["fired_at"], alert["resolved_at"]) == (
        "resolved",
        None,
        "2026-01-05T10:00:00+00:00",
    )


def test_resolve_when_is_a_hysteresis_band_resolving_exactly_at_its_edge(rt: Runtime) -> None:
    item = rt.create("item", {"sku": "A", "stock": 4}, actor="li.wei")
    assert states(rt, "empty") == [("empty:A", "firing")]
    [alert] = rt.alerts(rule="empty")
    assert alert["fired_at"] == alert["started_at"] == "2026-01-05T09:00:00+00:00"
    rt.update(item.id, {"stock": 7}, actor="li.wei")  # `when` false, inside the band
    assert states(rt, "empty") == [("empty:A", "firing")]
    rt.update(item.id, {"stock": 8}, actor="li.wei")  # exactly at resolve_when
    assert states(rt, "empty") == [("empty:A", "resolved")]


def test_cooldown_keeps_a_key_quiet_until_exactly_its_end(rt: Runtime) -> None:
    item = rt.create("item", {"sku": "A", "stock": 4}, actor="li.wei")
    rt.update(item.id, {"stock": 9}, actor="li.wei")  # resolved at 09:00
    at(rt, START + timedelta(hours=2) - timedelta(seconds=1))
    rt.update(item.id, {"stock": 1}, actor="li.wei")
    assert states(rt, "empty") == [("empty:A", "resolved")]
    rt.update(item.id, {"stock": 9}, actor="li.wei")
    at(rt, START + timedelta(hours=2))
    rt.update(item.id, {"stock": 1}, actor="li.wei")
    assert states(rt, "empty") == [("empty:A", "firing"), ("empty:A", "resolved")]


def test_a_cancelled_pending_alert_does_not_start_a_cooldown(rt: Runtime) -> None:
    # `low` has no cooldown; `empty` fires at once, so use the record's own key on `low`:
    # a resolved alert that never fired must not count (fired_at is None).
    item = rt.create("item", {"sku": "A", "stock": 9}, actor="li.wei")
    rt.update(item.id, {"stock": 10}, actor="li.wei")
    rt.update(item.id, {"stock": 9}, actor="li.wei")
    assert states(rt, "low") == [(f"low:{item.id}", "pending"), (f"low:{item.id}", "resolved")]


def test_records_with_one_dedup_key_share_one_alert(rt: Runtime) -> None:
    first = rt.create("item", {"sku": "A", "stock": 1}, actor="li.wei")
    second = rt.create("item", {"sku": "A", "stock": 2}, actor="li.wei")
    other = rt.create("item", {"sku": "B", "stock": 3}, actor="li.wei")
    assert sorted(states(rt, "empty")) == [("empty:A", "firing"), ("empty:B", "firing")]
    [a] = rt.alerts(rule="empty", state="firing")[1:]
    assert (a["record_id"], a["values"]) == (first.id, {"stock": 1})
    assert kinds(rt, first.id, "empty") == ["alert_fired"]
    assert kinds(rt, second.id, "empty") == []
    assert kinds(rt, other.id, "empty") == ["alert_fired"]


def test_acknowledging_twice_keeps_the_first_acknowledgement(rt: Runtime) -> None:
    rt.create("item", {"sku": "A", "stock": 1}, actor="li.wei")
    [alert] = rt.alerts(rule="empty")
    first = rt.acknowledge_alert(alert["id"], actor="wang.fang")
    assert (first["acked_by"], first["acked_at"]) == ("wang.fang", "2026-01-05T09:00:00+00:00")
    at(rt, START + timedelta(minutes=5))
    again = rt.acknowledge_alert(alert["id"], actor="li.wei")
    assert again == first
    assert again["state"] == "firing"
    with pytest.raises(NotFound, match="alert 999 does not exist"):
        rt.acknowledge_alert(999, actor="li.wei")


def test_feedback_rules_and_precision(rt: Runtime) -> None:
    a = rt.create("item", {"sku": "A", "stock": 1}, actor="li.wei")
    rt.create("item", {"sku": "B", "stock": 1}, actor="li.wei")
    rt.create("item", {"sku": "C", "stock": 1}, actor="li.wei")
    # Fired but never judged: precision is None, not 0.
    assert rt.alert_precision() == [
        {
            "rule": "empty",
            "fired": 3,
            "judged": 0,
            "useful": 0,
            "false_positive": 0,
            "precision": None,
        }
    ]
    ids = {x["dedup_key"]: x["id"] for x in rt.alerts(rule="empty")}
    rt.update(a.id, {"stock": 9}, actor="li.wei")  # resolved alerts still take feedback
    done = rt.alert_feedback(ids["empty:A"], "useful", actor="wang.fang", note="real")
    assert (done["state"], done["feedback"], done["feedback_by"], done["feedback_note"]) == (
        "resolved",
        "useful",
        "wang.fang",
        "real",
    )
    # A second verdict replaces the first.
    again = rt.alert_feedback(ids["empty:A"], "false_positive", actor="li.wei")
    assert (again["feedback"], again["feedback_by"], again["feedback_note"]) == (
        "false_positive",
        "li.wei",
        None,
    )
    rt.alert_feedback(ids["empty:A"], "useful", actor="li.wei", note="x" * 1200)
    rt.alert_feedback(ids["empty:B"], "useful", actor="li.wei")
    rt.alert_feedback(ids["empty:C"], "false_positive", actor="li.wei")
    [row] = rt.alerts(rule="empty", state="resolved")
    assert len(row["feedback_note"]) == 1000
    assert rt.alert_precision() == [
        {
            "rule": "empty",
            "fired": 3,
            "judged": 3,
            "useful": 2,
            "false_positive": 1,
            "precision": 0.6667,
        }
    ]
    with pytest.raises(Invalid) as bad:
        rt.alert_feedback(ids["empty:B"], "meh", actor="li.wei")
    assert str(bad.value) == "feedback is one of useful, false_positive"
    assert [p.to_dict() for p in bad.value.problems] == [
        {"code": "bad-feedback", "message": "'meh' is not one of useful, false_positive"}
    ]


def test_feedback_on_an_alert_that_never_fired_is_refused(rt: Runtime) -> None:
    rt.create("item", {"sku": "A", "stock": 9}, actor="li.wei")
    [pending] = rt.alerts(rule="low")
    with pytest.raises(Invalid) as bad:
        rt.alert_feedback(pending["id"], "useful", actor="li.wei")
    assert str(bad.value) == "only an alert that fired can get feedback"
    assert [(p.code, p.message) for p in bad.value.problems] == [
        ("not-fired", f"alert {pending['id']} is pending and never fired")
    ]
    with pytest.raises(NotFound, match="alert 999 does not exist"):
        rt.alert_feedback(999, "useful", actor="li.wei")


def test_listing_is_newest_first_and_filters_by_rule_and_state(rt: Runtime) -> None:
    a = rt.create("item", {"sku": "A", "stock": 1}, actor="li.wei")
    at(rt, START + timedelta(minutes=1))
    b = rt.create("item", {"sku": "B", "stock": 1}, actor="li.wei")
    listed: list[Any] = [(x["rule"], x["dedup_key"]) for x in rt.alerts()]
    assert listed == [
        ("empty", "empty:B"),
        ("low", f"low:{b.id}"),
        ("empty", "empty:A"),
        ("low", f"low:{a.id}"),
    ]
    assert [x["dedup_key"] for x in rt.alerts(rule="empty")] == ["empty:B", "empty:A"]
    assert [x["dedup_key"] for x in rt.alerts(state="pending")] == [f"low:{b.id}", f"low:{a.id}"]
    assert [x["dedup_key"] for x in rt.alerts(rule="low", state="firing")] == []


def test_a_condition_that_cannot_be_evaluated_neither_fires_nor_resolves(rt: Runtime) -> None:
    item = rt.create("item", {"sku": "A", "stock": 4}, actor="li.wei")
    blank = rt.create("item", {"sku": "B"}, actor="li.wei")
    assert states(rt, "empty") == [("empty:A", "firing")]
    rt.update(item.id, {"stock": None}, actor="li.wei")
    # `when` fails: the pending alert is cancelled; `resolve_when` fails: still firing.
    assert states(rt, "low") == [(f"low:{item.id}", "resolved")]
    assert states(rt, "empty") == [("empty:A", "firing")]
    assert kinds(rt, blank.id) == [] and kinds(rt, blank.id, "empty") == []


def test_who_an_alert_notifies(rt: Runtime, store: Store) -> None:
    item = rt.create("item", {"sku": "A", "stock": 1}, actor="li.wei")
    [empty] = rt.alerts(rule="empty")
    [low] = rt.alerts(rule="low")
    bundle = rt.bundle
    assert alerts.notify_targets(bundle.alerts["empty"]) == ["user:wang.fang", "owner"]
    assert alerts.notify_targets(bundle.alerts["low"]) == []
    with store.read() as conn:
        assert alerts.notified(conn, bundle, empty) == ["wang.fang", "li.wei"]
        assert alerts.notified(conn, bundle, low) == []
        assert alerts.notified(conn, bundle, {**empty, "rule": "gone"}) == []
        assert alerts.notified(conn, bundle, {**empty, "record_id": "nope"}) == ["wang.fang"]
        assert alerts.notified(conn, bundle, {**empty, "record_id": None}) == ["wang.fang"]
        assert alerts.notifying(conn, bundle, [low, empty], "li.wei") == [empty]
        assert alerts.notifying(conn, bundle, [low, empty], "nobody") == []
        assert alerts.fired_since(conn, START) == 1
        assert alerts.fired_since(conn, START + timedelta(microseconds=1)) == 0
    assert item.owner == "li.wei"


def test_a_dedup_key_is_the_rule_and_the_rendered_template_cut_at_512(rt: Runtime) -> None:
    empty, low = rt.bundle.alerts["empty"], rt.bundle.alerts["low"]
    assert alerts.key_of(empty, {"sku": "A"}, "rec") == "empty:A"
    assert alerts.key_of(empty, {"sku": "y" * 600}, "rec") == "empty:" + "y" * 506
    assert alerts.key_of(low, {"sku": "A"}, "rec") == "low:rec"
    assert alerts.key_of(low, {}, "z" * 600) == "low:" + "z" * 508


def test_alert_events_carry_their_whole_payloads(rt: Runtime) -> None:
    item = rt.create("item", {"sku": "A", "stock": 4}, actor="li.wei")
    rt.update(item.id, {"stock": 10}, actor="li.wei")
    ids = {a["rule"]: a["id"] for a in rt.alerts()}
    details = [
        (e["kind"], e["detail"]) for e in rt.events(item.id) if str(e["kind"]).startswith("alert_")
    ]
    low, empty = f"low:{item.id}", "empty:A"
    assert details == [
        ("alert_pending", {"rule": "low", "key": low, "id": ids["low"]}),
        ("alert_fired", {"rule": "empty", "key": empty, "values": {"stock": 4}}),
        ("alert_cancelled", {"rule": "low", "key": low}),
        ("alert_resolved", {"rule": "empty", "key": empty, "values": {"stock": 10}}),
    ]
