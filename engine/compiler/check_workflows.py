"""Cross-checks of workflows and the instantiation of workflow templates (F3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.compiler.check_actions import check_actions
from engine.compiler.check_approvals import check_branches_and_approval
from engine.compiler.check_manifest import value_fits
from engine.compiler.context import Context, Entry, Site
from engine.compiler.include_if import instantiate, refuse_outside_template
from engine.diagnostics import shorten
from engine.expr import CompiledExpression, ExprType, Scope
from engine.spec import WorkflowSpec, WorkflowTemplateSpec
from engine.spec.workflow import (
    BranchSpec,
    ExitSpec,
    Guard,
    KnowledgeLink,
    RequiredField,
    StageSpec,
    WorkflowBody,
    parse_move,
    required_name,
)

T = ExprType


@dataclass(frozen=True)
class ResolvedWorkflow:
    """A workflow with its body (its own, or its template's) and where each part stands."""

    name: str
    body: WorkflowBody
    body_site: Site
    params: dict[str, Any]
    template: str | None
    param_errors: bool = False
    instance_site: Site | None = None
    typed_params: dict[str, ExprType] | None = None


def resolve_workflow(ctx: Context, entry: Entry[WorkflowSpec]) -> ResolvedWorkflow | None:
    """Return the workflow's body, filling a template's parameters when it uses one."""
    spec, site = entry.spec, entry.site
    if spec.template is None:
        body = WorkflowBody.model_validate(
            spec.model_dump(
                include={
                    "entity",
                    "title",
                    "description",
                    "applies_when",
                    "stages",
                    "exits",
                    "moves",
                },
                by_alias=True,
            )
        )
        refuse_outside_template(ctx, site, body)
        return ResolvedWorkflow(spec.name, body, site, {}, None)
    templates = ctx.of("workflow_template")
    if not ctx.known(site.at("template"), "workflow template", spec.template, templates):
        return None
    tentry: Entry[WorkflowTemplateSpec] = templates[spec.template]
    before = len(ctx.diagnostics)
    params = _fill_params(ctx, site, spec.params, tentry.spec)
    param_errors = len(ctx.diagnostics) > before
    body, body_site = tentry.spec.workflow, tentry.site.at("workflow")
    if not param_errors:  # include_if (structural templates): left-out parts go
        made = instantiate(ctx, site, params, tentry)
        body, body_site, param_errors = made.body, made.site, made.failed
    overrides = {
        k: getattr(spec, k) for k in ("title", "description", "applies_when") if getattr(spec, k)
    }
    if spec.entity and spec.entity != body.entity:
        ctx.error(
            site.at("entity"),
            "template-entity",
            f"template '{spec.template}' is for entity '{body.entity}', not '{spec.entity}'",
        )
    if overrides:
        body = body.model_copy(update=overrides)
    return ResolvedWorkflow(spec.name, body, body_site, params, spec.template, param_errors, site)


_PARAM_TYPES = {
    "string": T.STRING,
    "integer": T.INTEGER,
    "decimal": T.NUMBER,
    "boolean": T.BOOL,
    "list": T.list_of(T.ANY),
    "duration": T.DURATION,
}


def template_as_workflow(entry: Entry[WorkflowTemplateSpec]) -> ResolvedWorkflow:
    """Return a template as a workflow whose `params` are typed, not filled in."""
    spec = entry.spec
    types = {n: _PARAM_TYPES[p.type] for n, p in spec.params.items()}
    return ResolvedWorkflow(
        spec.name, spec.workflow, entry.site.at("workflow"), {}, spec.name, typed_params=types
    )


def _fill_params(
    ctx: Context, site: Site, given: dict[str, Any], template: WorkflowTemplateSpec
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in given.items():
        if not ctx.known(
            site.at("params", name),
            "parameter",
            name,
            template.params,
            "unknown-param",
            f"template '{template.name}': ",
            key=True,
        ):
            continue
        kind = template.params[name].type
        if kind != "duration" and not value_fits(kind, value):
            ctx.error(
                site.at("params", name),
                "bad-type",
                f"parameter '{name}' takes {kind} values, got {shorten(value)}",
            )
        values[name] = value
    for name, param in template.params.items():
        if name not in values:
            if param.required and param.default is None:
                ctx.error(
                    site.at("params"),
                    "missing-param",
                    f"template '{template.name}' needs parameter '{name}'",
                )
            values[name] = param.default
    return values


def check_workflow(ctx: Context, wf: ResolvedWorkflow) -> dict[str, CompiledExpression]:
    """Check stages, exits, moves, guards, SLAs and actions; return compiled guard expressions."""
    body, site = wf.body, wf.body_site
    if not ctx.known(site.at("entity"), "entity", body.entity, ctx.entities):
        return {}
    constants = {"params": wf.params} if wf.template and wf.typed_params is None else None
    ctx.param_types = wf.typed_params
    scope = ctx.scope_for(body.entity, constants=constants)
    ctx.expr(
        site.at("applies_when"), body.applies_when, scope, T.BOOL, owner=body, attr="applies_when"
    )
    stage_ids = [s.id for s in body.stages]
    exit_ids = [e.id for e in body.exits]
    _unique(ctx, site, "stages", stage_ids + exit_ids)
    compiled: dict[str, CompiledExpression] = {}
    names = [*ctx.entities[body.entity], "record", "now", "params"]
    for i, stage in enumerate(body.stages):
        at = site.at("stages", i)
        _check_gate(ctx, at, stage, body.entity, constants, compiled, names)
        ctx.check_roles(at.at("roles"), stage.roles)
        _check_stage_extras(ctx, at, stage, body.entity, constants)
        _check_only_when(ctx, at, i, stage, scope)
        check_branches_and_approval(ctx, at, body, stage, constants, _check_branch_gate)
    for i, exit_ in enumerate(body.exits):
        at = site.at("exits", i)
        _check_gate(ctx, at, exit_, body.entity, constants, compiled, names)
        ctx.check_roles(at.at("roles"), exit_.roles)
        for j, stage_id in enumerate(exit_.from_stages or []):
            ctx.known(at.at("from", j), "stage", stage_id, stage_ids, "unknown-stage")
        check_actions(ctx, at.at("on_enter"), exit_.on_enter, body.entity, constants=constants)
    ctx.check_roles(site.at("moves", "roles"), body.moves.roles)
    order = {s: i for i, s in enumerate(stage_ids)}
    moves = [("back", m) for m in body.moves.back] if isinstance(body.moves.back, list) else []
    for kind, move in [*moves, *[("extra", m) for m in body.moves.extra]]:
        j = (body.moves.back if kind == "back" else body.moves.extra).index(move)
        source, target = parse_move(move)
        ok = all(
            ctx.known(
                site.at("moves", kind, j),
                "stage",
                s,
                stage_ids,
                "unknown-stage",
                part_of=(move, offset),
            )
            for s, offset in ((source, move.find(source)), (target, move.rfind(target)))
        )
        if ok and source == target:
            ctx.error(
                site.at("moves", kind, j),
                "invalid",
                f"'{move}' goes from a stage to itself",
                "remove it: a record already in a stage stays there",
            )
        elif ok and kind == "back" and order[target] >= order[source]:
            ctx.error(
                site.at("moves", kind, j),
                "not-backward",
                f"'{move}' does not go back",
                "list it under 'extra'",
            )
    return compiled


def _unique(ctx: Context, site: Site, what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            ctx.error(
                site.at(what, i, "id") if i < len(ids) else site,
                "duplicate-stage",
                f"stage or exit '{ident}' is declared twice",
            )
        seen.add(ident)


def _check_gate(
    ctx: Context,
    at: Site,
    stage: StageSpec | ExitSpec | BranchSpec,
    entity: str,
    constants: dict[str, Any] | None,
    compiled: dict[str, CompiledExpression],
    names: list[str],
) -> None:
    fields = ctx.entities[entity]
    scope = ctx.scope_for(entity, constants=constants)
    names_seen: list[str] = []
    noun = "branch" if isinstance(stage, BranchSpec) else "stage"
    for j, item in enumerate(stage.require):
        field = required_name(item)
        ctx.known(
            at.at("require", j) if isinstance(item, str) else at.at("require", j, "field"),
            "field",
            field,
            fields,
            "unknown-field",
            message=f"{noun} '{stage.id}' requires field '{field}', which entity "
            f"'{entity}' does not define",
        )
        if field in names_seen:
            ctx.error(
                at.at("require", j) if isinstance(item, str) else at.at("require", j, "field"),
                "duplicate-require",
                f"field '{field}' is required twice in {noun} '{stage.id}'",
                "list it once: a long form with 'when' replaces the plain name",
            )
        names_seen.append(field)
        if isinstance(item, RequiredField):
            ctx.expr(at.at("require", j, "when"), item.when, scope, T.BOOL, owner=item, attr="when")
    kinds = [e.kind for e in stage.evidence]
    for j, kind in enumerate(kinds):
        if kinds.index(kind) != j:
            ctx.error(
                at.at("evidence", j, "kind"),
                "duplicate-evidence",
                f"evidence '{kind}' is listed twice in {noun} '{stage.id}'",
            )
        ev = stage.evidence[j]
        if ev.max is not None and ev.max < ev.min:
            ctx.error(
                at.at("evidence", j, "max"), "invalid", f"max {ev.max} is less than min {ev.min}"
            )
        ctx.expr(at.at("evidence", j, "when"), ev.when, scope, T.BOOL, owner=ev, attr="when")
    guards: list[Guard] = getattr(stage, "guards", [])
    for j, guard in enumerate(guards):
        expr = ctx.expr(
            at.at("guards", j, "refuse_if"),
            guard.refuse_if,
            scope,
            T.BOOL,
            owner=guard,
            attr="refuse_if",
        )
        if expr is not None:
            compiled[f"{stage.id}.guards.{j}"] = expr
        ctx.expr(at.at("guards", j, "when"), guard.when, scope, T.BOOL, owner=guard, attr="when")
        ctx.template(at.at("guards", j, "message"), guard.message, names)


def _check_only_when(ctx: Context, at: Site, index: int, stage: StageSpec, scope: Scope) -> None:
    """Check a stage's `only_when`: a boolean over the record, not the clock, not the first."""
    if stage.only_when is None:
        return
    where = at.at("only_when")
    if index == 0:
        ctx.error(
            where,
            "only-when-first-stage",
            f"stage '{stage.id}' is the first stage, where every record starts; "
            "it cannot be skipped",
            "put the condition on a later stage, or add an unconditional first stage",
        )
    expr = ctx.expr(where, stage.only_when, scope, T.BOOL, owner=stage, attr="only_when")
    if expr is not None and expr.clock:
        ctx.error(
            where,
            "only-when-uses-time",
            f"stage '{stage.id}': only_when depends on the time it is evaluated at "
            "('now', hours_since(), days_since(), hours_in_stage()); the stage path "
            "would change with the clock",
            "read record fields only; a rule may set a field when time passes",
        )


def _check_branch_gate(
    ctx: Context, at: Site, branch: Any, entity: str, constants: dict[str, Any] | None
) -> None:
    """Check a branch's require and evidence as a stage's are checked."""
    _check_gate(ctx, at, branch, entity, constants, {}, [])


def _check_stage_extras(
    ctx: Context, at: Site, stage: StageSpec, entity: str, constants: dict[str, Any] | None
) -> None:
    scope = ctx.scope_for(entity, constants=constants)
    if stage.sla:
        sla = stage.sla
        calendars = ctx.manifest.spec.calendars if ctx.manifest else {}
        ctx.known(at.at("sla", "calendar"), "calendar", sla.calendar, calendars)
        if sla.within and sla.within.working and not sla.calendar:
            ctx.error(
                at.at("sla", "within"),
                "no-calendar",
                "working time needs a calendar",
                "add 'calendar: <name>'",
            )
        ctx.expr(
            at.at("sla", "within_expr"),
            sla.within_expr,
            scope,
            T.DURATION,
            owner=sla,
            attr="within_expr",
        )
        for j, before in enumerate(sla.remind_before):
            if before.working and not sla.calendar:
                ctx.error(
                    at.at("sla", "remind_before", j),
                    "no-calendar",
                    "working time needs a calendar",
                    "add 'calendar: <name>'",
                )
            if sla.within and before.seconds >= sla.within.seconds:
                ctx.error(
                    at.at("sla", "remind_before", j),
                    "invalid",
                    f"reminder {before} is not before the limit {sla.within}",
                )
        check_actions(ctx, at.at("sla", "on_remind"), sla.on_remind, entity, constants=constants)
        check_actions(ctx, at.at("sla", "on_breach"), sla.on_breach, entity, constants=constants)
    for j, link in enumerate(stage.knowledge):
        if link.table and ctx.known(
            at.at("knowledge", j, "table"), "table", link.table, ctx.tables
        ):
            row = T.record(f"table '{link.table}' row", dict(ctx.table_sigs[link.table].columns))
            rscope = ctx.scope_for(entity, context={"row": row}, constants=constants)
            ctx.expr(
                at.at("knowledge", j, "where"), link.where, rscope, T.BOOL, owner=link, attr="where"
            )
        elif not link.table and not link.url and not link.metric:
            needs = "a knowledge link needs 'url', 'table' or 'metric'"
            ctx.error(at.at("knowledge", j), "invalid", needs)
        _check_metric_link(ctx, at.at("knowledge", j), link, scope)
    for j, insight in enumerate(stage.insights):
        ctx.expr(at.at("insights", j, "value"), insight.value, scope, owner=insight, attr="value")
    ctx.template(at.at("guidance"), stage.guidance or None, ["params", "record", "now"])
    check_actions(ctx, at.at("on_enter"), stage.on_enter, entity, constants=constants)
    check_actions(ctx, at.at("on_exit"), stage.on_exit, entity, constants=constants)
    check_actions(ctx, at.at("on_update"), stage.on_update, entity, constants=constants)


def _check_metric_link(ctx: Context, site: Site, link: KnowledgeLink, scope: Scope) -> None:
    """A metric link names a metric and matches its groups by expressions over the record."""
    if link.metric is None:
        if link.match:
            ctx.error(
                site.at("match"),
                "invalid",
                "'match' picks groups of a metric: it needs 'metric'",
                "add 'metric: <name>' or use 'table' with 'where'",
                key=True,
            )
        return
    if link.table or link.where:
        ctx.error(
            site.at("table" if link.table else "where"),
            "invalid",
            "a knowledge link lists the rows of a table or the groups of a metric, not both",
            "use 'match' to pick a metric's groups",
            key=True,
        )
    metrics = ctx.of("metric")
    if not ctx.known(site.at("metric"), "metric", link.metric, metrics):
        return
    groups = metrics[link.metric].spec.group_by
    for column, source in link.match.items():
        if ctx.known(
            site.at("match", column),
            "group column",
            column,
            groups,
            "unknown-field",
            f"metric '{link.metric}': ",
            key=True,
        ):
            ctx.expr(site.at("match", column), source, scope, owner=link, attr=f"match.{column}")
