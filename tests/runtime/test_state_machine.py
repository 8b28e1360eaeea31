"""A hypothesis state machine over the Runtime: random commands, invariants after each step.

Each run gets a fresh store (SQLite in a temporary directory, or its own PostgreSQL
schema) and a FakeClock. Rules create tickets and pharmacy-visit opportunities, move the
clock, attempt transitions (valid or not, by an allowed or a forbidden actor), attach
evidence (right and wrong media types, unknown kinds), update fields (valid and not,
with stale row versions too) and tick. Runtime refusals (Refused, Invalid, Conflict,
NotFound, Forbidden) are expected outcomes; any other exception is a failure.

After every step, for every record: its stage is a stage or exit of its workflow, its
status matches, an open record has exactly one open stay in that stage, a closed one
none, the stays form a chain, and the dwell times add up exactly to its age.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatch
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, create_engine, select, text

from engine.compiler.pipeline import compile_bundle
from engine.spec.workflow import ExitSpec, StageSpec
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.db import normalise_url
from runtime.errors import CommandError, Conflict, Forbidden, Invalid, NotFound, Refused
from runtime.records import RecordView
from runtime.stages import find, is_forward
from runtime.store import T_EVENT, T_EVIDENCE, T_LOAD, T_RECORD, T_STAY, T_TIMER, Store
from runtime.timers import SLA_KINDS

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("SOPFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _without_row_access() -> Any:
    """The default bundle with every role of its forms' `permissions.rows` seeing `all`.

    The machine acts as one rep on every opportunity, including those routed or
    assigned to others; row access (tests/api/test_default_rows.py) would make those
    NotFound. What this test checks is the stages, stays and timers, not who sees what.
    """
    folder = Path(tempfile.mkdtemp(prefix="sopflow-machine-")) / "definitions"
    shutil.copytree(ROOT / "definitions", folder)
    for form in (folder / "forms").glob("*.yaml"):
        text = form.read_text(encoding="utf-8")
        block = re.search(r"\n  rows:[^\n]*(\n    [^\n]*)*", text)
        if block:
            every = re.sub(r": (assigned|team)\b", ": all", block.group(0))
            text = text[: block.start()] + every + text[block.end() :]
        form.write_text(text, encoding="utf-8")
    bundle = compile_bundle(folder).bundle
    shutil.rmtree(folder.parent)
    assert bundle is not None and all(
        set((f.spec.permissions.rows or {}).values()) <= {"all"} for f in bundle.forms.values()
    )
    return bundle


BUNDLE = _without_row_access()
EXPECTED = (Refused, Invalid, Conflict, NotFound, Forbidden)
CLOSED = ("won", "lost", "closed")
MAX_RECORDS = 4  # few records, so that the steps take them deep into their workflows
T = TypeVar("T")

REP, DIRECTOR, AGENT = "li.wei", "wang.fang", "zhao.lei"
WORKFLOW = {"ticket": "ticket_handling", "opportunity": "pharmacy_visit"}
TARGETS = sorted(
    {
        g.id
        for wf in (BUNDLE.workflows[name] for name in WORKFLOW.values())
        for g in (*wf.body.stages, *wf.body.exits)
    }
    | {"nowhere"}
)
# Evidence kinds and the media each accepts (the workflow's needs plus evidence fields).
ACCEPT = {
    "shelf_photo": ["image/jpeg", "image/png"],
    "inventory_list": ["image/*", "application/pdf"],
    "price_comparison": ["application/pdf", "image/*"],
    "shelf_photos": ["image/*"],
}
FILES: dict[str, tuple[bytes, str, str]] = {  # name: (content, declared type, stored type)
    "jpeg": (b"\xff\xd8\xff\xe0photo", "image/jpeg", "image/jpeg"),
    "png": (b"\x89PNG\r\n\x1a\nimage", "image/png", "image/png"),
    "pdf": (b"%PDF-1.4 sheet", "application/pdf", "application/pdf"),
    "pdf-declared-jpeg": (b"%PDF-1.4 sheet", "image/jpeg", "application/pdf"),
    "text": (b"just words", "text/plain", "text/plain"),
    "zip": (b"PK\x03\x04zipped", "application/zip", "application/zip"),
}


@dataclass
class Model:
    """What the machine expects of one record."""

    entity: str
    stage: str
    status: str
    version: int
    evidence: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Files attached during the current stay, by content: what an evidence gate counts.
    stay_files: set[tuple[str, str, bytes]] = field(default_factory=set)


# ---------------------------------------------------------------------------- stores


_admin: Engine | None = None


def _pg_admin() -> Engine:
    global _admin  # noqa: PLW0603 - one admin engine for every run
    if _admin is None:
        _admin = create_engine(normalise_url(PG_URL))
    return _admin


def open_store(backend: str, directory: Path) -> tuple[Store, Callable[[], None]]:
    """Open a fresh, empty store; return it and what removes it."""
    if backend == "sqlite":
        store = Store.open(f"sqlite:///{directory / 'sopflow.db'}")
        return store, store.dispose
    schema = f"sm_{uuid.uuid4().hex[:16]}"
    with _pg_admin().begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = Store.open(PG_URL, schema=schema)

    def drop() -> None:
        store.dispose()
        with _pg_admin().begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))

    return store, drop


# ---------------------------------------------------------------------------- oracle


def evidence_ok(entity: str, kind: str, media: str) -> bool:
    """Tell whether the runtime must accept this evidence."""
    return entity == "opportunity" and any(fnmatch(media, p) for p in ACCEPT.get(kind, []))


def move_expected(model: Model, target: str, actor: str) -> bool | None:
    """Tell whether a move must succeed (True), must be refused (False), or may go either way."""
    wf = BUNDLE.workflows[WORKFLOW[model.entity]]
    if model.status != "open" or find(wf, target) is None or target == model.stage:
        return False
    if not wf.may_move(model.stage, target):
        return False
    if model.entity == "ticket":
        return True
    if actor != REP:
        return False  # only reps and managers move opportunities
    if model.stage == "quote":
        return None  # the price cap guard and validation depend on the quote's data
    here = find(wf, model.stage)
    if not is_forward(wf, model.stage, target) or here is None:
        return True
    for need in here.evidence:
        have = sum(
            1
            for k, m, _ in model.stay_files
            if k == need.kind and any(fnmatch(m, t) for t in need.types)
        )
        if have < need.min:
            return False
    return True


# ---------------------------------------------------------------------------- the machine


class RuntimeMachine(RuleBasedStateMachine):
    """Commands against a Runtime; the store must stay consistent after each."""

    backend: ClassVar[str] = "sqlite"
    records = Bundle("records")
    opportunities = Bundle("opportunities")

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="sopflow-sm-"))
        self.store, self.drop = open_store(self.backend, self.directory)
        self.clock = FakeClock(datetime(2026, 1, 5, 9, 0))
        self.rt = Runtime(BUNDLE, self.store, self.clock, evidence_dir=self.directory / "ev")
        self.model: dict[str, Model] = {}

    def teardown(self) -> None:
        """Remove the store and the evidence directory."""
        self.drop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def attempt(self, command: Callable[[], T]) -> tuple[T | None, CommandError | None]:
        """Run a command; return its result or the runtime's refusal (anything else raises)."""
        try:
            return command(), None
        except EXPECTED as error:
            return None, error

    def unchanged(self, record_id: str) -> None:
        """Check that a refused command left the record as it was."""
        view = self.rt.get(record_id)
        model = self.model[record_id]
        assert (view.row_version, view.stage, view.status) == (
            model.version,
            model.stage,
            model.status,
        )

    def track(self, view: RecordView) -> None:
        """Follow a command's result: at most one version further."""
        model = self.model[view.id]
        assert view.row_version in (model.version, model.version + 1), (view, model)
        if view.stage != model.stage:
            model.stay_files.clear()  # a new stay: files of the one before no longer count
        model.stage, model.status, model.version = view.stage or "", view.status, view.row_version

    # -- rules --------------------------------------------------------------------
    @precondition(lambda self: len(self.model) < MAX_RECORDS)
    @rule(
        target=records,
        severity=st.integers(1, 3),
        tier=st.sampled_from(["VIP", "normal", "trial"]),
    )
    def create_ticket(self, severity: int, tier: str) -> str:
        view = self.rt.create("ticket", {"customer_tier": tier, "severity": severity}, actor=AGENT)
        assert (view.workflow, view.stage, view.row_version) == ("ticket_handling", "triage", 1)
        self.model[view.id] = Model("ticket", "triage", "open", 1)
        return view.id

    @precondition(lambda self: len(self.model) < MAX_RECORDS)
    @rule(
        targets=(records, opportunities),
        region=st.sampled_from(["sichuan", "chongqing"]),
        price=st.none() | st.integers(0, 60),
        product=st.sampled_from(["herbal_pieces", "antibiotics"]),
    )
    def create_opportunity(self, region: str, price: int | None, product: str) -> str:
        data = {"pharmacy_name": "P", "region": region, "product_class": product}
        if price is not None:
            data["quote_price"] = price
        view = self.rt.create("opportunity", data, actor=REP)
        assert (view.workflow, view.stage) == ("pharmacy_visit", "appointment")
        self.model[view.id] = Model("opportunity", "appointment", "open", 1)
        return view.id

    @rule(
        seconds=st.integers(0, 3 * 86400)
        | st.sampled_from([3 * 3600 - 1, 3 * 3600, 4 * 3600, 8 * 3600, 14 * 86400])
    )
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @rule(record=records, to_stage=st.sampled_from(TARGETS), boss=st.booleans())
    def transition(self, record: str, to_stage: str, boss: bool) -> None:
        """Attempt a move (any stage or exit, or none); a refusal must change nothing."""
        target = to_stage
        model = self.model[record]
        actor = AGENT if model.entity == "ticket" else (DIRECTOR if boss else REP)
        expected = move_expected(model, target, actor)
        view, error = self.attempt(
            lambda: self.rt.transition(record, target, actor=actor, expected_version=model.version)
        )
        if error is not None:
            assert isinstance(error, Refused), error
            assert expected is not True, (model, target, actor, error.to_dict())
            self.unchanged(record)
            return
        assert view is not None and expected is not False, (model, target, actor)
        assert (view.stage, view.row_version) == (target, model.version + 1)
        self.track(view)

    @rule(record=records | opportunities, data=st.data())
    def move_along(self, record: str, data: st.DataObject) -> None:
        """Attempt a move the workflow's graph allows (it may still lack requirements)."""
        model = self.model[record]
        wf = BUNDLE.workflows[WORKFLOW[model.entity]]
        targets = sorted(t for s, t in wf.moves if s == model.stage)
        if targets:
            self.transition(record, data.draw(st.sampled_from(targets)), boss=False)

    @rule(record=opportunities, data=st.data())
    def push(self, record: str, data: st.DataObject) -> None:
        """Attach what the opportunity's stage asks for, then move it to the next stage."""
        model = self.model[record]
        wf = BUNDLE.workflows[WORKFLOW[model.entity]]
        here = find(wf, model.stage)
        if model.status != "open" or here is None:
            return
        for need in here.evidence:
            fits = [
                f
                for f in ("jpeg", "png", "pdf")
                if any(fnmatch(FILES[f][2], t) for t in need.types)
            ]
            for copy in range(need.min):  # distinct files: a repeat would count once
                self.attach(record, need.kind, data.draw(st.sampled_from(fits)), copy)
        forward = [t for s, t in wf.moves if s == model.stage and is_forward(wf, s, t)]
        self.transition(record, forward[0], boss=False)

    @rule(
        record=records,
        kind=st.sampled_from([*ACCEPT, "selfie"]),
        file=st.sampled_from(sorted(FILES)),
    )
    def attach(self, record: str, kind: str, file: str, copy: int = 0) -> None:
        model = self.model[record]
        content, declared, stored = FILES[file]
        content += b"-%d" % copy if copy else b""
        row, error = self.attempt(
            lambda: self.rt.attach_evidence(
                record, kind, content, file_name=f"f.{file}", media_type=declared, actor=REP
            )
        )
        if error is not None:
            if model.status != "open":  # a closed record takes no more evidence
                assert isinstance(error, Refused), error
            else:
                assert isinstance(error, Invalid) and not evidence_ok(model.entity, kind, stored)
            self.unchanged(record)
            return
        assert model.status == "open", ("a closed record took evidence", model)
        assert row is not None and evidence_ok(model.entity, kind, stored), (kind, file)
        assert (row["media_type"], row["stage"]) == (stored, model.stage)
        model.evidence[(kind, stored)] += 1
        model.stay_files.add((kind, stored, content))
        self.track(self.rt.get(record))

    @rule(record=records, data=st.data())
    def update(self, record: str, data: st.DataObject) -> None:
        model = self.model[record]
        if model.entity == "ticket":
            changes = data.draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "severity": st.integers(0, 4),
                        "keyword_class": st.sampled_from(["invoice", "other", "bogus"]),
                    },
                )
            )
        else:
            changes = data.draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "quote_price": st.integers(-5, 60),
                        "expected_amount": st.integers(0, 10**6),
                        "revenue_3m": st.integers(0, 1000),
                        "cost_3m": st.integers(0, 1000),
                    },
                )
            )
        actor = AGENT if model.entity == "ticket" else REP
        view, error = self.attempt(
            lambda: self.rt.update(record, changes, actor=actor, expected_version=model.version)
        )
        if error is not None:
            assert isinstance(error, Invalid | Refused), error
            if model.status == "open" and isinstance(error, Refused):
                assert model.entity == "opportunity" and model.stage == "quote", error.to_dict()
            self.unchanged(record)
            return
        assert view is not None and model.status == "open"
        assert view.stage == model.stage
        for name, value in changes.items():
            assert view.data[name] == value, (name, view.data)
        self.track(view)

    @rule(
        record=records,
        user=st.sampled_from([None, REP, "chen.jie", AGENT]),
        queue=st.sampled_from([None, "general_service", "no_such_queue"]),
    )
    def assign(self, record: str, user: str | None, queue: str | None) -> None:
        model = self.model[record]
        view, error = self.attempt(
            lambda: self.rt.assign(
                record, user=user, queue=queue, actor="admin", expected_version=model.version
            )
        )
        if error is not None:
            assert isinstance(error, Invalid) and queue == "no_such_queue", error
            self.unchanged(record)
            return
        assert view is not None and queue != "no_such_queue"
        assert (view.owner, view.queue) == (user, queue if user is None else None)
        assert view.row_version == model.version + 1
        self.track(view)

    @rule(record=records)
    def stale_write(self, record: str) -> None:
        model = self.model[record]
        actor = AGENT if model.entity == "ticket" else REP
        _, error = self.attempt(
            lambda: self.rt.update(record, {}, actor=actor, expected_version=model.version - 1)
        )
        assert isinstance(error, Conflict), error
        assert error.current.row_version == model.version
        self.unchanged(record)

    @rule()
    def tick(self) -> None:
        report = self.rt.tick()
        assert report.failed == 0, report
        for record_id in self.model:
            self.unchanged(record_id)
        now = self.clock.now()
        with self.store.read() as conn:
            timers = conn.execute(select(T_TIMER)).all()
            events = conn.execute(
                select(T_EVENT.c.id).where(T_EVENT.c.kind.in_(["sla_reminder", "sla_breached"]))
            ).all()
        assert not [t for t in timers if not t.fired and t.due_at <= now], "a due timer waits"
        # Timers of stages a record left are dropped, so every SLA timer that fired spoke.
        assert len(events) == sum(1 for t in timers if t.fired and t.kind in SLA_KINDS)

    # -- invariants ---------------------------------------------------------------
    @invariant()
    def stages_are_consistent(self) -> None:
        now = self.clock.now()
        with self.store.read() as conn:
            rows = conn.execute(select(T_RECORD)).all()
            stays = conn.execute(select(T_STAY).order_by(T_STAY.c.id)).all()
            failed = conn.execute(
                select(T_TIMER.c.id).where(T_TIMER.c.claimed_by.like("failed:%"))
            ).all()
            evidence = Counter(r.record_id for r in conn.execute(select(T_EVIDENCE.c.record_id)))
            load = {r.user_id: r.open_count for r in conn.execute(select(T_LOAD))}
            timers = conn.execute(select(T_TIMER).where(T_TIMER.c.kind.in_(SLA_KINDS))).all()
        assert not failed, "a timer failed to fire"
        owned = Counter(r.owner for r in rows if r.status == "open" and r.owner is not None)
        assert {u: n for u, n in load.items() if n} == dict(owned), (load, owned)
        assert {r.id for r in rows} == set(self.model)
        for row in rows:
            model = self.model[row.id]
            assert (row.stage, row.status, row.row_version) == (
                model.stage,
                model.status,
                model.version,
            )
            assert evidence[row.id] == sum(model.evidence.values())
            own_stays = [s for s in stays if s.record_id == row.id]
            check_record(row, own_stays, now)
            check_sla_timers(row, own_stays, [t for t in timers if t.record_id == row.id])


