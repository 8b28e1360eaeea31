"""Timer rows a tick leaves, and what only PostgreSQL does (issue 15, the tick's mutation
score): claims, batches, `pending` and `cancel`, the schedule lock, SKIP LOCKED. The bundle
and helpers are test_tick_pins.py's."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from runtime import load, ticking, timers
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import T_TIMER, Store, py_time
from tests.runtime.test_tick_pins import (
    HOUR,
    METRIC,
    START,
    _at,
    _claims,
    _runtime,
    _schedule_row,
)


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
