"""Bundle schedules: when each falls due next, and what its runs did.

A schedule's next due time lives in `sf_schedule` (so a restart neither loses nor
repeats a run); each run leaves one event in the event log saying how it ended:
`schedule_ran` (outcome ok), `schedule_failed` (outcome failed, with the error) or
`schedule_missed` (a late run its `missed:` policy did not run: missed or skipped).
Cron expressions are read in the bundle's time zone (`timezone:` of the manifest), so
`0 9 * * mon` is 09:00 on the wall clocks of that zone, daylight saving time included.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Connection, select

from engine.bundle import Bundle
from engine.spec import ScheduleSpec
from engine.spec.signals import MetricSnapshot
from runtime.clock import iso, utc
from runtime.metrics import StoreSql
from runtime.store import T_EVENT, T_SCHEDULE

RUN_KINDS = ("schedule_ran", "schedule_failed", "schedule_missed")
OUTCOMES = {"schedule_ran": "ok", "schedule_failed": "failed"}
MAX_ERROR = 2000


def next_run(spec: ScheduleSpec | MetricSnapshot, after: datetime, timezone: str) -> datetime:
    """Return when a schedule next falls due after `after` (naive UTC in and out).

    A cron schedule is read on the wall clock of `timezone`: across a daylight saving
    change its runs stay at the same local time and move in UTC.
    """
    start = utc(after)
    if spec.every is not None:
        return start + timedelta(seconds=spec.every.seconds)
    tz = ZoneInfo(timezone)
    trigger = CronTrigger.from_crontab(spec.cron or "* * * * *", timezone=tz)
    local = start.replace(tzinfo=UTC).astimezone(tz)
    fire: datetime | None = trigger.get_next_fire_time(None, local + timedelta(seconds=1))
    assert fire is not None
    return utc(fire)


def run_detail(
    spec: ScheduleSpec, due: datetime, now: datetime, late: bool, **more: Any
) -> dict[str, Any]:
    """Return what a run's event keeps: schedule, due, start, lateness (and more)."""
    return {
        "schedule": spec.name,
        "due": iso(due),
        "started_at": iso(now),
        "late": late,
        "late_by_seconds": round((now - due).total_seconds(), 3) if late else None,
        **more,
    }


def error_text(exc: Exception) -> str:
    """Return an exception as the short text a failed run keeps."""
    text = str(exc) or type(exc).__name__
    problems = getattr(exc, "problems", None) or []
    if problems:
        text += ": " + "; ".join(str(getattr(p, "message", p)) for p in problems)
    return text[:MAX_ERROR]


def schedule_runs(conn: Connection, bundle: Bundle, *, limit: int = 5) -> list[dict[str, Any]]:
    """Return each schedule of the bundle with its state and its last `limit` runs."""
    states = {r.name: r for r in conn.execute(select(T_SCHEDULE)).all()}
    return [
        _schedule(conn, spec, states.get(name), bundle.manifest.timezone, limit)
        for name, spec in bundle.schedules.items()
    ]


def _schedule(
    conn: Connection, spec: ScheduleSpec, state: Any, timezone: str, limit: int
) -> dict[str, Any]:
    return {
        "name": spec.name,
        "title": spec.title or spec.name,
        "cron": spec.cron,
        "every_seconds": spec.every.seconds if spec.every is not None else None,
        "timezone": timezone if spec.cron is not None else None,
        "missed_policy": spec.missed,
        "next_run": iso(state.next_due_at) if state and state.next_due_at else None,
        "last_run_at": iso(state.last_run_at) if state and state.last_run_at else None,
        "runs": state.runs if state else 0,
        "missed": state.missed if state else 0,
        "last_runs": _runs(conn, spec.name, limit),
    }


def _runs(conn: Connection, name: str, limit: int) -> list[dict[str, Any]]:
    sql = StoreSql(conn)
    e = T_EVENT.c
    rows = conn.execute(
        select(e.kind, e.at, e.detail)
        .where(
            e.kind.in_(RUN_KINDS),
            e.record_id.is_(None),
            sql.text(e.detail, "schedule") == name,
        )
        .order_by(e.id.desc())
        .limit(limit)
    ).all()
    return [_run(row.kind, row.detail) for row in rows]


def _run(kind: str, detail: Mapping[str, Any] | str | None) -> dict[str, Any]:
    info = _detail(detail)
    outcome = OUTCOMES.get(kind) or ("skipped" if info.get("policy") == "skip" else "missed")
    return {
        "due": info.get("due"),
        "started_at": info.get("started_at") if kind != "schedule_missed" else None,
        "finished_at": info.get("finished_at"),
        "outcome": outcome,
        "error": info.get("error"),
        "late": bool(info.get("late")),
        "late_by_seconds": info.get("late_by_seconds"),
        # for_each: {total, ran, filtered, failed} of the run's items (None: one run, no items)
        "items": info.get("items"),
    }


def _detail(detail: Mapping[str, Any] | str | None) -> dict[str, Any]:
    if isinstance(detail, str):
        loaded = json.loads(detail)
        return loaded if isinstance(loaded, dict) else {}
    return dict(detail or {})
