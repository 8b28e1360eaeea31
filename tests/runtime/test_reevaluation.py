"""Re-evaluation on model change (issue 11): versions, stale flags, batched jobs, audit.

Every test runs on SQLite and PostgreSQL (the `store` fixture). A bundle is compiled
twice with other weights; swapping the runtime to the second and queueing, as a
reload does, starts a job that `reevaluate_step` runs one batch at a time.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from engine.bundle import Bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import T_EVENT, T_REEVAL, Store
from tests.runtime.small import small_bundle

LEAD = """\
kind: form
version: 1
entity: lead
fields:
  name: {type: string, required: true}
  orders: {type: integer}
  segment: {type: enum, values: [retail, chain]}
  score: {type: decimal}
  tier: {type: string}
"""
FLOW = """\
kind: workflow
version: 1
name: lead_flow
entity: lead
stages:
  - id: new
exits:
  - {id: won, outcome: won}
"""


def scoring(weight: float, block: str) -> str:
    """A scoring model: orders (0..10) weighs `weight`, chain 1; `block` is its reevaluate."""
    return f"""\
kind: scoring
version: 1
name: lead_score
entity: lead
output: score
features:
  orders: {{value: "clamp(orders / 10, 0, 1)", weight: {weight}}}
  chain: {{value: "segment == 'chain'", weight: 1}}
{block}"""


def table(cut: int, block: str) -> str:
    """A decision table: tier gold from `cut` orders on."""
    return f"""\
kind: decision_table
version: 1
name: lead_tier
entity: lead
inputs: [orders]
outputs: [tier]
rows:
  - [">= {cut}", gold]
