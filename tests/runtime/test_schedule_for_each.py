"""Per-item schedules (`for_each`): one run, the actions once per group, row or user.

Pins: the items a `where` keeps exactly at its boundary, each item's names bound, one
failing item undone alone while the others run, the run's item counts, and outbox keys
that a retried run writes again rather than twice (SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from runtime import for_each
from runtime.core import Runtime
from runtime.for_each import run_items
from runtime.store import T_DECISION, T_EVENT, T_OUTBOX, T_RECORD, Store
from tests.runtime.helpers import count, make_runtime
from tests.runtime.small import small_bundle

START = datetime(2026, 1, 5, 9, 0)
HEAD = """kind: bundle
version: 1
name: per-item
timezone: UTC
roles: [rep, manager]
user_fields:
  region: {type: string}
users:
  li.wei: {name: Li Wei, roles: [rep], region: east}
  zhao.lei: {name: Zhao Lei, roles: [rep], region: west}
  qian.yu: {name: Qian Yu, roles: [manager]}
  sun.mei: {name: Sun Mei, roles: [rep], region: north, active: false}
---
kind: form
version: 1
entity: visit
fields:
  district: {type: string, required: true}
---
kind: form
version: 1
entity: note
fields:
  about: {type: string, required: true}
  n: {type: decimal, min: 0}
---
kind: table
version: 1
name: districts
key: [code]
columns: {code: string, target: integer}
rows:
  - {code: jj, target: 2}
  - {code: wh, target: 0}
  - {code: qy, target: 5}
---
kind: metric
version: 1
name: visits_by_district
entity: visit
measure: count
group_by: [district]
---
kind: notification
version: 1
name: figure
subject: "{{ group }} {{ value }}"
body: "-"
"""


def runtime(store: Store, tmp: Path, schedule: str) -> Runtime:
    bundle = small_bundle(tmp / "b", {"bundle.yaml": HEAD + "---\n" + schedule})
    rt = make_runtime(store, tmp, bundle)
    rt.clock.set(START)  # type: ignore[attr-defined]
    rt.tick(START)  # plans the first run
    return rt


def notes(store: Store) -> list[tuple[Any, Any]]:
    with store.read() as conn:
        rows = conn.execute(select(T_RECORD.c.data).where(T_RECORD.c.entity == "note")).all()
    return sorted((r.data["about"], r.data.get("n")) for r in rows)


def ran_events(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(
            select(T_EVENT.c.detail).where(T_EVENT.c.kind == "schedule_ran").order_by(T_EVENT.c.id)
        ).all()
    return [dict(r.detail) for r in rows]


def test_a_metric_item_binds_group_and_value_and_where_keeps_exactly_the_boundary(
    store: Store, tmp_path: Path
) -> None:
    rt = runtime(
        store,
        tmp_path,
        """kind: schedule
version: 1
name: figures
every: 1h
for_each: {metric: visits_by_district, where: "value >= 2"}
actions:
  - create_record: {entity: note, data: {about: "group", n: "value"}}
""",
    )
    for district in ("jj", "jj", "wh", "qy", "qy", "qy"):
        rt.create("visit", {"district": district}, actor="li.wei")
    report = rt.tick(START + timedelta(hours=1))
    assert report.items == {"figures": (2, 0)}
    assert notes(store) == [("jj", 2), ("qy", 3)]  # wh (1) is below; jj (2) exactly at it
    assert ran_events(store)[-1]["items"] == {"total": 3, "ran": 2, "filtered": 1, "failed": 0}


def test_one_failing_item_is_undone_alone_and_the_run_counts_it(
    store: Store, tmp_path: Path
) -> None:
    rt = runtime(
        store,
        tmp_path,
        """kind: schedule
version: 1
name: targets
every: 1h
for_each: {table: districts}
actions:
  - create_record: {entity: note, data: {about: "row.code", n: "row.target - 1"}}
  - create_record: {entity: note, data: {about: "'after ' + row.code"}}
