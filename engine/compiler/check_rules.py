"""Cross-checks of scoring models, routing rules, decision tables and validation rules."""

from __future__ import annotations

from typing import Any

from engine.compiler.cells import Matcher, output_expression, parse_cell, rows_overlap
from engine.compiler.check_actions import check_actions
from engine.compiler.check_manifest import shown
from engine.compiler.context import Context, Entry, Site
from engine.compiler.scopes import user_field_type
from engine.diagnostics import shorten
from engine.expr import CompiledExpression, ExprType
from engine.spec import DecisionTableSpec, FormSpec, RoutingSpec, ScoringSpec, ValidationSpec

T = ExprType
_NUMERIC = ("integer", "number", "any")


def check_scoring(ctx: Context, entry: Entry[ScoringSpec]) -> list[CompiledExpression]:
    """Check a scoring model; return its compiled features in order."""
    spec, site = entry.spec, entry.site
    if not ctx.known(site.at("entity"), "entity", spec.entity, ctx.entities):
        return []
    fields = ctx.entities[spec.entity]
    if (
        spec.output
        and ctx.known(
            site.at("output"),
            "field",
            spec.output,
            fields,
            "unknown-field",
            f"entity '{spec.entity}': ",
        )
        and fields[spec.output].kind not in _NUMERIC
    ):
        ctx.error(
            site.at("output"),
            "type-mismatch",
            f"score output '{spec.output}' is a "
            f"{fields[spec.output].describe()} field; it must be a number",
        )
    context = {"candidate": ctx.user} if spec.against else None
    scope = ctx.scope_for(spec.entity, context=context)
    compiled = []
    for name, feature in spec.features.items():
        expr = ctx.expr(
            site.at("features", name, "value"), feature.value, scope, owner=feature, attr="value"
        )
        if expr is not None and expr.type.kind not in (*_NUMERIC, "bool"):
            ctx.error(
                site.at("features", name, "value"),
                "type-mismatch",
                f"feature '{name}' gives a {expr.type.describe()}; a feature gives a "
                "number between 0 and 1 (or true/false)",
            )
        if expr is not None:
            compiled.append(expr)
    return compiled


def check_routing(ctx: Context, entry: Entry[RoutingSpec]) -> None:
    """Check a routing rule's candidates, scores, queue and actions."""
    spec, site = entry.spec, entry.site
    if not ctx.known(site.at("entity"), "entity", spec.entity, ctx.entities):
        return
    manifest = ctx.manifest.spec if ctx.manifest else None
    cand = spec.candidates
    ctx.known(site.at("candidates", "role"), "role", cand.role, ctx.roles)
    for i, team in enumerate(cand.teams):
        ctx.known(
            site.at("candidates", "teams", i), "team", team, manifest.teams if manifest else []
        )
    for i, user in enumerate(cand.users):
        ctx.known(
            site.at("candidates", "users", i), "user", user, manifest.users if manifest else []
        )
    for i, role in enumerate(spec.override_roles):
        ctx.known(site.at("override_roles", i), "role", role, ctx.roles)
    _check_matching(ctx, spec, site, manifest)
    scope = ctx.scope_for(spec.entity, context={"candidate": ctx.user})
    ctx.expr(site.at("eligible"), spec.eligible, scope, T.BOOL, owner=spec, attr="eligible")
    ctx.expr(
        site.at("when"), spec.when, ctx.scope_for(spec.entity), T.BOOL, owner=spec, attr="when"
    )
    scorings = ctx.of("scoring")
    if spec.match and ctx.known(site.at("match"), "scoring model", spec.match, scorings):
        model: ScoringSpec = scorings[spec.match].spec
        if model.against != "users":
            ctx.error(
                site.at("match"),
                "not-a-match-score",
                f"scoring '{spec.match}' does not score candidates",
                "give it 'against: users'",
            )
        elif model.entity != spec.entity:
            ctx.error(
                site.at("match"),
                "entity-mismatch",
                f"scoring '{spec.match}' is for entity '{model.entity}', not '{spec.entity}'",
            )
        if spec.threshold is not None and not model.scale[0] <= spec.threshold <= model.scale[1]:
            ctx.error(
                site.at("threshold"),
                "invalid",
                f"threshold {spec.threshold} is outside the score's scale {list(model.scale)}",
            )
    ctx.known(
        site.at("fallback_queue"), "queue", spec.fallback_queue, manifest.queues if manifest else []
    )
    check_actions(ctx, site.at("on_assign"), spec.on_assign, spec.entity)


