"""Checks of a form's named assignments and of its row-level access (`permissions.rows`)."""

from __future__ import annotations

from engine.compiler.context import Context, Entry
from engine.expr import ExprType
from engine.spec import FormSpec
from engine.spec.form import AssignmentMoment

ROW_ACCESS = ("assigned", "team", "all")


def check_assignments(ctx: Context, entry: Entry[FormSpec]) -> None:
    """Check each named assignment (routing, moment, not_same_as) and `permissions.rows`."""
    spec, site = entry.spec, entry.site
    routings = ctx.of("routing")
    for name, assignment in spec.assignments.items():
        at = site.at("assignments", name)
        if name == "owner":
            ctx.error(
                at,
                "reserved-name",
                "'owner' is the record's own assignment; a named assignment cannot take its name",
                "call it after the part the person plays (reviewer, approver, ...)",
                key=True,
            )
        if assignment.routing is not None and ctx.known(
            at.at("routing"), "routing rule", assignment.routing, routings
        ):
            routed = routings[assignment.routing].spec.entity
            if routed != spec.entity:
                ctx.error(
                    at.at("routing"),
                    "wrong-entity",
                    f"routing rule '{assignment.routing}' routes {routed} records, "
                    f"not {spec.entity}",
                )
        moment = assignment.at
        if isinstance(moment, AssignmentMoment):
            if moment.entering is not None:
                ctx.known(
                    at.at("at", "entering"),
                    "stage",
                    moment.entering,
                    ctx.stages_of(spec.entity),
                    "unknown-stage",
                    f"entity '{spec.entity}': ",
                )
            where = at.at("at", "when")
            expr = ctx.expr(
                where,
                moment.when,
                ctx.scope_for(spec.entity),
                ExprType.BOOL,
                owner=moment,
                attr="when",
            )
            if expr is not None and expr.clock:
                ctx.error(
                    where,
                    "computed-uses-time",
                    f"assignment '{name}' is filled when its condition turns true, checked "
                    "when the record changes; a condition on the time it is evaluated at "
                    "('now', hours_since(), days_since(), hours_in_stage()) would turn true "
                    "unseen",
                    "use a condition on the record's values, or {entering: <stage>}",
                )
        for i, other in enumerate(assignment.not_same_as):
            where = at.at("not_same_as", i)
            if other == name:
                ctx.error(where, "invalid", f"assignment '{name}' cannot exclude itself")
            elif other != "owner":
                ctx.known(
                    where,
                    "assignment",
                    other,
                    [n for n in spec.assignments if n != name] + ["owner"],
                    "unknown-assignment",
                    f"entity '{spec.entity}': ",
                )
    rows = spec.permissions.rows
    if rows is None:
        return
    for role in rows:
        ctx.known(site.at("permissions", "rows", role), "role", role, ctx.roles, key=True)