def check_record(row: Any, stays: list[Any], now: datetime) -> None:
    """Check one record's stage, stays and dwell times."""
    wf = BUNDLE.workflows[row.workflow]
    where = find(wf, row.stage)
    assert where is not None, f"{row.id} is in '{row.stage}', not a stage of {wf.name}"
    if isinstance(where, StageSpec):
        assert row.status == "open"
    else:
        assert isinstance(where, ExitSpec) and row.status == where.outcome in CLOSED
    assert stays and stays[0].from_stage is None and stays[0].entered_at == row.created_at
    for before, after in pairwise(stays):
        assert after.from_stage == before.stage, (before, after)
        assert before.to_stage == after.stage, (before, after)
        assert before.left_at == after.entered_at, (before, after)
    for stay in stays:
        if stay.left_at is not None:
            assert stay.dwell_seconds == (stay.left_at - stay.entered_at).total_seconds()
    open_stays = [s for s in stays if s.left_at is None]
    closed = sum(s.dwell_seconds for s in stays if s.left_at is not None)
    last = stays[-1]
    if row.status == "open":
        assert open_stays == [last] and last.stage == row.stage, (row, open_stays)
        assert last.entered_at == row.stage_entered_at
        assert (
            closed + (now - last.entered_at).total_seconds()
            == (now - row.created_at).total_seconds()
        )
    else:
        assert not open_stays and last.to_stage == row.stage, (row, last)
        assert last.left_at == row.stage_entered_at and last.outcome == row.status
        assert closed == (last.left_at - row.created_at).total_seconds()