def _value_kind(t: ExprType) -> str:
    """Return the family of a single value's type: text, number, bool or another kind."""
    if t.kind in ("integer", "number"):
        return "number"
    return "text" if t.kind == "string" else t.kind


def _check_matching(ctx: Context, spec: RoutingSpec, site: Site, manifest: Any) -> None:
    """Check `candidates.matching`: a declared user attribute, a record field, same types.

    A list (or multi_enum) attribute is matched by holding the record's value, any other
    by equalling it; either way the record's field holds one value (not a list).
    """
    declared = manifest.user_fields if manifest else {}
    fields = ctx.entities[spec.entity]
    for attr, name in spec.candidates.matching.items():
        at = site.at("candidates", "matching", attr)
        known_attr = ctx.known(at, "user attribute", attr, declared, "unknown-user-field", key=True)
        known_field = ctx.known(
            at, "field", name, fields, "unknown-field", f"entity '{spec.entity}': "
        )
        if not (known_attr and known_field) or attr not in declared:
            continue
        user_t = user_field_type(declared[attr])
        many = user_t.kind == "list"
        item = user_t.item if many and user_t.item is not None else user_t
        rec = fields[name]
        if rec.kind in ("any", "null"):
            continue
        if rec.kind == "list":
            ctx.error(
                at,
                "type-mismatch",
                f"field '{name}' holds a list ({rec.describe()}); matching compares one "
                "record value with each candidate's attribute",
                "match on a field holding one value",
            )
        elif _value_kind(rec) != _value_kind(item):
            held = f"a list of {item.describe()}" if many else item.describe()
            ctx.error(
                at,
                "type-mismatch",
                f"user attribute '{attr}' holds {held}; field '{name}' holds "
                f"{rec.describe()}: no value of it can match",
                "match an attribute and a field of the same type",
            )
        elif item.values and rec.values and not set(item.values) & set(rec.values):
            ctx.error(
                at,
                "type-mismatch",
                f"user attribute '{attr}' takes {sorted(item.values)}; field '{name}' takes "
                f"{sorted(rec.values)}: no value of it can match",
                "match an attribute and a field sharing values",
            )


OutputCells = tuple[CompiledExpression | None, ...]


