"""Checks of a rule's `reevaluate` block (scoring, routing, decision_table).

What each kind may re-evaluate: scores and decision tables write their outcome onto
the record, so open or all records can be decided again; routing only moves records
that wait in a queue (`queued`), never one a person already holds.
"""

from __future__ import annotations

from engine.compiler.context import Context, Site
from engine.expr import ExprType
from engine.spec import DecisionTableSpec, RoutingSpec, ScoringSpec

NOUNS = {"scoring": "scoring model", "decision_table": "decision table", "routing": "routing rule"}
RECORDS: dict[str, tuple[str, ...]] = {
    "scoring": ("open", "all", "none"),
    "decision_table": ("open", "all", "none"),
    "routing": ("queued", "none"),
}


def check_reevaluate(
    ctx: Context, kind: str, site: Site, spec: ScoringSpec | RoutingSpec | DecisionTableSpec
) -> None:
    """Check a rule's `reevaluate` block; compile its `where` for the runtime."""
    block = spec.reevaluate
    if block is None or spec.entity not in ctx.entities:
        return
    at = site.at("reevaluate")
    if isinstance(spec, ScoringSpec) and spec.against:
        ctx.error(
            at,
            "reevaluate-unsupported",
            f"scoring '{spec.name}' scores candidates (against: users); nothing of it is "
            "stored on records to re-evaluate",
            "put 'reevaluate' on the routing rule that uses it as 'match'",
            key=True,
        )
        return
    allowed = RECORDS[kind]
    if block.records not in allowed:
        ctx.error(
            at.at("records"),
            "reevaluate-records",
            f"a {NOUNS[kind]} re-evaluates records: {' | '.join(allowed)}, not '{block.records}'",
            "routing re-routes only records waiting in a queue, never one a person holds"
            if kind == "routing"
            else "'queued' is for routing rules",
        )
    if block.where is not None and block.records == "none":
        ctx.error(
            at.at("where"),
            "reevaluate-records",
            "'where' narrows the records re-evaluated, but 'records' is none",
            f"set 'records' to one of {', '.join(a for a in allowed if a != 'none')}",
        )
    expr = ctx.expr(
        at.at("where"),
        block.where,
        ctx.scope_for(spec.entity),
        ExprType.BOOL,
        owner=block,
        attr="where",
    )
    if expr is not None and expr.clock:
        ctx.error(
            at.at("where"),
            "reevaluate-uses-time",
            "'where' depends on the time it is evaluated at ('now', hours_since(), "
            "days_since(), hours_in_stage()); which records a job re-evaluates must not "
            "change while it runs",
            "filter on stored fields",
        )
