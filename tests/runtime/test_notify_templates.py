"""Notifications render per recipient with what the recipient may read, and a template
that goes past a bound sends nothing, stores nothing half-written and says why (issue 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.compiler.pipeline import compile_bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import T_EVENT, T_OUTBOX, T_RECORD, Store

BUNDLE = """kind: bundle
version: 1
name: notify-templates
timezone: UTC
roles: [rep, manager]
users:
  li.wei: {name: Li Wei, roles: [rep]}
  zhang.min: {name: Zhang Min, roles: [manager]}
---
kind: form
version: 1
entity: deal
fields:
  name: {type: string, required: true}
  amount: {type: decimal}
  credit_limit: {type: decimal, read: [manager]}
---
kind: alert
version: 1
name: over_limit
entity: deal
when: "amount > credit_limit"
dedup_key: "{{ name }}/{{ credit_limit }}"
actions:
  - notify: {to: [owner, "user:zhang.min"], template: over_limit}
  - notify: {to: "user:zhang.min", template: loops}
  - webhook: {url: "http://crm.invalid/{{ record.name | length }}", body: "{{ record.name }}"}
---
kind: notification
version: 1
name: over_limit
subject: "{{ record.name }}: {{ record.amount }} over [{{ record.credit_limit }}] {{ alert.key }}"
body: "limit [{{ alert.credit_limit }}] {{ 'credit_limit' in record }} {{ record | tojson }}"
---
kind: notification
version: 1
name: loops
subject: "loops"
body: >-
  {% for a in record.name %}{% for b in record.name %}{% for c in record.name %}
  {% endfor %}{% endfor %}{% endfor %}
"""


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Runtime:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bundle.yaml").write_text(BUNDLE)
    result = compile_bundle(tmp_path / "b")
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return Runtime(result.bundle, store, FakeClock(), evidence_dir=tmp_path / "ev")


def sent(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(select(T_OUTBOX.c.payload).order_by(T_OUTBOX.c.id)).all()
    return [row.payload for row in rows]


def events(store: Store, kind: str) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(
            select(T_EVENT.c.record_id, T_EVENT.c.detail)
            .where(T_EVENT.c.kind == kind)
            .order_by(T_EVENT.c.id)
        ).all()
    return [{"record": row.record_id, **row.detail} for row in rows]


def test_each_recipient_reads_only_the_fields_their_roles_may(rt: Runtime, store: Store) -> None:
    deal = rt.create(
        "deal", {"name": "Acme", "amount": "500", "credit_limit": "300"}, actor="li.wei"
    )
    assert deal.owner == "li.wei"
    by_user = {p["to"]: p for p in sent(store) if p["template"] == "over_limit"}
    # The rep owns the deal but may not read its credit limit: it renders empty, and
    # `record | tojson` leaves it out; the manager reads it.
    # The alert's key is made from the record's fields: not shown to whom some are hidden.
    assert by_user["li.wei"]["subject"] == "Acme: 500.0 over [] "
    assert by_user["li.wei"]["body"].startswith("limit [] False {")
    assert '"credit_limit"' not in by_user["li.wei"]["body"]
    assert by_user["zhang.min"]["subject"] == "Acme: 500.0 over [300.0] over_limit:Acme/300.0"
    assert by_user["zhang.min"]["body"].startswith("limit [300.0] True {")
    assert '"credit_limit": 300.0' in by_user["zhang.min"]["body"]


def test_a_template_past_its_bound_sends_nothing_and_says_why(rt: Runtime, store: Store) -> None:
    name = "n" * 60  # 60 ** 3 loop turns: past the 100,000-step budget
    deal = rt.create("deal", {"name": name, "amount": "500", "credit_limit": "300"}, actor="li.wei")
    # The command went through whole: the record and the other notifications are stored.
    with store.read() as conn:
        stored = conn.execute(select(T_RECORD.c.id, T_RECORD.c.data)).all()
    assert [(r.id, r.data["name"], r.data["credit_limit"]) for r in stored] == [
        (deal.id, name, 300.0)
    ]
    assert sorted((p["template"], p["to"]) for p in sent(store)) == [
        ("over_limit", "li.wei"),
        ("over_limit", "zhang.min"),
    ]
    # The failed one left no outbox row, only an event naming the bound that stopped it.
    assert events(store, "notification_failed") == [
        {
            "record": deal.id,
            "template": "loops",
            "to": "zhang.min",
            "error": "template stopped: it takes more than 100,000 steps "
            "(loop turns, calls, filters, lookups)",
            "cause": "alert over_limit",
        }
    ]
    # A webhook body that is not JSON after rendering is not sent either.
    assert events(store, "webhook_failed") == [
        {
            "record": deal.id,
            "error": "webhook body is not JSON after rendering: Expecting value at line 1 "
            f"column 1 (rendered: '{name}')",
            "cause": "alert over_limit",
        }
    ]