def check_decision_table(
    ctx: Context, entry: Entry[DecisionTableSpec]
) -> tuple[list[CompiledExpression], list[tuple[Matcher, ...]], list[OutputCells], OutputCells]:
    """Check a decision table's inputs, outputs and every cell.

    Return the inputs, each row's matchers, each row's output expressions (None where a
    cell is a literal) and the default's output expressions.
    """
    spec, site = entry.spec, entry.site
    if not ctx.known(site.at("entity"), "entity", spec.entity, ctx.entities):
        return [], [], [], ()
    fields = ctx.entities[spec.entity]
    scope = ctx.scope_for(spec.entity)
    inputs = [ctx.expr(site.at("inputs", i), src, scope) for i, src in enumerate(spec.inputs)]
    outputs = [
        fields.get(o)
        if ctx.known(
            site.at("outputs", i), "field", o, fields, "unknown-field", f"entity '{spec.entity}': "
        )
        else None
        for i, o in enumerate(spec.outputs)
    ]
    width = len(spec.inputs) + len(spec.outputs)
    rows: list[tuple[Matcher, ...]] = []
    computed: list[OutputCells] = []
    for r, row in enumerate(spec.rows):
        at = site.at("rows", r)
        if len(row) != width:
            ctx.error(
                at,
                "row-width",
                f"row {r + 1} has {len(row)} cells; the table has "
                f"{_count(len(spec.inputs), 'input')} and "
                f"{_count(len(spec.outputs), 'output')} ({width} cells)",
            )
            continue
        matchers = []
        for i, cell in enumerate(row[: len(spec.inputs)]):
            try:
                matcher = parse_cell(cell)
            except ValueError as exc:
                ctx.error(at.at(i), "bad-cell", f"row {r + 1}, input {i + 1}: {exc}")
                continue
            expr = inputs[i]
            check_literals(
                ctx,
                at.at(i),
                matcher.literals(),
                expr.type if expr else T.ANY,
                spec.inputs[i],
                f"row {r + 1}, input {i + 1}: ",
            )
            matchers.append(matcher)
        cells: list[CompiledExpression | None] = []
        for j, value in enumerate(row[len(spec.inputs) :]):
            counted = spec.hit == "collect" and spec.aggregate_of(spec.outputs[j]) == "count"
            cell_site = at.at(len(spec.inputs) + j)
            if (written := output_expression(value)) is not None:
                target = None if counted else _cell_type(spec, j, outputs[j])
                cells.append(
                    ctx.expr(cell_site, written[0], scope, target, scalar=value, shift=written[1])
                )
                continue
            cells.append(None)
            check_literals(
                ctx,
                cell_site,
                [value],
                T.ANY if counted else outputs[j] or T.ANY,
                spec.outputs[j],
                f"row {r + 1}, output {j + 1}: ",
            )
        if len(matchers) == len(spec.inputs):
            _check_unique(ctx, spec, at, rows, tuple(matchers))
        rows.append(tuple(matchers))
        computed.append(tuple(cells))
    _check_collect(ctx, entry, outputs)
    default_cells: OutputCells = ()
    if spec.default is not None:
        if len(spec.default) != len(spec.outputs):
            ctx.error(
                site.at("default"),
                "row-width",
                f"default has {len(spec.default)} values for {len(spec.outputs)} outputs",
            )
        fallback: list[CompiledExpression | None] = []
        for j, value in enumerate(spec.default[: len(outputs)]):
            if (written := output_expression(value)) is not None:
                fallback.append(
                    ctx.expr(
                        site.at("default", j),
                        written[0],
                        scope,
                        outputs[j],
                        scalar=value,
                        shift=written[1],
                    )
                )
                continue
            fallback.append(None)
            check_literals(
                ctx, site.at("default", j), [value], outputs[j] or T.ANY, spec.outputs[j]
            )
        default_cells = tuple(fallback)
    return [e for e in inputs if e is not None], rows, computed, default_cells


def _cell_type(spec: DecisionTableSpec, j: int, target: ExprType | None) -> ExprType | None:
    """Return the type an output expression must give: the field's, or its item's for a
    list that `hit: collect` fills with one value per matching row."""
    if (
        target is not None
        and spec.hit == "collect"
        and spec.aggregate_of(spec.outputs[j]) is None
        and target.kind == "list"
    ):
        return target.item
    return target


def _check_unique(
    ctx: Context,
    spec: DecisionTableSpec,
    at: Site,
    earlier: list[tuple[Matcher, ...]],
    row: tuple[Matcher, ...],
) -> None:
    """hit: unique: a row that surely matches the same inputs as an earlier row is an error.

    Rows are judged column by column, which proves an overlap only when the columns
    can take their values independently: every input is a different stored field.
    Inputs computed from one another (`severity * 2`, `severity + 1`, computed
    fields) are left to the run-time refusal.
    """
    if spec.hit != "unique" or not _independent_inputs(ctx, spec):
        return
    for k, other in enumerate(earlier):
        if len(other) == len(row) and rows_overlap(other, row):
            ctx.error(
                at,
                "overlapping-rows",
                f"rows {k + 1} and {len(earlier) + 1} can both match the same inputs, "
                f"and table '{spec.name}' is hit: unique",
                "make the rows exclusive, or use hit: first or hit: collect",
            )
            return


def _independent_inputs(ctx: Context, spec: DecisionTableSpec) -> bool:
    """Tell whether every input is a distinct field the record stores (not computed)."""
    form = ctx.of("form").get(spec.entity)
    if form is None or len(set(spec.inputs)) != len(spec.inputs):
        return False
    fields = form.spec.fields
    return all(
        name.strip() in fields and fields[name.strip()].computed is None for name in spec.inputs
    )