default: [plain]
{block}"""


OPEN = "reevaluate: {records: open, batch: 2}\n"


def build(tmp: Path, name: str, files: dict[str, str]) -> Bundle:
    return small_bundle(tmp / name, {"forms/lead.yaml": LEAD, "workflows/lead.yaml": FLOW, **files})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 0))


def runtime(store: Store, tmp: Path, bundle: Bundle, clock: FakeClock) -> Runtime:
    return Runtime(bundle, store, clock, evidence_dir=tmp / "evidence")


def leads(rt: Runtime, n: int, **extra: Any) -> list[str]:
    return [
        rt.create("lead", {"name": f"L{i}", "orders": 5, "segment": "retail", **extra}).id
        for i in range(n)
    ]


def swap(rt: Runtime, bundle: Bundle) -> list[dict[str, Any]]:
    """Serve `bundle` and queue the jobs it calls for, as a reload does."""
    rt.swap(bundle)
    return rt.queue_reevaluations()


def score_of(rt: Runtime, record_id: str) -> Any:
    return rt.get(record_id).data["score"]


def last(rt: Runtime, record_id: str, kind: str = "score") -> dict[str, Any]:
    return rt.explain(record_id, kind)[-1]


# -- versions and the stale flag -----------------------------------------------------------


def test_each_decision_says_its_version_and_whether_it_is_stale(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    one = build(tmp_path, "one", {"rules/s.yaml": scoring(1, "")})
    two = build(tmp_path, "two", {"rules/s.yaml": scoring(3, "")})
    rt = runtime(store, tmp_path, one, clock)
    [lead] = leads(rt, 1)
    first = last(rt, lead)
    assert len(first["version"]) == 12 and first["stale"] is False
    rt.swap(two)
    assert last(rt, lead)["stale"] is True  # scored by the old weights
    assert rt.queue_reevaluations() == []  # no reevaluate block: today's behaviour
    assert rt.reevaluate() == 0 and score_of(rt, lead) == 25.0
    rt.update(lead, {"orders": 6})
    fresh = last(rt, lead)
    assert fresh["stale"] is False and fresh["version"] != first["version"]


def test_a_title_change_keeps_the_version(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    one = build(tmp_path, "one", {"rules/s.yaml": scoring(1, OPEN)})
    two = build(tmp_path, "two", {"rules/s.yaml": scoring(1, OPEN) + "title: Renamed\n"})
    rt = runtime(store, tmp_path, one, clock)
    leads(rt, 1)
    assert swap(rt, two) == []


# -- jobs in batches ---------------------------------------------------------------------


@pytest.mark.parametrize(("n", "batches"), [(4, 2), (5, 3)])
def test_a_job_runs_in_batches_of_the_declared_size(
    store: Store, tmp_path: Path, clock: FakeClock, n: int, batches: int
) -> None:
    """4 records in batches of 2 take exactly 2 batches; one more takes a third."""
    rt = runtime(store, tmp_path, build(tmp_path, "one", {"rules/s.yaml": scoring(1, OPEN)}), clock)
    ids = leads(rt, n)
    assert {score_of(rt, i) for i in ids} == {25.0}
    [job] = swap(rt, build(tmp_path, "two", {"rules/s.yaml": scoring(3, OPEN)}))
    assert (job["state"], job["total"], job["done"], job["records"]) == ("queued", n, 0, "open")
    steps = []
    while (step := rt.reevaluate_step()) is not None:
        steps.append(step)
    assert [s.records for s in steps] == [2] * (n // 2) + ([1] if n % 2 else [])
    assert len(steps) == batches and steps[-1].state == "done"
    assert all(s.state == "running" for s in steps[:-1])
    [done] = rt.reevaluations()
    assert (done["state"], done["done"], done["changed"], done["total"]) == ("done", n, n, n)
    assert done["started_at"].endswith("+00:00") and done["finished_at"].endswith("+00:00")
    assert {score_of(rt, i) for i in ids} == {37.5}  # 3 * 0.5 / 4
    assert all(last(rt, i)["stale"] is False for i in ids)
    assert swap(rt, rt.bundle) == []  # the same version again queues nothing


def test_each_record_gets_an_audit_entry_with_values_and_versions(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    rt = runtime(store, tmp_path, build(tmp_path, "one", {"rules/s.yaml": scoring(1, OPEN)}), clock)
    [lead] = leads(rt, 1)
    old = last(rt, lead)["version"]
    [job] = swap(rt, build(tmp_path, "two", {"rules/s.yaml": scoring(3, OPEN)}))
    rt.reevaluate()
    [entry] = [e for e in rt.events(lead) if e["kind"] == "reevaluated"]
    detail = entry["detail"]
    assert detail["before"] == "25.0" and detail["after"] == "37.5"
    assert detail["fields"] == {"score": [25.0, 37.5]}
    assert (detail["from_version"], detail["to_version"]) == (old, job["version"])
    assert detail["job"] == job["id"] and detail["rule"] == "lead_score"
    assert rt.get(lead).row_version == 2  # saved once, like any change


def test_open_leaves_closed_records_and_all_takes_them(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    every = "reevaluate: {records: all}\n"
    rt = runtime(store, tmp_path, build(tmp_path, "one", {"rules/s.yaml": scoring(1, OPEN)}), clock)
    won, open_ = leads(rt, 2)
    rt.transition(won, "won")
    [job] = swap(rt, build(tmp_path, "two", {"rules/s.yaml": scoring(3, OPEN)}))
    assert job["total"] == 1
    rt.reevaluate()
    assert (score_of(rt, won), score_of(rt, open_)) == (25.0, 37.5)
    assert last(rt, won)["stale"] is True
    [job] = swap(rt, build(tmp_path, "three", {"rules/s.yaml": scoring(7, every)}))
    assert job["total"] == 2
    rt.reevaluate()
    assert (score_of(rt, won), score_of(rt, open_)) == (43.75, 43.75)


def test_where_narrows_the_records(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    block = "reevaluate: {records: open, where: \"segment == 'chain'\"}\n"
    one = build(tmp_path, "one", {"rules/s.yaml": scoring(1, block)})
    rt = runtime(store, tmp_path, one, clock)
    [retail] = leads(rt, 1)
    [chain] = leads(rt, 1, segment="chain")
    assert score_of(rt, chain) == 75.0
    assert len(swap(rt, build(tmp_path, "two", {"rules/s.yaml": scoring(3, block)}))) == 1
    rt.reevaluate()
    [done] = rt.reevaluations()
    assert (done["done"], done["skipped"], done["changed"]) == (2, 1, 1)
    assert score_of(rt, chain) == 62.5 and score_of(rt, retail) == 25.0
    assert last(rt, retail)["stale"] is True


def test_none_leaves_every_record_untouched(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    none = "reevaluate: {records: none}\n"
    rt = runtime(store, tmp_path, build(tmp_path, "one", {"rules/s.yaml": scoring(1, none)}), clock)
    [lead] = leads(rt, 1)
    assert swap(rt, build(tmp_path, "two", {"rules/s.yaml": scoring(3, none)})) == []
    assert rt.reevaluate() == 0 and score_of(rt, lead) == 25.0
    assert rt.get(lead).row_version == 1


# -- crashes and superseded jobs -----------------------------------------------------------


class Crash(Exception):
    pass


def test_a_crash_between_batches_resumes_after_the_last_committed_one(
    store: Store, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = runtime(store, tmp_path, build(tmp_path, "one", {"rules/s.yaml": scoring(1, OPEN)}), clock)
    ids = leads(rt, 5)
    two = build(tmp_path, "two", {"rules/s.yaml": scoring(3, OPEN)})
    swap(rt, two)
    assert rt.reevaluate_step() is not None  # batch 1 committed
    calls = {"n": 0}
    real = Runtime.score_in

    def crash_on_second(self: Runtime, unit: Any, view: Any, name: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash  # mid-batch: its first record was already re-scored
        real(self, unit, view, name)

    monkeypatch.setattr(Runtime, "score_in", crash_on_second)
    with pytest.raises(Crash):
        rt.reevaluate_step()
    monkeypatch.undo()
    [job] = rt.reevaluations()
    assert (job["state"], job["done"], job["cursor"]) == ("running", 2, sorted(ids)[1])
    assert [score_of(rt, i) for i in sorted(ids)] == [37.5, 37.5, 25.0, 25.0, 25.0]
    # A restart: a new runtime on the same store picks the job up where it stood.
    again = runtime(store, tmp_path, two, clock)
    assert again.reevaluate() == 2
    assert {score_of(again, i) for i in ids} == {37.5}
    with store.read() as conn:
        audited = conn.execute(select(T_EVENT.c.record_id).where(T_EVENT.c.kind == "reevaluated"))
        assert sorted(audited.scalars()) == sorted(ids)  # once each: no batch ran twice


def test_a_newer_version_supersedes_a_running_job(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    rt = runtime(store, tmp_path, build(tmp_path, "one", {"rules/s.yaml": scoring(1, OPEN)}), clock)
    ids = leads(rt, 3)
    [first] = swap(rt, build(tmp_path, "two", {"rules/s.yaml": scoring(3, OPEN)}))
    rt.reevaluate_step()
    [second] = swap(rt, build(tmp_path, "three", {"rules/s.yaml": scoring(7, OPEN)}))
    jobs = {j["id"]: j for j in rt.reevaluations()}
    assert jobs[first["id"]]["state"] == "superseded"
    assert jobs[first["id"]]["note"] == f"superseded by {second['version']}"
    assert rt.reevaluate() == 2
    assert rt.reevaluations()[0]["state"] == "done"
    assert {score_of(rt, i) for i in ids} == {43.75}


def test_a_job_whose_rule_changed_under_it_stops(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    """A job left running by another process stops when the rule served is newer."""
    rt = runtime(store, tmp_path, build(tmp_path, "one", {"rules/s.yaml": scoring(1, OPEN)}), clock)
    leads(rt, 1)
    swap(rt, build(tmp_path, "two", {"rules/s.yaml": scoring(3, OPEN)}))
    rt.swap(build(tmp_path, "three", {"rules/s.yaml": scoring(3, "")}))
    step = rt.reevaluate_step()
    assert step is not None and step.state == "superseded"
    assert rt.reevaluations()[0]["note"] == "the rule no longer re-evaluates records"


def test_a_batch_another_worker_moved_on_rolls_back(
    store: Store, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = runtime(store, tmp_path, build(tmp_path, "one", {"rules/s.yaml": scoring(1, OPEN)}), clock)
    [lead] = leads(rt, 1)
    swap(rt, build(tmp_path, "two", {"rules/s.yaml": scoring(3, OPEN)}))
    real = Runtime.score_in

    def race(self: Runtime, unit: Any, view: Any, name: str) -> None:
        real(self, unit, view, name)
        unit.tx.conn.execute(update(T_REEVAL).values(done=99))  # as if another worker did

    monkeypatch.setattr(Runtime, "score_in", race)
    step = rt.reevaluate_step()
    assert step is not None and step.state == "lost"
    assert score_of(rt, lead) == 25.0


# -- decision tables and routing -----------------------------------------------------------


def test_a_decision_table_decides_open_records_again(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    rt = runtime(store, tmp_path, build(tmp_path, "one", {"rules/t.yaml": table(6, OPEN)}), clock)
    low, high = leads(rt, 1)[0], leads(rt, 1, orders=7)[0]
    assert (rt.get(low).data["tier"], rt.get(high).data["tier"]) == ("plain", "gold")
    [job] = swap(rt, build(tmp_path, "two", {"rules/t.yaml": table(5, OPEN)}))
    rt.reevaluate()
    assert rt.get(low).data["tier"] == "gold"
    assert rt.reevaluations()[0]["changed"] == 1  # the other stayed gold
    assert last(rt, low, "decision_table")["version"] == job["version"]


ROUTING = """\
kind: routing
version: 1
name: lead_routing
entity: lead
candidates: {{users: [ann]}}
eligible: "orders >= {least}"
fallback_queue: overflow
reevaluate: {{records: queued}}
"""


def test_routing_routes_queued_records_again_and_never_takes_one_away(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    one = build(tmp_path, "one", {"rules/r.yaml": ROUTING.format(least=6)})
    rt = runtime(store, tmp_path, one, clock)
    waiting = leads(rt, 1)[0]
    held = leads(rt, 1, orders=8)[0]
    assert (rt.get(waiting).queue, rt.get(held).owner) == ("overflow", "ann")
    [job] = swap(rt, build(tmp_path, "two", {"rules/r.yaml": ROUTING.format(least=9)}))
    assert job["total"] == 1  # only the queued one
    rt.reevaluate()
    assert rt.get(held).owner == "ann"  # no longer eligible, but held: untouched
    assert rt.get(waiting).queue == "overflow"
    swap(rt, build(tmp_path, "three", {"rules/r.yaml": ROUTING.format(least=5)}))
    rt.reevaluate()
    assert (rt.get(waiting).owner, rt.get(waiting).queue) == ("ann", None)
    [entry] = [e for e in rt.events(waiting) if e["kind"] == "reevaluated"][-1:]
    assert entry["detail"]["owner"] == [None, "ann"]


# -- in the background ---------------------------------------------------------------------


def test_the_scheduler_runs_jobs_in_the_background_while_commands_go_on(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    """The job runs in the scheduler's thread, batch by batch; creating records meanwhile
    is never refused (each batch holds the write lock only for its own transaction)."""
    from runtime.scheduler import REEVALUATE_JOB, RuntimeScheduler

    rt = runtime(store, tmp_path, build(tmp_path, "one", {"rules/s.yaml": scoring(1, OPEN)}), clock)
    ids = leads(rt, 6)
    swap(rt, build(tmp_path, "two", {"rules/s.yaml": scoring(3, OPEN)}))
    driver = RuntimeScheduler(rt, tick_every=0.05)
    driver.start()
    try:
        assert driver.scheduler.get_job(REEVALUATE_JOB) is not None
        more = leads(rt, 3)  # commands are served while the job runs
        deadline = time.monotonic() + 20
        while rt.reevaluations()[0]["state"] != "done" and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        driver.shutdown()
    assert rt.reevaluations()[0]["state"] == "done"
    assert {score_of(rt, i) for i in ids + more} == {37.5}


def test_a_read_only_legacy_record_is_skipped(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    """P12: a record kept under an older schema that fails today's form stays as kept."""
    v2 = LEAD.replace("entity: lead\n", "entity: lead\nschema_version: 2\n").replace(
        "  tier: {type: string}\n",
        "  tier: {type: string}\n  region: {type: string, required: true}\n",
    )
    one = small_bundle(
        tmp_path / "one",
        {"forms/lead.yaml": v2, "workflows/lead.yaml": FLOW, "rules/s.yaml": scoring(1, OPEN)},
    )
    two = small_bundle(
        tmp_path / "two",
        {"forms/lead.yaml": v2, "workflows/lead.yaml": FLOW, "rules/s.yaml": scoring(3, OPEN)},
    )
    rt = runtime(store, tmp_path, one, clock)
    old = rt.import_legacy("lead", {"name": "Old", "orders": 5, "score": 25}, 1)
    assert old.read_only
    [fresh] = leads(rt, 1, region="west")
    swap(rt, two)
    rt.reevaluate()
    [job] = rt.reevaluations()
    assert (job["total"], job["done"], job["skipped"], job["changed"]) == (2, 2, 1, 1)
    assert score_of(rt, old.id) == 25 and score_of(rt, fresh) == 37.5
    assert rt.get(old.id).row_version == 1


