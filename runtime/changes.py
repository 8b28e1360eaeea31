"""Changing a record inside a command's unit: create, update, move, enter a stage, assign.

The Runtime (runtime/core.py) opens the unit and calls these; rules that react run in
the same transaction (runtime/reactions.py).
"""

from __future__ import annotations

from typing import Any

from engine.spec.rules import RoutingSpec
from engine.spec.workflow import StageSpec
from runtime import attachments, load, named, records, stages, timers
from runtime.actions import run_actions
from runtime.assigning import check_assignment, override_detail
from runtime.data import form_model, to_json
from runtime.errors import Forbidden, Invalid, NotFound, Problem, Refused
from runtime.integrity import check_integrity, key_of, settle_key
from runtime.people import allowed
from runtime.reactions import Reactions
from runtime.records import RecordView
from runtime.unit import Unit


class RecordChanges(Reactions):
    """The record changes of the Runtime (mixed in)."""

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
        named.fill(self.ops, unit, view, "created")
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
        stored = to_json(view.data)  # made once: the row's data and the event's
        records.insert_record(unit.tx.conn, view, unit.now, data=stored)
        unit.forming[entity].discard(view.id)
        shown = stored if values is view.data else to_json(values)
        unit.tx.event("created", view.id, entity, data=shown, workflow=view.workflow)
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
        named.fill(self.ops, unit, work, "updated")
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
                self.ops, unit, actions, work, f"updated in {work.stage}", {"params": wf.params}
            )
            if work.data != before:  # what the actions set is computed and checked like any save
                self._compute(unit, work)
                self._validate_save(unit, work)
                check_integrity(unit, work, view.data)
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
        # Entering a stage replaces the SLA timers in place (_enter); an exit ends them.
        into_stage = isinstance(goal, StageSpec)
        if not into_stage:
            timers.cancel(unit.tx, work.id, timers.SLA_KINDS)
        here = stages.find(wf, source)
        if here is not None and hasattr(here, "on_exit"):
            run_actions(self.ops, unit, here.on_exit, work, f"left {source}", {"params": wf.params})
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
        self._enter(unit, wf, work, target, source, replace_sla=into_stage)
        if work.data != before or outcome is not None:
            # What the move's actions set, and a new status, are computed like any save
            # (a computed field may read them, P14), and what the actions set is checked.
            self._compute(unit, work)
            if work.data != before:
                self._validate_save(unit, work)
        self._rules(unit, work, "stage_entered")
        self._route(unit, work, "stage_entered")
        named.fill(self.ops, unit, work, "stage_entered")
        if outcome is not None:
            load.settle(unit, work)
        else:
            load.recount(unit, work)
        self._entity_alerts(unit, work)
        settle_key(unit, work)
        return records.save_record(unit.tx.conn, unit.bundle, work, unit.now)

    def _enter(
        self,
        unit: Unit,
        wf: Any,
        view: RecordView,
        stage_id: str,
        source: str | None,
        *,
        replace_sla: bool = False,
    ) -> None:
        """Enter a stage or exit (`replace_sla`: the stage's SLA timers replace the
        record's pending ones, which the caller left in place)."""
        gate = stages.find(wf, stage_id)
        if gate is None:
            return
        if isinstance(gate, StageSpec):
            stages.open_stay(unit, view, stage_id, source)
            stages.start_sla(unit, wf, gate, view, replace=replace_sla)
        run_actions(
            self.ops, unit, gate.on_enter, view, f"entered {stage_id}", {"params": wf.params}
        )

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
            spec = _routing_rule(unit, routing, record.entity)
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
            spec = _routing_rule(unit, routing, record.entity)
            named.route_named(self.ops, unit, record, name, spec)
            return
        if user is not None and user not in bundle.manifest.users:
            raise Invalid(f"user '{user}' does not exist", [Problem("unknown-user", user)])
        if queue is not None and queue not in bundle.manifest.queues:
            raise Invalid(f"queue '{queue}' does not exist", [Problem("unknown-queue", queue)])
        rule = bundle.routings.get(known[name].routing or "")
        own = [rule] if rule is not None else []
        overridden = check_assignment(unit, record, user, own) if user is not None else []
        named.put(unit, record, name, user, queue, **override_detail(overridden, unit))


def _routing_rule(unit: Unit, name: str, entity: str) -> RoutingSpec:
    """Return the routing rule `name` for a record of `entity` (NotFound, or Invalid when
    it routes another entity)."""
    spec = unit.bundle.routings.get(name)
    if spec is None:
        raise NotFound(f"routing rule '{name}' does not exist")
    if spec.entity != entity:
        raise Invalid(
            f"routing rule '{name}' routes {spec.entity} records, not {entity}",
            [Problem("wrong-entity", f"pick a routing rule of {entity}", "routing")],
        )
    return spec
