"""Cross-checks of a stage's parallel branches and its approval step."""

from __future__ import annotations

from typing import Any

from engine.compiler.check_actions import check_actions
from engine.compiler.context import Context, Site
from engine.expr import ExprType
from engine.spec.workflow import ExitSpec, StageSpec, WorkflowBody

T = ExprType


def _way_forward(body: WorkflowBody, stage: StageSpec) -> bool:
    """Tell whether a record can leave `stage` forward (a later stage or a won/closed exit)."""
    if body.stages[-1].id != stage.id:
        return True
    return any(
        e.outcome != "lost" and (e.from_stages is None or stage.id in e.from_stages)
        for e in body.exits
    )


def check_branches_and_approval(
    ctx: Context,
    at: Site,
    body: WorkflowBody,
    stage: StageSpec,
    constants: dict[str, Any] | None,
    check_gate: Any,
) -> None:
    """Check a stage's `branches` and `approval` (ids, need, roles, stages, exits)."""
    if (stage.branches or stage.approval) and not _way_forward(body, stage):
        what = "branches" if stage.branches else "approval"
        ctx.error(
            at.at(what),
            "no-way-forward",
            f"stage '{stage.id}' has {what} but no way forward: a record there can leave "
            "only through a lost exit, which does not wait for them",
            "add a later stage or a won/closed exit from this stage",
        )
    if stage.branches:
        _branches(ctx, at.at("branches"), body.entity, stage, constants, check_gate)
    if stage.approval:
        _approval(ctx, at.at("approval"), body, stage, constants)


def _branches(
    ctx: Context,
    at: Site,
    entity: str,
    stage: StageSpec,
    constants: dict[str, Any] | None,
    check_gate: Any,
) -> None:
    spec = stage.branches
    assert spec is not None
    seen: set[str] = set()
    scope = ctx.scope_for(entity, constants=constants)
    for i, branch in enumerate(spec.items):
        here = at.at("items", i)
        if branch.id in seen:
            ctx.error(
                here.at("id"),
                "duplicate-branch",
                f"branch '{branch.id}' is declared twice in stage '{stage.id}'",
            )
        seen.add(branch.id)
        ctx.check_roles(here.at("roles"), branch.roles)
        check_gate(ctx, here, branch, entity, constants)
        ctx.expr(here.at("when"), branch.when, scope, T.BOOL, owner=branch, attr="when")
    if isinstance(spec.need, int) and spec.need > len(spec.items):
        ctx.error(
            at.at("need"),
            "bad-need",
            f"need {spec.need} is more than the {len(spec.items)} branches of stage '{stage.id}'",
            "write 'all' or a number up to the branches listed",
        )


def _approval(
    ctx: Context,
    at: Site,
    body: WorkflowBody,
    stage: StageSpec,
    constants: dict[str, Any] | None,
) -> None:
    spec = stage.approval
    assert spec is not None
    users = ctx.manifest.spec.users if ctx.manifest else {}
    pool: list[str] | None
    if spec.by.assignment:
        _by_assignment(ctx, at, body.entity, stage, spec.by.assignment, spec.need)
        _filled_too_late(ctx, at, body, stage, spec.by.assignment)
        pool = None  # who holds them is known only per record
    elif spec.by.role is not None:
        ctx.known(at.at("by", "role"), "role", spec.by.role, ctx.roles)
        pool = [u for u, s in users.items() if spec.by.role in s.roles]
    else:
        for j, user in enumerate(spec.by.users):
            ctx.known(at.at("by", "users", j), "user", user, users, "unknown-user")
        pool = list(dict.fromkeys(spec.by.users))
    if pool is None:
        pass
    elif ctx.manifest and not pool and spec.by.role in ctx.roles:
        ctx.error(
            at.at("by", "role"),
            "no-approvers",
            f"no user holds role '{spec.by.role}': nobody could approve in stage '{stage.id}'",
            "give the role to a user in the bundle's users",
        )
    elif isinstance(spec.need, int) and ctx.manifest and spec.need > len(pool):
        ctx.error(
            at.at("need"),
            "bad-need",
            f"need {spec.need} is more than the {len(pool)} approvers of stage '{stage.id}'",
            "lower it, or name more approvers",
        )
    stage_ids = [s.id for s in body.stages]
    here = stage_ids.index(stage.id)
    for j, target in enumerate(spec.send_back_to):
        if not ctx.known(at.at("send_back_to", j), "stage", target, stage_ids, "unknown-stage"):
            continue
        if stage_ids.index(target) >= here:
            ctx.error(
                at.at("send_back_to", j),
                "not-backward",
                f"a send-back goes to an earlier stage; '{target}' is not before '{stage.id}'",
            )
    exits = {e.id: e for e in body.exits}
    if ctx.known(at.at("on_reject"), "exit", spec.on_reject, exits, "unknown-exit"):
        exit_: ExitSpec = exits[spec.on_reject]
        if exit_.from_stages is not None and stage.id not in exit_.from_stages:
            ctx.error(
                at.at("on_reject"),
                "invalid",
                f"exit '{exit_.id}' cannot be taken from stage '{stage.id}' (its 'from' lists "
                f"{', '.join(exit_.from_stages)})",
                f"add '{stage.id}' to the exit's 'from'",
            )
    check_actions(ctx, at.at("on_approved"), spec.on_approved, body.entity, constants=constants)


def _by_assignment(
    ctx: Context, at: Site, entity: str, stage: StageSpec, names: list[str], need: int | str
) -> None:
    """Check `by: {assignment: ...}`: names the entity's form declares; need within them.

    Each assignment is held by one person at most, so `need` may not pass the number of
    assignments named (`all` counts the holders of the record)."""
    known = ctx.assignment_names.get(entity, ())
    for j, name in enumerate(names):
        ctx.known(
            at.at("by", "assignment", j),
            "assignment",
            name,
            known,
            "unknown-assignment",
            f"entity '{entity}': ",
        )
    distinct = list(dict.fromkeys(names))
    if len(distinct) < len(names):
        ctx.error(at.at("by", "assignment"), "invalid", "an assignment is named twice")
    if isinstance(need, int) and need > len(distinct):
        ctx.error(
            at.at("need"),
            "bad-need",
            f"need {need} is more than the {len(distinct)} assignments that approve in stage "
            f"'{stage.id}' (each is held by one person)",
            "lower it, write 'all', or name more assignments",
        )


def _filled_too_late(
    ctx: Context, at: Site, body: WorkflowBody, stage: StageSpec, names: list[str]
) -> None:
    """Warn when an approving assignment's routing fills it on entering a later stage:
    the approval would wait for it (or for someone to set it by hand)."""
    form = ctx.of("form").get(body.entity)
    if form is None:
        return
    ids = [s.id for s in body.stages]
    for j, name in enumerate(names):
        assignment = form.spec.assignments.get(name)
        moment = getattr(assignment, "at", None) if assignment is not None else None
        entering = getattr(moment, "entering", None)
        if entering in ids and ids.index(entering) > ids.index(stage.id):
            ctx.warn(
                at.at("by", "assignment", j),
                "assignment-too-late",
                f"assignment '{name}' is filled on entering '{entering}', after stage "
                f"'{stage.id}': its approval waits until someone sets it by hand",
                f"fill it at {{entering: {stage.id}}} or earlier",
            )
