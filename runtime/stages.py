"""Stage SOPs: what a record needs before it may move, and what entering a stage starts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from engine.bundle import CompiledWorkflow
from engine.expr import EvaluationError, MissingRow
from engine.moves import BLANK as _BLANK
from engine.moves import MoveCheck, move_check
from engine.spec.base import Duration
from engine.spec.workflow import BranchSpec, ExitSpec, StageSpec, required_name
from runtime import attachments, failures, stage_path, timers
from runtime.calendar import working_time
from runtime.clock import iso
from runtime.data import shareable
from runtime.errors import Problem
from runtime.people import allowed, is_system, roles_of
from runtime.records import RecordView
from runtime.rules import check_validations, validation_applies
from runtime.store import T_STAY, db_json, py_time
from runtime.timers import SLA_KINDS
from runtime.unit import Unit, safe_render

__all__ = ["SLA_KINDS", "StageSpec", "find", "gates", "timers"]


def find(wf: CompiledWorkflow, stage_id: str) -> StageSpec | ExitSpec | None:
    """Return the stage or exit with this id."""
    return next((item for item in gates(wf) if item.id == stage_id), None)


def gates(wf: CompiledWorkflow) -> list[StageSpec | ExitSpec]:
    """Return a workflow's stages then its exits."""
    return [*wf.body.stages, *wf.body.exits]


def is_forward(wf: CompiledWorkflow, source: str, target: str) -> bool:
    """Tell whether a move goes forward (to a later stage or to a won/closed exit)."""
    ids = [s.id for s in wf.body.stages]
    if target in ids and source in ids:
        return ids.index(target) > ids.index(source)
    exit_ = find(wf, target)
    return isinstance(exit_, ExitSpec) and exit_.outcome != "lost"


def evidence_counts(
    unit: Unit, record_id: str, gate: StageSpec | ExitSpec | BranchSpec
) -> dict[str, int]:
    """Return how many distinct files count toward each of a gate's evidence kinds.

    A file counts once however often it is attached (by its sha256), only if its media
    type is one the requirement accepts, and by default only if it was attached during
    the record's current stay (`from: any_stay`: whenever it was attached).
    """
    stays = any(need.from_stays == "current_stay" for need in gate.evidence)
    files = attachments.attached(unit.tx.conn, record_id, stays=stays)
    return {
        need.kind: len(attachments.distinct(files, need.kind, need.types, need.from_stays))
        for need in gate.evidence
    }


def applies(
    unit: Unit,
    part: Any,
    record: RecordView,
    params: dict[str, Any],
    rule: str,
    *,
    record_failure: bool = True,
) -> bool:
    """Tell whether a requirement's `when` holds for the record now (no `when`: always).

    A `when` that cannot be evaluated (a lookup without a row too) leaves the requirement
    in force, the safe side of a check; the failure is recorded (docs/expressions.md).
    """
    when = getattr(part, "when", None)
    if when is None:
        return True
    scope = record.scope()
    try:
        return bool(unit.bundle.expr(part, "when").fn(scope, unit.context(scope, params=params)))
    except EvaluationError as exc:
        if record_failure:
            failures.record(unit, record.id, "requirement", rule, exc, field="when")
        return True


def requirements(
    unit: Unit, gate: StageSpec | ExitSpec | BranchSpec, record: RecordView, params: dict[str, Any]
) -> list[Problem]:
    """Return what a stage, exit or branch still needs: fields, evidence, guards."""
    return _requirements(unit, gate, record, params)


