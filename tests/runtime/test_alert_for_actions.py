"""An entity alert that fires when its `for:` runs out keeps what its actions changed."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from engine.compiler.pipeline import compile_bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import Store

BUNDLE = """kind: bundle
version: 1
name: alert-for
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
  stock: {type: integer}
  flagged: {type: boolean, default: false}
---
kind: alert
version: 1
name: low
entity: item
when: "stock < 10"
for: 1h
actions:
  - set: {fields: {flagged: "True"}}
  - assign: {user: wang.fang}
"""


def test_set_and_assign_of_a_for_alert_are_saved(store: Store, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bundle.yaml").write_text(BUNDLE)
    bundle = compile_bundle(tmp_path / "b").bundle
    assert bundle is not None
    start = datetime(2026, 1, 5, 9, 0)
    clock = FakeClock(start)
    rt = Runtime(bundle, store, clock, evidence_dir=tmp_path / "ev")
    record = rt.create("item", {"stock": 3}, actor="li.wei")
    assert (record.data["flagged"], record.owner) == (False, "li.wei")
    due = start + timedelta(hours=1)
    clock.set(due)
    assert rt.tick(due).alerts == {"firing": 1}
    after = rt.get(record.id)
    assert (after.data["flagged"], after.owner) == (True, "wang.fang")
