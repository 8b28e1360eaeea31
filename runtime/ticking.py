"""Time-driven work: `tick(now)` fires due timers, runs due schedules, checks metric alerts.

APScheduler (runtime/scheduler.py) only decides when to call tick; every piece of state
is in the store, so a restart (or another process) picks up exactly where this left off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, insert, select, text, update

from engine.spec import AlertSpec, MetricSpec, ScheduleSpec
from runtime import alerts, load, records, snapshots, stages, timers
from runtime.actions import Operations, run_actions
from runtime.clock import iso, utc
from runtime.data import json_value
from runtime.errors import NotFound
from runtime.for_each import claim, run_items
from runtime.integrity import settle_key
from runtime.metrics import compute_metric
from runtime.records import RecordView
from runtime.schedules import error_text, next_run, run_detail
from runtime.store import T_SCHEDULE
from runtime.unit import Unit

log = logging.getLogger("sopflow.tick")
METRIC_ALERT_EVERY = timedelta(minutes=1)


@dataclass
class TickReport:
    """What one tick did."""

    now: datetime
    timers: int = 0
    late: int = 0  # timers that fired late
    schedules: list[str] = field(default_factory=list)
    late_schedules: int = 0  # schedule runs that fell due while nothing ticked
    alerts: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    failed_schedules: list[str] = field(default_factory=list)
    # Per-item schedules (for_each): items run and items failed, per schedule.
    items: dict[str, tuple[int, int]] = field(default_factory=dict)
    snapshots: dict[str, int] = field(default_factory=dict)  # metric -> rows stored
    failed_snapshots: list[str] = field(default_factory=list)  # metrics whose snapshot failed


def cluster_lock(conn: Connection, name: str) -> bool:
    """Take a transaction-scoped advisory lock on PostgreSQL (True: this process holds it).

    Several server processes share one PostgreSQL: a cron schedule runs in the one
    that takes its lock, the others skip it without waiting. The conditional update
    of sf_schedule still makes the run happen once; the lock keeps a long run (a
    forecast recompute) from making the others queue on its row. Advisory locks are
    server-wide, so the key also names the database and schema: deployments (or test
    runs) in other schemas of the same server never skip each other's runs. SQLite
    has a single writer already.
    """
    if conn.dialect.name != "postgresql":
        return True
    held = conn.execute(
        text(
            "SELECT pg_try_advisory_xact_lock(hashtextextended("
            "'sopflow:' || current_database() || ':' || current_schema() || ':' || :name, 0))"
        ),
        {"name": name},
    ).scalar()
    return bool(held)


class Ticker:
    """The tick side of the Runtime (mixed in)."""

    worker_id: str
    late_grace: timedelta
    _metric_checked: datetime | None
    clock: Any

    @property
    def ops(self) -> Operations:
        """Return the runtime as the operations actions may call."""
        return cast(Operations, self)

    unit: Callable[..., AbstractContextManager[Unit]]  # Runtime.unit(actor, now)

    def tick(self, now: datetime | None = None, *, batch: int = 500) -> TickReport:
        """Process everything due at `now` (aware or naive UTC): timers, schedules, alerts."""
        when = utc(now) if now is not None else self.clock.now()
        report = TickReport(when)
        while True:
            done = self._timers(when, batch, report)
            if done < batch:
                break
        self._schedules(when, report)
        self._snapshots(when, report)
        if self._metric_checked is None or when - self._metric_checked >= METRIC_ALERT_EVERY:
            self._metric_alerts(when, report)
            self._metric_checked = when
        return report

    # -- timers -------------------------------------------------------------------
    def _timers(self, now: datetime, batch: int, report: TickReport) -> int:
        with self.unit(None, now) as unit:
            due = timers.due(unit.tx.conn, now, batch, skip_locked=unit.tx.postgres)
            if due and not self._fire_batch(unit, due, report):
                self._fire_each(unit, due, report)
            report.timers += len(due)
            return len(due)

    def _fire_batch(self, unit: Unit, due: list[Any], report: TickReport) -> bool:
        """Fire every due timer under one savepoint; on any failure undo all, say False.

        One savepoint per batch instead of one per timer, and the timers marked fired in
        one statement; `_fire_each` then redoes the batch one savepoint per timer, so a
        failing timer still costs only itself.
        """
        tx = unit.tx
        before = (report.late, dict(report.alerts), len(unit.created), len(tx.events))
        recorded = set(unit.failures)  # failures recorded in the undone batch are redone
        try:
            with tx.conn.begin_nested():
                for row in due:
                    self._fire(unit, row, report)
                timers.mark_all_fired(tx.conn, [row.id for row in due], unit.now, self.worker_id)
        except Exception:
            report.late, report.alerts = before[0], before[1]
            del unit.created[before[2] :], tx.events[before[3] :]
            unit.failures = recorded
            return False
        return True

    def _fire_each(self, unit: Unit, due: list[Any], report: TickReport) -> None:
        conn, now = unit.tx.conn, unit.now
        for row in due:
            try:
                with conn.begin_nested():
                    self._fire(unit, row, report)
                    timers.mark_fired(conn, row.id, now, self.worker_id)
            except Exception:
                log.exception("timer %s (%s) failed", row.id, row.kind)
                report.failed += 1
                timers.mark_fired(conn, row.id, now, f"failed:{self.worker_id}"[:64])

    def _fire(self, unit: Unit, row: Any, report: TickReport) -> None:
        if row.kind in timers.SLA_KINDS:
            self._sla(unit, row, report)
        elif row.kind == "alert_for":
            self._alert_for(unit, row, report)
        elif row.kind == load.WINDOW:
            load.window_ended(unit, row.record_id)

    def _sla(self, unit: Unit, row: Any, report: TickReport) -> None:
        try:
            view = records.load(unit.tx.conn, unit.bundle, row.record_id)
        except NotFound:
            return
        payload = row.payload or {}
        if view.status != "open" or view.stage != payload.get("stage"):
            return  # the record moved on; this timer is stale
        wf = unit.bundle.workflows.get(view.workflow or "")
        stage = stages.find(wf, view.stage or "") if wf else None
        sla = getattr(stage, "sla", None)
        if wf is None or sla is None:
            return
        late = timers.late(row.due_at, unit.now, self.late_grace)
        breach = row.kind == "sla_breach"
        if late:
            report.late += 1
            if sla.missed == "skip":
                return  # skipped silently: not run, not recorded (mark_late records it)
        unit.tx.event(
            "sla_breached" if breach else "sla_reminder",
            view.id,
            view.entity,
            stage=view.stage,
            due=payload.get("due"),
            late=late,
            policy=sla.missed if late else None,
        )
        if late and sla.missed != "run_late":
            return
        actions = sla.on_breach if breach else sla.on_remind
        work = view.copy()
        extra = {
            "params": dict(wf.params),
            "sla_due": payload.get("due"),
            "record_extra": {"sla_due": payload.get("due")},
        }
        run_actions(self.ops, unit, actions, work, row.kind, extra)
        load.recount(unit, work)
        if work.data != view.data or work.owner != view.owner:
            settle_key(unit, work)
            records.save_record(unit.tx.conn, unit.bundle, work, unit.now)

    def _alert_for(self, unit: Unit, row: Any, report: TickReport) -> None:
        spec = unit.bundle.alerts.get(row.ref)
        key = (row.payload or {}).get("key", "")
        if spec is None:
            return
        if spec.entity is not None:
            try:
                view = records.load(unit.tx.conn, unit.bundle, row.record_id)
            except NotFound:
                return
            scope = view.scope()
            values = {k: scope.get(k) for k in unit.bundle.expr(spec, "when").names}
            work = view.copy()
            changed = alerts.promote(
                unit,
                spec,
                key,
                scope,
                unit.context(scope),
                values,
                self._alert_runner(unit, work),
            )
            # Why: `set` and `assign` actions change the record; keep what they did.
            if (work.data, work.owner, work.queue) != (view.data, view.owner, view.queue):
                settle_key(unit, work)
                records.save_record(unit.tx.conn, unit.bundle, work, unit.now)
        else:
            changed = None
            for groups, r, c, values in self._metric_rows(unit, spec):
                if alerts.key_of(spec, {**groups, **values}, _group_key(groups)) == key:
                    changed = alerts.promote(
                        unit, spec, key, r, c, values, self._alert_runner(unit, None)
                    )
                    break
            else:  # the group has gone: `when` sees no values (cancelled unless it needs none)
                changed = alerts.promote(
                    unit, spec, key, {}, {"now": unit.now}, {}, self._alert_runner(unit, None)
                )
        if changed:
            report.alerts[changed] = report.alerts.get(changed, 0) + 1

    def _alert_runner(self, unit: Unit, view: RecordView | None) -> Any:
        def run(spec: AlertSpec, info: Mapping[str, Any], resolved: bool) -> list[Any]:
            actions = spec.on_resolve if resolved else spec.actions
            extra: dict[str, Any] = {"alert": dict(info)}
            if view is None:
                # A metric alert's actions read its group values and `value` by name, as
                # the compiler checked them (P5: success cases of the slow `stage`).
                extra = {**info, **extra}
            return run_actions(self.ops, unit, actions, view, f"alert {spec.name}", extra)

        return run

    # -- metric alerts --------------------------------------------------------------
    def _metric_rows(
        self, unit: Unit, spec: AlertSpec
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]]:
        metric = unit.bundle.metrics[spec.metric or ""]
        for row in compute_metric(unit.tx.conn, metric, unit.now, bundle=unit.bundle):
            groups = dict(row.groups)
            values = {**groups, "value": row.value, metric.name: row.value, "count": row.count}
            c = unit.context(None, **values)
            yield groups, {}, c, values

    def _metric_alerts(self, now: datetime, report: TickReport) -> None:
        with self.unit(None, now) as unit:
            for spec in unit.bundle.alerts.values():
                if spec.metric is None:
                    continue
                for groups, r, c, values in self._metric_rows(unit, spec):
                    key = alerts.key_of(spec, {**groups, **values}, _group_key(groups))
                    changed = alerts.evaluate(
                        unit, spec, r, c, key, None, values, self._alert_runner(unit, None)
                    )
                    if changed:
                        report.alerts[changed] = report.alerts.get(changed, 0) + 1

    # -- schedules ----------------------------------------------------------------
    def _schedules(self, now: datetime, report: TickReport) -> None:
        with self.unit(None, now) as unit:
            names = list(unit.bundle.schedules)
        for name in names:
            with self.unit(None, now) as unit:
                spec = unit.bundle.schedules.get(name)
                if spec is not None and self._schedule(unit, spec, report):
                    report.schedules.append(name)

    def _schedule(self, unit: Unit, spec: ScheduleSpec, report: TickReport) -> bool:
        conn, now = unit.tx.conn, unit.now
        if not cluster_lock(conn, f"schedule:{spec.name}"):
            return False  # another process runs this schedule right now
        row = conn.execute(select(T_SCHEDULE).where(T_SCHEDULE.c.name == spec.name)).first()
        timezone = unit.bundle.manifest.timezone
        if row is None:
            first = next_run(spec, now, timezone)
            conn.execute(insert(T_SCHEDULE), {"name": spec.name, "next_due_at": first})
            return False
        if row.next_due_at is None or row.next_due_at > now:
            return False
        following = next_run(spec, now, timezone)
        # Claim this run: only one process moves next_due_at on from this value.
        claimed = conn.execute(
            update(T_SCHEDULE)
            .where(T_SCHEDULE.c.name == spec.name, T_SCHEDULE.c.next_due_at == row.next_due_at)
            .values(next_due_at=following)
        ).rowcount
        if claimed != 1:
            return False
        due = row.next_due_at
        late = timers.late(due, now, self.late_grace)
        if late:
            report.late_schedules += 1
        if late and spec.missed == "skip":
            return False  # skipped silently: not run, not counted as missed (mark_late is)
        missed = row.missed + (1 if late else 0)
        policy = spec.missed if late else None
        unit.tx.event(
            "schedule_due", None, None, schedule=spec.name, due=iso(due), late=late, policy=policy
        )
        mine = T_SCHEDULE.c.name == spec.name
        if late and spec.missed != "run_late":
            conn.execute(update(T_SCHEDULE).where(mine).values(missed=missed))
            detail = run_detail(spec, due, now, late, policy=spec.missed)
            unit.tx.event("schedule_missed", None, None, **detail)
            return False
        conn.execute(
            update(T_SCHEDULE).where(mine).values(last_run_at=now, runs=row.runs + 1, missed=missed)
        )
        variables = {"schedule": {"name": spec.name, "due": iso(due)}}
        before = (len(unit.created), len(unit.tx.events))
        counts: dict[str, int] | None = None
        done: list[dict[str, Any]] = []
        try:
            with conn.begin_nested():  # a failing run undoes its own actions, nothing else
                if spec.for_each is not None:  # each item under a savepoint of its own
                    counts = run_items(self.ops, unit, spec, due, variables)
                else:
                    done = run_actions(
                        self.ops, unit, spec.actions, None, f"schedule {spec.name}", variables
                    )
        except Exception as exc:
            log.exception("schedule %s failed", spec.name)
            report.failed += 1
            report.failed_schedules.append(spec.name)
            del unit.created[before[0] :], unit.tx.events[before[1] :]
            ended = iso(max(now, self.clock.now()))
            detail = run_detail(spec, due, now, late, finished_at=ended, error=error_text(exc))
            unit.tx.event("schedule_failed", None, None, **detail)
            return False
        detail = run_detail(spec, due, now, late, finished_at=iso(max(now, self.clock.now())))
        if counts is not None:
            report.items[spec.name] = (counts["ran"], counts["failed"])
            report.failed += counts["failed"]
            unit.tx.event("schedule_ran", None, None, items=counts, **detail)
        else:
            unit.tx.event("schedule_ran", None, None, actions=json_value(done), **detail)
        return True

    # -- metric snapshots -------------------------------------------------------------
    def _snapshots(self, now: datetime, report: TickReport) -> None:
        bundle: Any = getattr(self, "bundle", None)  # the current one (Runtime.bundle)
        names = [n for n, m in bundle.metrics.items() if m.snapshot is not None] if bundle else []
        for name in names:
            with self.unit(None, now) as unit:
                spec = unit.bundle.metrics.get(name)
                if spec is None or spec.snapshot is None:
                    continue
                if not cluster_lock(unit.tx.conn, snapshots.state_name(name)):
                    continue
                due = claim(unit.tx.conn, snapshots.state_name(name), spec.snapshot, unit)
                if due is not None:
                    self._snapshot(unit, spec, due, report)

    def _snapshot(self, unit: Unit, spec: MetricSpec, due: datetime, report: TickReport) -> None:
        """Take one snapshot under a savepoint: a failure undoes it alone and is recorded.

        The claimed run stays claimed (the next is due as usual, as for a failed
        schedule run); a `snapshot_failed` event keeps the error, the tick's report
        counts it, and the tick's other snapshots and metric alerts still run.
        """
        try:
            with unit.savepoint():
                taken = snapshots.take(unit.tx.conn, unit.bundle, spec, unit.now)
        except Exception as exc:
            log.exception("snapshot of metric %s failed", spec.name)
            report.failed += 1
            report.failed_snapshots.append(spec.name)
            unit.tx.event(
                "snapshot_failed", None, None, metric=spec.name, due=iso(due), error=error_text(exc)
            )
            return
        report.snapshots[spec.name] = taken


def _group_key(groups: Mapping[str, Any]) -> str:
    return "/".join(f"{k}={v}" for k, v in groups.items()) or "all"
