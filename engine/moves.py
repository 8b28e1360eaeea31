"""What a move from one stage to another checks, read once per compiled workflow.

A move check that passes should cost a lookup and the expressions it runs, not a walk
over the workflow's stages and the bundle's validations. `move_check` reads the specs
once for each (source, target) and keeps the answer on the compiled workflow: the move's
gates, whether the workflow allows it, the role lists it needs, the fields it requires,
its guards and the leave_stage validations in force at the source, each expression with
what it reads (docs/decisions.md). The runtime runs the checks (runtime/stages.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.expr import EMPTY, CompiledExpression
from engine.spec.workflow import ExitSpec, StageSpec

if TYPE_CHECKING:
    from engine.bundle import Bundle, CompiledWorkflow

# The record's own columns a scope adds to its fields (runtime/records.py RecordView.scope,
# in this order): an expression reading none of them may read the fields alone.
CORE_COLUMNS = (
    "id",
    "entity",
    "workflow",
    "stage",
    "status",
    "owner",
    "queue",
    "created_at",
    "updated_at",
    "stage_entered_at",
    "schema_version",
)
CORE_KEYS = frozenset(CORE_COLUMNS)


@dataclass(frozen=True)
class Check:
    """One expression of a move check: what it refuses on, and what it reads.

    `fields_only`: it reads form fields only (the record's data will do for its scope);
    `context`: it reads the context `c`.
    """

    part: Any
    expr: CompiledExpression
    fields_only: bool
    context: bool


@dataclass(frozen=True)
class MoveCheck:
    """Everything a move from `source` to `target` checks that the specs alone decide.

    `refusal` is set for a move refused whatever the record holds (unknown target, the
    stage the record is in). `plain_here`/`plain_goal` say a gate's requirements are
    only unconditional fields and guards without `when` (checked here from `fields` and
    `guards`); otherwise the gate's requirements run in full. `gated`: the source stage
    has branches or an approval. `roles`: each role list the actor must meet.
    """

    bundle: Bundle
    workflow: CompiledWorkflow
    source: str
    target: str
    refusal: str | None
    allowed: bool
    forward: bool
    here: StageSpec | ExitSpec | None
    goal: StageSpec | ExitSpec | None
    conditional_target: bool
    roles: tuple[frozenset[str], ...]
    plain_here: bool
    plain_goal: bool
    gated: bool
    fields: tuple[str, ...]
    guards: tuple[Check, ...]
    validations: tuple[Check, ...]
    plain: bool
    # Whether each declared user meets `roles`, filled as users act (runtime/stages.py).
    actors: dict[str | None, bool] = field(default_factory=dict, compare=False, repr=False)
    # A plain move's whole check as one function fn(data, actor): True (it may go),
    # False (refused) or None (the actor's roles are not known yet); None when not plain.
    fast: Callable[[Mapping[str, Any], str | None], bool | None] | None = field(
        default=None, compare=False, repr=False
    )


def _gates(wf: CompiledWorkflow) -> dict[str, StageSpec | ExitSpec]:
    out: dict[str, StageSpec | ExitSpec] = {}
    items: list[StageSpec | ExitSpec] = [*wf.body.stages, *wf.body.exits]
    for item in items:
        out.setdefault(item.id, item)  # the first with an id, as runtime/stages.find
    return out


def _plain(gate: StageSpec | ExitSpec) -> bool:
    """Tell whether a gate needs only unconditional fields and guards without `when`."""
    return (
        not gate.evidence
        and all(isinstance(item, str) for item in gate.require)
        and all(guard.when is None for guard in gate.guards)
    )


def _check(bundle: Bundle, entity: str, part: Any, expr: CompiledExpression) -> Check:
    form = bundle.forms.get(entity)
    fields = form.spec.fields if form is not None else {}
    reads = expr.reads
    fields_only = reads is not None and all(k in fields and k not in CORE_KEYS for k in reads)
    return Check(part, expr, fields_only, expr.context)


def _is_forward(wf: CompiledWorkflow, source: str, target: str, goal: Any) -> bool:
    ids = [s.id for s in wf.body.stages]
    if target in ids and source in ids:
        return ids.index(target) > ids.index(source)
    return isinstance(goal, ExitSpec) and goal.outcome != "lost"


def _validations(bundle: Bundle, entity: str, source: str) -> tuple[Check, ...]:
    """Return the error-severity leave_stage validations that may apply in `source`."""
    found = []
    for spec, expr in bundle.validations.values():
        if spec.entity != entity or "leave_stage" not in spec.on or spec.severity != "error":
            continue
        if spec.stages and source not in spec.stages:
            continue
        found.append(_check(bundle, entity, spec, expr))
    return tuple(found)


def plan(bundle: Bundle, wf: CompiledWorkflow, source: str, target: str) -> MoveCheck:
    """Read what a move from `source` to `target` in `wf` checks (no cache)."""
    gates = _gates(wf)
    goal = gates.get(target)
    refusal = "unknown-stage" if goal is None else "same-stage" if target == source else None
    here = gates.get(source)
    forward = here is not None and _is_forward(wf, source, target, goal)
    listed = [wf.body.moves.roles, here.roles if here is not None else None]
    listed.append(goal.roles if isinstance(goal, ExitSpec) else None)
    roles = tuple(frozenset(r) for r in listed if r is not None)
    actors: dict[str | None, bool] = {}
    entity = wf.entity
    checked = [here] if forward and here is not None else []
    if isinstance(goal, ExitSpec):
        checked.append(goal)
    fields: list[str] = []
    guards: list[Check] = []
    for gate in checked:
        if _plain(gate):
            fields += [item for item in gate.require if isinstance(item, str)]
            guards += [
                _check(bundle, entity, guard, bundle.expr(guard, "refuse_if"))
                for guard in gate.guards
            ]
    validations = _validations(bundle, entity, source)
    exprs = [*guards, *validations]
    plain_here = not forward or here is None or _plain(here)
    plain_goal = not isinstance(goal, ExitSpec) or _plain(goal)
    gated = (
        forward
        and isinstance(here, StageSpec)
        and (here.branches is not None or here.approval is not None)
    )
    conditional_target = isinstance(goal, StageSpec) and goal.only_when is not None
    allowed = wf.may_move(source, target)
    plain = (
        refusal is None
        and allowed
        and plain_here
        and plain_goal
        and not gated
        and not conditional_target
        and all(c.fields_only and not c.context for c in exprs)
        and all(v.part.effective_from is None for v in validations)
    )
    return MoveCheck(
        bundle=bundle,
        workflow=wf,
        source=source,
        target=target,
        refusal=refusal,
        allowed=allowed,
        forward=forward,
        here=here,
        goal=goal,
        conditional_target=conditional_target,
        roles=roles,
        plain_here=plain_here,
        plain_goal=plain_goal,
        gated=gated,
        fields=tuple(fields),
        guards=tuple(guards),
        validations=validations,
        plain=plain,
        actors=actors,
        fast=_fast(bool(roles), tuple(fields), [c.expr for c in exprs], actors) if plain else None,
    )


_FAST = """\
def _move(data, actor):
{roles}{fields}    return not ({exprs})
"""
_ROLES = """\
    met = _actors.get(actor)
    if not met:
        return met
"""
_FIELD = """\
    v = data.get({name!r})
    if not v and v in _BLANK:
        return False
"""
BLANK: tuple[Any, ...] = (None, "", [])  # a required field holding one of these is not filled in


def _fast(
    roles: bool,
    fields: tuple[str, ...],
    exprs: list[CompiledExpression],
    actors: dict[str | None, bool],
) -> Callable[[Mapping[str, Any], str | None], bool | None]:
    """Generate a plain move's check: roles (as kept), fields set, then each expression
    on the record's data, in that order; an EvaluationError propagates (a refusal)."""
    names: dict[str, Any] = {"__builtins__": {}, "_actors": actors, "_BLANK": BLANK, "_E": EMPTY}
    calls = []
    for i, expr in enumerate(exprs):
        names[f"_f{i}"] = expr.fn
        calls.append(f"_f{i}(data, _E)")
    text = _FAST.format(
        roles=_ROLES if roles else "",
        fields="".join(_FIELD.format(name=name) for name in fields),
        exprs=" or ".join(calls) or "False",
    )
    exec(compile(text, f"<move check {len(fields)} fields {len(exprs)} checks>", "exec"), names)
    fn: Callable[[Mapping[str, Any], str | None], bool | None] = names["_move"]
    return fn


def move_check(bundle: Bundle, wf: CompiledWorkflow, source: str, target: str) -> MoveCheck:
    """Return what a move checks, read once and kept on the workflow (for this bundle)."""
    kept = wf.move_checks.get(source, {})
    found = kept.get(target)
    if found is None or found.bundle is not bundle:
        found = plan(bundle, wf, source, target)
        if found.refusal != "unknown-stage":  # a target anyone may type is not kept
            wf.move_checks.setdefault(source, {})[target] = found
    return found
