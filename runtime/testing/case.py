"""Run one definition test: its steps through the real Runtime, on a fake clock."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from engine.spec.testing import ACTIONS, ReloadStep, Step, TestSpec, TickStep
from engine.testfiles import TestCase
from runtime.clock import FakeClock, utc
from runtime.core import Runtime
from runtime.errors import CommandError, Conflict, Forbidden, Invalid, NotFound, Refused, Taken
from runtime.people import change_load
from runtime.records import RecordView
from runtime.schedules import next_run
from runtime.snapshots import state_name
from runtime.store import T_ALERT, T_SCHEDULE, T_TIMER, Store, py_time
from runtime.testing.checks import Checker
from runtime.testing.outcome import Failure
from runtime.testing.reload import reload_to
from runtime.testing.times import DEFAULT_START, seconds_of, to_utc, zone_of

_STATUS = {
    Refused: "refused",
    Invalid: "invalid",
    Forbidden: "forbidden",
    NotFound: "not_found",
    Conflict: "conflict",
    Taken: "conflict",
}
# Files a test attaches start as the media type they claim, so the sniffer agrees.
_MAGIC = {
    "image/jpeg": b"\xff\xd8\xff\xe0",
    "image/jpg": b"\xff\xd8\xff\xe0",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/gif": b"GIF89a",
    "application/pdf": b"%PDF-1.4\n",
    "application/zip": b"PK\x03\x04",
    "image/webp": b"RIFF\x00\x00\x00\x00WEBP",
    "image/tiff": b"II*\x00",
    "image/bmp": b"BM" + bytes(26),
    "image/heic": b"\x00\x00\x00\x18ftypheic",
    "image/heif": b"\x00\x00\x00\x18ftypmif1",
    "image/avif": b"\x00\x00\x00\x18ftypavif",
}
# Why: a tick loop that jumps from one due timer to the next ends even if a definition
# keeps re-arming timers in the past; past this many jumps the test is told.
MAX_TICKS = 10_000


class StopCase(Exception):
    """A step went wrong in a way that makes the rest of the case meaningless."""


def with_users(bundle: Bundle, spec: TestSpec) -> Bundle:
    """Return the bundle with the test's user states laid over the manifest's users."""
    if not spec.users:
        return bundle
    users = dict(bundle.manifest.users)
    for user_id, state in spec.users.items():
        if user_id not in users:
            continue  # reported by the checker as an unknown user
        changes = {
            k: v
            for k, v in state.model_dump(exclude={"load"}, exclude_none=True).items()
            if k in type(users[user_id]).model_fields
        }
        if state.leave is not None:
            changes["leave"] = list(state.leave)
        users[user_id] = users[user_id].model_copy(update=changes)
    manifest = bundle.manifest.model_copy(update={"users": users})
    return dataclasses.replace(bundle, manifest=manifest)


class CaseRun:
    """One case in progress: its runtime, clock, record names and failures so far."""

    def __init__(self, bundle: Bundle, case: TestCase, store: Store, workdir: Path) -> None:
        self.case = case
        self.spec = case.spec
        self.zone = zone_of(bundle.manifest.timezone)
        self.failures: list[Failure] = []
        start = to_utc(DEFAULT_START, self.zone)  # Monday 09:00 in the bundle's time zone
        if self.spec.start is not None:
            start = self._time(self.spec.start, "start")
        self.clock = FakeClock(start)
        self.runtime = Runtime(
            with_users(bundle, self.spec), store, self.clock, evidence_dir=workdir / "evidence"
        )
        self.names: dict[str, str] = {}
        self.last_saved: dict[str, RecordView] = {}  # what each record's last command answered
        self.ticks: list[Any] = []
        self.checker = Checker(self)
        self.workdir = workdir

    # -- reporting ------------------------------------------------------------------
    def fail(self, loc: tuple[str | int, ...], code: str, message: str, **kw: Any) -> None:
        """Note a failure located at `loc` in the test document."""
        line, col = self.case.locate(*loc)
        self.failures.append(Failure(self.case.path, line, col, code, message, **kw))

    def when(self, value: Any, loc: tuple[str | int, ...]) -> datetime:
        """Return a time of the test file as the runtime's clock reads it (stop if bad)."""
        return self._time(value, *loc)

    def _time(self, value: Any, *loc: str | int) -> datetime:
        try:
            return to_utc(value, self.zone)
        except ValueError as exc:
            self.fail(loc, "time", str(exc))
            raise StopCase from None

    # -- running --------------------------------------------------------------------
    def run(self) -> list[Failure]:
        """Run every step in order; stop at the first step that cannot go on."""
        try:
            self._setup()
            for i, step in enumerate(self.spec.steps):
                self._step(i, step)
        except StopCase:
            pass
        return sorted(self.failures, key=lambda f: (f.line, f.col))

    def _setup(self) -> None:
        known = self.runtime.bundle.manifest.users
        for user_id, state in self.spec.users.items():
            if user_id not in known:
                self.fail(("users", user_id), "unknown-user", f"no user '{user_id}' in the bundle")
                raise StopCase
            if state.load:
                with self.runtime.store.begin(self.clock.now()) as tx:
                    change_load(tx.conn, user_id, state.load)
        # The first tick registers the schedules, so their runs count from the start.
        self.ticks.append(self.runtime.tick(self.clock.now()))

    def _step(self, i: int, step: Step) -> None:
        here: tuple[str | int, ...] = ("steps", i)
        if step.at is not None:
            self._move_clock(self._time(step.at, *here, "at"), (*here, "at"))
        action = next((k for k in ACTIONS if getattr(step, k) is not None), None)
        if action is not None:
            self._act(i, step, action)
        if step.expect is not None:
            try:
                self.checker.check(step.expect, (*here, "expect"))
            except StopCase:
                raise
            except Exception as exc:  # a bug, or a definition that fails when read: say so
                self.fail(
                    (*here, "expect"), "error", f"checking raised {type(exc).__name__}: {exc}"
                )
                raise StopCase from None

    def _move_clock(self, when: datetime, loc: tuple[str | int, ...]) -> None:
        if when < self.clock.now():
            self.fail(loc, "time", f"the clock is at {self.clock.now()} UTC; it does not go back")
            raise StopCase
        self.clock.set(when)

    def record_id(self, name: str, loc: tuple[str | int, ...]) -> str:
        """Return the runtime id of a record the test named; stop the case if unknown."""
        found = self.names.get(name)
        if found is None:
            known = ", ".join(sorted(self.names)) or "none yet"
            self.fail(loc, "unknown-record", f"no record named '{name}' (named so far: {known})")
            raise StopCase
        return found

    def _act(self, i: int, step: Step, action: str) -> None:
        loc: tuple[str | int, ...] = ("steps", i, action)
        actor = step.by or self.spec.by
        try:
            self._do(action, getattr(step, action), actor, loc)
        except CommandError as exc:
            if step.refused is None:
                problems = "; ".join(p.message for p in exc.problems)
                self.fail(
                    loc,
                    "step",
                    f"{action} was {_STATUS.get(type(exc), 'rejected')}: {exc.message}"
                    + (f" ({problems})" if problems else ""),
                )
                raise StopCase from None
            self.checker.refusal(step.refused, exc, ("steps", i, "refused"))
            return
        except StopCase:
            raise
        except Exception as exc:  # a bug in sopflow or the definitions: say so, go no further
            self.fail(loc, "error", f"{action} raised {type(exc).__name__}: {exc}")
            raise StopCase from None
        if step.refused is not None:
            self.fail(
                ("steps", i, "refused"),
                "refused",
                f"expected {action} to be refused, but it happened",
            )

    def _make(self, action: str, arg: Any, actor: str | None) -> RecordView:
        """Run a step that makes (or merges into) a record; return the record."""
        rt = self.runtime
        if action == "create":
            return rt.create(arg.entity, arg.data, actor=actor, workflow=arg.workflow)
        if action == "ingest":
            return rt.ingest(arg.entity, arg.data, actor=actor)[0]
        if action == "receive":  # a declared sender's push: its own actor, whoever `by` is
            return rt.receive(arg.inbound, arg.data)[0]
        return rt.import_legacy(arg.entity, arg.data, arg.schema_version, actor=actor)

    def _do(self, action: str, arg: Any, actor: str | None, loc: tuple[str | int, ...]) -> None:
        rt = self.runtime
        if hasattr(arg, "data") and isinstance(arg.data, dict):
            arg = arg.model_copy(update={"data": self.with_ids(arg.data, (*loc, "data"))})
        if action in ("create", "ingest", "receive", "import_legacy"):
            view = self._make(action, arg, actor)
            if arg.as_:
                self.names[arg.as_] = view.id
            self.last_saved[view.id] = view
        elif action == "update":
            view = rt.update(self.record_id(arg.record, (*loc, "record")), arg.data, actor=actor)
            self.last_saved[view.id] = view
        elif action == "move":
            view = rt.transition(self.record_id(arg.record, (*loc, "record")), arg.to, actor=actor)
            self.last_saved[view.id] = view
        elif action == "attach":
            self._attach(arg, actor, loc)
        elif action == "assign":
            rid = self.record_id(arg.record, (*loc, "record"))
            rt.assign(
                rid,
                user=arg.user,
                queue=arg.queue,
                routing=arg.routing,
                as_=arg.as_,
                actor=actor,
            )
        elif action in ("acknowledge", "feedback"):
            self._alert_step(action, arg, actor, loc)
        elif action in ("tick", "reload"):
            (self._tick if action == "tick" else self._reload)(arg, loc)
        elif action in ("complete", "approve", "reject", "send_back"):
            self._decide(action, arg, actor, loc)

    def _alert_step(
        self, action: str, arg: Any, actor: str | None, loc: tuple[str | int, ...]
    ) -> None:
        alert_id = self._alert_id(arg, loc)
        if action == "acknowledge":
            self.runtime.acknowledge_alert(alert_id, actor=actor)
        else:
            self.runtime.alert_feedback(alert_id, arg.verdict, actor=actor, note=arg.note)

    def _decide(self, action: str, arg: Any, actor: str | None, loc: tuple[str | int, ...]) -> None:
        """Complete a branch, or approve, reject or send back (runtime/approvals.py)."""
        rt = self.runtime
        rid = self.record_id(arg.record, (*loc, "record"))
        if action == "complete":
            view = rt.complete_branch(rid, arg.branch, actor=actor, comment=arg.comment)
        else:
            to = getattr(arg, "to", None)
            view = rt.decide(
                rid, action, actor=actor, to=to, comment=arg.comment, on_behalf_of=arg.for_
            )
        self.last_saved[view.id] = view

    def _reload(self, arg: ReloadStep, loc: tuple[str | int, ...]) -> None:
        """Compile the bundle with `files` replaced, serve it, run its re-evaluations."""
        root = self.case.root
        if root is None:
            self.fail(loc, "reload", "this case was not read from a bundle folder")
            raise StopCase
        copy = self.workdir / f"reload{len(list(self.workdir.glob('reload*')))}"
        shutil.copytree(root, copy)
        for target, source in arg.files.items():
            found = (root / source).resolve()
            if not found.is_file() or not found.is_relative_to(root.resolve()):
                self.fail((*loc, "files", target), "reload", f"no file '{source}' in the bundle")
                raise StopCase
            (copy / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found, copy / target)
        result = compile_bundle(copy)
        if result.bundle is None:
            shown = "; ".join(d.render().replace(f"{copy}/", "") for d in result.diagnostics[:3])
            self.fail(loc, "reload", f"the changed bundle does not compile: {shown}")
            raise StopCase
        reload_to(self.runtime, with_users(result.bundle, self.spec))  # pre-flight, migration
        self.runtime.queue_reevaluations()
        self.runtime.reevaluate(arg.batches)

    def with_ids(self, value: Any, loc: tuple[str | int, ...]) -> Any:
        """Put record ids for `@NAME` values (the records a test named), in lists too."""
        if isinstance(value, dict):
            return {k: self.with_ids(v, (*loc, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.with_ids(v, (*loc, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and value.startswith("@@"):
            return value[1:]  # `@@text` is the text `@text`
        if isinstance(value, str) and value.startswith("@") and len(value) > 1:
            return self.record_id(value[1:], loc)
        return value

    def _attach(self, arg: Any, actor: str | None, loc: tuple[str | int, ...]) -> None:
        rid = self.record_id(arg.record, (*loc, "record"))
        media = arg.type.strip().lower()
        body = arg.content.encode() or f"{self.spec.name} {loc}".encode()
        content = _MAGIC.get(media, b"") + body
        name = arg.file_name or f"{arg.kind}.{media.rpartition('/')[2] or 'bin'}"
        self.runtime.attach_evidence(
            rid, arg.kind, content, file_name=name, media_type=media, actor=actor
        )

    def _alert_id(self, arg: Any, loc: tuple[str | int, ...]) -> int:
        query = select(T_ALERT.c.id).where(T_ALERT.c.rule == arg.rule)
        if arg.record is not None:
            query = query.where(T_ALERT.c.record_id == self.record_id(arg.record, (*loc, "record")))
        with self.runtime.store.read() as conn:
            ids = [r[0] for r in conn.execute(query.order_by(T_ALERT.c.id.desc())).all()]
        if not ids:
            self.fail((*loc, "rule"), "alert", f"no alert of rule '{arg.rule}' to act on")
            raise StopCase
        return int(ids[0])

    # -- time -----------------------------------------------------------------------
    def _tick(self, arg: TickStep, loc: tuple[str | int, ...]) -> None:
        now = self.clock.now()
        try:
            if arg.to is not None:
                target = self._time(arg.to, *loc, "to")
            else:
                target = now + timedelta(seconds=seconds_of(arg.after or ""))
            every = timedelta(seconds=seconds_of(arg.every)) if arg.every else None
        except ValueError as exc:
            self.fail(loc, "time", str(exc))
            raise StopCase from None
        if target < now:
            self.fail(loc, "time", f"the clock is at {now} UTC; it does not go back")
            raise StopCase
        for _ in range(MAX_TICKS):
            due = self._next_due(self.clock.now(), target, every)
            self.clock.set(due)
            self.ticks.append(self.runtime.tick(due))
            if due >= target:
                return
        self.fail(loc, "time", f"more than {MAX_TICKS} ticks on the way to {target} UTC")
        raise StopCase

    def _next_due(self, now: datetime, target: datetime, every: timedelta | None) -> datetime:
        """Return the next moment to tick at: a due timer, a schedule run, a step, the end."""
        candidates = [target]
        if every is not None:
            candidates.append(now + every)
        with self.runtime.store.read() as conn:
            timer = conn.execute(
                select(func.min(T_TIMER.c.due_at)).where(
                    T_TIMER.c.fired.is_(False), T_TIMER.c.due_at > now
                )
            ).scalar()
            runs = {r.name: r.next_due_at for r in conn.execute(select(T_SCHEDULE)).all()}
        first_timer = py_time(timer)
        if first_timer is not None:
            candidates.append(utc(first_timer))
        for name, spec in self.runtime.bundle.schedules.items():
            stored = py_time(runs.get(name))
            due = utc(stored or next_run(spec, now, self.runtime.bundle.manifest.timezone))
            if due > now:
                candidates.append(due)
        for name, metric in self.runtime.bundle.metrics.items():  # metric snapshots
            taken = py_time(runs.get(state_name(name)))
            if metric.snapshot is not None and taken is not None and utc(taken) > now:
                candidates.append(utc(taken))
        return min(candidates)


__all__ = ["CaseRun", "StopCase", "with_users"]
