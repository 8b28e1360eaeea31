"""Cross-checks of action lists, wherever they appear."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.compiler.check_visibility import check_notify_visibility
from engine.compiler.context import Context, Site
from engine.expr import ExprType
from engine.spec.actions import ActionSpec, NotifyAction, SetFieldsAction, SuggestAction

# Names a notification template may read (the runtime renders with exactly these).
NOTIFICATION_NAMES = (
    "record",
    "alert",
    "recipient",
    "now",
    "bundle",
    "links",
    "workflow",
    "stage",
    "forecast",
    "schedule",
    "assignment",
    "params",
    # The item of a per-item schedule (for_each); check_signals.check_item_templates
    # refuses the ones the schedule's source does not give.
    "group",
    "value",
    "row",
    "user",
)


def check_actions(
    ctx: Context,
    site: Site,
    actions: Sequence[ActionSpec],
    entity: str | None,
    *,
    context: dict[str, ExprType] | None = None,
    constants: dict[str, Any] | None = None,
) -> None:
    """Check each action: what it names exists, and its expressions compile."""
    scope = ctx.scope_for(entity, context=context, constants=constants)
    for i, action in enumerate(actions):
        at = site.at(i)
        ctx.expr(at.at("when"), action.when, scope, ExprType.BOOL, owner=action, attr="when")
        body = action.body
        here = at.at(action.name)
        if isinstance(body, NotifyAction):
            _check_notify(ctx, here, body, entity)
            _check_item_user(ctx, here, body, context)
        elif action.create_record:
            spec = action.create_record
            if ctx.known(here.at("entity"), "entity", spec.entity, ctx.entities):
                target = ctx.entities[spec.entity]
                for name, expr in spec.data.items():
                    if ctx.known(
                        here.at("data", name),
                        "field",
                        name,
                        target,
                        "unknown-field",
                        f"entity '{spec.entity}': ",
                    ):
                        ctx.expr(
                            here.at("data", name), expr, scope, owner=spec, attr=f"data.{name}"
                        )
            ctx.known(here.at("workflow"), "workflow", spec.workflow, ctx.of("workflow"))
        elif action.set:
            _check_set(ctx, here, action.set, entity, scope)
        elif action.assign:
            a = action.assign
            ctx.known(here.at("routing"), "routing rule", a.routing, ctx.of("routing"))
            ctx.known(here.at("user"), "user", a.user, _users(ctx))
            ctx.known(here.at("queue"), "queue", a.queue, _queues(ctx))
            if a.as_ is not None:
                named = ctx.assignment_names.get(entity or "", ())
                ctx.known(
                    here.at("as"),
                    "assignment",
                    a.as_,
                    named,
                    "unknown-assignment",
                    f"entity '{entity}': " if entity else "",
                )
        elif action.start_workflow:
            ctx.known(
                here.at("workflow"), "workflow", action.start_workflow.workflow, ctx.of("workflow")
            )
        elif action.webhook:
            ctx.template(here.at("body"), action.webhook.body, NOTIFICATION_NAMES)
            ctx.template(here.at("url"), action.webhook.url, NOTIFICATION_NAMES)
        elif action.recompute_forecast:
            ctx.known(
                here.at("forecast"),
                "forecast",
                action.recompute_forecast.forecast,
                ctx.of("forecast"),
            )
        else:  # the model holds exactly one action: this is `suggest`
            assert action.suggest is not None
            _check_suggest(ctx, here, action.suggest, entity, context, constants)


def _users(ctx: Context) -> list[str]:
    return list(ctx.manifest.spec.users) if ctx.manifest else []


def _queues(ctx: Context) -> list[str]:
    return list(ctx.manifest.spec.queues) if ctx.manifest else []


def _check_notify(ctx: Context, site: Site, spec: NotifyAction, entity: str | None) -> None:
    ctx.known(site.at("template"), "notification template", spec.template, ctx.of("notification"))
    manifest = ctx.manifest.spec if ctx.manifest else None
    for i, to in enumerate(spec.to):
        at = site.at("to", i)
        kind, _, name = to.partition(":")
        if (to in ("owner", "owner.manager") or kind == "assignment") and entity is None:
            ctx.error(
                at,
                "no-record",
                f"'{to}' needs a record, and this action has none",
                "send to a role, team or user",
            )
        elif to == "user":
            continue  # the item's user: _check_item_user
        elif kind == "role":
            ctx.known(at, "role", name, ctx.roles)
        elif kind == "user":
            ctx.known(at, "user", name, manifest.users if manifest else [])
        elif kind == "team":
            ctx.known(at, "team", name, manifest.teams if manifest else [])
        elif kind == "queue":
            ctx.known(at, "queue", name, manifest.queues if manifest else [])
        elif kind == "field":
            ctx.known(at, "field", name, ctx.entities.get(entity or "", {}), "unknown-field")
        elif kind == "assignment":
            ctx.known(
                at,
                "assignment",
                name,
                ctx.assignment_names.get(entity or "", ()),
                "unknown-assignment",
                f"entity '{entity}': ",
                part_of=(to, len("assignment:")),
            )
    check_notify_visibility(ctx, site, spec, entity)


def _check_item_user(
    ctx: Context, site: Site, spec: NotifyAction, context: dict[str, ExprType] | None
) -> None:
    """`to: user` sends to the item of a `for_each: users` schedule: only there."""
    item = (context or {}).get("user")
    if item is not None and item.kind == "record":
        return
    for i, to in enumerate(spec.to):
        if to == "user":
            ctx.error(
                site.at("to", i),
                "no-item-user",
                "'user' is the user of a 'for_each: users' schedule, and this action has none",
                "send to 'user:<id>', a role or a team",
            )


def _check_set(
    ctx: Context, site: Site, action: SetFieldsAction, entity: str | None, scope: Any
) -> None:
    if entity is None:
        ctx.error(site, "no-record", "'set' needs a record, and this action has none")
        return
    target = ctx.entities.get(entity, {})
    form = ctx.of("form").get(entity)
    fields = form.spec.fields if form is not None else {}
    for name, expr in action.fields.items():
        if name in fields and fields[name].type == "evidence":
            ctx.error(
                site.at("fields", name),
                "evidence-field",
                f"'{name}' is an evidence field: attaching files as '{name}' fills it",
                "an action cannot set it",
                key=True,
            )
            continue
        if ctx.known(
            site.at("fields", name), "field", name, target, "unknown-field", f"entity '{entity}': "
        ):
            ctx.expr(site.at("fields", name), expr, scope, owner=action, attr=f"fields.{name}")


def _check_suggest(
    ctx: Context,
    site: Site,
    suggest: SuggestAction,
    entity: str | None,
    context: dict[str, ExprType] | None,
    constants: dict[str, Any] | None,
) -> None:
    table = suggest.table
    if not ctx.known(site.at("table"), "table", table, ctx.tables):
        return
    row = ctx.table_sigs[table]
    extra = dict(context or {})
    extra["row"] = ExprType.record(f"table '{table}' row", dict(row.columns))
    scope = ctx.scope_for(entity, context=extra, constants=constants)
    ctx.expr(site.at("where"), suggest.where, scope, ExprType.BOOL, owner=suggest, attr="where")
