"""Check a test's expectations against what the runtime did; each miss is one located failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from engine.spec.testing import Expectations, RefusalExpect, RoutingExpect, ScoreExpect
from runtime import rows
from runtime.errors import CommandError, Conflict, Forbidden, Invalid, NotFound, Refused, Taken
from runtime.people import roles_of
from runtime.store import T_EVENT, T_EVIDENCE
from runtime.testing.compare import Loc, all_text, problem_matches, same, shown
from runtime.testing.effects import EffectChecks

if TYPE_CHECKING:
    from runtime.records import RecordView
    from runtime.testing.case import CaseRun

_STATUS: dict[type[CommandError], str] = {
    Refused: "refused",
    Invalid: "invalid",
    Forbidden: "forbidden",
    NotFound: "not_found",
    Conflict: "conflict",
    Taken: "conflict",
}
_RECORD_KEYS = ("exists", "stage", "status", "workflow", "owner", "queue", "read_only")


class Checker(EffectChecks):
    """Checks expectations for one case run."""

    def __init__(self, run: CaseRun) -> None:
        self.run = run

    def refusal(self, want: RefusalExpect, exc: CommandError, loc: Loc) -> None:
        """Check a refused step against what the test expected of the refusal."""
        status = _STATUS.get(type(exc), "rejected")
        if want.status is not None and want.status != status:
            self.mismatch((*loc, "status"), "refused", "refusal status", want.status, status)
        if want.message is not None and want.message != exc.message:
            self.mismatch(
                (*loc, "message"), "refused", "refusal message", want.message, exc.message
            )
        if want.contains is not None and want.contains not in all_text(exc):
            self.fail(
                (*loc, "contains"),
                "refused",
                f"refusal does not mention '{want.contains}': {all_text(exc)}",
            )
        codes = [p.code for p in exc.problems]
        if want.codes is not None and sorted(want.codes) != sorted(codes):
            self.mismatch((*loc, "codes"), "refused", "refusal codes", want.codes, codes)
        for j, expected in enumerate(want.problems):
            wanted = expected.model_dump(exclude_none=True)
            if not any(problem_matches(wanted, p.to_dict()) for p in exc.problems):
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
        lists = (
            ("alerts", self._alert),
            ("precision", self._precision),
            ("notifications", self._notification),
            ("outbox", self._outbox),
            ("metrics", self._metric),
            ("forecasts", self._forecast),
            ("schedules", self._schedule),
            ("snapshots", self._snapshot),
            ("queues", self._queue),
            ("loads", self._load),
        )
        for key, check in lists:
            for j, item in enumerate(getattr(want, key)):
                check(item, (*loc, key, j))
        if want.may:
            self._may(want.may, (*loc, "may"))
        if want.guide is not None:
            self._guide(want.guide, (*loc, "guide"))
        if want.catalog:
            self._catalog(want.catalog, (*loc, "catalog"))
        if want.late_timers is not None:
            got = sum(r.late for r in self.run.ticks)
            if got != want.late_timers:
                self.mismatch(
                    (*loc, "late_timers"), "late", "timers fired late", want.late_timers, got
                )

    def _assignments(self, view: Any, what: str, want: Expectations, loc: Loc) -> None:
        """Check a record's named assignments and who its row-level access shows it to."""
        held = view.assignments or {}
        for name, expected in want.assignments.items():
            if name not in held:
                self.fail((*loc, "assignments", name), "assignment", f"{what} has no '{name}'")
                continue
            one = held[name]
            got = one["user"] or (f"queue:{one['queue']}" if one["queue"] else None)
            if got != expected:
                self.mismatch(
                    (*loc, "assignments", name), "assignment", f"{what} {name}", expected, got
                )
        bundle = self.rt.bundle
        with self.rt.store.read() as conn:
            for user, shows in want.sees.items():
                seen = rows.record_visible(conn, bundle, view.id, user, roles_of(bundle, user))
                if seen != shows:
                    self.mismatch(
                        (*loc, "sees", user), "sees", f"'{user}' sees {what}", shows, seen
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
        if want.assignments or want.sees:
            self._assignments(view, what, want, loc)
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
        for field, wanted in want.fields.items():
            expected = self.run.with_ids(wanted, (*loc, "fields", field))
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

    def _per_kind(self, view: RecordView, counted: Any, table: Any) -> dict[str, int]:
        """Return `counted` per `kind` of a record's rows in `table` (evidence or events)."""
        query = select(table.c.kind, counted).where(table.c.record_id == view.id)
        with self.rt.store.read() as conn:
            rows = conn.execute(query.group_by(table.c.kind)).all()
        return {k: int(n) for k, n in rows}

    def _evidence(self, view: RecordView, what: str, want: Mapping[str, int], loc: Loc) -> None:
        # Files, as the gates count them: a file attached twice (same bytes) is one file.
        counts = self._per_kind(view, func.count(T_EVIDENCE.c.sha256.distinct()), T_EVIDENCE)
        for kind, expected in want.items():
            got = counts.get(kind, 0)
            if got != expected:
                self.mismatch((*loc, kind), "evidence", f"{what} files of '{kind}'", expected, got)

    def _events(self, view: RecordView, what: str, want: Mapping[str, int], loc: Loc) -> None:
        counts = self._per_kind(view, func.count(), T_EVENT)
        for kind, expected in want.items():
            got = counts.get(kind, 0)
            if got != expected:
                self.mismatch((*loc, kind), "events", f"{what} '{kind}' events", expected, got)


__all__ = ["Checker", "same", "shown"]