def check_sla_timers(row: Any, stays: list[Any], timers: list[Any]) -> None:
    """Check that a record has the SLA timers of its current stay, and no stale ones."""
    waiting = [t for t in timers if not t.fired]
    if row.status != "open":
        assert not waiting, ("a closed record keeps SLA timers", row, waiting)
        return
    assert all(t.ref == row.stage for t in waiting), ("stale SLA timers", row, waiting)
    stage = find(BUNDLE.workflows[row.workflow], row.stage)
    assert isinstance(stage, StageSpec)
    if stage.sla is None:
        assert not waiting
        return
    # Timers of earlier stays fired before the record left (due <= entered) or were dropped.
    entered = stays[-1].entered_at
    current = Counter(t.kind for t in timers if t.due_at > entered)
    assert current["sla_breach"] == 1, (row, timers)
    assert current["sla_remind"] <= len(stage.sla.remind_before), (row, timers)


# The explain phase traces every line of a failing case again; through SQLAlchemy that takes
# minutes, so a failure is reported without it.
PHASES = [phase for phase in Phase if phase is not Phase.explain]
SETTINGS = {
    "sqlite": settings(
        max_examples=40,
        stateful_step_count=30,
        deadline=None,
        phases=PHASES,
        suppress_health_check=[HealthCheck.too_slow],
    ),
    "postgresql": settings(
        max_examples=12,
        stateful_step_count=30,
        deadline=None,
        phases=PHASES,
        suppress_health_check=[HealthCheck.too_slow],
    ),
}


def test_runtime_state_machine(backend: str) -> None:
    machine = type(f"RuntimeMachine_{backend}", (RuntimeMachine,), {"backend": backend})
    run_state_machine_as_test(machine, settings=SETTINGS[backend])