def _requirements(
    unit: Unit, gate: StageSpec | ExitSpec | BranchSpec, record: RecordView, params: dict[str, Any]
) -> list[Problem]:
    problems: list[Problem] = []
    rule = f"{record.workflow}.{gate.id}"
    for item in gate.require:
        name = required_name(item)
        if not isinstance(item, str) and not applies(unit, item, record, params, rule):
            continue
        if record.data.get(name) in (None, "", []):
            problems.append(
                Problem("required-field", f"'{name}' must be filled in before leaving", name)
            )
    needs = [n for n in gate.evidence if applies(unit, n, record, params, rule)]
    counts = evidence_counts(unit, record.id, gate) if needs else {}
    for need in needs:
        have = counts[need.kind]
        title = need.title or need.kind
        if have < need.min:
            kinds = f" ({', '.join(need.types)})" if need.types else ""
            problems.append(
                Problem(
                    "missing-evidence",
                    f"{title}: {have} of {need.min} attached{kinds}",
                    detail={"kind": need.kind, "have": have, "min": need.min},
                )
            )
        if need.max is not None and have > need.max:
            problems.append(
                Problem(
                    "too-much-evidence",
                    f"{title}: {have} attached, at most {need.max}",
                    detail={"kind": need.kind, "have": have, "max": need.max},
                )
            )
    scope = record.scope()
    c = unit.context(scope, params=params)
    for guard in getattr(gate, "guards", []):
        if not applies(unit, guard, record, params, rule):
            continue
        try:
            refused = bool(unit.bundle.expr(guard, "refuse_if").fn(scope, c))
        except EvaluationError as exc:
            message = f"the check '{guard.refuse_if}' could not run: {exc}"
        else:
            if not refused:
                continue
            shown = shareable(unit.bundle, record.entity, scope)  # rendered for refusals only
            message = safe_render(guard.message, {**shown, "record": shown, "params": params})
        problems.append(Problem("guard-refused", message, expression=guard.refuse_if))
    return problems


def move_problems(
    unit: Unit, wf: CompiledWorkflow, record: RecordView, target: str
) -> list[Problem]:
    """Return every reason `record` may not move to `target` now (empty: it may).

    A move that may go costs what `may_move` checks; only a refused one is listed in
    full, every refusal with its message, in the order `refusals` gives them.
    """
    return [] if may_move(unit, wf, record, target) else refusals(unit, wf, record, target)


def may_move(unit: Unit, wf: CompiledWorkflow, record: RecordView, target: str) -> bool:
    """Tell whether `record` may move to `target` now: exactly when `refusals` is empty.

    The specs' part of the check is read once per workflow (engine/moves.py). A plain
    move (allowed as such, its gates needing only set fields and guards that read the
    record's fields) is one generated function: the actor's roles as kept, its fields
    set, its guards and validations run on the record's data, nothing rendered. Anything
    else runs in `_may_move`: what the plan cannot settle (conditional requirements,
    evidence, branches, conditional stages) runs as in `refusals`, in the same order,
    so the failures either records are the same.
    """
    if record.status != "open":
        return False
    try:
        step = wf.move_checks[record.stage][target]
    except KeyError:
        return _may_move(unit, wf, record, target)
    fast = step.fast
    if fast is not None and step.bundle is unit.bundle:
        try:
            met = fast(record.data, unit.actor)
        except EvaluationError:
            return False
        if met is not None:
            return met
    return _may_move(unit, wf, record, target)


def _may_move(unit: Unit, wf: CompiledWorkflow, record: RecordView, target: str) -> bool:
    """Tell whether a record may move, for any move (`may_move` takes the plain ones)."""
    source = record.stage or ""
    step = move_check(unit.bundle, wf, source, target)
    if step.refusal is not None:
        return False
    if not step.allowed and not stage_path.skips_to(unit, wf, record, source, target):
        return False
    if step.conditional_target and stage_path.not_applicable(unit, wf, record, target):
        return False
    if step.roles and not _roles_met(unit, step):
        return False
    data = record.data
    for name in step.fields:
        value = data.get(name)
        if not value and value in _BLANK:
            return False
    scope = record.scope()
    params = dict(wf.params)
    c = unit.context(scope, params=params)
    try:
        for check in step.guards:
            if check.expr.fn(scope, c):
                return False
    except EvaluationError:
        return False
    here, goal = step.here, step.goal
    if not step.plain_here and here is not None and _requirements(unit, here, record, params):
        return False
    if step.gated and isinstance(here, StageSpec):
        from runtime.approvals import gate_problems  # noqa: PLC0415  (imports this)

        if gate_problems(unit, wf, record, here):
            return False
    if not step.plain_goal and goal is not None and _requirements(unit, goal, record, params):
        return False
    return _validations_pass(unit, record, step, scope)


def _roles_met(unit: Unit, step: MoveCheck) -> bool:
    """Tell whether the actor meets each of the move's role lists (as `allowed` does).

    The system, and a user the bundle declares, have the same roles for the bundle's
    life: the answer is kept on the move check. An API user acting with the roles of
    their token is asked each time.
    """
    actor = unit.actor
    if is_system(actor):
        met = True
    else:
        held = roles_of(unit.bundle, actor)
        met = all(not held.isdisjoint(need) for need in step.roles)
    if is_system(actor) or actor in unit.bundle.manifest.users:
        step.actors[actor] = met
    return met


