"""The Runtime: a Bundle executing against a Store, one transaction per command.

Commands (create, ingest, update, transition, attach evidence, assign, alert
acknowledgement and feedback) are the Python API the server and the CLI call. Each
happens whole or not at all; rules that react run inside the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from engine.bundle import Bundle, OutputError, UniqueHitError
from engine.expr import EvaluationError, MissingRow
from engine.spec.workflow import StageSpec
from engine.versions import rule_version
from runtime import alerts, attachments, failures, load, named, records, rows, stages, timers
from runtime.actions import run_actions
from runtime.approvals import Approvals
from runtime.assigning import check_assignment, override_detail
from runtime.clock import Clock, SystemClock
from runtime.data import form_model, json_value, to_json
from runtime.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Problem,
    Refused,
    Taken,
    missing_row,
)
from runtime.evidence import MAX_BYTES, BlobStore, read_media
from runtime.explain import Explanations
from runtime.forecast import compute_forecast, snapshot_forecast
from runtime.ingest import merge_ingest
from runtime.integrity import check_integrity, key_of, settle_key
from runtime.metrics import MetricCache
from runtime.people import allowed, change_load, roles_of, sender
from runtime.records import RecordView
from runtime.reevaluate import Reevaluator
from runtime.rules import check_validations, route, score
from runtime.store import T_EVIDENCE, Store
from runtime.ticking import Ticker
from runtime.unit import Unit, safe_render

log = logging.getLogger("sopflow.runtime")


class Runtime(Explanations, Ticker, Reevaluator, Approvals):
    """Executes one Bundle (swapped whole on reload) against one Store."""

    def __init__(
        self,
        bundle: Bundle,
        store: Store,
        clock: Clock | None = None,
        *,
        evidence_dir: Path | str = "evidence",
        worker_id: str = "runtime",
        late_grace: timedelta = timedelta(minutes=5),
    ) -> None:
        self._bundle = bundle
        self.store = store
        self.clock = clock or SystemClock()
        self.blobs = BlobStore(evidence_dir)
        self.worker_id = worker_id
        self.late_grace = late_grace
        self._metric_checked: datetime | None = None

    # -- the bundle ---------------------------------------------------------------
    @property
    def bundle(self) -> Bundle:
        """Return the Bundle every new command runs on."""
        return self._bundle

    def swap(self, bundle: Bundle) -> None:
        """Serve a new Bundle from the next command on (one reference assignment)."""
        self._bundle = bundle

    @contextmanager
    def unit(self, actor: str | None = None, now: datetime | None = None) -> Iterator[Unit]:
        """Open one command's transaction on the current bundle."""
        bundle = self._bundle
        when = now or self.clock.now()
        try:
            with self.store.begin(when, actor, bundle.hash) as tx:
                cache = MetricCache(tx.conn, bundle.metrics, tx.now, bundle)
                yield Unit(bundle, tx, lambda name, group: cache.value(name, *group), self.blobs)
        except MissingRow as exc:  # a lookup without a row refuses the whole command
            raise missing_row(exc) from exc

    # -- commands -----------------------------------------------------------------
    def create(
        self,
        entity: str,
        data: Mapping[str, Any],
        *,
        actor: str | None = None,
        workflow: str | None = None,
    ) -> RecordView:
        """Create a record: normalise, validate, compute, score, route, start its workflow.

        A `workflow` the caller names must apply to the record: one whose `applies_when`
        is false for it is `Refused` (an action naming a workflow starts it regardless).
        A record whose key (the form's `key`) another record holds is refused (`Taken`,
        naming that record); ingest merges into it instead.
        """
        for attempt in (1, 2):
            try:
                with self.unit(actor) as unit:
                    made = self.create_in(unit, entity, dict(data), workflow, check_applies=True)
                    return _shown(unit, made)
            except IntegrityError:
                # Two creates of one new key raced (PostgreSQL); the loser's second try
                # finds the winner's record and is refused as a duplicate.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def ingest(
        self, entity: str, data: Mapping[str, Any], *, actor: str | None = None
    ) -> tuple[RecordView, bool]:
        """Create, or merge into the record with the same dedup key (P1); say which."""
        for attempt in (1, 2):
            try:
                with self.unit(actor) as unit:
                    return self._ingest_in(unit, entity, dict(data))
            except (IntegrityError, Taken):
                # Two ingests of one new key raced; the loser now finds the winner's row.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def receive(self, name: str, data: Mapping[str, Any]) -> tuple[RecordView, bool]:
        """Take a push of the inbound declaration `name` (its signature already checked).

        Only the declared fields may be given (others: Invalid, listing each, nothing
        stored); the record is created or merged on the form's key, as `ingest` does,
        by the actor `inbound:<name>`, who needs no role.
        """
        spec = self._bundle.manifest.inbound.get(name)
        if spec is None:
            raise NotFound(f"no inbound '{name}' is declared")
        undeclared = [k for k in data if k not in spec.fields]
        if undeclared:
            raise Invalid(
                f"inbound '{name}' may not set {', '.join(repr(k) for k in undeclared)}",
                [
                    Problem(
                        "undeclared-field",
                        f"'{k}' is not among the fields inbound '{name}' may set "
                        f"({', '.join(spec.fields)})",
                        field=k,
                    )
                    for k in undeclared
                ],
            )
        return self.ingest(spec.entity, data, actor=sender(name))

    def _ingest_in(self, unit: Unit, entity: str, data: dict[str, Any]) -> tuple[RecordView, bool]:
        fm = form_model(unit.bundle, entity)
        if not fm.spec.key:
            raise Invalid(
                f"entity '{entity}' declares no key, so it cannot be ingested with dedup",
                [Problem("no-key", "add 'key: [field, ...]' to the form")],
            )
        key = key_of(unit, entity, fm.validate(fm.normalise(data), partial=True))
        existing = records.find_by_key(unit.tx.conn, unit.bundle, entity, key)
        if existing is None:
            return self.create_in(unit, entity, data, None), True
        users = rows.visible_users(
            unit.bundle, entity, unit.actor, roles_of(unit.bundle, unit.actor)
        )
        if not rows.sees(unit.tx.conn, existing, users):
            raise Forbidden(
                f"a {entity} record with this key exists, and your row access does not reach it"
            )
        changes = merge_ingest(fm.spec, existing.data, data)
        return self._update_in(unit, existing, changes, "ingested"), False

    def update(
        self,
        record_id: str,
        changes: Mapping[str, Any],
        *,
        actor: str | None = None,
        expected_version: int | None = None,
    ) -> RecordView:
        """Change fields of a record (checking its row version when one is given)."""
        with self.unit(actor) as unit:
            view = _reachable(unit, record_id)
            _expect(view, expected_version)
            return _shown(unit, self._update_in(unit, view, dict(changes), "updated"))

    def transition(
        self,
        record_id: str,
        target: str,
        *,
        actor: str | None = None,
        expected_version: int | None = None,
    ) -> RecordView:
        """Move a record to another stage or exit; refuse with every unmet requirement."""
        try:
            with self.unit(actor) as unit:
                view = _reachable(unit, record_id)
                _expect(view, expected_version)
                return _shown(unit, self._move(unit, view, target))
        except Refused as refused:
            self._note_refusal(record_id, target, actor, refused)
            raise

    def check_transition(
        self, record_id: str, target: str, *, actor: str | None = None
    ) -> list[Problem]:
        """Return what keeps a record from moving to `target` (nothing is written)."""
        with self.unit(actor) as unit:
            view = _reachable(unit, record_id)
            wf = self._workflow(unit, view)
            problems = stages.move_problems(unit, wf, view, target)
            unit.tx.conn.rollback()
            return problems

    def attach_evidence(
        self,
        record_id: str,
        kind: str,
        content: bytes,
        *,
        file_name: str,
        media_type: str = "application/octet-stream",
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Attach a file as evidence of `kind`; its bytes are stored once by sha256."""
        if not content:
            raise Invalid("the file is empty", [Problem("empty-file", file_name)])
        if len(content) > MAX_BYTES:
            raise Invalid(
                f"the file is {len(content)} bytes; the limit is {MAX_BYTES}",
                [Problem("too-large", file_name)],
            )
        media = read_media(content, media_type)
        sha = hashlib.sha256(content).hexdigest()
        with self.unit(actor) as unit:
            view = _reachable(unit, record_id)
            write = unit.bundle.forms[view.entity].spec.permissions.write
            if not allowed(unit.bundle, unit.actor, write):
                raise Forbidden(f"your roles may not add evidence to {view.entity} records")
            if view.status != "open":
                raise Refused(f"the record is {view.status}; it takes no more evidence")
            attachments.check_kind(unit.bundle, view, kind, media)
            files = attachments.attached(unit.tx.conn, record_id)
            wf = unit.bundle.workflows.get(view.workflow or "")
            here = stages.find(wf, view.stage or "") if wf is not None else None
            attachments.check_max(here, files, kind, sha, media.type)
            evidence_id = records.new_id()
            row = {
                "id": evidence_id,
                "record_id": record_id,
                "kind": kind,
                "stage": view.stage,
                "sha256": sha,
                "file_name": file_name[:255] or "file",
                "media_type": media.type,
                "size": len(content),
                "uploader": actor,
                "uploaded_at": unit.now,
            }
            unit.tx.conn.execute(T_EVIDENCE.insert(), row)
            stages.note_evidence(unit, record_id, evidence_id, kind)
            unit.tx.event(
                "evidence_attached",
                record_id,
                view.entity,
                evidence=evidence_id,
                evidence_kind=kind,
            )
            work = view.copy()
            field = unit.bundle.forms[view.entity].spec.fields.get(kind)
            if field is not None and field.type == "evidence":
                new = attachments.Attached(evidence_id, kind, media.type, sha, True)
                work.data[kind] = attachments.field_value(work.data.get(kind), files, kind, new)
            self._compute(unit, work)  # computed fields may count evidence
            changed = work.data != view.data
            if self._react(unit, work, "evidence_attached") or changed:
                settle_key(unit, work)
                records.save_record(unit.tx.conn, unit.bundle, work, unit.now)
            # Last, once nothing can refuse the upload: a refused one leaves no file.
            self.blobs.put(content)
            return to_json(row)

    def assign(
        self,
        record_id: str,
        *,
        user: str | None = None,
        queue: str | None = None,
        routing: str | None = None,
        as_: str | None = None,
        actor: str | None = None,
        expected_version: int | None = None,
    ) -> RecordView:
        """Give a record to a user, put it in a queue, or route it by a routing rule.

        `as_` names one of the entity's named assignments (default: the owner); with
        neither user, queue nor routing it clears that assignment.
        """
        with self.unit(actor) as unit:
            view = _reachable(unit, record_id)
            _expect(view, expected_version)
            work = view.copy()
            self.assign_in(unit, work, user=user, queue=queue, routing=routing, as_=as_)
            saved = records.save_record(unit.tx.conn, unit.bundle, work, unit.now)
            # An alert on who holds the record (e.g. "nobody owns it for 15 minutes")
            # follows the assignment, as it follows any other change.
            self._entity_alerts(unit, work)
            return _shown(unit, saved)

    def acknowledge_alert(self, alert_id: int, *, actor: str | None = None) -> dict[str, Any]:
        """Acknowledge an alert (its response time is tracked)."""
        with self.unit(actor) as unit:
            return alerts.acknowledge(unit.tx, alert_id)

    def alert_feedback(
        self, alert_id: int, verdict: str, *, actor: str | None = None, note: str = ""
    ) -> dict[str, Any]:
        """Mark an alert useful or a false positive (F10)."""
        with self.unit(actor) as unit:
            return alerts.feedback(unit.tx, alert_id, verdict, note)

    def import_legacy(
        self, entity: str, data: Mapping[str, Any], schema_version: int, *, actor: str | None = None
    ) -> RecordView:
        """Keep a record from an older schema (P12): readable; read-only if it fails the form."""
        with self.unit(actor) as unit:
            fm = form_model(unit.bundle, entity)
            if fm.spec.legacy.policy == "reject":
                raise Refused(f"entity '{entity}' does not accept legacy records")
            values = fm.read(fm.normalise(dict(data)))
            problems = fm.problems(values)
            view = RecordView(
                id=records.new_id(),
                entity=entity,
                data=values,
                schema_version=schema_version,
                read_only=bool(problems) and fm.spec.legacy.policy == "read_only_if_invalid",
                created_by=unit.actor,
            )
            records.insert_record(unit.tx.conn, view, unit.now)
            unit.tx.event(
                "imported",
                view.id,
                entity,
                schema_version=schema_version,
                problems=[p.to_dict() for p in problems],
            )
            return view

    # -- inside a unit ------------------------------------------------------------
    def create_in(
        self,
        unit: Unit,
        entity: str,
        data: dict[str, Any],
        workflow: str | None,
        *,
        check_applies: bool = False,
    ) -> RecordView:
        """Create a record inside an open unit of work (also used by actions)."""
        bundle = unit.bundle
        fm = form_model(bundle, entity)
        if not allowed(bundle, unit.actor, fm.spec.permissions.create):
            raise Forbidden(f"your roles may not create {entity} records")
        self._check_field_roles(unit, entity, data)
        values = fm.validate({**fm.defaults(), **fm.normalise(data)})
        attachments.check_field_values(unit.tx.conn, None, fm.spec, values)
        view = RecordView(
            id=records.new_id(),
            entity=entity,
            data=values,
            schema_version=fm.spec.schema_version,
            created_by=unit.actor,
        )
        view.created_at = view.updated_at = unit.now
        unit.forming.setdefault(entity, set()).add(view.id)
        if fm.spec.key:
            key_of(unit, entity, values)  # a missing key field is refused before anything runs
        wf = self._pick_workflow(unit, view, workflow, check_applies)
        if wf is not None:
            view.workflow, view.stage, view.stage_entered_at = (
                wf.name,
                wf.body.stages[0].id,
                unit.now,
            )
        self._compute(unit, view)
        self._rules(unit, view, "created")
        self._validate_save(unit, view)
        check_integrity(unit, view)
        self._route(unit, view, "created")
        if view.owner is None and view.queue is None and unit.actor in bundle.manifest.users:
            view.owner = unit.actor  # nobody routed it: whoever created it holds it
            load.settle(unit, view)
        named.fill(self, unit, view, "created")
        if wf is not None:
            # Entered once its owner is known, so the first stage's on_enter can reach
            # `owner`; what its actions set is computed and checked like any save.
            before = dict(view.data)
            self._enter(unit, wf, view, view.stage or "", None)
            if view.data != before:
                self._compute(unit, view)
                self._validate_save(unit, view)
        load.recount(unit, view)
        self._entity_alerts(unit, view)
        settle_key(unit, view)
        records.insert_record(unit.tx.conn, view, unit.now)
        unit.forming[entity].discard(view.id)
        unit.tx.event("created", view.id, entity, data=to_json(values), workflow=view.workflow)
        unit.created.append(view.id)
        return view

    def _update_in(
        self, unit: Unit, view: RecordView, changes: dict[str, Any], kind: str
    ) -> RecordView:
        bundle = unit.bundle
        fm = form_model(bundle, view.entity)
        if not allowed(bundle, unit.actor, fm.spec.permissions.write):
            raise Forbidden(f"your roles may not change {view.entity} records")
        changes = fm.normalise(changes)
        self._check_field_roles(unit, view.entity, changes)
        typed = fm.validate(changes, partial=True)
        attachments.check_field_values(unit.tx.conn, view.id, fm.spec, typed)
        if view.status != "open" and kind == "updated":
            raise Refused(f"the record is {view.status}; it can no longer change")
        work = view.copy()
        work.data.update(typed)
        for name, value in changes.items():
            if value is None and name in fm.spec.fields:
                work.data[name] = None
        self._legacy_gate(fm, work)
        self._compute(unit, work)
        self._rules(unit, work, "updated")
        if not work.read_only:  # values of fields the form no longer declares stay aside
            fm.validate_stored(work.data, work.schema_version)
        self._validate_save(unit, work)
        check_integrity(unit, work, view.data)
        changed = {k: v for k, v in work.data.items() if view.data.get(k) != v}
        if not changed and work.owner == view.owner:
            return view
        if changed:
            changed = self._on_update(unit, work, view)
        self._route(unit, work, "updated")
        named.fill(self, unit, work, "updated")
        load.recount(unit, work)
        self._entity_alerts(unit, work)
        settle_key(unit, work)
        records.save_record(unit.tx.conn, bundle, work, unit.now)
        unit.tx.event(kind, work.id, work.entity, changes=to_json(changed))
        return work

    def _on_update(self, unit: Unit, work: RecordView, view: RecordView) -> dict[str, Any]:
        """Run the current stage's `on_update` actions (once: what they set does not rerun
        them); return every field the change and the actions altered."""
        wf = unit.bundle.workflows.get(work.workflow or "") if work.status == "open" else None
        here = stages.find(wf, work.stage or "") if wf is not None else None
        actions = getattr(here, "on_update", None)
        if actions and wf is not None:
            before = dict(work.data)
            run_actions(
                self, unit, actions, work, f"updated in {work.stage}", {"params": wf.params}
            )
            if work.data != before:  # what the actions set is computed and checked like any save
                self._compute(unit, work)
                self._validate_save(unit, work)
        return {k: v for k, v in work.data.items() if view.data.get(k) != v}

    def _legacy_gate(self, fm: Any, work: RecordView) -> None:
        if work.schema_version >= fm.spec.schema_version:
            return
        problems = fm.problems(work.data)
        if not problems:
            work.schema_version, work.read_only = fm.spec.schema_version, False
        elif fm.spec.legacy.policy == "read_only_if_invalid":
            raise Refused(
                f"this record was stored under schema {work.schema_version} and is read-only "
                "until a change makes it pass the current form",
                problems,
            )

    def _move(
        self, unit: Unit, view: RecordView, target: str, *, force: bool = False
    ) -> RecordView:
        """Move a record (`force`: an approval's reject or send-back, not checked)."""
        wf = self._workflow(unit, view)
        problems = [] if force else stages.move_problems(unit, wf, view, target)
        if problems:
            raise Refused(f"cannot move to '{target}'", problems)
        work = view.copy()
        before = dict(work.data)
        source = view.stage or ""
        goal = stages.find(wf, target)
        outcome = getattr(goal, "outcome", None)
        dwell = stages.close_stay(unit, work, target, outcome)
        timers.cancel(unit.tx, work.id, timers.SLA_KINDS)
        here = stages.find(wf, source)
        if here is not None and hasattr(here, "on_exit"):
            run_actions(self, unit, here.on_exit, work, f"left {source}", {"params": wf.params})
        work.stage, work.stage_entered_at = target, unit.now
        if outcome is not None:
            work.status = outcome
        unit.tx.event(
            "stage_changed",
            work.id,
            work.entity,
            workflow=wf.name,
            source=source,
            target=target,
            dwell_seconds=dwell,
        )
        self._enter(unit, wf, work, target, source)
        if work.data != before or outcome is not None:
            # What the move's actions set, and a new status, are computed like any save
            # (a computed field may read them, P14), and what the actions set is checked.
            self._compute(unit, work)
            if work.data != before:
                self._validate_save(unit, work)
        self._rules(unit, work, "stage_entered")
        self._route(unit, work, "stage_entered")
        named.fill(self, unit, work, "stage_entered")
        if outcome is not None:
            load.settle(unit, work)
        else:
            load.recount(unit, work)
        self._entity_alerts(unit, work)
        settle_key(unit, work)
        return records.save_record(unit.tx.conn, unit.bundle, work, unit.now)

    def _enter(
        self, unit: Unit, wf: Any, view: RecordView, stage_id: str, source: str | None
    ) -> None:
        gate = stages.find(wf, stage_id)
        if gate is None:
            return
        if isinstance(gate, StageSpec):
            stages.open_stay(unit, view, stage_id, source)
            stages.start_sla(unit, wf, gate, view)
        run_actions(self, unit, gate.on_enter, view, f"entered {stage_id}", {"params": wf.params})

    def assign_in(
        self,
        unit: Unit,
        record: RecordView,
        *,
        user: str | None = None,
        queue: str | None = None,
        routing: str | None = None,
        as_: str | None = None,
    ) -> None:
        """Give a record to a user or queue, or route it (inside a unit of work)."""
        bundle = unit.bundle
        if as_ is not None:
            self._assign_named(unit, record, as_, user=user, queue=queue, routing=routing)
            return
        before = record.owner
        if routing is not None:
            spec = bundle.routings.get(routing)
            if spec is None:
                raise NotFound(f"routing rule '{routing}' does not exist")
            if spec.entity != record.entity:
                raise Invalid(
                    f"routing rule '{routing}' routes {spec.entity} records, not {record.entity}",
                    [Problem("wrong-entity", f"pick a routing rule of {record.entity}", "routing")],
                )
            self._apply_routing(unit, record, spec)
            return
        if user is not None and user not in bundle.manifest.users:
            raise Invalid(f"user '{user}' does not exist", [Problem("unknown-user", user)])
        if queue is not None and queue not in bundle.manifest.queues:
            raise Invalid(f"queue '{queue}' does not exist", [Problem("unknown-queue", queue)])
        overridden = check_assignment(unit, record, user) if user is not None else []
        record.owner, record.queue = user, (queue if user is None else None)
        if before != record.owner:
            load.settle(unit, record)
        unit.tx.event(
            "assigned",
            record.id,
            record.entity,
            owner=record.owner,
            queue=record.queue,
            previous=before,
            **override_detail(overridden, unit),
        )

    def _assign_named(
        self,
        unit: Unit,
        record: RecordView,
        name: str,
        *,
        user: str | None,
        queue: str | None,
        routing: str | None,
    ) -> None:
        """Set, route or clear one named assignment of a record (assign ... as: name)."""
        bundle = unit.bundle
        known = named.specs(unit, record.entity)
        if name not in known:
            listed = ", ".join(known) or "none"
            raise Invalid(
                f"{record.entity} has no assignment '{name}'",
                [Problem("unknown-assignment", f"its assignments: {listed}", "as")],
            )
        if record.status != "open":
            raise Refused(f"the record is {record.status}; its assignments no longer change")
        if routing is not None:
            spec = bundle.routings.get(routing)
            if spec is None:
                raise NotFound(f"routing rule '{routing}' does not exist")
            if spec.entity != record.entity:
                raise Invalid(
                    f"routing rule '{routing}' routes {spec.entity} records, not {record.entity}",
                    [Problem("wrong-entity", f"pick a routing rule of {record.entity}", "routing")],
                )
            named.route_named(self, unit, record, name, spec)
            return
        if user is not None and user not in bundle.manifest.users:
            raise Invalid(f"user '{user}' does not exist", [Problem("unknown-user", user)])
        if queue is not None and queue not in bundle.manifest.queues:
            raise Invalid(f"queue '{queue}' does not exist", [Problem("unknown-queue", queue)])
        rule = bundle.routings.get(known[name].routing or "")
        own = [rule] if rule is not None else []
        overridden = check_assignment(unit, record, user, own) if user is not None else []
        named.put(unit, record, name, user, queue, **override_detail(overridden, unit))

    def start_workflow_in(self, unit: Unit, record: RecordView, workflow: str) -> None:
        """Start a workflow on a record that has none (or has finished one)."""
        wf = unit.bundle.workflows.get(workflow)
        if wf is None or wf.entity != record.entity:
            raise Invalid(
                f"workflow '{workflow}' does not run on {record.entity}",
                [Problem("bad-workflow", workflow)],
            )
        if record.workflow and record.status == "open":
            stages.close_stay(unit, record, wf.body.stages[0].id, None)
            timers.cancel(unit.tx, record.id, timers.SLA_KINDS)
        record.workflow, record.status = workflow, "open"
        record.stage, record.stage_entered_at = wf.body.stages[0].id, unit.now
        self._enter(unit, wf, record, record.stage, None)
        if record.owner is not None:
            load.settle(unit, record)  # a finished record reopens: it is open work again

    def recompute_forecast_in(self, unit: Unit, name: str) -> dict[str, Any]:
        """Recompute a forecast and keep the snapshot (F8)."""
        spec = unit.bundle.forecasts[name]
        weights = unit.bundle.forecast_weights(spec)  # F8: a template's every workflow too
        table = unit.bundle.tables.get(spec.seasonality or "")
        buckets = compute_forecast(
            unit.tx.conn,
            spec,
            weights,
            table,
            unit.now,
            unit.bundle.manifest.timezone,
            unit.bundle.forecast_workflows(spec),
        )
        snapshot_forecast(unit.tx, name, buckets, unit.now)
        total = sum(b.expected for b in buckets)
        unit.tx.event("forecast_recomputed", None, None, forecast=name, total=total)
        return {"forecast": name, "total": round(total, 2), "buckets": len(buckets)}

    # -- rules --------------------------------------------------------------------
    def _compute(self, unit: Unit, view: RecordView) -> None:
        fm = form_model(unit.bundle, view.entity)
        scope = view.scope()
        for name, error in fm.compute(scope, unit.context(scope)):
            field = f"{view.entity}.{name}"
            failures.record(unit, view.id, "computed", field, error, field=name)
        for name in fm.form.computed_order:
            view.data[name] = scope[name]

    def _rules(self, unit: Unit, view: RecordView, trigger: str) -> bool:
        """Run decision tables and scores that react to `trigger`; tell if data changed."""
        bundle = unit.bundle
        before = dict(view.data)
        for name, table in bundle.decision_tables.items():
            spec = table.spec
            if spec.entity != view.entity or trigger not in spec.on:
                continue
            self.decide_in(unit, view, name)
        for name, model in bundle.scorings.items():
            scoring = model.spec
            if scoring.entity != view.entity or scoring.against or trigger not in scoring.on:
                continue
            self.score_in(unit, view, name)
        return view.data != before

    def decide_in(self, unit: Unit, view: RecordView, name: str) -> None:
        """Run decision table `name` on a record: set its outputs, keep the decision."""
        bundle = unit.bundle
        table = bundle.decision_tables[name]
        spec = table.spec
        version = rule_version(bundle, "decision_table", name)
        scope = view.scope()
        try:
            decided = table.evaluate(scope, unit.context(scope))
        except MissingRow:
            raise
        except UniqueHitError as exc:
            raise Refused(
                str(exc),
                [
                    Problem(
                        "overlapping-rows",
                        "make the rows exclusive, or use hit: first",
                        rule=exc.table,
                        detail={"rows": exc.rows},
                    )
                ],
            ) from exc
        except Exception as exc:
            if isinstance(exc, EvaluationError):
                which = {"output": exc.output} if isinstance(exc, OutputError) else {}
                failures.record(unit, view.id, "decision_table", name, exc, **which)
            unit.tx.decision(
                view.id, "decision_table", name, "failed", {"error": str(exc)}, version
            )
            return
        if decided.values is not None:
            view.data.update(zip(spec.outputs, decided.values, strict=False))
        detail: dict[str, Any] = {
            "inputs": list(spec.inputs),
            "rows": [i + 1 for i in decided.rows],
            "outputs": json_value(decided.values),
        }
        if decided.computed:
            detail["computed"] = json_value(decided.computed)
        unit.tx.decision(
            view.id,
            "decision_table",
            name,
            repr(decided.values) if decided.values is not None else "no row matched",
            detail,
            version,
        )
        self._compute(unit, view)

    def score_in(self, unit: Unit, view: RecordView, name: str) -> None:
        """Score a record with model `name`: write its output, keep the breakdown."""
        model = unit.bundle.scorings[name]
        scoring = model.spec
        scope = view.scope()
        result = score(model, scope, unit.context(scope))
        failures.record_score(unit, view.id, scoring, result)
        if scoring.output:
            view.data[scoring.output] = result.score
        unit.tx.decision(
            view.id,
            "score",
            name,
            str(result.score),
            result.explain(),
            rule_version(unit.bundle, "scoring", name),
        )
        self._compute(unit, view)

    def _react(self, unit: Unit, view: RecordView, trigger: str) -> bool:
        """Run what reacts to `trigger` (rules, then routing); tell if the record changed."""
        owner = view.owner
        changed = self._rules(unit, view, trigger)
        self._route(unit, view, trigger)
        named.fill(self, unit, view, trigger)
        load.recount(unit, view)
        self._entity_alerts(unit, view)
        return changed or view.owner != owner

    def _route(self, unit: Unit, view: RecordView, trigger: str) -> None:
        """Route by the first rule of the record's entity that reacts to `trigger`.

        On created and updated a rule fills in a missing owner; on stage_entered and
        evidence_attached it routes the record again, whoever holds it.
        """
        again = trigger in ("stage_entered", "evidence_attached")
        theirs = named.rule_names(unit.bundle, view.entity)
        for spec in unit.bundle.routings.values():
            if spec.entity != view.entity or trigger not in spec.on or spec.name in theirs:
                continue
            if (view.owner is not None and not again) or view.status != "open":
                return
            if spec.when and not self._routes(unit, view, spec):
                continue
            self._apply_routing(unit, view, spec)
            return

    def _routes(self, unit: Unit, view: RecordView, spec: Any) -> bool:
        """Tell whether a routing rule's `when` holds; one that cannot tell does not route."""
        scope = view.scope()
        try:
            return bool(unit.bundle.expr(spec, "when").fn(scope, unit.context(scope)))
        except MissingRow:
            raise
        except EvaluationError as exc:
            failures.record(unit, view.id, "routing", spec.name, exc, field="when")
            return False

    def _apply_routing(self, unit: Unit, view: RecordView, spec: Any) -> None:
        scope = view.scope()
        # Routed again, the record leaves its owner's load if it moves: so it does not
        # count against them (capacity, least loaded) when they may keep it.
        holder = view.owner if view.owner and load.counts_now(unit, view.id) else None
        result = route(
            unit.bundle, spec, scope, unit.context(scope), unit.tx.conn, unit.now, holder
        )
        failures.record_routing(unit, view.id, spec, result)
        before = view.owner
        view.owner, view.queue = result.owner, result.queue
        unit.tx.decision(
            view.id,
            "routing",
            spec.name,
            result.owner or f"queue:{result.queue}",
            result.explain(),
            rule_version(unit.bundle, "routing", spec.name),
        )
        if before != view.owner:
            load.settle(unit, view)
        if spec.strategy == "round_robin" and view.owner is not None:
            change_load(unit.tx.conn, view.owner, 0, unit.now)  # note the pick
        unit.tx.event(
            "routed",
            view.id,
            view.entity,
            rule=spec.name,
            owner=view.owner,
            queue=view.queue,
            reason=result.reason,
        )
        if result.owner is not None:
            extra = {"assignment": {"owner": result.owner, "reason": result.reason}}
            run_actions(self, unit, spec.on_assign, view, f"routed by {spec.name}", extra)

    def _validate_save(self, unit: Unit, view: RecordView) -> None:
        scope = view.scope()
        errors, warnings = check_validations(
            unit.bundle,
            view.entity,
            "save",
            scope,
            unit.context(scope),
            view.stage,
            unit.now,
            safe_render,
        )
        if errors:
            raise Refused("the record breaks a rule", errors)
        view.warnings = [w.to_dict() for w in warnings]

    def _entity_alerts(self, unit: Unit, view: RecordView) -> None:
        for spec in unit.bundle.alerts.values():
            if spec.entity != view.entity:
                continue
            scope = view.scope()
            # The record as JSON only feeds a dedup key template (most alerts have none).
            names = {**to_json(scope), "record": to_json(scope)} if spec.dedup_key else {}
            key = alerts.key_of(spec, names, view.id)
            values = {k: scope.get(k) for k in unit.bundle.expr(spec, "when").names}

            def run(alert_spec: Any, info: Mapping[str, Any], resolved: bool) -> list[Any]:
                actions = alert_spec.on_resolve if resolved else alert_spec.actions
                return run_actions(
                    self, unit, actions, view, f"alert {alert_spec.name}", {"alert": dict(info)}
                )

            alerts.evaluate(unit, spec, scope, unit.context(scope), key, view.id, values, run)

    # -- helpers ------------------------------------------------------------------
    def _workflow(self, unit: Unit, view: RecordView) -> Any:
        if view.workflow is None or view.workflow not in unit.bundle.workflows:
            raise Refused(
                f"record '{view.id}' runs no workflow"
                + (f" ('{view.workflow}' is no longer defined)" if view.workflow else ""),
                [Problem("no-workflow", "start a workflow on it first")],
            )
        return unit.bundle.workflows[view.workflow]

    def _pick_workflow(
        self, unit: Unit, view: RecordView, name: str | None, check_applies: bool = False
    ) -> Any:
        bundle = unit.bundle
        if name is not None:
            wf = bundle.workflows.get(name)
            if wf is None or wf.entity != view.entity:
                raise Invalid(
                    f"workflow '{name}' does not run on {view.entity}",
                    [Problem("bad-workflow", str(name))],
                )
            if check_applies and not self._applies(unit, wf, view):
                condition = wf.body.applies_when
                raise Refused(
                    f"workflow '{name}' does not apply to this {view.entity} record: "
                    f"its applies_when ({condition}) is false",
                    [
                        Problem(
                            "workflow-not-applicable",
                            f"'{name}' applies only when {condition}",
                            rule=name,
                            expression=condition,
                        )
                    ],
                )
            return wf
        for wf in bundle.workflows.values():
            if wf.entity == view.entity and self._applies(unit, wf, view):
                return wf
        return None

    def _applies(self, unit: Unit, wf: Any, view: RecordView) -> bool:
        """Tell whether a workflow's `applies_when` holds for a record (none: it does)."""
        if wf.body.applies_when is None:
            return True
        scope = view.scope()
        c = unit.context(scope, params=dict(wf.params))
        return bool(unit.bundle.expr(wf.body, "applies_when").fn(scope, c))

    def _check_field_roles(self, unit: Unit, entity: str, data: Mapping[str, Any]) -> None:
        fields = unit.bundle.forms[entity].spec.fields
        denied = [
            Problem("field-forbidden", f"your roles may not set '{k}'", k)
            for k in data
            if k in fields and not allowed(unit.bundle, unit.actor, fields[k].write)
        ]
        if denied:
            raise Forbidden("some fields are not yours to set", denied)

    def _note_refusal(
        self, record_id: str, target: str, actor: str | None, refused: Refused
    ) -> None:
        """Keep a refused move's reasons with the record (in a transaction of its own)."""
        try:
            with self.store.begin(self.clock.now(), actor, self._bundle.hash) as tx:
                tx.decision(
                    record_id,
                    "transition",
                    target,
                    "refused",
                    {"problems": [p.to_dict() for p in refused.problems]},
                )
        except Exception:
            log.exception("could not record a refused transition")


def _shown(unit: Unit, view: RecordView) -> RecordView:
    """Return a record a command answers with, its named assignments read."""
    named.attach(unit.tx.conn, unit.bundle, [view])
    return view


def _reachable(unit: Unit, record_id: str) -> RecordView:
    """Load a record the actor acts on: one their row-level access hides does not exist
    for them (runtime/rows.py), so the answer is the same NotFound."""
    view = records.load(unit.tx.conn, unit.bundle, record_id)
    users = rows.visible_users(
        unit.bundle, view.entity, unit.actor, roles_of(unit.bundle, unit.actor)
    )
    if not rows.sees(unit.tx.conn, view, users):
        raise NotFound(f"record '{record_id}' does not exist")
    return view


def _expect(view: RecordView, expected: int | None) -> None:
    if expected is not None and expected != view.row_version:
        raise Conflict(f"record '{view.id}' is at version {view.row_version}, not {expected}", view)


__all__ = ["Runtime"]
