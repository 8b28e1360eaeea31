"""The tick's per-timer fallback after a failed batch, and cron `next_run` at its edges."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import runtime.ticking as ticking
from engine.compiler.pipeline import compile_bundle
from engine.spec import ScheduleSpec
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.schedules import next_run
from runtime.store import T_EVENT, T_TIMER, Store

BUNDLE = """kind: bundle
version: 1
name: fallback
timezone: UTC
roles: [rep]
users:
  li.wei: {roles: [rep]}
---
kind: form
version: 1
entity: deal
fields:
  name: {type: string}
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
      missed: run_late
      on_breach:
        - notify: {to: "user:li.wei", template: ping}
"""


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Runtime:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bundle.yaml").write_text(BUNDLE)
    bundle = compile_bundle(tmp_path / "b").bundle
    assert bundle is not None
    start = datetime(2026, 1, 5, 9, 0)
    return Runtime(bundle, store, FakeClock(start), evidence_dir=tmp_path / "ev", worker_id="w1")


def _breaches(store: Store) -> dict[str, int]:
    with store.read() as conn:
        rows = conn.execute(select(T_EVENT).where(T_EVENT.c.kind == "sla_breached")).all()
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.record_id] = counts.get(row.record_id, 0) + 1
    return counts


def _claims(store: Store) -> dict[str, tuple[bool, str | None]]:
    with store.read() as conn:
        rows = conn.execute(select(T_TIMER).where(T_TIMER.c.kind == "sla_breach")).all()
    return {row.record_id: (row.fired, row.claimed_by) for row in rows}


@pytest.mark.parametrize("batch", [500, 2])
def test_one_failing_timer_undoes_the_batch_then_costs_only_itself(
    rt: Runtime, store: Store, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    first, second, third = (rt.create("deal", {"name": n}, actor="li.wei") for n in "ABC")
    real = ticking.run_actions
    calls: list[str] = []

    def failing_for_second(ops: Any, unit: Any, actions: Any, work: Any, *rest: Any) -> Any:
        calls.append(work.id)
        if work.id == second.id:
            raise RuntimeError("the notification server is down")
        return real(ops, unit, actions, work, *rest)

    monkeypatch.setattr(ticking, "run_actions", failing_for_second)
    late = datetime(2026, 1, 5, 12, 0)  # every breach (10:00) is 2 h late: run_late runs it
    report = rt.tick(late, batch=batch)
    assert (report.timers, report.failed) == (3, 1)
    # The batch's work was undone before the fallback redid it timer by timer: the late count
    # is not doubled and the first record's breach is recorded once, not twice.
    assert report.late == 3
    assert _breaches(store) == {first.id: 1, third.id: 1}
    assert _claims(store) == {
        first.id: (True, "w1"),
        second.id: (True, "failed:w1"),
        third.id: (True, "w1"),
    }
    assert calls.count(second.id) == 2  # tried in its batch, then once alone; never again
    again = rt.tick(late + timedelta(minutes=1), batch=batch)
    assert (again.timers, again.failed, again.late) == (0, 0, 0)
    assert calls.count(second.id) == 2


def test_a_batch_without_failure_marks_every_timer_fired_by_the_worker(
    rt: Runtime, store: Store
) -> None:
    deals = [rt.create("deal", {"name": n}, actor="li.wei") for n in "AB"]
    report = rt.tick(datetime(2026, 1, 5, 10, 0))  # exactly at the breach: on time
    assert (report.timers, report.failed, report.late) == (2, 0, 0)
    assert _claims(store) == {d.id: (True, "w1") for d in deals}
    assert _breaches(store) == {d.id: 1 for d in deals}


def cron(expression: str) -> ScheduleSpec:
    return ScheduleSpec.model_validate(
        {
            "kind": "schedule",
            "version": 1,
            "name": "c",
            "cron": expression,
            "actions": [{"notify": {"to": "role:rep", "template": "ping"}}],
        }
    )


def every(duration: str) -> ScheduleSpec:
    return ScheduleSpec.model_validate(
        {
            "kind": "schedule",
            "version": 1,
            "name": "e",
            "every": duration,
            "actions": [{"notify": {"to": "role:rep", "template": "ping"}}],
        }
    )


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # Exactly at a fire time: the next one, never the same instant again.
        ("0 9 * * *", datetime(2026, 1, 5, 9, 0), datetime(2026, 1, 6, 9, 0)),
        ("0 9 * * *", datetime(2026, 1, 5, 8, 59, 59), datetime(2026, 1, 5, 9, 0)),
        ("0 9 * * *", datetime(2026, 1, 5, 9, 0, 1), datetime(2026, 1, 6, 9, 0)),
        # 2026-01-05 is a Monday: the next Monday after Monday 09:00 is a week later.
        ("0 9 * * mon", datetime(2026, 1, 5, 9, 0), datetime(2026, 1, 12, 9, 0)),
        ("30 23 31 12 *", datetime(2026, 12, 31, 23, 30), datetime(2027, 12, 31, 23, 30)),
        ("*/15 * * * *", datetime(2026, 1, 5, 9, 14, 59), datetime(2026, 1, 5, 9, 15)),
    ],
)
def test_cron_next_run_in_utc(expression: str, after: datetime, expected: datetime) -> None:
    assert next_run(cron(expression), after, "UTC") == expected


def test_cron_next_run_reads_the_wall_clock_of_the_zone() -> None:
    spec = cron("0 9 * * *")
    # 09:00 in Shanghai (UTC+8, no DST) is 01:00 UTC.
    assert next_run(spec, datetime(2026, 1, 5, 0, 0), "Asia/Shanghai") == datetime(2026, 1, 5, 1)
    assert next_run(spec, datetime(2026, 1, 5, 1, 0), "Asia/Shanghai") == datetime(2026, 1, 6, 1)
    # New York: 09:00 EST is 14:00 UTC; after the 2026-03-08 change 09:00 EDT is 13:00 UTC.
    ny = "America/New_York"
    assert next_run(spec, datetime(2026, 3, 7, 14, 0), ny) == datetime(2026, 3, 8, 13, 0)
    assert next_run(spec, datetime(2026, 11, 1, 0, 0), ny) == datetime(2026, 11, 1, 14, 0)


def test_cron_next_run_of_a_time_skipped_by_daylight_saving() -> None:
    # 02:30 does not exist in New York on 2026-03-08 (02:00 EST -> 03:00 EDT): the run moves
    # to 03:30 EDT (07:30 UTC) that day rather than being dropped; the day after, 02:30 EDT.
    ny = "America/New_York"
    assert next_run(cron("30 2 * * *"), datetime(2026, 3, 7, 8, 0), ny) == datetime(
        2026, 3, 8, 7, 30
    )
    assert next_run(cron("30 2 * * *"), datetime(2026, 3, 8, 7, 30), ny) == datetime(
        2026, 3, 9, 6, 30
    )


def test_every_next_run_adds_the_interval_to_the_instant() -> None:
    assert next_run(every("90m"), datetime(2026, 1, 5, 23, 0), "Asia/Shanghai") == datetime(
        2026, 1, 6, 0, 30
    )