def _validations_pass(
    unit: Unit, record: RecordView, step: MoveCheck, scope: dict[str, Any]
) -> bool:
    """Tell whether no error-severity leave_stage validation refuses (as check_validations)."""
    if not step.validations:
        return True
    c = unit.context(scope)
    timezone = unit.bundle.manifest.timezone
    for check in step.validations:
        spec = check.part
        if spec.effective_from is not None and not validation_applies(
            spec, step.source, unit.now, timezone
        ):
            continue
        try:
            if check.expr.fn(scope, c):
                return False
        except EvaluationError:
            return False
    return True


def refusals(unit: Unit, wf: CompiledWorkflow, record: RecordView, target: str) -> list[Problem]:
    """Return every reason `record` may not move to `target` now, each with its message."""
    source = record.stage or ""
    problems: list[Problem] = []
    if record.status != "open":
        return [Problem("closed", f"the record is {record.status}; it cannot move")]
    goal = find(wf, target)
    if goal is None:
        known = ", ".join(s.id for s in gates(wf))
        return [Problem("unknown-stage", f"'{target}' is not a stage of {wf.name} ({known})")]
    if target == source:
        return [Problem("same-stage", f"the record is already in '{target}'")]
    if not wf.may_move(source, target) and not stage_path.skips_to(
        unit, wf, record, source, target
    ):
        nexts = stage_path.moves_from(unit, wf, record, source)
        problems.append(
            Problem(
                "move-not-allowed",
                f"{wf.name} does not allow '{source}' -> '{target}'"
                + (f"; from here: {', '.join(nexts)}" if nexts else ""),
            )
        )
    skipped = stage_path.not_applicable(unit, wf, record, target)
    if skipped is not None:
        problems.append(skipped)
    here = find(wf, source)
    for roles, what in (
        (wf.body.moves.roles, "move records in this workflow"),
        (here.roles if here else None, f"move records out of '{source}'"),
        (goal.roles if isinstance(goal, ExitSpec) else None, f"close as '{target}'"),
    ):
        if not allowed(unit.bundle, unit.actor, roles):
            problems.append(
                Problem("forbidden", f"only {', '.join(roles or [])} may {what}", rule="roles")
            )
    params = dict(wf.params)
    if here is not None and is_forward(wf, source, target):
        problems += _requirements(unit, here, record, params)
        if isinstance(here, StageSpec):  # its branches and approval (runtime/approvals.py)
            from runtime.approvals import gate_problems  # noqa: PLC0415  (imports this)

            problems += gate_problems(unit, wf, record, here)
    if isinstance(goal, ExitSpec):
        problems += _requirements(unit, goal, record, params)
    scope = record.scope()
    errors, _ = check_validations(
        unit.bundle,
        record.entity,
        "leave_stage",
        scope,
        unit.context(scope),
        source,
        unit.now,
        safe_render,
    )
    return problems + errors


_OPEN_STAY = (
    "INSERT INTO sf_stage_history (record_id, entity, workflow, stage, from_stage, "
    "entered_at, actor, owner, region, evidence_ids) VALUES (:record_id, :entity, "
    ":workflow, :stage, :from_stage, :entered_at, :actor, :owner, :region, :evidence_ids)"
)
# One statement closes the open stay and tells when it began; the dwell it writes is
# reckoned from the record's `stage_entered_at` (the same instant in every path that
# opens a stay) and corrected in the rare case the two differ.
_CLOSE_STAY = (
    "UPDATE sf_stage_history SET left_at = :now, to_stage = :target, "
    "dwell_seconds = :dwell, left_by = :actor, outcome = :outcome, owner = :owner "
    "WHERE id = (SELECT id FROM sf_stage_history WHERE record_id = :record_id "
    "AND left_at IS NULL LIMIT 1) RETURNING id, entered_at"
)
_FIX_DWELL = "UPDATE sf_stage_history SET dwell_seconds = :dwell WHERE id = :id"


def open_stay(unit: Unit, record: RecordView, stage: str, source: str | None) -> None:
    """Start a record's stay in a stage (history row)."""
    tx = unit.tx
    tx.sql(
        _OPEN_STAY,
        {
            "record_id": record.id,
            "entity": record.entity,
            "workflow": record.workflow,
            "stage": stage,
            "from_stage": source,
            "entered_at": tx.time(tx.now),
            "actor": tx.actor,
            "owner": record.owner,
            "region": _text(record.data.get("region")),
            "evidence_ids": db_json([]),
        },
    )


