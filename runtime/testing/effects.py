"""Checks of what a case's effects are: alerts, outbox, metrics, schedules, guides, catalog."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.catalog import catalog, lookup
from engine.spec.testing import AlertExpect, NotificationExpect, OutboxExpect, PrecisionExpect
from runtime import alerts, snapshots
from runtime.clock import utc
from runtime.guide import guide_of
from runtime.metrics import MetricCache
from runtime.people import loads
from runtime.permissions import permitted, roles_for
from runtime.queries import waiting
from runtime.reports import forecast_report, metric_report
from runtime.store import T_ALERT, T_OUTBOX, T_SCHEDULE, py_time
from runtime.testing.compare import Loc, guide_view, notes, same, shown

if TYPE_CHECKING:
    from runtime.testing.case import CaseRun


class EffectChecks:
    """The checks of effects beyond one record (mixed into the Checker)."""

    run: CaseRun

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

    def _may(self, want: Mapping[str, Mapping[str, bool]], loc: Loc) -> None:
        bundle = self.rt.bundle
        for user, rights in want.items():
            person = bundle.manifest.users.get(user)
            if person is None:
                self.fail((*loc, user), "may", f"no user '{user}' in the bundle")
                continue
            for what, expected in rights.items():
                try:
                    got = permitted(person.roles, roles_for(bundle, what))
                except ValueError as exc:
                    self.fail((*loc, user, what), "may", str(exc))
                    continue
                if got != expected:
                    self.mismatch((*loc, user, what), "may", f"'{user}' may {what}", expected, got)

    def _load(self, want: Any, loc: Loc) -> None:
        with self.rt.store.read() as conn:
            got = loads(conn, [want.user])[want.user][0]
        if got != want.value:
            self.mismatch((*loc, "value"), "load", f"load of '{want.user}'", want.value, got)

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

    def _precision(self, want: PrecisionExpect, loc: Loc) -> None:
        """Check an alert rule's precision figures, as the alerts API reports them (F10)."""
        if want.rule not in self.rt.bundle.alerts:
            self.fail((*loc, "rule"), "precision", f"no alert rule '{want.rule}' in the bundle")
            return
        with self.rt.store.read() as conn:
            found = {row["rule"]: row for row in alerts.precision(conn)}
        got = found.get(want.rule, {"fired": 0, "judged": 0, "useful": 0, "false_positive": 0})
        about = f"precision of '{want.rule}'"
        for key in ("fired", "judged", "useful", "false_positive"):
            expected = getattr(want, key)
            if expected is not None and expected != got[key]:
                self.mismatch((*loc, key), "precision", f"{about}: {key}", expected, got[key])
        value = got.get("precision")
        if "value" in want.model_fields_set and not same(want.value, value):
            self.mismatch((*loc, "value"), "precision", about, want.value, value)

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
            and self._queued_at(want, r, loc)
        ]
        self._count(loc, "notification", len(matching), want.count, notes(rows), exact)

    def _outbox(self, want: OutboxExpect, loc: Loc) -> None:
        rows = self._outbox_rows(want.action, want.record, loc)
        matching = [
            r
            for r in rows
            if all(same(v, r["payload"].get(k)) for k, v in want.payload.items())
            and self._queued_at(want, r, loc)
        ]
        self._count(
            loc,
            "outbox",
            len(matching),
            want.count,
            f"{len(rows)} in all",
            {"action": want.action, **want.payload},
        )

    def _queued_at(self, want: Any, row: Mapping[str, Any], loc: Loc) -> bool:
        """Tell whether an outbox row was queued when `want.at` says (always, without `at`)."""
        if want.at is None:
            return True
        return bool(utc(py_time(row["created_at"])) == self.run.when(want.at, (*loc, "at")))

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
            cache = MetricCache(conn, bundle.metrics, self.run.clock.now(), bundle)
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
        ran = sum(r.items.get(want.name, (0, 0))[0] for r in self.run.ticks)
        items_failed = sum(r.items.get(want.name, (0, 0))[1] for r in self.run.ticks)
        for key, got in (
            ("runs", runs),
            ("late", late),
            ("failed", failed),
            ("items_ran", ran),
            ("items_failed", items_failed),
        ):
            expected = getattr(want, key)
            if expected is not None and expected != got:
                self.mismatch(
                    (*loc, key), "schedule", f"schedule '{want.name}' {key}", expected, got
                )

    def _snapshot(self, want: Any, loc: Loc) -> None:
        bundle = self.rt.bundle
        spec = bundle.metrics.get(want.metric)
        if spec is None or spec.snapshot is None:
            self.fail((*loc, "metric"), "snapshot", f"no metric '{want.metric}' with a snapshot")
            return
        group = [want.group.get(g) for g in spec.group_by] if want.group else None
        with self.rt.store.read() as conn:
            page = snapshots.query(
                conn, spec, since=None, until=None, group=group, limit=10_000, after=None
            )
        about = f"snapshots of '{want.metric}'" + (f" for {want.group}" if want.group else "")
        if want.count is not None and want.count != len(page.items):
            self.mismatch((*loc, "count"), "snapshot", about, want.count, len(page.items))
        newest = page.items[-1] if page.items else None
        if want.latest is not None:
            got = newest["value"] if newest else None
            if not same(want.latest, got):
                self.mismatch((*loc, "latest"), "snapshot", f"newest of {about}", want.latest, got)
        if want.at is not None:
            expected = self.run.when(want.at, (*loc, "at"))
            at = utc(newest["at"]) if newest else None
            if expected != at:
                what = f"time (UTC) of the newest of {about}"
                self.mismatch((*loc, "at"), "snapshot", what, expected, at)

    def _guide(self, want: Any, loc: Loc) -> None:
        rid = self.run.record_id(want.record, (*loc, "record"))
        viewer = want.by or self.run.spec.by
        got = guide_view(guide_of(self.rt, rid, viewer))
        about = f"guide of '{want.record}'"
        for key in want.model_fields_set - {"record", "by"}:
            expected = getattr(want, key)
            if key == "knowledge_rows":  # rows may name records: `@NAME`
                expected = self.run.with_ids(expected, (*loc, key))
            if isinstance(expected, dict) and key != "layout":
                for item, value in expected.items():
                    found = got[key].get(item, "<absent>")
                    if key == "knowledge_rows" and isinstance(found, list):
                        found = (
                            [  # only the columns the test names
                                {c: row.get(c) for c in want_row} if isinstance(row, dict) else row
                                for row, want_row in zip(found, value, strict=False)
                            ]
                            + found[len(value) :]
                        )
                    if not same(value, found):
                        self.mismatch(
                            (*loc, key, item), "guide", f"{about} {key} '{item}'", value, found
                        )
            elif not same(expected, got[key]):
                self.mismatch((*loc, key), "guide", f"{about} {key}", expected, got[key])

    def _catalog(self, want: Mapping[str, str], loc: Loc) -> None:
        shown_now = catalog(self.rt.bundle)
        for path, expected in want.items():
            found, value = lookup(shown_now, path)
            if not found:
                self.fail((*loc, path), "catalog", f"nothing at '{path}' in the catalog")
            elif value != expected:
                self.mismatch((*loc, path), "catalog", f"catalog '{path}'", expected, value)

    def _queue(self, expect: Any, loc: Loc) -> None:
        name, want = expect.name, expect.records
        bundle = self.rt.bundle
        with self.rt.store.read() as conn:
            page = waiting(conn, bundle, name, list(bundle.forms), limit=1000)
        back = {v: k for k, v in self.run.names.items()}
        got = [back.get(r.id, r.id) for r in page.items]
        if sorted(got) != sorted(want):
            self.mismatch(
                (*loc, "records"), "queue", f"queue '{name}' records", sorted(want), sorted(got)
            )


__all__ = ["EffectChecks"]