# -- side effects, as for any other change -------------------------------------------------

HOT = """\
kind: alert
version: 1
name: hot_lead
entity: lead
when: "score >= 30"
---
kind: routing
version: 1
name: hot_routing
entity: lead
on: [created, updated]
when: "score >= 30"
candidates: {users: [ann]}
fallback_queue: overflow
"""


def test_a_score_crossing_a_threshold_fires_alerts_and_routes_as_any_change(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    """At 25 the lead is neither hot nor routed; re-scored to 37.5 it is both."""
    one = build(tmp_path, "one", {"rules/s.yaml": scoring(1, OPEN), "rules/hot.yaml": HOT})
    two = build(tmp_path, "two", {"rules/s.yaml": scoring(3, OPEN), "rules/hot.yaml": HOT})
    rt = runtime(store, tmp_path, one, clock)
    [lead] = leads(rt, 1)
    assert rt.alerts(rule="hot_lead") == [] and rt.get(lead).owner is None
    swap(rt, two)
    rt.reevaluate()
    [alert] = rt.alerts(rule="hot_lead")
    assert alert["state"] == "firing" and alert["record_id"] == lead
    assert rt.get(lead).owner == "ann"
    [entry] = [e for e in rt.events(lead) if e["kind"] == "reevaluated"]
    assert entry["detail"]["owner"] == [None, "ann"]


OVERLAPPING = """\
kind: decision_table
version: 1
name: lead_tier
entity: lead
hit: unique
inputs: [orders, "orders * 1"]      # computed from one another: overlaps show at run time
outputs: [tier]
rows:
  - [">= 4", "< 6", silver]
  - ["*", ">= 6", gold]
  - [">= 7", "*", gold]
default: [plain]
reevaluate: {records: open, batch: 2}
"""


def test_a_record_its_rule_refuses_is_skipped_and_recorded_and_the_job_goes_on(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    rt = runtime(store, tmp_path, build(tmp_path, "one", {"rules/t.yaml": table(6, OPEN)}), clock)
    made = leads(rt, 2) + leads(rt, 1, orders=7) + leads(rt, 2)
    refused = made[2]  # orders 7 matches two rows of the unique table
    swap(rt, build(tmp_path, "two", {"rules/t.yaml": OVERLAPPING}))
    rt.reevaluate()
    [job] = rt.reevaluations()
    assert (job["state"], job["done"], job["changed"], job["skipped"]) == ("done", 5, 4, 1)
    assert {rt.get(i).data["tier"] for i in made if i != refused} == {"silver"}
    assert rt.get(refused).data["tier"] == "gold"  # kept as it was
    with store.engine.connect() as conn:
        failed = conn.execute(
            select(T_EVENT.c.record_id, T_EVENT.c.detail).where(
                T_EVENT.c.kind == "reevaluation_failed"
            )
        ).all()
    assert [row.record_id for row in failed] == [refused]
    assert failed[0].detail["rule"] == "lead_tier"
    assert (
        failed[0].detail["error"] == "decision table 'lead_tier' (hit: unique) matched rows 2 and 3"
    )