def close_stay(unit: Unit, record: RecordView, target: str, outcome: str | None) -> float:
    """End a record's open stay; return its dwell in seconds."""
    tx, now = unit.tx, unit.now
    entered = record.stage_entered_at
    guess = float((now - entered).total_seconds()) if entered is not None else 0.0
    row = tx.sql(
        _CLOSE_STAY,
        {
            "now": tx.time(now),
            "target": target,
            "dwell": guess,
            "actor": tx.actor,
            "outcome": outcome,
            "owner": record.owner,
            "record_id": record.id,
        },
    ).fetchone()
    if row is None:
        return 0.0
    stay_id, began = row[0], py_time(row[1])
    dwell = float((now - began).total_seconds()) if began is not None else 0.0
    if dwell != guess:
        tx.sql(_FIX_DWELL, {"dwell": dwell, "id": stay_id})
    return dwell


def note_evidence(unit: Unit, record_id: str, evidence_id: str, kind: str) -> None:
    """Add an evidence file to the open stay's history row."""
    conn = unit.tx.conn
    row = conn.execute(
        select(T_STAY.c.id, T_STAY.c.evidence_ids, T_STAY.c.evidence_kind).where(
            T_STAY.c.record_id == record_id, T_STAY.c.left_at.is_(None)
        )
    ).first()
    if row is None:
        return
    kinds = [k for k in (row.evidence_kind or "").split(",") if k]
    if kind not in kinds:
        kinds.append(kind)
    conn.execute(
        update(T_STAY)
        .where(T_STAY.c.id == row.id)
        .values(
            evidence_ids=[*(row.evidence_ids or []), evidence_id],
            evidence_kind=",".join(kinds)[:512],
        )
    )


def _text(value: Any) -> str | None:
    return str(value)[:64] if value is not None else None


def sla_limit(
    unit: Unit, stage: StageSpec, record: RecordView, params: dict[str, Any]
) -> Duration | None:
    """Return how long a record may stay in a stage (fixed or per record)."""
    sla = stage.sla
    if sla is None:
        return None
    if sla.within is not None:
        return sla.within
    scope = record.scope()
    try:
        value = unit.bundle.expr(sla, "within_expr").fn(scope, unit.context(scope, params=params))
    except MissingRow:
        raise  # no row refuses the move, as for a computed field (docs/expressions.md)
    except EvaluationError as exc:  # no deadline, recorded
        rule = f"{record.workflow}.{stage.id}"
        failures.record(unit, record.id, "sla", rule, exc, field="within_expr")
        return None
    if isinstance(value, timedelta):
        return Duration(value.total_seconds(), False, str(value))
    return None


def start_sla(
    unit: Unit, wf: CompiledWorkflow, stage: StageSpec, record: RecordView, *, replace: bool = False
) -> None:
    """Start the stage's SLA: a breach timer and one timer per reminder (F4).

    `replace`: the record's pending SLA timers (of the stage it left) are not cancelled
    yet; these take their place (runtime/timers.py replace_sla).
    """
    limit = sla_limit(unit, stage, record, dict(wf.params))
    if limit is None or stage.sla is None:
        if replace:
            timers.cancel(unit.tx, record.id, SLA_KINDS)
        return
    # Working durations count the SLA calendar's working time, holidays of its table too;
    # a reminder in working time is counted back from the deadline the same way.
    calendar = working_time(unit.bundle, stage.sla.calendar)
    due = calendar.add(unit.now, limit) if calendar else unit.now + _clock(limit)
    payload = {"stage": stage.id, "workflow": wf.name, "due": iso(due)}
    reminders = []
    for before in stage.sla.remind_before:
        at = calendar.subtract(due, before) if calendar else due - _clock(before)
        if at > unit.now:
            reminders.append((at, {**payload, "before": str(before)}))
    if replace:
        timers.replace_sla(
            unit.tx, record.id, due, ref=stage.id, payload=payload, reminders=reminders
        )
        return
    timers.add(unit.tx, "sla_breach", due, record_id=record.id, ref=stage.id, payload=payload)
    for at, extra in reminders:
        timers.add(unit.tx, "sla_remind", at, record_id=record.id, ref=stage.id, payload=extra)


def _clock(duration: Duration) -> timedelta:
    return timedelta(seconds=duration.seconds)