""",
    )
    report = rt.tick(START + timedelta(hours=1))
    assert report.items == {"targets": (2, 1)} and report.failed == 1
    assert report.schedules == ["targets"] and report.failed_schedules == []
    # wh (target 0 -> n = -1) fails on its first action; its second is undone with it
    assert notes(store) == [("after jj", None), ("after qy", None), ("jj", 1), ("qy", 4)]
    with store.read() as conn:
        failed = conn.execute(
            select(T_EVENT.c.detail).where(T_EVENT.c.kind == "schedule_item_failed")
        ).all()
    assert [(f.detail["item"], f.detail["schedule"]) for f in failed] == [('["wh"]', "targets")]
    assert "invalid note" in failed[0].detail["error"]
    assert ran_events(store)[-1]["items"] == {"total": 3, "ran": 2, "filtered": 0, "failed": 1}


def test_a_where_that_cannot_be_evaluated_fails_that_item_only(
    store: Store, tmp_path: Path
) -> None:
    rt = runtime(
        store,
        tmp_path,
        """kind: schedule
version: 1
name: ratio
every: 1h
for_each: {table: districts, where: "'x' * (row.target * 30000) != 'y'"}
actions:
  - create_record: {entity: note, data: {about: "row.code"}}
""",
    )
    report = rt.tick(START + timedelta(hours=1))
    assert report.items == {"ratio": (2, 1)}  # qy: 150000 characters is too long
    assert notes(store) == [("jj", None), ("wh", None)]
    with store.read() as conn:
        kept = conn.execute(select(T_DECISION.c.rule, T_DECISION.c.detail)).all()
    failed = [(d.rule, d.detail["field"], d.detail["item"]) for d in kept if d.detail.get("item")]
    assert failed == [("schedule ratio", "for_each.where", '["qy"]')]


def test_users_items_are_the_active_holders_of_the_role_with_their_attributes(
    store: Store, tmp_path: Path
) -> None:
    rt = runtime(
        store,
        tmp_path,
        """kind: schedule
version: 1
name: reps
every: 1h
for_each: {users: {role: rep}, where: "user.region != 'west'"}
actions:
  - create_record: {entity: note, data: {about: "user.id + '@' + user.region"}}
""",
    )
    report = rt.tick(START + timedelta(hours=1))
    assert report.items == {"reps": (1, 0)}
    assert notes(store) == [("li.wei@east", None)]  # zhao.lei filtered, sun.mei inactive


def test_a_retried_run_writes_the_same_outbox_keys_once(store: Store, tmp_path: Path) -> None:
    rt = runtime(
        store,
        tmp_path,
        """kind: schedule
version: 1
name: figures
every: 1h
for_each: {metric: visits_by_district}
actions:
  - notify: {to: "role:manager", template: figure}
  - notify: {to: "role:manager", template: figure}
""",
    )
    rt.create("visit", {"district": "jj"}, actor="li.wei")
    rt.create("visit", {"district": "qy"}, actor="li.wei")
    due = START + timedelta(hours=1)
    rt.tick(due)
    assert count(store, T_OUTBOX) == 4  # 2 items x 2 notifications, each its own key
    spec = rt.bundle.schedules["figures"]
    with rt.unit(None, due) as unit:  # the same run again (a retry): nothing new queued
        counts = run_items(rt, unit, spec, due, {"schedule": {"name": "figures"}})
    assert counts["ran"] == 2
    assert count(store, T_OUTBOX) == 4
    with rt.unit(None, due) as unit:  # the next run (another due time) queues its own
        run_items(rt, unit, spec, due + timedelta(hours=1), {"schedule": {"name": "figures"}})
    assert count(store, T_OUTBOX) == 8


def test_items_that_cannot_be_listed_fail_the_run_once_and_the_next_is_planned(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = runtime(
        store,
        tmp_path,
        """kind: schedule
version: 1
name: figures
every: 1h
for_each: {metric: visits_by_district}
actions:
  - notify: {to: "role:manager", template: figure}
""",
    )

    def broken(*_: Any) -> Any:
        raise RuntimeError("the metric cannot be computed")

    monkeypatch.setattr(for_each, "items", broken)
    report = rt.tick(START + timedelta(hours=1))
    assert report.failed_schedules == ["figures"] and report.items == {}
    assert rt.tick(START + timedelta(hours=1, minutes=30)).failed_schedules == []
    with store.read() as conn:
        failed = conn.execute(
            select(T_EVENT.c.detail).where(T_EVENT.c.kind == "schedule_failed")
        ).all()
    assert [f.detail["error"] for f in failed] == ["the metric cannot be computed"]
