"""Cross-checks of forms: references, layout, normalisers, defaults and computed fields."""

from __future__ import annotations

import datetime as dt
import re
from graphlib import CycleError, TopologicalSorter

from engine.compiler.check_manifest import value_fits
from engine.compiler.context import Context, Entry, Site
from engine.compiler.scopes import CORE_FIELDS
from engine.diagnostics import shorten
from engine.expr import CompiledExpression
from engine.spec import FieldSpec, FormSpec
from engine.spec.form import NormalizerSpec

_DEFAULT_KIND = {
    "text": "string",
    "phone": "string",
    "address": "string",
    "email": "string",
    "enum": "string",
    "ref": "string",
    "multi_enum": "list",
    "evidence": "list",
}


def enum_values(ctx: Context, field: FieldSpec) -> tuple[str, ...]:
    """Return an enum field's values, reading `values_from: table.column` when given."""
    if field.values_from:
        table, _, column = field.values_from.partition(".")
        entry = ctx.tables.get(table)
        if entry and column in entry.spec.columns:
            return tuple(dict.fromkeys(str(r[column]) for r in entry.spec.rows if column in r))
    return tuple(field.values or ())


def check_form(ctx: Context, entry: Entry[FormSpec]) -> None:
    """Check a form's references and constraints (expressions come later, in `compile_computed`)."""
    form, site = entry.spec, entry.site
    for name, field in form.fields.items():
        at = site.at("fields", name)
        if name in CORE_FIELDS:
            ctx.error(
                at,
                "reserved-field",
                f"'{name}' is a core column every record has",
                "choose another name",
                key=True,
            )
        _check_field(ctx, at, field)
        _check_on_ingest(ctx, at, name, field, form)
    for i, key in enumerate(form.key):
        ctx.known(
            site.at("key", i),
            "field",
            key,
            form.fields,
            "unknown-field",
            f"entity '{form.entity}': ",
        )
    ctx.known(
        site.at("title_field"),
        "field",
        form.title_field,
        form.fields,
        "unknown-field",
        f"entity '{form.entity}': ",
    )
    placed: dict[str, Site] = {}
    for t, tab in enumerate(form.layout):
        ctx.check_roles(site.at("layout", t, "roles"), tab.roles)
        groups = [(site.at("layout", t, "fields"), tab.fields)] + [
            (site.at("layout", t, "sections", s, "fields"), sec.fields)
            for s, sec in enumerate(tab.sections)
        ]
        for gsite, names in groups:
            for i, fname in enumerate(names):
                if (
                    ctx.known(
                        gsite.at(i),
                        "field",
                        fname,
                        form.fields,
                        "unknown-field",
                        f"layout of '{form.entity}': ",
                    )
                    and fname in placed
                ):
                    ctx.warn(gsite.at(i), "layout-repeat", f"field '{fname}' is shown twice")
                placed.setdefault(fname, gsite.at(i))
    if form.layout:
        for name in form.fields:
            if name not in placed:
                ctx.warn(
                    site.at("fields", name),
                    "not-in-layout",
                    f"field '{name}' is in no tab of the layout",
                    "add it to a tab",
                )
    perms = form.permissions
    for action in ("create", "read", "write", "delete"):
        ctx.check_roles(site.at("permissions", action), getattr(perms, action))
    if perms.delete is not None:
        ctx.error(
            site.at("permissions", "delete"),
            "not-implemented",
            "'delete' is not implemented yet: records cannot be deleted",
            "leave it out; close records through a workflow exit instead",
            key=True,
        )


# Field keys the language reserves but the runtime does not honour yet: refused, never
# accepted and ignored (key -> what the analyst can do meanwhile).
_NOT_IMPLEMENTED = {
    "index": "leave it out; the store indexes core columns only",
}


def _check_field(ctx: Context, at: Site, field: FieldSpec) -> None:
    ctx.known(at.at("to"), "entity", field.to, ctx.entities)
    _refuse_not_implemented(ctx, at, field)
    ctx.check_roles(at.at("read"), field.read)
    ctx.check_roles(at.at("write"), field.write)
    if field.values_from:
        table, _, column = field.values_from.partition(".")
        where = at.at("values_from")
        if ctx.known(where, "table", table, ctx.tables, part_of=(field.values_from, 0)):
            ctx.known(
                where,
                "column",
                column,
                ctx.tables[table].spec.columns,
                "unknown-column",
                f"table '{table}': ",
                part_of=(field.values_from, len(table) + 1),
            )
    if field.pattern:
        try:
            re.compile(field.pattern)
        except re.error as exc:
            ctx.error(
                at.at("pattern"), "bad-pattern", f"pattern is not a regular expression: {exc.msg}"
            )
        except (OverflowError, RecursionError, ValueError):
            ctx.error(
                at.at("pattern"),
                "bad-pattern",
                "pattern is too large or too deeply nested to compile",
                "simplify the regular expression",
            )
    for bound in ("min", "max"):
        value = getattr(field, bound)
        if value is not None and not _bound_fits(field.type, value):
            ctx.error(
                at.at(bound),
                "bad-type",
                f"'{bound}' of {_article(field.type)} {field.type} field must be "
                f"{'a date' if field.type in ('date', 'datetime') else 'a number'}, "
                f"got {shorten(value)}",
            )
    for i, step in enumerate(field.normalize):
        if isinstance(step, NormalizerSpec) and step.canonical:
            c = step.canonical
            nat = at.at("normalize", i, "canonical")
            if ctx.known(nat.at("table"), "table", c.table, ctx.tables):
                for part, col in (("match", c.match), ("to", c.to)):
                    ctx.known(
                        nat.at(part),
                        "column",
                        col,
                        ctx.tables[c.table].spec.columns,
                        "unknown-column",
                        f"table '{c.table}': ",
                    )
    _check_default(ctx, at, field)


