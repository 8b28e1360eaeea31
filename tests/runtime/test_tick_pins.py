"""What a tick writes, pinned to exact values: events, schedule state, outbox and timer rows
(issue 15, the tick's mutation score). Each test names the behaviour a survivor changed."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

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


def _claims(store: Store) -> list[tuple[str, bool, datetime | None, str | None]]:
    with store.read() as conn:
        rows = conn.execute(select(T_TIMER).order_by(T_TIMER.c.id)).all()
    return [(r.kind, r.fired, py_time(r.claimed_at), r.claimed_by) for r in rows]


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
