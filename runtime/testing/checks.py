"""Check a test's expectations against what the runtime did; each miss is one located failure."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from engine.spec.testing import (
    AlertExpect,
    Expectations,
    NotificationExpect,
    OutboxExpect,
    RefusalExpect,
    RoutingExpect,
    ScoreExpect,
)
from runtime.data import to_json
from runtime.errors import CommandError, Conflict, Forbidden, Invalid, NotFound, Refused
from runtime.metrics import MetricCache
from runtime.people import loads
from runtime.queries import waiting
from runtime.reports import forecast_report, metric_report
from runtime.store import T_ALERT, T_EVENT, T_EVIDENCE, T_OUTBOX, T_SCHEDULE

if TYPE_CHECKING:
    from runtime.records import RecordView
    from runtime.testing.case import CaseRun

Loc = tuple[str | int, ...]
_STATUS: dict[type[CommandError], str] = {
    Refused: "refused",
    Invalid: "invalid",
    Forbidden: "forbidden",
    NotFound: "not_found",
    Conflict: "conflict",
}
_RECORD_KEYS = ("exists", "stage", "status", "workflow", "owner", "queue", "read_only")


def same(expected: Any, got: Any) -> bool:
    """Compare a test file's value with the runtime's: numbers closely, the rest as JSON."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got or (expected == got and type(expected) is type(got))
    if isinstance(expected, int | float) and isinstance(got, int | float):
        return math.isclose(expected, got, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(map(same, expected, got))
    if isinstance(expected, dict) and isinstance(got, dict):
        return expected.keys() == got.keys() and all(same(v, got[k]) for k, v in expected.items())
    return bool(_plain(expected) == _plain(got))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return to_json({"v": value})["v"]


def shown(value: Any) -> str:
    """Show a value in a failure message."""
    if isinstance(value, str):
        return f"'{value}'"
    if value is None:
        return "nothing"
    return str(_plain(value))


class Checker:
    """Checks expectations for one case run."""

    def __init__(self, run: CaseRun) -> None:
        self.run = run

    @property
    def rt(self) -> Any:
        """Return the case's runtime."""
        return self.run.runtime

    def fail(
        self, loc: Loc, code: str, message: str, expected: Any = None, got: Any = None
    ) -> None:
        """Note a failure with expected and got values."""
        self.run.fail(loc, code, message, expected=expected, got=got)

    def mismatch(self, loc: Loc, code: str, what: str, expected: Any, got: Any) -> None:
        """Note that `what` was `got` where `expected` was expected."""
        self.fail(loc, code, f"{what} expected {shown(expected)}, got {shown(got)}", expected, got)

    # -- refusals -------------------------------------------------------------------
    def refusal(self, want: RefusalExpect, exc: CommandError, loc: Loc) -> None:
        """Check a refused step against what the test expected of the refusal."""
        status = _STATUS.get(type(exc), "rejected")
        if want.status is not None and want.status != status:
            self.mismatch((*loc, "status"), "refused", "refusal status", want.status, status)
        if want.message is not None and want.message != exc.message:
            self.mismatch(
                (*loc, "message"), "refused", "refusal message", want.message, exc.message
            )
        if want.contains is not None and want.contains not in _all_text(exc):
            self.fail(
                (*loc, "contains"),
                "refused",
                f"refusal does not mention '{want.contains}': {_all_text(exc)}",
            )
        codes = [p.code for p in exc.problems]
        if want.codes is not None and sorted(want.codes) != sorted(codes):
            self.mismatch((*loc, "codes"), "refused", "refusal codes", want.codes, codes)
        for j, expected in enumerate(want.problems):
            wanted = expected.model_dump(exclude_none=True)
            if not any(_problem_matches(wanted, p.to_dict()) for p in exc.problems):
                listed = "; ".join(f"[{p.code}] {p.message}" for p in exc.problems) or "none"
                self.fail(
                    (*loc, "problems", j),
                    "refused",
                    f"no problem like {wanted} in the refusal; it lists: {listed}",
                    wanted,
                    [p.to_dict() for p in exc.problems],
                )

    # -- expectations ---------------------------------------------------------------
    def check(self, want: Expectations, loc: Loc) -> None:
        """Check every key of an `expect:` step."""
        if want.record is not None:
            self._record(want, loc)
        for j, alert in enumerate(want.alerts):
            self._alert(alert, (*loc, "alerts", j))
        for j, note in enumerate(want.notifications):
            self._notification(note, (*loc, "notifications", j))
        for j, effect in enumerate(want.outbox):
            self._outbox(effect, (*loc, "outbox", j))
        for j, metric in enumerate(want.metrics):
            self._metric(metric, (*loc, "metrics", j))
        for j, forecast in enumerate(want.forecasts):
            self._forecast(forecast, (*loc, "forecasts", j))
        for j, schedule in enumerate(want.schedules):
            self._schedule(schedule, (*loc, "schedules", j))
        for j, queue in enumerate(want.queues):
            self._queue(queue.name, queue.records, (*loc, "queues", j))
        for j, load in enumerate(want.loads):
            with self.rt.store.read() as conn:
                got = loads(conn, [load.user])[load.user][0]
            if got != load.value:
                self.mismatch(
                    (*loc, "loads", j, "value"), "load", f"load of '{load.user}'", load.value, got
                )
        if want.late_timers is not None:
            got = sum(r.late for r in self.run.ticks)
            if got != want.late_timers:
                self.mismatch(
                    (*loc, "late_timers"), "late", "timers fired late", want.late_timers, got
                )

    def _record(self, want: Expectations, loc: Loc) -> None:
        name = want.record or ""
        rid = self.run.record_id(name, (*loc, "record"))
        try:
            view = self.rt.get(rid)
        except NotFound:
            view = None
        if want.exists is not None and want.exists != (view is not None):
            self.mismatch(
                (*loc, "exists"), "exists", f"record '{name}' exists", want.exists, not want.exists
            )
        if view is None:
            return
        what = f"{view.entity} '{name}'"
        self._core(view, what, want, loc)
        if want.score is not None:
            self._score(view, what, want.score, (*loc, "score"))
        if want.routing is not None:
            self._routing(view, what, want.routing, (*loc, "routing"))
        if want.evidence:
            self._evidence(view, what, want.evidence, (*loc, "evidence"))
        if want.events:
            self._events(view, what, want.events, (*loc, "events"))
        for rule, outcome in want.decisions.items():
            found = [d for d in self.rt.explain(view.id) if d["rule"] == rule]
            got = found[-1]["outcome"] if found else None
            if got != outcome:
                self.mismatch(
                    (*loc, "decisions", rule),
                    "decision",
                    f"{what} decision of '{rule}'",
                    outcome,
                    got,
                )

    def _core(self, view: RecordView, what: str, want: Expectations, loc: Loc) -> None:
        """Check the core columns, the fields and the warnings of the last save."""
        for key in _RECORD_KEYS[1:]:
            expected = getattr(want, key)
            if key in want.model_fields_set and not same(expected, getattr(view, key)):
                self.mismatch((*loc, key), key, f"{what} {key}", expected, getattr(view, key))
        scope = view.scope()
        for field, expected in want.fields.items():
            if field not in scope:
                self.fail((*loc, "fields", field), "field", f"{what} has no field '{field}'")
            elif not same(expected, scope[field]):
                self.mismatch(
                    (*loc, "fields", field), "field", f"{what} {field}", expected, scope[field]
                )
        if want.warnings is not None:
            last = self.run.last_saved.get(view.id)
            got = [w.get("message", "") for w in (last.warnings if last else [])]
            if not same(want.warnings, got):
                self.mismatch(
                    (*loc, "warnings"), "warnings", f"{what} warnings", want.warnings, got
                )

    def _score(self, view: RecordView, what: str, want: ScoreExpect, loc: Loc) -> None:
        found = [d for d in self.rt.explain(view.id, "score") if want.model in (None, d["rule"])]
        if not found:
            self.fail(
                loc, "score", f"{what} has no score" + (f" by '{want.model}'" if want.model else "")
            )
            return
        latest = found[-1]
        detail = latest["detail"]
        if want.value is not None and not same(want.value, detail.get("score")):
            self.mismatch(
                (*loc, "value"), "score", f"{what} score", want.value, detail.get("score")
            )
        parts = {f["feature"]: f.get("contribution") for f in detail.get("features", [])}
        for feature, expected in want.features.items():
            if feature not in parts:
                self.fail(
                    (*loc, "features", feature),
                    "score",
                    f"{what} score has no feature '{feature}' (it has: {', '.join(parts)})",
                )
            elif not same(expected, parts[feature]):
                self.mismatch(
                    (*loc, "features", feature),
                    "score",
                    f"{what} feature '{feature}' contribution",
                    expected,
                    parts[feature],
                )

    def _routing(self, view: RecordView, what: str, want: RoutingExpect, loc: Loc) -> None:
        found = [d for d in self.rt.explain(view.id, "routing") if want.rule in (None, d["rule"])]
        if not found:
            self.fail(
                loc,
                "routing",
                f"{what} was not routed" + (f" by '{want.rule}'" if want.rule else ""),
            )
            return
        detail = found[-1]["detail"]
        for key in ("owner", "queue", "reason"):
            expected = getattr(want, key)
            if key in want.model_fields_set and expected != detail.get(key):
                self.mismatch(
                    (*loc, key), "routing", f"{what} routing {key}", expected, detail.get(key)
                )
        if want.contains is not None and want.contains not in str(detail.get("reason")):
            self.fail(
                (*loc, "contains"),
                "routing",
                f"{what} routing reason does not mention '{want.contains}': {detail.get('reason')}",
            )
        rows = {c["user"]: c for c in detail.get("candidates", [])}
        for user, verdict in want.candidates.items():
            row = rows.get(user)
            got = (
                "not considered"
                if row is None
                else row.get("excluded") or ("chosen" if row.get("chosen") else "eligible")
            )
            if verdict != got and not (row is not None and verdict in str(row.get("excluded"))):
                self.mismatch(
                    (*loc, "candidates", user), "routing", f"candidate '{user}'", verdict, got
                )

    def _evidence(self, view: RecordView, what: str, want: Mapping[str, int], loc: Loc) -> None:
        with self.rt.store.read() as conn:
            rows = conn.execute(
                select(T_EVIDENCE.c.kind, func.count())
                .where(T_EVIDENCE.c.record_id == view.id)
                .group_by(T_EVIDENCE.c.kind)
            ).all()
        counts = {k: int(n) for k, n in rows}
        for kind, expected in want.items():
            if counts.get(kind, 0) != expected:
                self.mismatch(
                    (*loc, kind),
                    "evidence",
                    f"{what} files of '{kind}'",
                    expected,
                    counts.get(kind, 0),
                )

    def _events(self, view: RecordView, what: str, want: Mapping[str, int], loc: Loc) -> None:
        with self.rt.store.read() as conn:
            rows = conn.execute(
                select(T_EVENT.c.kind, func.count())
                .where(T_EVENT.c.record_id == view.id)
                .group_by(T_EVENT.c.kind)
            ).all()
        counts = {k: int(n) for k, n in rows}
        for kind, expected in want.items():
            if counts.get(kind, 0) != expected:
                self.mismatch(
                    (*loc, kind), "events", f"{what} '{kind}' events", expected, counts.get(kind, 0)
                )

    def _alert(self, want: AlertExpect, loc: Loc) -> None:
        query = select(T_ALERT).where(T_ALERT.c.rule == want.rule)
        if want.record is not None:
            rid = self.run.record_id(want.record, (*loc, "record"))
            query = query.where(T_ALERT.c.record_id == rid)
        with self.rt.store.read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query.order_by(T_ALERT.c.id)).all()]
        about = f"alert '{want.rule}'" + (f" on '{want.record}'" if want.record else "")
        latest = rows[-1] if rows else None
        state = latest["state"] if latest else "none"
        if state != want.state:
            self.mismatch((*loc, "state"), "alert", f"{about} state", want.state, state)
        if want.count is not None and len(rows) != want.count:
            self.mismatch((*loc, "count"), "alert", f"{about} count", want.count, len(rows))
        if latest is None:
            return
        values = latest.get("values") or {}
        for key, expected in want.values.items():
            if not same(expected, values.get(key)):
                self.mismatch(
                    (*loc, "values", key),
                    "alert",
                    f"{about} value '{key}'",
                    expected,
                    values.get(key),
                )
        if want.acknowledged is not None and want.acknowledged != (latest["acked_at"] is not None):
            self.mismatch(
                (*loc, "acknowledged"),
                "alert",
                f"{about} acknowledged",
                want.acknowledged,
                not want.acknowledged,
            )
        if want.feedback is not None and want.feedback != latest["feedback"]:
            self.mismatch(
                (*loc, "feedback"), "alert", f"{about} feedback", want.feedback, latest["feedback"]
            )
        for key in ("severity", "labels"):
            expected = getattr(want, key)
            if expected is not None and not same(expected, latest[key]):
                self.mismatch((*loc, key), "alert", f"{about} {key}", expected, latest[key])

    def _outbox_rows(self, action: str, record: str | None, loc: Loc) -> list[dict[str, Any]]:
        query = select(T_OUTBOX).where(T_OUTBOX.c.action == action)
        if record is not None:
            query = query.where(
                T_OUTBOX.c.record_id == self.run.record_id(record, (*loc, "record"))
            )
        with self.rt.store.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query.order_by(T_OUTBOX.c.id)).all()]

    def _notification(self, want: NotificationExpect, loc: Loc) -> None:
        rows = self._outbox_rows("notify", want.record, loc)
        exact = {
            "template": want.template,
            "to": want.to,
            "subject": want.subject,
            "body": want.body,
        }
        exact = {k: v for k, v in exact.items() if v is not None}
        matching = [
            r
            for r in rows
            if all(r["payload"].get(k) == v for k, v in exact.items())
            and (want.channel is None or r["channel"] == want.channel)
            and (
                want.contains is None
                or want.contains in f"{r['payload'].get('subject')}\n{r['payload'].get('body')}"
            )
        ]
        self._count(loc, "notification", len(matching), want.count, _notes(rows), exact)

    def _outbox(self, want: OutboxExpect, loc: Loc) -> None:
        rows = self._outbox_rows(want.action, want.record, loc)
        matching = [
            r for r in rows if all(same(v, r["payload"].get(k)) for k, v in want.payload.items())
        ]
        self._count(
            loc,
            "outbox",
            len(matching),
            want.count,
            f"{len(rows)} in all",
            {"action": want.action, **want.payload},
        )

    def _count(self, loc: Loc, code: str, got: int, want: int | None, seen: str, what: Any) -> None:
        noun = "notifications" if code == "notification" else "outbox entries"
        if want is None and got == 0:
            self.fail(loc, code, f"no {code} like {what}; queued: {seen}", what, seen)
        elif want is not None and got != want:
            self.fail(
                (*loc, "count"), code, f"{noun} like {what} expected {want}, got {got}", want, got
            )

    def _metric(self, want: Any, loc: Loc) -> None:
        bundle = self.rt.bundle
        if want.name not in bundle.metrics:
            self.fail((*loc, "name"), "metric", f"no metric '{want.name}' in the bundle")
            return
        spec = bundle.metrics[want.name]
        with self.rt.store.read() as conn:
            cache = MetricCache(conn, bundle.metrics, self.run.clock.now())
            rows = cache.rows(want.name)
        group = tuple(want.group.get(g) for g in spec.group_by) if want.group else None
        row = next(
            (
                r
                for r in rows
                if group is None or tuple(r.groups.get(g) for g in spec.group_by) == group
            ),
            None,
        )
        if row is None:
            self.fail(loc, "metric", f"metric '{want.name}' has no row for {want.group}")
            return
        if want.value is not None and not same(want.value, row.value):
            self.mismatch((*loc, "value"), "metric", f"metric '{want.name}'", want.value, row.value)
        if want.count is not None and want.count != row.count:
            self.mismatch(
                (*loc, "count"), "metric", f"metric '{want.name}' count", want.count, row.count
            )
        if want.unit is not None or want.kpi is not None:
            with self.rt.store.read() as conn:
                report = metric_report(conn, spec, self.run.clock.now(), [])
            for key in ("unit", "kpi"):
                expected = getattr(want, key)
                if expected is not None and not same(expected, report[key]):
                    self.mismatch(
                        (*loc, key), "metric", f"metric '{want.name}' {key}", expected, report[key]
                    )

    def _forecast(self, want: Any, loc: Loc) -> None:
        bundle = self.rt.bundle
        if want.name not in bundle.forecasts:
            self.fail((*loc, "name"), "forecast", f"no forecast '{want.name}' in the bundle")
            return
        with self.rt.store.read() as conn:
            got = forecast_report(conn, bundle, bundle.forecasts[want.name], self.run.clock.now())
        for key in ("expected", "weighted", "pipeline", "open_records", "buckets"):
            expected = getattr(want, key)
            if expected is None:
                continue
            value = got[key]
            if key == "buckets":
                value = [{k: b.get(k) for k in e} for b, e in zip(got[key], expected, strict=False)]
            if not same(expected, value):
                self.mismatch(
                    (*loc, key), "forecast", f"forecast '{want.name}' {key}", expected, value
                )

    def _schedule(self, want: Any, loc: Loc) -> None:
        with self.rt.store.read() as conn:
            row = conn.execute(select(T_SCHEDULE).where(T_SCHEDULE.c.name == want.name)).first()
        if want.name not in self.rt.bundle.schedules:
            self.fail((*loc, "name"), "schedule", f"no schedule '{want.name}' in the bundle")
            return
        runs = int(row.runs) if row is not None else 0
        late = int(row.missed) if row is not None else 0
        failed = sum(
            1 for r in self.run.ticks for n in getattr(r, "failed_schedules", ()) if n == want.name
        )
        for key, got in (("runs", runs), ("late", late), ("failed", failed)):
            expected = getattr(want, key)
            if expected is not None and expected != got:
                self.mismatch(
                    (*loc, key), "schedule", f"schedule '{want.name}' {key}", expected, got
                )

    def _queue(self, name: str, want: list[str], loc: Loc) -> None:
        bundle = self.rt.bundle
        with self.rt.store.read() as conn:
            page = waiting(conn, bundle, name, list(bundle.forms), limit=1000)
        back = {v: k for k, v in self.run.names.items()}
        got = [back.get(r.id, r.id) for r in page.items]
        if sorted(got) != sorted(want):
            self.mismatch(
                (*loc, "records"), "queue", f"queue '{name}' records", sorted(want), sorted(got)
            )


def _problem_matches(want: Mapping[str, Any], got: Mapping[str, Any]) -> bool:
    for key, value in want.items():
        if key == "contains":
            if value not in str(got.get("message", "")):
                return False
        elif got.get(key) != value:
            return False
    return True


def _all_text(exc: CommandError) -> str:
    return " | ".join([exc.message, *(p.message for p in exc.problems)])


def _notes(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "none"
    shown_rows = [f"{r['payload'].get('template')} to {r['payload'].get('to')}" for r in rows[:8]]
    more = f" and {len(rows) - 8} more" if len(rows) > 8 else ""
    return ", ".join(shown_rows) + more


__all__ = ["Checker", "same", "shown"]
