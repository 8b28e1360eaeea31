"""A schedule run whose actions fail is given up and recorded; the other schedules run."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from engine.compiler.pipeline import compile_bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import T_EVENT, T_SCHEDULE, Store

BUNDLE = """kind: bundle
version: 1
name: failing
timezone: UTC
roles: [rep]
users:
  li.wei: {roles: [rep]}
---
kind: form
version: 1
entity: job
fields:
  n: {type: integer, required: true}
---
kind: notification
version: 1
name: ping
subject: ping
body: ping
---
kind: schedule
version: 1
name: a_broken
every: 1h
actions:
  - create_record: {entity: job, data: {}}
---
kind: schedule
version: 1
name: b_fine
every: 1h
actions:
  - notify: {to: "user:li.wei", template: ping}
"""


def test_a_failing_run_does_not_stop_the_others_nor_repeat(store: Store, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bundle.yaml").write_text(BUNDLE)
    bundle = compile_bundle(tmp_path / "b").bundle
    assert bundle is not None
    start = datetime(2026, 1, 5, 9, 0)
    clock = FakeClock(start)
    rt = Runtime(bundle, store, clock, evidence_dir=tmp_path / "ev")
    rt.tick(start)
    due = start + timedelta(hours=1)
    clock.set(due)
    report = rt.tick(due)
    assert (report.schedules, report.failed_schedules) == (["b_fine"], ["a_broken"])
    again = rt.tick(due + timedelta(minutes=30))
    assert (again.schedules, again.failed_schedules) == ([], [])
    with store.read() as conn:
        rows = {r.name: r for r in conn.execute(select(T_SCHEDULE)).all()}
        failed = conn.execute(select(T_EVENT).where(T_EVENT.c.kind == "schedule_failed")).all()
    assert rows["a_broken"].runs == 1  # it ran, and failed (the failed event says so)
    assert rows["a_broken"].next_due_at == due + timedelta(hours=1)
    assert [e.detail["schedule"] for e in failed] == ["a_broken"]