def _check_collect(
    ctx: Context, entry: Entry[DecisionTableSpec], outputs: list[ExprType | None]
) -> None:
    """Check `aggregate` and that each output of hit: collect can hold what it gets."""
    spec, site = entry.spec, entry.site
    if spec.aggregate is not None and spec.hit != "collect":
        ctx.error(
            site.at("aggregate"),
            "invalid",
            f"'aggregate' combines the rows of hit: collect; table '{spec.name}' is "
            f"hit: {spec.hit}",
            "use hit: collect, or drop 'aggregate'",
        )
        return
    if isinstance(spec.aggregate, dict):
        for name in spec.aggregate:
            ctx.known(
                site.at("aggregate", name),
                "output",
                name,
                spec.outputs,
                "unknown-output",
                f"table '{spec.name}': ",
                key=True,
            )
    if spec.hit != "collect":
        return
    for j, (name, target) in enumerate(zip(spec.outputs, outputs, strict=True)):
        if target is None or target.kind == "any":
            continue
        how = spec.aggregate_of(name)
        if how is None and target.kind != "list":
            ctx.error(
                site.at("outputs", j),
                "type-mismatch",
                f"hit: collect gives '{name}' the list of every matching row's value; "
                f"it is a {target.describe()} field",
                "give the table an 'aggregate' (sum, max, min, count) or make it a list field",
            )
        elif how is not None and target.kind not in _NUMERIC:
            ctx.error(
                site.at("outputs", j),
                "type-mismatch",
                f"aggregate {how} gives '{name}' a number; it is a {target.describe()} field",
            )


def check_load(ctx: Context, entry: Entry[FormSpec]) -> None:
    """Check a form's `load`: a true/false condition over the record, a calendar-time window."""
    spec, site = entry.spec, entry.site
    load = spec.load
    if load is None:
        return
    ctx.expr(
        site.at("load", "counts_while"),
        load.counts_while,
        ctx.scope_for(spec.entity),
        T.BOOL,
        owner=load,
        attr="counts_while",
    )
    if load.for_ is not None and load.for_.working:
        ctx.error(
            site.at("load", "for"),
            "invalid",
            f"load 'for: {load.for_}' counts working time; a load window runs on the clock",
            "write it in hours or days, e.g. '7 days'",
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def check_literals(
    ctx: Context, site: Site, values: list[Any], target: ExprType, column: str, where: str = ""
) -> None:
    """Check cell or filter values against a column's type and enum values."""
    kind = target.item.kind if target.kind == "list" and target.item else target.kind
    enum = target.item.values if target.kind == "list" and target.item else target.values
    for value in values:
        if kind in ("integer", "number") and (
            isinstance(value, bool) or not isinstance(value, (int, float))
        ):
            ctx.error(
                site,
                "type-mismatch",
                f"{where}{shown(value)} is not a number, and '{shorten(column)}' is numeric",
            )
        elif enum and isinstance(value, str) and value not in enum:
            ctx.known(
                site,
                "enum value",
                value,
                enum,
                "unknown-enum-value",
                message=f"{where}'{shorten(value)}' is not a value of '{shorten(column)}'",
            )


def check_validation(ctx: Context, entry: Entry[ValidationSpec]) -> CompiledExpression | None:
    """Check a validation rule's stages, condition and message."""
    spec, site = entry.spec, entry.site
    if not ctx.known(site.at("entity"), "entity", spec.entity, ctx.entities):
        return None
    stages = ctx.stages_of(spec.entity)
    for i, stage in enumerate(spec.stages):
        ctx.known(
            site.at("stages", i),
            "stage",
            stage,
            stages,
            "unknown-stage",
            f"workflows of entity '{spec.entity}': ",
        )
    if "leave_stage" in spec.on and not spec.stages:
        ctx.error(site.at("on"), "invalid", "'leave_stage' needs the 'stages' it applies to")
    expr = ctx.expr(site.at("refuse_if"), spec.refuse_if, ctx.scope_for(spec.entity), T.BOOL)
    ctx.template(site.at("message"), spec.message, [*ctx.entities[spec.entity], "record", "now"])
    return expr
