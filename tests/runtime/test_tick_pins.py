"""What a tick writes, pinned to exact values: events, schedule state, outbox and timer rows
(issue 15, the tick's mutation score). Each test names the behaviour a survivor changed."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from engine.compiler.pipeline import compile_bundle
from runtime import load, ticking, timers
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import T_EVENT, T_OUTBOX, T_SCHEDULE, T_TIMER, Store, py_json, py_time

BUNDLE = """kind: bundle
version: 1
name: tick-pins
timezone: UTC
roles: [rep]
users:
  li.wei: {roles: [rep]}
  zhao.lei: {roles: [rep]}
---
kind: form
version: 1
entity: deal
fields:
  stock: {type: integer}
  region: {type: string}
  note: {type: string}
---
kind: notification
version: 1
name: sla
subject: "sla"
body: "record {{ record.sla_due }}"
---
kind: notification
version: 1
name: ran
subject: "{{ schedule.name }}"
body: "{{ schedule.due }}"
---
kind: notification
version: 1
name: thin
subject: "{{ alert.region }} {{ alert.value }}"
body: "{{ alert.key }} {{ alert.state }}"
---
kind: workflow
version: 1
name: flow
entity: deal
stages:
  - id: only
    sla:
      within: 2h
      remind_before: 1h
      missed: SLA_POLICY
      on_remind:
        - set: {fields: {note: "'reminded'"}}
      on_breach:
        - assign: {user: zhao.lei}
        - notify: {to: owner, template: sla}
---
kind: schedule
version: 1
name: hourly
every: 1h
missed: RUN_POLICY
actions:
  - notify: {to: "user:li.wei", template: ran}
"""

METRIC = """
---
kind: metric
version: 1
name: avg_stock
entity: deal
measure: avg
of: stock
group_by: [region]
window: {last: 1 day}
---
kind: alert
version: 1
name: thin
metric: avg_stock
when: "value < 20"
for: 1h
dedup_key: "{{ region }}"
actions:
  - notify: {to: "user:li.wei", template: thin}
on_resolve:
  - notify: {to: "user:zhao.lei", template: thin}
    when: "value >= 20"
