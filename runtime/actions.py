"""Running actions (notify, webhook, set, create_record, assign, ...) inside a unit of work.

Effects that leave the system (notifications, webhooks) are written to the outbox in
the same transaction; the outbox worker delivers them after commit (decision 6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from engine.expr import EvaluationError, MissingRow
from engine.spec.actions import ActionSpec
from runtime import failures, outbox
from runtime.data import to_json
from runtime.errors import Invalid, Problem
from runtime.notify import names_for, notify
from runtime.records import RecordView
from runtime.render import RenderError, render, render_json
from runtime.unit import Unit

MAX_DEPTH = 8  # actions that create records that run actions...: a loop guard


class Operations(Protocol):
    """What actions may ask of the runtime."""

    def create_in(
        self, unit: Unit, entity: str, data: dict[str, Any], workflow: str | None
    ) -> RecordView: ...

    def assign_in(
        self,
        unit: Unit,
        record: RecordView,
        *,
        user: str | None = None,
        queue: str | None = None,
        routing: str | None = None,
    ) -> None: ...

    def start_workflow_in(self, unit: Unit, record: RecordView, workflow: str) -> None: ...

    def recompute_forecast_in(self, unit: Unit, name: str) -> dict[str, Any]: ...


def run_actions(
    ops: Operations,
    unit: Unit,
    actions: Sequence[ActionSpec],
    record: RecordView | None,
    cause: str,
    extra: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run each action whose `when` holds; return what each did (for the audit log)."""
    if unit.depth > MAX_DEPTH:
        raise Invalid(
            "actions nest too deep",
            [Problem("action-loop", f"more than {MAX_DEPTH} nested actions from {cause}")],
        )
    variables: dict[str, Any] = dict(extra or {})
    done: list[dict[str, Any]] = []
    unit.depth += 1
    try:
        for action in actions:
            scope = record.scope() if record is not None else {}
            c = unit.context(scope if record is not None else None, **variables)
            if action.when is not None:
                try:
                    if not unit.bundle.expr(action, "when").fn(scope, c):
                        continue
                except MissingRow:
                    raise  # no row refuses the command (docs/expressions.md)
                except EvaluationError as exc:
                    _failed(unit, record, cause, action, "when", exc)
                    done.append({"action": action.name, "skipped": str(exc)})
                    continue
            done.append(_run(ops, unit, action, record, scope, c, variables, cause))
    finally:
        unit.depth -= 1
    return done


def _failed(
    unit: Unit,
    record: RecordView | None,
    cause: str,
    action: ActionSpec,
    part: str,
    error: EvaluationError,
) -> None:
    """Record an action expression that could not be evaluated (the action is not done)."""
    record_id = record.id if record is not None else None
    failures.record(unit, record_id, "action", cause, error, action=action.name, field=part)


def _values(
    unit: Unit,
    record: RecordView | None,
    cause: str,
    action: ActionSpec,
    part: str,
    scope: dict[str, Any],
    c: dict[str, Any],
) -> dict[str, Any] | EvaluationError:
    """Evaluate the value expressions of a `set` (fields) or `create_record` (data).

    The first that fails is recorded and returned (the action is not done); a lookup
    without a row refuses the command.
    """
    body = action.body
    values = {}
    for name in getattr(body, part):
        try:
            values[name] = unit.bundle.expr(body, f"{part}.{name}").fn(scope, c)
        except MissingRow:
            raise
        except EvaluationError as exc:
            _failed(unit, record, cause, action, f"{part}.{name}", exc)
            return exc
    return values


def _run(
    ops: Operations,
    unit: Unit,
    action: ActionSpec,
    record: RecordView | None,
    scope: dict[str, Any],
    c: dict[str, Any],
    variables: dict[str, Any],
    cause: str,
) -> dict[str, Any]:
    if action.notify:
        return notify(unit, action.notify, record, scope, variables, cause)
    if action.webhook:
        hook = action.webhook
        names = names_for(unit, record, scope, variables)
        try:
            url = render(hook.url, names)
            body = render_json(hook.body, names) if hook.body else None
        except RenderError as exc:
            # Nothing half-rendered goes out; the event says why (runtime/notify.py).
            unit.tx.event(
                "webhook_failed",
                record.id if record else None,
                record.entity if record else None,
                error=str(exc),
                cause=cause,
            )
            return {"action": "webhook", "error": str(exc)}
        payload = {
            "url": url,
            "method": hook.method,
            "headers": dict(hook.headers),
            "body": to_json(body) if isinstance(body, dict) else body,
            "timeout": hook.timeout.seconds if hook.timeout else None,
        }
        key = unit.effect_key()
        outbox.enqueue(
            unit.tx,
            action="webhook",
            channel="webhook",
            payload=payload,
            key=key,
            record_id=record.id if record else None,
        )
        return {"action": "webhook", "url": payload["url"], "key": key}
    if action.set and record is not None:
        changes = _values(unit, record, cause, action, "fields", scope, c)
        if isinstance(changes, EvaluationError):
            return {"action": "set", "error": str(changes)}
        record.data.update(changes)
        return {"action": "set", "fields": to_json(changes)}
    if action.create_record:
        spec = action.create_record
        data = _values(unit, record, cause, action, "data", scope, c)
        if isinstance(data, EvaluationError):
            return {"action": "create_record", "error": str(data)}
        created = ops.create_in(unit, spec.entity, data, spec.workflow)
        return {"action": "create_record", "entity": spec.entity, "record": created.id}
    if action.assign and record is not None:
        a = action.assign
        ops.assign_in(unit, record, user=a.user, queue=a.queue, routing=a.routing)
        return {"action": "assign", "owner": record.owner, "queue": record.queue}
    if action.start_workflow and record is not None:
        ops.start_workflow_in(unit, record, action.start_workflow.workflow)
        return {"action": "start_workflow", "workflow": action.start_workflow.workflow}
    if action.recompute_forecast:
        result = ops.recompute_forecast_in(unit, action.recompute_forecast.forecast)
        variables["forecast"] = result
        return {"action": "recompute_forecast", **result}
    if action.suggest:
        links = suggest(unit, action, scope, c, cause)
        variables["links"] = links
        payload = {"table": action.suggest.table, "title": action.suggest.title, "rows": links}
        outbox.enqueue(
            unit.tx,
            action="suggest",
            channel="log",
            payload=payload,
            key=unit.effect_key(),
            record_id=record.id if record else None,
        )
        return {"action": "suggest", **payload}
    return {"action": action.name, "skipped": "needs a record"}


def suggest(
    unit: Unit, action: ActionSpec, scope: dict[str, Any], c: dict[str, Any], cause: str
) -> list[dict[str, Any]]:
    """Return the table rows a `suggest` action picks (success cases, standard answers).

    A row the `where` cannot be evaluated for is left out, and the failure recorded.
    """
    spec = action.suggest
    assert spec is not None
    table = unit.bundle.tables[spec.table]
    where = unit.bundle.expr(spec, "where")
    found = []
    for row in table.rows:
        try:
            if where.fn(scope, {**c, "row": row}):
                found.append(to_json(dict(row)))
        except EvaluationError as exc:
            record_id = scope.get("id")
            detail = {"action": "suggest", "field": "where"}
            failures.record(unit, record_id, "action", cause, exc, **detail)
            continue
        if len(found) >= spec.limit:
            break
    return found
