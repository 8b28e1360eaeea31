"""The tick at its edges: batch fallback, the late grace, batch sizes, metric checks (issue 15)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from runtime import load, ticking, timers
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import T_TIMER, Store

BUNDLE = """kind: bundle
version: 1
name: tick-edges
timezone: UTC
roles: [rep]
users:
  li.wei: {roles: [rep]}
---
kind: form
version: 1
entity: deal
fields:
  stock: {type: integer}
---
kind: notification
version: 1
name: ping
subject: ping
body: ping
---
kind: workflow
version: 1
name: flow
entity: deal
stages:
  - id: only
    sla:
      within: 1h
      missed: mark_late
      on_breach:
        - notify: {to: owner, template: ping}
---
kind: alert
version: 1
name: low
entity: deal
when: "stock < 10"
for: 1h
"""

START = datetime(2026, 1, 5, 9, 0)
DUE = START + timedelta(hours=1)


METRIC = """
---
kind: metric
version: 1
name: avg_stock
entity: deal
measure: avg
of: stock
---
kind: alert
version: 1
name: thin
metric: avg_stock
when: "value < 20"
resolve_when: "value >= 30"
for: 1h
severity: high
"""


def _bundle(tmp: Path, extra: str = "") -> Bundle:
    (tmp / "b").mkdir()
    (tmp / "b" / "bundle.yaml").write_text(BUNDLE + extra)
    result = compile_bundle(tmp / "b")
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return result.bundle


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Runtime:
    return Runtime(_bundle(tmp_path), store, FakeClock(START), evidence_dir=tmp_path / "ev")


def _timers(store: Store) -> list[tuple[str, str | None, bool, str | None]]:
    with store.read() as conn:
        rows = conn.execute(select(T_TIMER).order_by(T_TIMER.c.id)).all()
    return [(r.kind, r.record_id, r.fired, r.claimed_by) for r in rows]


def _details(rt: Runtime, record_id: str, kind: str) -> list[dict[str, Any]]:
    return [e["detail"] for e in rt.events(record_id) if e["kind"] == kind]


def test_one_failing_timer_costs_only_itself_and_is_recorded(
    rt: Runtime, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = rt.create("deal", {"stock": 50}, actor="li.wei")
    second = rt.create("deal", {"stock": 50}, actor="li.wei")
    a = rt.create("deal", {"stock": 1}, actor="li.wei")
    b = rt.create("deal", {"stock": 2}, actor="li.wei")
    with store.begin(START) as tx:
        timers.add(tx, load.WINDOW, START, record_id="boom")
    seen: list[str | None] = []

    def window_ended(unit: Any, record_id: str | None) -> None:
        seen.append(record_id)
        if record_id == "boom":
            raise RuntimeError("broken window")

    monkeypatch.setattr(load, "window_ended", window_ended)
    rt.clock.set(DUE)
    report = rt.tick(DUE)
    # The batch failed on "boom" and was undone; each timer then ran once on its own.
    assert seen == ["boom", "boom"]
    assert (report.timers, report.failed, report.late) == (7, 1, 0)
    assert report.alerts == {"firing": 2}  # not counted twice by the undone batch
    assert _timers(store) == [
        ("sla_breach", first.id, True, "runtime"),
        ("sla_breach", second.id, True, "runtime"),
        ("sla_breach", a.id, True, "runtime"),
        ("alert_for", a.id, True, "runtime"),
        ("sla_breach", b.id, True, "runtime"),
        ("alert_for", b.id, True, "runtime"),
        (load.WINDOW, "boom", True, "failed:runtime"),
    ]
    # Events of the undone batch are gone: one breach and one firing per record.
    assert len(_details(rt, a.id, "sla_breached")) == 1
    assert [x["rule"] for x in _details(rt, a.id, "alert_fired")] == ["low"]
    assert [x["state"] for x in rt.alerts(rule="low")] == ["firing", "firing"]
    # Fired and failed timers are not retried.
    assert rt.tick(DUE + timedelta(minutes=1)).timers == 0


def test_a_timer_exactly_at_the_grace_is_on_time_and_a_second_later_is_late(
    rt: Runtime,
) -> None:
    late = rt.create("deal", {"stock": 50}, actor="li.wei")  # breach due 10:00:00
    rt.clock.set(START + timedelta(seconds=1))
    on_time = rt.create("deal", {"stock": 50}, actor="li.wei")  # breach due 10:00:01
    edge = DUE + timedelta(seconds=1) + rt.late_grace  # exactly the grace after 10:00:01
    rt.clock.set(edge)
    report = rt.tick(edge)
    assert (report.timers, report.late) == (2, 1)
    assert _details(rt, on_time.id, "sla_breached") == [
        {"stage": "only", "due": "2026-01-05T10:00:01+00:00", "late": False, "policy": None}
    ]
    assert _details(rt, late.id, "sla_breached") == [
        {"stage": "only", "due": "2026-01-05T10:00:00+00:00", "late": True, "policy": "mark_late"}
    ]


def test_late_is_strictly_past_the_grace() -> None:
    grace = timedelta(minutes=5)
    assert timers.late(DUE, DUE + grace, grace) is False
    assert timers.late(DUE, DUE + grace + timedelta(microseconds=1), grace) is True
    assert timers.late(DUE, DUE, timedelta(0)) is False


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_more_due_timers_than_a_batch_all_fire_in_one_tick(
    store: Store, tmp_path: Path, batch: int
) -> None:
    rt = Runtime(_bundle(tmp_path), store, FakeClock(START), evidence_dir=tmp_path / "ev")
    made = [rt.create("deal", {"stock": k}, actor="li.wei") for k in range(5)]
    rt.clock.set(DUE)
    report = rt.tick(DUE, batch=batch)
    assert (report.timers, report.failed, report.late) == (10, 0, 0)
    assert report.alerts == {"firing": 5}
    assert [f for _, _, f, _ in _timers(store)] == [True] * 10
    assert sorted(x["record_id"] for x in rt.alerts(state="firing")) == sorted(m.id for m in made)


def test_metric_alerts_are_checked_every_metric_alert_every(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert timedelta(minutes=1) == ticking.METRIC_ALERT_EVERY
    checked: list[datetime] = []
    monkeypatch.setattr(rt, "_metric_alerts", lambda now, report: checked.append(now))
    step = ticking.METRIC_ALERT_EVERY
    rt.tick(START)
    rt.tick(START + step - timedelta(seconds=1))
    rt.tick(START + step)
    rt.tick(START + 2 * step - timedelta(microseconds=1))
    rt.tick(START + 2 * step)
    assert checked == [START, START + step, START + 2 * step]


def test_a_metric_alert_goes_pending_fires_at_for_and_resolves_past_its_band(
    store: Store, tmp_path: Path
) -> None:
    rt = Runtime(_bundle(tmp_path, METRIC), store, FakeClock(START), evidence_dir=tmp_path / "ev")
    deal = rt.create("deal", {"stock": 10}, actor="li.wei")
    assert rt.tick(START).alerts == {"pending": 1}
    [alert] = rt.alerts(rule="thin")
    assert {k: alert[k] for k in ("dedup_key", "record_id", "state", "severity", "values")} == {
        "dedup_key": "thin:all",
        "record_id": None,
        "state": "pending",
        "severity": "high",
        "values": {"value": 10.0, "avg_stock": 10.0, "count": 1},
    }
    rt.update(deal.id, {"stock": 25}, actor="li.wei")  # between when and resolve_when
    rt.clock.set(DUE)
    # The `for:` timer finds the group but `when` no longer holds: cancelled.
    assert rt.tick(DUE).alerts == {"cancelled": 1}
    rt.update(deal.id, {"stock": 12}, actor="li.wei")
    later = DUE + ticking.METRIC_ALERT_EVERY
    rt.clock.set(later)
    assert rt.tick(later).alerts == {"pending": 1}
    fire = later + timedelta(hours=1)
    rt.clock.set(fire)
    report = rt.tick(fire)
    assert report.alerts == {"firing": 1}
    [firing, cancelled] = rt.alerts(rule="thin")
    assert (firing["state"], firing["fired_at"]) == ("firing", "2026-01-05T11:01:00+00:00")
    assert firing["values"] == {"value": 12.0, "avg_stock": 12.0, "count": 1}
    assert (cancelled["state"], cancelled["fired_at"]) == ("resolved", None)
    rt.update(deal.id, {"stock": 29}, actor="li.wei")
    step = fire + ticking.METRIC_ALERT_EVERY
    rt.clock.set(step)
    assert rt.tick(step).alerts == {}  # inside the band: still firing
    rt.update(deal.id, {"stock": 30}, actor="li.wei")
    step += ticking.METRIC_ALERT_EVERY
    rt.clock.set(step)
    assert rt.tick(step).alerts == {"resolved": 1}
    assert [a["state"] for a in rt.alerts(rule="thin")] == ["resolved", "resolved"]


def test_due_timers_fire_oldest_first_whatever_their_insertion_order(
    rt: Runtime, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.begin(START) as tx:
        timers.add(tx, load.WINDOW, START + timedelta(minutes=2), record_id="late")
        timers.add(tx, load.WINDOW, START + timedelta(minutes=1), record_id="early")
        timers.add(tx, load.WINDOW, START + timedelta(minutes=1), record_id="tie")
        timers.add(tx, load.WINDOW, START + timedelta(minutes=3), record_id="not-yet")
    seen: list[str | None] = []
    monkeypatch.setattr(load, "window_ended", lambda unit, record_id: seen.append(record_id))
    now = START + timedelta(minutes=2)
    rt.clock.set(now)
    assert rt.tick(now, batch=1).timers == 3
    assert seen == ["early", "tie", "late"]
