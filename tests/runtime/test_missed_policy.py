"""`missed: skip` skips a late SLA timer or schedule run silently; `mark_late` records it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import T_EVENT, T_SCHEDULE, Store

BUNDLE = """kind: bundle
version: 1
name: missed
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
      missed: POLICY
      on_breach:
        - notify: {to: owner, template: ping}
---
kind: schedule
version: 1
name: hourly
every: 1h
missed: POLICY
actions:
  - notify: {to: "user:li.wei", template: ping}
"""


def _bundle(tmp: Path, policy: str) -> Bundle:
    root = tmp / policy
    root.mkdir()
    (root / "bundle.yaml").write_text(BUNDLE.replace("POLICY", policy))
    result = compile_bundle(root)
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return result.bundle


@pytest.mark.parametrize(("policy", "events", "missed"), [("mark_late", 1, 1), ("skip", 0, 0)])
def test_a_late_breach_and_run_are_recorded_only_by_mark_late(
    store: Store, tmp_path: Path, policy: str, events: int, missed: int
) -> None:
    start = datetime(2026, 1, 5, 9, 0)
    clock = FakeClock(start)
    rt = Runtime(_bundle(tmp_path, policy), store, clock, evidence_dir=tmp_path / "ev")
    rt.tick(start)  # registers the schedule: due at 10:00
    record = rt.create("deal", {"name": "D"}, actor="li.wei")
    late = start + timedelta(hours=3)  # the breach (10:00) and the run (10:00) are 2h late
    clock.set(late)
    report = rt.tick(late)
    assert report.late == 1
    assert report.schedules == []
    with store.read() as conn:
        kinds = [
            r.kind
            for r in conn.execute(select(T_EVENT).where(T_EVENT.c.record_id == record.id)).all()
        ]
        row = conn.execute(select(T_SCHEDULE).where(T_SCHEDULE.c.name == "hourly")).one()
    assert kinds.count("sla_breached") == events
    assert (row.runs, row.missed) == (0, missed)
