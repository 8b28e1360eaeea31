"""Metric snapshots: stored per group on the metric's cadence, pruned by `keep`.

Pins: the first tick only plans; a snapshot exactly `keep` old stays and one a second
older goes; runs missed while nothing ticked make one late snapshot; a weekly cron
stays at 08:00 on Berlin's wall clock across the change to summer time (SQLite and
PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from runtime import snapshots
from runtime.clock import FakeClock, iso
from runtime.core import Runtime
from runtime.store import T_EVENT, T_SNAPSHOT, Store, py_json
from tests.runtime.small import small_bundle

HEAD = """kind: bundle
version: 1
name: snapshots
timezone: Europe/Berlin
roles: [rep]
users:
  li.wei: {roles: [rep]}
---
kind: form
version: 1
entity: visit
fields:
  district: {type: string, required: true}
  amount: {type: decimal}
---
kind: metric
version: 1
name: plain
entity: visit
measure: count
"""
DAILY = """kind: metric
version: 1
name: by_district
entity: visit
measure: count
group_by: [district]
snapshot: {every: 1d}
keep: 2d
"""
WEEKLY = """kind: metric
version: 1
name: total
entity: visit
measure: sum
of: amount
snapshot: {cron: "0 8 * * mon"}
"""


def runtime(store: Store, tmp: Path, metric: str, start: datetime) -> Runtime:
    bundle = small_bundle(tmp / "b", {"bundle.yaml": HEAD + "---\n" + metric})
    return Runtime(bundle, store, FakeClock(start), evidence_dir=tmp / "evidence")


def stored(store: Store) -> list[tuple[Any, ...]]:
    s = T_SNAPSHOT.c
    with store.read() as conn:
        rows = conn.execute(select(s.metric, s.group_key, s.at, s.value, s.count).order_by(s.id))
        return [tuple(r) for r in rows]


def test_daily_snapshots_per_group_and_keep_exactly_at_its_edge(
    store: Store, tmp_path: Path
) -> None:
    start = datetime(2026, 1, 5, 8, 0)  # 09:00 in Berlin (UTC naive in, as the runtime)
    rt = runtime(store, tmp_path, DAILY, start)
    rt.create("visit", {"district": "jj"}, actor="li.wei")
    rt.create("visit", {"district": "jj"}, actor="li.wei")
    rt.create("visit", {"district": "wh"}, actor="li.wei")
    assert rt.tick(start).snapshots == {}  # the first tick plans the first snapshot
    day = timedelta(days=1)
    assert rt.tick(start + day - timedelta(seconds=1)).snapshots == {}
    assert rt.tick(start + day).snapshots == {"by_district": 2}
    assert stored(store) == [
        ("by_district", '["jj"]', start + day, 2.0, 2),
        ("by_district", '["wh"]', start + day, 1.0, 1),
    ]
    rt.tick(start + 2 * day)
    rt.tick(start + 3 * day)
    assert [r[2] for r in stored(store)][::2] == [start + d * day for d in (1, 2, 3)]
    # at day 3 the day-1 snapshot is exactly keep (2d) old: it stays
    rt.tick(start + 4 * day + timedelta(seconds=1))  # one second late: day 2 is now too old
    assert [r[2] for r in stored(store)][::2] == [
        start + 3 * day,
        start + 4 * day + timedelta(seconds=1),
    ]


def test_snapshots_missed_while_nothing_ticked_are_taken_once_late(
    store: Store, tmp_path: Path
) -> None:
    start = datetime(2026, 1, 5, 8, 0)
    rt = runtime(store, tmp_path, DAILY.replace("keep: 2d\n", ""), start)
    rt.create("visit", {"district": "jj"}, actor="li.wei")
    rt.tick(start)
    late = start + timedelta(days=3, hours=5)
    assert rt.tick(late).snapshots == {"by_district": 1}
    assert rt.tick(late + timedelta(hours=23, minutes=59)).snapshots == {}
    assert rt.tick(late + timedelta(days=1)).snapshots == {"by_district": 1}
    assert [r[2] for r in stored(store)] == [late, late + timedelta(days=1)]


def test_a_weekly_cron_snapshot_stays_at_8_berlin_time_across_summer_time(
    store: Store, tmp_path: Path
) -> None:
    start = datetime(2026, 3, 20, 12, 0)
    rt = runtime(store, tmp_path, WEEKLY, start)
    rt.create("visit", {"district": "jj", "amount": 12.5}, actor="li.wei")
    rt.tick(start)
    winter = datetime(2026, 3, 23, 7, 0)  # Monday 08:00 CET (+01:00)
    summer = datetime(2026, 3, 30, 6, 0)  # Monday 08:00 CEST (+02:00), after 29 March
    assert rt.tick(winter - timedelta(minutes=1)).snapshots == {}
    assert rt.tick(winter).snapshots == {"total": 1}
    assert rt.tick(summer - timedelta(minutes=1)).snapshots == {}
    assert rt.tick(summer).snapshots == {"total": 1}
    assert stored(store) == [("total", "[]", winter, 12.5, 1), ("total", "[]", summer, 12.5, 1)]


def test_a_metric_without_snapshot_stores_nothing(store: Store, tmp_path: Path) -> None:
    start = datetime(2026, 1, 5, 8, 0)
    rt = runtime(store, tmp_path, DAILY, start)
    rt.create("visit", {"district": "jj"}, actor="li.wei")
    rt.tick(start)
    rt.tick(start + timedelta(days=1))
    assert {r[0] for r in stored(store)} == {"by_district"}  # `plain` has no snapshot


def test_a_longest_metric_name_and_a_long_group_value_still_store(
    store: Store, tmp_path: Path
) -> None:
    name = "m" * 64
    metric = DAILY.replace("name: by_district", f"name: {name}").replace("keep: 2d\n", "")
    start = datetime(2026, 1, 5, 8, 0)
    rt = runtime(store, tmp_path, metric, start)
    long = "d" * 600
    rt.create("visit", {"district": long}, actor="li.wei")
    rt.tick(start)
    assert rt.tick(start + timedelta(days=1)).snapshots == {name: 1}
    [(metric_name, key, *_)] = stored(store)
    assert metric_name == name and key.startswith("#") and len(key) == 65
    with store.read() as conn:
        page = snapshots.query(
            conn,
            rt.bundle.metrics[name],
            since=None,
            until=None,
            group=[long],
            limit=10,
            after=None,
        )
    assert [i["groups"] for i in page.items] == [{"district": long}]


SECOND = """kind: metric
version: 1
name: zz_total
entity: visit
measure: count
snapshot: {every: 1d}
---
kind: notification
version: 1
name: ran
subject: "{{ schedule.name }}"
body: "{{ schedule.due }}"
---
kind: schedule
version: 1
name: daily
every: 1d
actions:
  - notify: {to: "user:li.wei", template: ran}