"""

START = datetime(2026, 1, 5, 9, 0)
HOUR = timedelta(hours=1)


def _runtime(
    store: Store,
    tmp: Path,
    *,
    sla: str = "run_late",
    run: str = "run_late",
    extra: str = "",
) -> Runtime:
    root = tmp / f"b-{sla}-{run}"
    root.mkdir()
    text = BUNDLE.replace("SLA_POLICY", sla).replace("RUN_POLICY", run) + extra
    (root / "bundle.yaml").write_text(text)
    result = compile_bundle(root)
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return Runtime(result.bundle, store, FakeClock(START), evidence_dir=tmp / "ev")


def _at(rt: Runtime, when: datetime) -> ticking.TickReport:
    rt.clock.set(when)
    return rt.tick(when)


def _events(store: Store, kind: str) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(select(T_EVENT).where(T_EVENT.c.kind == kind).order_by(T_EVENT.c.id))
        return [py_json(r.detail) for r in rows]


def _sent(store: Store) -> list[tuple[str, str, str, str]]:
    with store.read() as conn:
        rows = conn.execute(select(T_OUTBOX.c.payload).order_by(T_OUTBOX.c.id)).all()
    out = [py_json(r.payload) for r in rows]
    return [(p["to"], p["subject"], p["body"], p["cause"]) for p in out]


def _schedule_row(store: Store) -> tuple[Any, ...]:
    with store.read() as conn:
        r = conn.execute(select(T_SCHEDULE).where(T_SCHEDULE.c.name == "hourly")).one()
    return (py_time(r.next_due_at), py_time(r.last_run_at), r.runs, r.missed)


# -- schedules ----------------------------------------------------------------------------
def test_an_on_time_run_says_so_and_leaves_missed_at_zero(store: Store, tmp_path: Path) -> None:
    rt = _runtime(store, tmp_path)
    assert rt.tick(START).schedules == []  # first sight: due at 10:00
    assert _schedule_row(store) == (START + HOUR, None, 0, 0)
    on_time = START + HOUR + timedelta(minutes=5)  # exactly the grace: on time
    report = _at(rt, on_time)
    assert (report.schedules, report.late_schedules, report.failed) == (["hourly"], 0, 0)
    assert _schedule_row(store) == (on_time + HOUR, on_time, 1, 0)
    assert _events(store, "schedule_due") == [
        {"schedule": "hourly", "due": "2026-01-05T10:00:00+00:00", "late": False, "policy": None}
    ]
    [ran] = _events(store, "schedule_ran")
    assert ran == {
        "actions": [{"action": "notify", "template": "ran", "to": ["li.wei"], "channel": "log"}],
        "schedule": "hourly",
        "due": "2026-01-05T10:00:00+00:00",
        "started_at": "2026-01-05T10:05:00+00:00",
        "late": False,
        "late_by_seconds": None,
        "finished_at": "2026-01-05T10:05:00+00:00",
    }
    # The actions read `schedule.name` and `schedule.due`; the outbox row names the cause.
    assert _sent(store) == [
        ("li.wei", "hourly", "2026-01-05T10:00:00+00:00", "schedule hourly"),
    ]
    assert _events(store, "schedule_missed") == []


def test_a_late_run_late_run_runs_once_and_counts_as_missed(store: Store, tmp_path: Path) -> None:
    rt = _runtime(store, tmp_path)
    rt.tick(START)
    late = START + 3 * HOUR  # due 10:00, two hours late
    report = _at(rt, late)
    assert (report.schedules, report.late_schedules) == (["hourly"], 1)
    assert _schedule_row(store) == (late + HOUR, late, 1, 1)
    assert _events(store, "schedule_due") == [
        {
            "schedule": "hourly",
            "due": "2026-01-05T10:00:00+00:00",
            "late": True,
            "policy": "run_late",
        }
    ]
    [ran] = _events(store, "schedule_ran")
    assert (ran["late"], ran["late_by_seconds"]) == (True, 7200)
    assert _sent(store) == [
        ("li.wei", "hourly", "2026-01-05T10:00:00+00:00", "schedule hourly"),
    ]


def test_a_late_mark_late_run_is_recorded_not_run(store: Store, tmp_path: Path) -> None:
    rt = _runtime(store, tmp_path, run="mark_late")
    rt.tick(START)
    late = START + 3 * HOUR
    report = _at(rt, late)
    assert (report.schedules, report.late_schedules) == ([], 1)
    assert _schedule_row(store) == (late + HOUR, None, 0, 1)
    assert _events(store, "schedule_due") == [
        {
            "schedule": "hourly",
            "due": "2026-01-05T10:00:00+00:00",
            "late": True,
            "policy": "mark_late",
        }
    ]
    assert _events(store, "schedule_missed") == [
        {
            "schedule": "hourly",
            "due": "2026-01-05T10:00:00+00:00",
            "started_at": "2026-01-05T12:00:00+00:00",
            "late": True,
            "late_by_seconds": 7200,
            "policy": "mark_late",
        }
    ]
    assert _events(store, "schedule_ran") == []
    assert _sent(store) == []
    # The next run, on time, runs; `missed` keeps the one it had.
    report = _at(rt, late + HOUR)
    assert (report.schedules, report.late_schedules) == (["hourly"], 0)
    assert _schedule_row(store) == (late + 2 * HOUR, late + HOUR, 1, 1)


def test_a_failing_run_is_logged_by_name(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rt = _runtime(store, tmp_path)
    rt.tick(START)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no network")

    monkeypatch.setattr(ticking, "run_actions", broken)
    with store.begin(START) as tx:  # and a timer that fails in the same tick
        timers.add(tx, load.WINDOW, START, record_id="boom")
    monkeypatch.setattr(load, "window_ended", broken)
    with caplog.at_level(logging.ERROR, logger="sopflow.tick"):
        report = _at(rt, START + HOUR)
    assert (report.schedules, report.failed, report.failed_schedules) == ([], 2, ["hourly"])
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("sopflow.tick", f"timer 1 ({load.WINDOW}) failed"),
        ("sopflow.tick", "schedule hourly failed"),
    ]
    assert _events(store, "schedule_failed") == [
        {
            "schedule": "hourly",
            "due": "2026-01-05T10:00:00+00:00",
            "started_at": "2026-01-05T10:00:00+00:00",
            "late": False,
            "late_by_seconds": None,
            "finished_at": "2026-01-05T10:00:00+00:00",
            "error": "no network",
        }
    ]
    # The run was claimed and counted: it is not retried.
    assert _schedule_row(store) == (START + 2 * HOUR, START + HOUR, 1, 0)


# -- SLA timers -----------------------------------------------------------------------------
def _deal(rt: Runtime) -> str:
    return rt.create("deal", {"stock": 50, "region": "east"}, actor="li.wei").id


@pytest.mark.parametrize("policy", ["run_late", "mark_late"])
def test_on_time_sla_timers_run_their_actions_whatever_the_policy(
    store: Store, tmp_path: Path, policy: str
) -> None:
    rt = _runtime(store, tmp_path, sla=policy)
    deal = _deal(rt)
    report = _at(rt, START + HOUR)  # the reminder, on time
    assert (report.timers, report.late) == (1, 0)
    assert [e["detail"] for e in rt.events(deal) if e["kind"] == "sla_reminder"] == [
        {"stage": "only", "due": "2026-01-05T11:00:00+00:00", "late": False, "policy": None}
    ]
    # on_remind set a field, the owner stayed: the change is saved.
    after = rt.get(deal)
    assert (after.data["note"], after.owner) == ("reminded", "li.wei")
    report = _at(rt, START + 2 * HOUR)  # the breach, on time
    assert (report.timers, report.late) == (1, 0)
    # on_breach only assigned (the data stayed): the new owner is saved.
    after = rt.get(deal)
    assert (after.data["note"], after.owner) == ("reminded", "zhao.lei")
    # The breach's notification reads `record.sla_due` (record_extra).
    assert [s for s in _sent(store) if s[3] == "sla_breach"] == [
        ("zhao.lei", "sla", "record 2026-01-05T11:00:00+00:00", "sla_breach")
    ]


def test_late_sla_timers_run_late_under_run_late(store: Store, tmp_path: Path) -> None:
    rt = _runtime(store, tmp_path, sla="run_late")
    deal = _deal(rt)
    report = _at(rt, START + 4 * HOUR)  # reminder (10:00) and breach (11:00) both late
    assert (report.timers, report.late) == (2, 2)
    details = [(e["kind"], e["detail"]) for e in rt.events(deal) if e["kind"].startswith("sla_")]
    due = "2026-01-05T11:00:00+00:00"
    assert details == [
        ("sla_reminder", {"stage": "only", "due": due, "late": True, "policy": "run_late"}),
        ("sla_breached", {"stage": "only", "due": due, "late": True, "policy": "run_late"}),
    ]
    after = rt.get(deal)
    assert (after.data["note"], after.owner) == ("reminded", "zhao.lei")
    assert [s for s in _sent(store) if s[3] == "sla_breach"] == [
        ("zhao.lei", "sla", f"record {due}", "sla_breach")
    ]


def test_late_sla_timers_are_only_recorded_under_mark_late(store: Store, tmp_path: Path) -> None:
    rt = _runtime(store, tmp_path, sla="mark_late")
    deal = _deal(rt)
    report = _at(rt, START + 4 * HOUR)
    assert (report.timers, report.late) == (2, 2)
    kinds = [(e["kind"], e["detail"]["policy"]) for e in rt.events(deal) if "sla_" in e["kind"]]
    assert kinds == [("sla_reminder", "mark_late"), ("sla_breached", "mark_late")]
    after = rt.get(deal)
    assert (after.data.get("note"), after.owner) == (None, "li.wei")
    assert [s for s in _sent(store) if s[3] == "sla_breach"] == []


# -- timer rows -------------------------------------------------------------------------------
def _claims(store: Store) -> list[tuple[str, bool, datetime | None, str | None]]:
    with store.read() as conn:
        rows = conn.execute(select(T_TIMER).order_by(T_TIMER.c.id)).all()
    return [(r.kind, r.fired, py_time(r.claimed_at), r.claimed_by) for r in rows]


def test_fired_and_failed_timers_keep_when_they_were_claimed(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _runtime(store, tmp_path)
    with store.begin(START) as tx:
        timers.add(tx, load.WINDOW, START + HOUR, record_id="ok")
        timers.add(tx, load.WINDOW, START + HOUR, record_id="boom")
        timers.add(tx, load.WINDOW, START + 2 * HOUR, record_id="ok")

    def window_ended(unit: Any, record_id: str | None) -> None:
        if record_id == "boom":
            raise RuntimeError("broken window")

    monkeypatch.setattr(load, "window_ended", window_ended)
    first = START + HOUR + timedelta(seconds=7)
    assert (_at(rt, first).timers, rt.tick(first).failed) == (2, 0)
    second = START + 2 * HOUR + timedelta(seconds=9)
    assert _at(rt, second).timers == 1  # alone in its batch: fired in one statement
    assert _claims(store) == [
        (load.WINDOW, True, first, "runtime"),
        (load.WINDOW, True, first, "failed:runtime"),
        (load.WINDOW, True, second, "runtime"),
    ]


def test_a_failed_timer_names_its_worker_within_64_characters(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _runtime(store, tmp_path)
    rt = Runtime(
        base.bundle, store, FakeClock(START), evidence_dir=tmp_path / "ev", worker_id="w" * 70
    )
    with store.begin(START) as tx:
        timers.add(tx, load.WINDOW, START, record_id="boom")

    def broken(unit: Any, record_id: str | None) -> None:
        raise RuntimeError("broken window")

    monkeypatch.setattr(load, "window_ended", broken)
    assert rt.tick(START).failed == 1
    assert _claims(store) == [(load.WINDOW, True, START, "failed:" + "w" * 57)]


def test_pending_lists_a_records_unfired_timers_by_due_time(store: Store) -> None:
    with store.begin(START) as tx:
        timers.add(tx, load.WINDOW, START + 3 * HOUR, record_id="a", ref="third")
        timers.add(tx, load.WINDOW, START + HOUR, record_id="a", ref="first")
        timers.add(tx, load.WINDOW, START + HOUR, record_id="b", ref="other")
        timers.add(tx, load.WINDOW, START + 2 * HOUR, record_id="a", ref="second")
        timers.add(tx, load.WINDOW, START, record_id="a", ref="fired")
    with store.begin(START) as tx:
        [fired] = [r for r in timers.due(tx.conn, START, 10, skip_locked=False)]
        timers.mark_fired(tx.conn, fired.id, START, "runtime")
    with store.read() as conn:
        assert [r.ref for r in timers.pending(conn, "a")] == ["first", "second", "third"]
        assert [py_time(r.due_at) for r in timers.pending(conn, "a")] == [
            START + HOUR,
            START + 2 * HOUR,
            START + 3 * HOUR,
        ]
        assert [r.ref for r in timers.pending(conn, "b")] == ["other"]
        assert timers.pending(conn, "c") == []


def test_cancel_drops_only_the_kinds_and_ref_asked_for(store: Store) -> None:
    with store.begin(START) as tx:
        for kind, ref in [
            ("sla_breach", "only"),
            ("sla_remind", "only"),
            (load.WINDOW, ""),
            ("alert_for", "low"),
            ("alert_for", "high"),
        ]:
            timers.add(tx, kind, START + HOUR, record_id="a", ref=ref)
        timers.add(tx, "sla_breach", START + HOUR, record_id="b", ref="only")
        timers.add(tx, "sla_breach", START, record_id="a", ref="done")
    with store.begin(START) as tx:
        [done] = timers.due(tx.conn, START, 10, skip_locked=False)
        timers.mark_fired(tx.conn, done.id, START, "runtime")

    def left() -> list[tuple[str | None, str, str]]:
        with store.read() as conn:
            rows = conn.execute(select(T_TIMER).order_by(T_TIMER.c.id)).all()
        return [(r.record_id, r.kind, r.ref) for r in rows]

    with store.begin(START) as tx:
        assert timers.cancel(tx, "a", (load.WINDOW,)) == 1
        assert timers.cancel(tx, "a", ("alert_for",), ref="low") == 1
    assert left() == [
        ("a", "sla_breach", "only"),
        ("a", "sla_remind", "only"),
        ("a", "alert_for", "high"),
        ("b", "sla_breach", "only"),
        ("a", "sla_breach", "done"),
    ]
    with store.begin(START) as tx:  # the hot case: a stage's SLA timers, fired ones kept
        assert timers.cancel(tx, "a", timers.SLA_KINDS) == 2
        assert timers.cancel(tx, "a", ("alert_for",)) == 1
    assert left() == [("b", "sla_breach", "only"), ("a", "sla_breach", "done")]


def test_a_tick_works_at_its_own_now_not_the_clocks(store: Store, tmp_path: Path) -> None:
    rt = _runtime(store, tmp_path, extra=METRIC)
    rt.create("deal", {"stock": 10, "region": "east"}, actor="li.wei")
    with store.begin(START) as tx:
        timers.add(tx, load.WINDOW, START, record_id="gone")
    when = START + timedelta(seconds=42)  # the clock stays at START
    report = rt.tick(when)
    assert (report.timers, report.alerts) == (1, {"pending": 1})
    [window] = [c for c in _claims(store) if c[0] == load.WINDOW]
    assert window == (load.WINDOW, True, when, "runtime")
    [alert] = rt.alerts(rule="thin")
    assert (alert["state"], alert["started_at"]) == ("pending", "2026-01-05T09:00:42+00:00")
    assert rt.tick(when + HOUR).schedules == ["hourly"]  # due an hour after its first sight
    assert _schedule_row(store) == (when + 2 * HOUR, when + HOUR, 1, 0)


def test_a_failing_timer_costs_only_its_own_batch(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _runtime(store, tmp_path)
    with store.begin(START) as tx:
        for k, name in enumerate(["a", "b", "c", "boom"]):
            timers.add(tx, load.WINDOW, START + timedelta(seconds=k), record_id=name)
    seen: list[str | None] = []

    def window_ended(unit: Any, record_id: str | None) -> None:
        seen.append(record_id)
        if record_id == "boom":
            raise RuntimeError("broken window")

    monkeypatch.setattr(load, "window_ended", window_ended)
    rt.clock.set(START + HOUR)
    report = rt.tick(START + HOUR, batch=2)
    assert (report.timers, report.failed) == (4, 1)
    # Batches of two: [a, b] fired; [c, boom] failed and was redone one timer at a time.
    assert seen == ["a", "b", "c", "boom", "c", "boom"]


def test_marking_several_timers_fired_marks_exactly_those(store: Store) -> None:
    with store.begin(START) as tx:
        for name in ["a", "b", "c"]:
            timers.add(tx, load.WINDOW, START, record_id=name)
    with store.begin(START) as tx:
        a, _b, c = timers.due(tx.conn, START, 10, skip_locked=False)
        timers.mark_all_fired(tx.conn, [a.id, c.id], START + HOUR, "w1")
        timers.mark_all_fired(tx.conn, [], START + HOUR, "w2")  # nothing to mark
    with store.read() as conn:
        rows = conn.execute(select(T_TIMER).order_by(T_TIMER.c.id)).all()
    assert [(r.record_id, r.ref, r.fired, py_time(r.claimed_at), r.claimed_by) for r in rows] == [
        ("a", "", True, START + HOUR, "w1"),
        ("b", "", False, None, None),
        ("c", "", True, START + HOUR, "w1"),
    ]


# -- metric alerts ------------------------------------------------------------------------------
def test_a_grouped_metric_alert_keys_fires_and_resolves_with_its_actions(
    store: Store, tmp_path: Path
) -> None:
    rt = _runtime(store, tmp_path, extra=METRIC)
    east = rt.create("deal", {"stock": 10, "region": "east"}, actor="li.wei")
    rt.create("deal", {"stock": 90, "region": "west"}, actor="li.wei")
    assert rt.tick(START).alerts == {"pending": 1}
    [pending] = rt.alerts(rule="thin")
    assert (pending["dedup_key"], pending["state"]) == ("thin:east", "pending")
    report = _at(rt, START + HOUR)  # the `for:` timer finds the group by its key
    assert report.alerts == {"firing": 1}
    rt.update(east.id, {"stock": 40}, actor="li.wei")
    assert _at(rt, START + HOUR + ticking.METRIC_ALERT_EVERY).alerts == {"resolved": 1}
    [alert] = rt.alerts(rule="thin")
    assert (alert["dedup_key"], alert["state"]) == ("thin:east", "resolved")
    # actions and on_resolve read the alert's group (`region`), `value`, key and state.
    sent = [s[:3] for s in _sent(store) if s[3] == "alert thin"]
    assert sent == [
        ("li.wei", "east 10.0", "thin:east firing"),
        ("zhao.lei", "east 40.0", "thin:east resolved"),
    ]


# -- PostgreSQL: what only it does (named without "postgresql": not copies of SQLite tests,
# so `make mutation`, which deselects those copies, keeps them) ------------------------------
def _try_lock(conn: Any, key: str) -> bool:
    sql = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))")
    return bool(conn.execute(sql, {"key": key}).scalar())


def test_on_pg_a_schedule_lock_is_keyed_by_database_schema_and_name(pg_store: Store) -> None:
    with pg_store.begin(START) as mine:
        assert ticking.cluster_lock(mine.conn, "schedule:a") is True
        schema = mine.conn.execute(text("SELECT current_schema()")).scalar()
        with pg_store.begin(START) as other:
            assert ticking.cluster_lock(other.conn, "schedule:a") is False
            assert ticking.cluster_lock(other.conn, "schedule:b") is True
            # The documented key: sopflow:<database>:<schema>:<name>.
            assert _try_lock(other.conn, f"sopflow:test:{schema}:schedule:a") is False
            assert _try_lock(other.conn, f"sopflow:test:{schema}:schedule:c") is True
            assert _try_lock(other.conn, "sopflow:test:elsewhere:schedule:a") is True
    with pg_store.begin(START) as later:  # transaction-scoped: released at commit
        assert ticking.cluster_lock(later.conn, "schedule:a") is True


@pytest.mark.timeout(60)
def test_on_pg_a_timer_another_worker_holds_is_skipped_not_waited_for(
    pg_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _runtime(pg_store, tmp_path)
    with pg_store.begin(START) as tx:
        timers.add(tx, load.WINDOW, START, record_id="held")
        timers.add(tx, load.WINDOW, START, record_id="free")
    seen: list[str | None] = []
    monkeypatch.setattr(load, "window_ended", lambda unit, record_id: seen.append(record_id))
    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:  # holds the row lock of "held" (at most 5 seconds)
        with pg_store.begin(START) as tx:
            query = select(T_TIMER).where(T_TIMER.c.record_id == "held").with_for_update()
            tx.conn.execute(query).one()
            locked.set()
            release.wait(5)

    holder = threading.Thread(target=other_worker)
    holder.start()
    try:
        assert locked.wait(10)
        # Without SKIP LOCKED this tick would wait for the other worker, then fire both.
        assert rt.tick(START).timers == 1
        assert seen == ["free"]
    finally:
        release.set()
        holder.join()
    assert rt.tick(START + timedelta(seconds=1)).timers == 1
    assert seen == ["free", "held"]


def test_a_metric_alert_whose_group_has_gone_still_fires_on_a_when_of_now_alone(
    store: Store, tmp_path: Path
) -> None:
    metric = METRIC.replace('when: "value < 20"', 'when: "year(now) > 2000"')
    rt = _runtime(store, tmp_path, extra=metric)
    deal = rt.create("deal", {"stock": 10, "region": "east"}, actor="li.wei")
    assert rt.tick(START).alerts == {"pending": 1}
    rt.update(deal.id, {"region": "west"}, actor="li.wei")  # the east group is gone
    # The `for:` timer finds no east group: `when` reads `now` only, so it holds.
    report = _at(rt, START + HOUR)
    assert (report.failed, report.alerts) == (0, {"firing": 1, "pending": 1})
    alerts = {a["dedup_key"]: (a["state"], a["fired_at"]) for a in rt.alerts(rule="thin")}
    assert alerts == {
        "thin:east": ("firing", "2026-01-05T10:00:00+00:00"),
        "thin:west": ("pending", None),
    }
    assert [s[2:] for s in _sent(store) if s[3] == "alert thin"] == [
        ("thin:east firing", "alert thin")
    ]


def test_a_pending_metric_alert_whose_group_has_gone_is_cancelled_and_counted(
    store: Store, tmp_path: Path
) -> None:
    """Before issue 15 the tick did not count this cancel (nor a firing) in its report."""
    rt = _runtime(store, tmp_path, extra=METRIC)
    deal = rt.create("deal", {"stock": 10, "region": "east"}, actor="li.wei")
    assert rt.tick(START).alerts == {"pending": 1}
    rt.update(deal.id, {"region": "west"}, actor="li.wei")
    report = _at(rt, START + HOUR)
    assert report.alerts == {"cancelled": 1, "pending": 1}
    alerts = {a["dedup_key"]: a["state"] for a in rt.alerts(rule="thin")}
    assert alerts == {"thin:east": "resolved", "thin:west": "pending"}
    assert [s for s in _sent(store) if s[3] == "alert thin"] == []


def test_on_pg_a_schedule_another_process_runs_is_skipped_then_run_once(
    pg_store: Store, tmp_path: Path
) -> None:
    rt = _runtime(pg_store, tmp_path)
    assert rt.tick(START).schedules == []  # first sight: due at 10:00
    rt.clock.set(START + HOUR)
    with pg_store.begin(START) as other:  # another process is running `hourly`
        assert ticking.cluster_lock(other.conn, "schedule:hourly") is True
        assert rt.tick(START + HOUR).schedules == []
    assert rt.tick(START + HOUR).schedules == ["hourly"]
    assert rt.tick(START + HOUR).schedules == []


@pytest.mark.parametrize(
    ("stage", "why"),
    [
        ("  - id: only\n", "the stage has no SLA any more"),
        ("  - id: other\n", "the stage is gone"),
    ],
)
def test_an_sla_timer_of_a_stage_a_new_bundle_changed_fires_quietly(
    store: Store, tmp_path: Path, stage: str, why: str
) -> None:
    rt = _runtime(store, tmp_path)
    deal = _deal(rt)  # its reminder (10:00) and breach (11:00) timers are stored
    start = BUNDLE.index("  - id: only\n")
    changed = BUNDLE[:start] + stage + BUNDLE[BUNDLE.index("---\nkind: schedule") :]
    root = tmp_path / "changed"
    root.mkdir()
    (root / "bundle.yaml").write_text(changed.replace("RUN_POLICY", "run_late"))
    result = compile_bundle(root)
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    later = Runtime(result.bundle, store, FakeClock(START), evidence_dir=tmp_path / "ev")
    later.clock.set(START + 2 * HOUR)
    report = later.tick(START + 2 * HOUR)
    assert (report.timers, report.failed, report.late) == (2, 0, 0), why
    assert [e["kind"] for e in later.events(deal) if e["kind"].startswith("sla_")] == []
    assert [c[1:] for c in _claims(store) if c[0].startswith("sla_")] == [
        (True, START + 2 * HOUR, "runtime"),
        (True, START + 2 * HOUR, "runtime"),
    ]


def test_a_record_alerts_for_timer_reads_the_context_too(store: Store, tmp_path: Path) -> None:
    alert = """
---
kind: alert
version: 1
name: stale
entity: deal
when: "stock < 10 and year(now) > 2000"
for: 1h
"""
    rt = _runtime(store, tmp_path, extra=alert)
    deal = rt.create("deal", {"stock": 5, "region": "east"}, actor="li.wei")
    [pending] = rt.alerts(rule="stale")
    assert (pending["record_id"], pending["state"]) == (deal.id, "pending")
    report = _at(rt, START + HOUR)
    assert (report.alerts, report.failed) == ({"firing": 1}, 0)
    [firing] = rt.alerts(rule="stale")
    assert (firing["state"], firing["fired_at"]) == ("firing", "2026-01-05T10:00:00+00:00")
