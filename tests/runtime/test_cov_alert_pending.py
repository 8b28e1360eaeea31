"""A pending alert whose condition stops holding is cancelled, before or when its `for:` ends."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.compiler.pipeline import compile_bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import T_ALERT, T_EVENT, Store

BUNDLE = """kind: bundle
version: 1
name: alert-pending
timezone: UTC
roles: [rep]
users:
  li.wei: {roles: [rep]}
---
kind: form
version: 1
entity: item
fields:
  stock: {type: integer}
  watch_until: {type: datetime}
  flagged: {type: boolean, default: false}
---
kind: alert
version: 1
name: low
entity: item
when: "stock < 10 and now < watch_until"
for: 1h
actions:
  - set: {fields: {flagged: "True"}}
"""

START = datetime(2026, 1, 5, 9, 0)


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Runtime:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bundle.yaml").write_text(BUNDLE)
    bundle = compile_bundle(tmp_path / "b").bundle
    assert bundle is not None
    return Runtime(bundle, store, FakeClock(START), evidence_dir=tmp_path / "ev")


def _alerts(store: Store) -> list[tuple[str, bool, bool]]:
    with store.read() as conn:
        rows = conn.execute(select(T_ALERT).order_by(T_ALERT.c.id)).all()
    return [(r.state, r.fired_at is not None, r.resolved_at is not None) for r in rows]


def _events(store: Store, record_id: str) -> list[str]:
    with store.read() as conn:
        rows = conn.execute(
            select(T_EVENT.c.kind)
            .where(T_EVENT.c.record_id == record_id, T_EVENT.c.kind.like("alert_%"))
            .order_by(T_EVENT.c.id)
        ).all()
    return [r.kind for r in rows]


def test_a_pending_alert_is_cancelled_by_an_update_and_its_timer_then_does_nothing(
    rt: Runtime, store: Store
) -> None:
    item = rt.create("item", {"stock": 3, "watch_until": "2026-01-06T00:00:00Z"}, actor="li.wei")
    assert _alerts(store) == [("pending", False, False)]
    rt.clock.set(START + timedelta(minutes=30))  # type: ignore[attr-defined]
    rt.update(item.id, {"stock": 20}, actor="li.wei", expected_version=item.row_version)
    assert _alerts(store) == [("resolved", False, True)]
    due = START + timedelta(hours=1)
    report = rt.tick(due)
    assert report.timers == 1 and report.alerts == {}
    assert _events(store, item.id) == ["alert_pending", "alert_cancelled"]
    assert rt.get(item.id).data["flagged"] is False


def test_a_pending_alert_whose_condition_lapsed_by_its_timer_is_cancelled_not_fired(
    rt: Runtime, store: Store
) -> None:
    # Still low on stock at 10:00, but the watch ended at 09:30: `when` no longer holds.
    item = rt.create("item", {"stock": 3, "watch_until": "2026-01-05T09:30:00Z"}, actor="li.wei")
    assert _alerts(store) == [("pending", False, False)]
    report = rt.tick(START + timedelta(hours=1))
    assert report.alerts == {"cancelled": 1}
    assert _alerts(store) == [("resolved", False, True)]
    assert _events(store, item.id) == ["alert_pending", "alert_cancelled"]
    assert rt.get(item.id).data["flagged"] is False


def test_a_pending_alert_that_still_holds_fires_exactly_when_for_ends(
    rt: Runtime, store: Store
) -> None:
    item = rt.create("item", {"stock": 3, "watch_until": "2026-01-06T00:00:00Z"}, actor="li.wei")
    early = rt.tick(START + timedelta(minutes=59, seconds=59))
    assert (early.timers, early.alerts) == (0, {})
    report = rt.tick(START + timedelta(hours=1))
    assert report.alerts == {"firing": 1}
    assert _alerts(store) == [("firing", True, False)]
    assert _events(store, item.id) == ["alert_pending", "alert_fired"]
    assert rt.get(item.id).data["flagged"] is True