"""


def test_a_failing_snapshot_is_undone_alone_and_recorded(
    store: Store, tmp_path: Path, monkeypatch: Any
) -> None:
    """One metric's snapshot fails (after writing its rows): only it is undone; the other
    snapshot and the schedule of the same tick run, the failure is an event and counted."""
    start = datetime(2026, 1, 5, 8, 0)
    rt = runtime(store, tmp_path, DAILY + "---\n" + SECOND, start)
    rt.create("visit", {"district": "jj"}, actor="li.wei")
    rt.tick(start)  # plans the first runs
    real = snapshots.take

    def fails(conn: Any, bundle: Any, spec: Any, now: datetime) -> int:
        stored_rows = real(conn, bundle, spec, now)
        if spec.name == "by_district":
            raise ValueError("cannot measure 'district'")
        return stored_rows

    monkeypatch.setattr(snapshots, "take", fails)
    day = start + timedelta(days=1)
    report = rt.tick(day)
    assert report.snapshots == {"zz_total": 1}
    assert report.failed_snapshots == ["by_district"] and report.failed == 1
    assert report.schedules == ["daily"]
    assert stored(store) == [("zz_total", "[]", day, 1.0, 1)]
    with store.read() as conn:
        rows = conn.execute(select(T_EVENT).where(T_EVENT.c.kind == "snapshot_failed")).all()
    assert [(r.entity, py_json(r.detail)) for r in rows] == [
        (
            None,
            {
                "metric": "by_district",
                "due": iso(day),
                "error": "cannot measure 'district'",
            },
        )
    ]
    monkeypatch.undo()  # the next one is due as usual (not retried on every tick)
    assert rt.tick(day + timedelta(hours=1)).snapshots == {}
    assert rt.tick(day + timedelta(days=1)).snapshots == {"by_district": 1, "zz_total": 1}
