"""The rules that react to a change of a record, inside the command's unit.

Computed fields, scoring, decision tables, routing, validations, alerts on the record,
the choice of its workflow, and keeping a refused move's reasons (mixed into the Runtime,
runtime/core.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

from engine.bundle import Bundle, OutputError, UniqueHitError
from engine.expr import EvaluationError, MissingRow
from engine.versions import rule_version as _rule_version
from runtime import alerts, failures, load, named
from runtime.actions import Operations, run_actions
from runtime.clock import Clock
from runtime.data import form_model, json_value, to_json
from runtime.errors import Forbidden, Invalid, Problem, Refused
from runtime.people import allowed, change_load
from runtime.records import RecordView
from runtime.rules import check_validations, route, score
from runtime.store import Store
from runtime.unit import Unit, safe_render

log = logging.getLogger("sopflow.runtime")

# Rule versions by (bundle, kind, name): a served bundle never changes (a new one is
# swapped in), and every scored or routed record asks (the entry holds its bundle, so
# its id is not reused).
_VERSIONS: dict[tuple[int, str, str], tuple[Bundle, str | None]] = {}


def rule_version(bundle: Bundle, kind: str, name: str) -> str | None:
    """Return the version of rule `name` of `kind` in `bundle` (engine.versions), kept."""
    key = (id(bundle), kind, name)
    found = _VERSIONS.get(key)
    if found is not None and found[0] is bundle:
        return found[1]
    version = _rule_version(bundle, kind, name)
    if len(_VERSIONS) > 256:  # each entry holds its bundle alive
        _VERSIONS.clear()
    _VERSIONS[key] = (bundle, version)
    return version


class Reactions:
    """The rules side of the Runtime (mixed in)."""

    store: Store
    clock: Clock
    _bundle: Bundle

    @property
    def ops(self) -> Operations:
        """Return the runtime as the operations actions may call."""
        return cast(Operations, self)

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
        named.fill(self.ops, unit, view, trigger)
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
            run_actions(self.ops, unit, spec.on_assign, view, f"routed by {spec.name}", extra)

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
                    self.ops, unit, actions, view, f"alert {alert_spec.name}", {"alert": dict(info)}
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