def _check_on_ingest(ctx: Context, at: Site, name: str, field: FieldSpec, form: FormSpec) -> None:
    """`on_ingest`: append needs a list; key and computed fields always take the ingest's."""
    policy = field.on_ingest
    if policy == "replace":
        return
    where = at.at("on_ingest")
    if policy == "append" and field.type != "list":
        ctx.error(
            where,
            "on-ingest-append",
            f"'on_ingest: append' adds items to a list, and '{name}' is a {field.type} field",
            "make it a list (type: list) or use 'keep' or 'replace'",
        )
    if name in form.key:
        ctx.error(
            where,
            "on-ingest-key",
            f"'{name}' is part of the form's key: an ingest merges on it, so it is never changed",
            "leave 'on_ingest' out for key fields",
        )
    if field.computed is not None:
        ctx.error(
            where,
            "on-ingest-computed",
            f"'{name}' is computed: its expression sets it, whatever an ingest gives",
            "leave 'on_ingest' out for computed fields",
        )


def _refuse_not_implemented(ctx: Context, at: Site, field: FieldSpec) -> None:
    for key, hint in _NOT_IMPLEMENTED.items():
        if getattr(field, key):
            ctx.error(
                at.at(key), "not-implemented", f"'{key}' is not implemented yet", hint, key=True
            )


def _bound_fits(kind: str, value: object) -> bool:
    """Tell whether a `min`/`max` fits the field's type (the spec left bad text as text)."""
    if kind in ("date", "datetime"):
        return isinstance(value, dt.date)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _check_default(ctx: Context, at: Site, field: FieldSpec) -> None:
    if field.default is None:
        return
    kind = _DEFAULT_KIND.get(field.type, field.type)
    if not value_fits(kind, field.default):
        ctx.error(
            at.at("default"),
            "bad-type",
            f"default {shorten(field.default)} does not fit a {field.type} field",
        )
        return
    values = enum_values(ctx, field)
    listed = isinstance(field.default, list)
    defaults = field.default if listed else [field.default]
    if field.type in ("enum", "multi_enum") and values:
        for i, value in enumerate(defaults):
            where = at.at("default", i) if listed else at.at("default")
            ctx.known(where, "enum value", str(value), values, "unknown-enum-value")


def compile_computed(
    ctx: Context, entry: Entry[FormSpec]
) -> tuple[dict[str, CompiledExpression], list[str]]:
    """Compile computed fields in dependency order; report unknown names and cycles."""
    form, site = entry.spec, entry.site
    scope = ctx.scope_for(form.entity)
    compiled: dict[str, CompiledExpression] = {}
    for name, field in form.fields.items():
        if field.computed:
            where = site.at("fields", name, "computed")
            expr = ctx.expr(where, field.computed, scope)
            if expr is not None and expr.clock:
                ctx.error(
                    where,
                    "computed-uses-time",
                    f"computed field '{name}' depends on the time it is evaluated at "
                    "('now', hours_since(), days_since(), hours_in_stage()); a computed "
                    "value is stored and would go stale",
                    "use the expression where it is evaluated (a guard, rule, alert or SLA)",
                )
            elif expr is not None and expr.assignments:
                ctx.error(
                    where,
                    "computed-uses-assignment",
                    f"computed field '{name}' reads a named assignment (assignee()); a "
                    "computed value is stored and would go stale when the assignment changes",
                    "use assignee() where it is evaluated (a guard, rule, alert or SLA)",
                )
            elif expr is not None:
                compiled[name] = expr
    graph = {n: {d for d in e.names if d in compiled} for n, e in compiled.items()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        # graphlib lists each node before its predecessor; reverse to read "x uses y".
        cycle = list(dict.fromkeys(reversed(exc.args[1])))
        ctx.error(
            site.at("fields", cycle[0], "computed"),
            "computed-cycle",
            "computed fields depend on each other in a cycle: " + " -> ".join([*cycle, cycle[0]]),
        )
        order = []
    return compiled, [n for n in order if n in compiled]
