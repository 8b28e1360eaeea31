"""`suggest` attaches its rows to the record: a `suggest` outbox entry with its title."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from engine.compiler.pipeline import compile_bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import T_OUTBOX, Store

BUNDLE = """kind: bundle
version: 1
name: suggest
timezone: UTC
roles: [rep]
users:
  li.wei: {roles: [rep]}
tables:
  answers:
    key: [id]
    columns: {id: string, kw: string}
    rows:
      - {id: a1, kw: invoice}
      - {id: a2, kw: other}
      - {id: a3, kw: invoice}
      - {id: a4, kw: invoice}
---
kind: form
version: 1
entity: ticket
fields:
  kw: {type: string}
---
kind: workflow
version: 1
name: flow
entity: ticket
stages:
  - id: new
    on_enter:
      - suggest: {table: answers, where: "row.kw == kw", limit: 2, title: Standard answers}
"""


def test_suggested_rows_are_queued_with_their_title(store: Store, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bundle.yaml").write_text(BUNDLE)
    bundle = compile_bundle(tmp_path / "b").bundle
    assert bundle is not None
    rt = Runtime(bundle, store, FakeClock(), evidence_dir=tmp_path / "ev")
    record = rt.create("ticket", {"kw": "invoice"}, actor="li.wei")
    with store.read() as conn:
        rows = conn.execute(select(T_OUTBOX).where(T_OUTBOX.c.action == "suggest")).all()
    assert [(r.record_id, r.channel) for r in rows] == [(record.id, "log")]
    assert rows[0].payload == {
        "table": "answers",
        "title": "Standard answers",
        "rows": [{"id": "a1", "kw": "invoice"}, {"id": "a3", "kw": "invoice"}],
    }
