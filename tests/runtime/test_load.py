"""A person's load counts open work: it falls on close, reassignment, a form's `load`.

Loads are exact counts (sf_load.open_count), checked after each step on both backends.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.bundle import Bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.people import loads
from runtime.store import Store
from tests.runtime.small import small_bundle

START = datetime(2026, 3, 2, 9, 0)

LEAD = """\
kind: form
version: 1
entity: lead
fields:
  name: {type: string, required: true}
  state: {type: enum, values: [new, contacted, won, lost], default: new}
load:
  counts_while: "state == 'new' or state == 'contacted'"
  for: 7 days
"""
ROUTING = """\
kind: routing
version: 1
name: lead_routing
entity: lead
candidates: {role: rep}
strategy: least_loaded
fallback_queue: overflow
"""
DEAL = """\
kind: form
version: 1
entity: deal
fields:
  name: {type: string, required: true}
"""
DEAL_FLOW = """\
kind: workflow
version: 1
name: deal_flow
entity: deal
stages:
  - id: talking
exits:
  - {id: won, outcome: won}
"""
DEAL_ROUTING = """\
kind: routing
version: 1
name: deal_routing
entity: deal
candidates: {role: rep}
strategy: least_loaded
fallback_queue: overflow
"""


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return small_bundle(
        tmp_path / "defs",
        {
            "forms/lead.yaml": LEAD,
            "rules/routing.yaml": ROUTING,
            "forms/deal.yaml": DEAL,
            "workflows/deal.yaml": DEAL_FLOW,
            "rules/deal_routing.yaml": DEAL_ROUTING,
        },
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def rt(bundle: Bundle, store: Store, clock: FakeClock, tmp_path: Path) -> Runtime:
    return Runtime(bundle, store, clock, evidence_dir=tmp_path / "evidence")


def load_of(rt: Runtime) -> dict[str, int]:
    with rt.store.read() as conn:
        return {user: count for user, (count, _) in loads(conn, ["ann", "bob"]).items()}


def lead(rt: Runtime, name: str) -> tuple[str, str | None, str | None]:
    view = rt.create("lead", {"name": name})
    return view.id, view.owner, view.queue


def test_capacity_two_reps_keep_receiving_leads_as_earlier_ones_close(rt: Runtime) -> None:
    first = [lead(rt, f"lead {i}") for i in range(4)]
    assert [owner for _, owner, _ in first] == ["ann", "bob", "ann", "bob"]
    assert load_of(rt) == {"ann": 2, "bob": 2}
    assert lead(rt, "lead 4")[1:] == (None, "overflow")  # both at capacity: the queue
    rt.update(first[0][0], {"state": "won"})  # ann's first lead closes
    assert load_of(rt) == {"ann": 1, "bob": 2}
    rt.update(first[1][0], {"state": "lost"})
    assert load_of(rt) == {"ann": 1, "bob": 1}
    fifth = lead(rt, "lead 5")
    assert fifth[1] == "ann"
    assert lead(rt, "lead 6")[1] == "bob"
    assert load_of(rt) == {"ann": 2, "bob": 2}
    rt.update(fifth[0], {"state": "won"})
    # 100 more leads, each closed in turn: routing never stops
    owners = []
    for i in range(100):
        rid, owner, _ = lead(rt, f"more {i}")
        owners.append(owner)
        rt.update(rid, {"state": "won"})
    assert owners == ["ann"] * 100
    assert load_of(rt) == {"ann": 1, "bob": 2}


def test_a_closed_lead_counts_once_however_often_it_changes(rt: Runtime) -> None:
    rid, owner, _ = lead(rt, "a")
    assert owner == "ann" and load_of(rt) == {"ann": 1, "bob": 0}
    rt.update(rid, {"state": "contacted"})
    assert load_of(rt) == {"ann": 1, "bob": 0}  # still open work: no double count
    rt.update(rid, {"state": "won"})
    rt.update(rid, {"state": "lost"})
    rt.update(rid, {"name": "a (renamed)"})
    assert load_of(rt) == {"ann": 0, "bob": 0}  # never below zero
    rt.update(rid, {"state": "new"})  # reopened: open work again, once
    assert load_of(rt) == {"ann": 1, "bob": 0}


def test_the_load_window_ends_by_timer_exactly_after_seven_days(
    rt: Runtime, clock: FakeClock
) -> None:
    rid, owner, _ = lead(rt, "a")
    assert owner == "ann"
    clock.advance(timedelta(days=7) - timedelta(seconds=1))
    rt.tick()
    assert load_of(rt) == {"ann": 1, "bob": 0}
    clock.advance(timedelta(seconds=1))
    report = rt.tick()
    assert report.timers == 1
    assert load_of(rt) == {"ann": 0, "bob": 0}
    rt.update(rid, {"state": "contacted"})  # still past its window: it stays out
    assert load_of(rt) == {"ann": 0, "bob": 0}


def test_reassignment_moves_the_load_and_starts_a_new_window(rt: Runtime, clock: FakeClock) -> None:
    rid, _, _ = lead(rt, "a")
    assert load_of(rt) == {"ann": 1, "bob": 0}
    rt.assign(rid, user="bob")
    assert load_of(rt) == {"ann": 0, "bob": 1}
    rt.assign(rid, user="bob")  # the same owner again: nothing moves
    assert load_of(rt) == {"ann": 0, "bob": 1}
    rt.assign(rid, queue="overflow")
    assert load_of(rt) == {"ann": 0, "bob": 0}
    rt.assign(rid, routing="lead_routing")
    assert load_of(rt) == {"ann": 1, "bob": 0}
    clock.advance(timedelta(days=7))
    rt.tick()
    assert load_of(rt) == {"ann": 0, "bob": 0}
    rt.assign(rid, user="bob")  # a new assignment: a new 7-day window
    assert load_of(rt) == {"ann": 0, "bob": 1}
    clock.advance(timedelta(days=6))
    rt.tick()  # ann's old window timer is gone; bob's runs until day 7
    assert load_of(rt) == {"ann": 0, "bob": 1}
    clock.advance(timedelta(days=1))
    rt.tick()
    assert load_of(rt) == {"ann": 0, "bob": 0}


def test_a_workflow_record_leaves_the_load_when_it_reaches_an_exit(rt: Runtime) -> None:
    ids = [rt.create("deal", {"name": f"d{i}"}).id for i in range(4)]
    assert load_of(rt) == {"ann": 2, "bob": 2}
    assert rt.create("deal", {"name": "full"}).queue == "overflow"
    rt.transition(ids[0], "won")
    assert load_of(rt) == {"ann": 1, "bob": 2}
    rt.assign(ids[0], user="bob")  # a closed record counts for nobody
    assert load_of(rt) == {"ann": 1, "bob": 2}
    assert rt.create("deal", {"name": "next"}).owner == "ann"
    assert load_of(rt) == {"ann": 2, "bob": 2}


def test_routing_again_does_not_count_the_record_against_its_owner(rt: Runtime) -> None:
    ids = [lead(rt, f"lead {i}")[0] for i in range(4)]
    assert load_of(rt) == {"ann": 2, "bob": 2}
    again = rt.assign(ids[0], routing="lead_routing")
    assert (again.owner, again.queue) == ("ann", None)  # ann at 2/2 may keep her own lead
    assert load_of(rt) == {"ann": 2, "bob": 2}
    rt.update(ids[1], {"state": "won"})
    rt.update(ids[3], {"state": "won"})
    assert load_of(rt) == {"ann": 2, "bob": 0}
    moved = rt.assign(ids[0], routing="lead_routing")
    assert moved.owner == "bob"  # ann 1 without it, bob 0: the lead moves to bob
    assert load_of(rt) == {"ann": 1, "bob": 1}


def test_the_migration_counts_open_owned_records_as_before(
    db_url: tuple[str, str | None],
) -> None:
    """Stores upgraded to 0003 keep their loads: open, owned records count for their owner."""
    from sqlalchemy import text

    from runtime import migrate

    url, schema = db_url
    old = Store.open(url, schema=schema, upgrade=False)
    try:
        migrate.upgrade(old.engine, "0002")
        stamp = START
        with old.engine.begin() as conn:
            for rid, status, owner in [
                ("r1", "open", "ann"),
                ("r2", "won", "ann"),
                ("r3", "open", None),
            ]:
                conn.execute(
                    text(
                        "INSERT INTO sf_record (id, entity, status, owner, data, schema_version, "
                        "read_only, row_version, created_at, updated_at) VALUES "
                        "(:id, 'lead', :status, :owner, '{}', 1, false, 1, :at, :at)"
                    ),
                    {"id": rid, "status": status, "owner": owner, "at": stamp},
                )
        assert old.upgrade() == migrate.head()
        with old.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT record_id, owner, counted, until FROM sf_load_item")
            ).all()
        assert [(r[0], r[1], bool(r[2]), r[3]) for r in rows] == [("r1", "ann", True, None)]
    finally:
        old.dispose()
