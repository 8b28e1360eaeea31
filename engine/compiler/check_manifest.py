"""Cross-checks of the manifest: roles, users, teams, calendars, queues and table rows."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from engine.compiler.context import Context, Entry, Site
from engine.diagnostics import shorten
from engine.spec import BundleManifest, FormSpec, TableSpec
from engine.spec.manifest import ENV_NAME, INBOUND_SECRET_PREFIX, UserFieldSpec

S = TypeVar("S")
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "decimal": (int, float),
    "boolean": (bool,),
    "date": (dt.date,),
    "datetime": (dt.datetime,),
    "list": (list,),
}


def value_fits(kind: str, value: Any) -> bool:
    """Tell whether a YAML value fits a column/attribute type name."""
    if value is None:
        return True
    if kind in ("integer", "decimal") and isinstance(value, bool):
        return False
    if kind == "date" and isinstance(value, dt.datetime):
        return False
    return isinstance(value, _PY_TYPES.get(kind, (object,)))


def shown(value: Any) -> str:
    """Show a value in a type error: text in quotes (`'1.5'` is not the number 1.5)."""
    return f"'{shorten(value)}'" if isinstance(value, str) else shorten(value)


def merge_staff(ctx: Context, entry: Entry[BundleManifest]) -> None:
    """Merge the staff files' users and teams into the manifest, noting where each stands.

    The manifest's own come first, then each staff file's in file order; an id declared
    a second time is reported where it is repeated, naming where it was first declared.
    """
    spec, site = entry.spec, entry.site
    ctx.user_sites = {uid: site.at("users", uid) for uid in spec.users}
    ctx.team_sites = {tid: site.at("teams", tid) for tid in spec.teams}
    if not ctx.staff:
        return
    users, teams = dict(spec.users), dict(spec.teams)
    for staff in ctx.staff:
        _merge(ctx, staff.site.at("users"), "user", users, ctx.user_sites, staff.spec.users)
        _merge(ctx, staff.site.at("teams"), "team", teams, ctx.team_sites, staff.spec.teams)
    ctx.manifest = Entry(spec.model_copy(update={"users": users, "teams": teams}), site)


def _merge(
    ctx: Context,
    at: Site,
    what: str,
    pool: dict[str, S],
    sites: dict[str, Site],
    found: dict[str, S],
) -> None:
    """Add one staff file's users (or teams) to `pool`; report an id declared before."""
    for name, item in found.items():
        first = sites.get(name)
        if first is not None:
            line, _ = first.doc.locate(first.base, key=True)
            ctx.error(
                at.at(name),
                "duplicate-definition",
                f"{what} '{name}' is declared twice: here and at {first.doc.path}:{line}",
                f"keep one of the two declarations (first at {first.doc.path}:{line})",
                key=True,
            )
            continue
        pool[name] = item
        sites[name] = at.at(name)


def check_manifest(ctx: Context, entry: Entry[BundleManifest]) -> None:
    """Check every cross-reference inside the manifest (staff files' users and teams too)."""
    spec, site = entry.spec, entry.site
    roles, users, teams = set(spec.roles), set(spec.users), set(spec.teams)
    for name, cal in spec.calendars.items():
        _check_holidays_table(ctx, site.at("calendars", name, "holidays_table"), cal.holidays_table)
    for uid, user in spec.users.items():
        at = ctx.user_sites.get(uid) or site.at("users", uid)
        ctx.check_roles(at.at("roles"), user.roles)
        for i, team in enumerate(user.teams):
            ctx.known(at.at("teams", i), "team", team, teams)
        ctx.known(at.at("manager"), "user", user.manager, users)
        ctx.known(at.at("calendar"), "calendar", user.calendar, spec.calendars)
        _check_attributes(ctx, at, user.model_extra or {}, spec.user_fields)
    for tid, team_spec in spec.teams.items():
        tat = ctx.team_sites.get(tid) or site.at("teams", tid)
        for i, member in enumerate(team_spec.members):
            ctx.known(tat.at("members", i), "user", member, users)
        ctx.known(tat.at("lead"), "user", team_spec.lead, users)
        if team_spec.attributes:
            ctx.error(
                tat.at("attributes"),
                "not-implemented",
                "team 'attributes' are not implemented yet: no rule can read them",
                "leave them out; give the members user attributes (user_fields) instead",
                key=True,
            )
    for part in ("definitions", "users", "alerts", "metrics"):
        ctx.check_roles(site.at("access", part), getattr(spec.access, part) or [])
    for qid, queue in spec.queues.items():
        ctx.check_roles(site.at("queues", qid, "visible_to"), queue.visible_to)
    if not roles:
        ctx.error(
            site.at("roles"),
            "no-roles",
            "the bundle declares no roles",
            "list at least one, e.g. roles: [admin]",
        )


ACTOR_MAX = 64  # the width of the actor columns of events and records
INBOUND_NAME_MAX = ACTOR_MAX - len("inbound:")


def check_inbound(
    ctx: Context, entry: Entry[BundleManifest], forms: dict[str, Entry[FormSpec]]
) -> None:
    """Check each inbound declaration: its entity, key and fields, and its secret's variable."""
    spec, site = entry.spec, entry.site
    secrets: dict[str, str] = {}
    for name, inbound in spec.inbound.items():
        at = site.at("inbound", name)
        env = inbound.secret_variable(name)
        if len(name) > INBOUND_NAME_MAX:
            ctx.error(
                at,
                "name-too-long",
                f"inbound name '{name}' has {len(name)} characters; at most {INBOUND_NAME_MAX}",
                f"the audit records the sender as 'inbound:<name>', at most {ACTOR_MAX} characters",
                key=True,
            )
        if inbound.secret_env is not None and (
            not ENV_NAME.match(inbound.secret_env)
            or not inbound.secret_env.startswith(INBOUND_SECRET_PREFIX)
            or inbound.secret_env == INBOUND_SECRET_PREFIX
        ):
            ctx.error(
                at.at("secret_env"),
                "bad-env-name",
                f"'{shorten(inbound.secret_env)}' is not a variable for an inbound secret",
                f"a name starting {INBOUND_SECRET_PREFIX}, in capital letters, digits and '_', "
                f"e.g. {INBOUND_SECRET_PREFIX}WECOM: no other variable of the server's "
                "environment may become a signing secret",
            )
        elif env in secrets:
            ctx.error(
                at.at("secret_env") if inbound.secret_env else at,
                "shared-secret",
                f"inbound '{name}' reads its secret from {env}, as inbound '{secrets[env]}' does",
                "give each sender a secret of its own, so the audit tells who sent what",
                key=inbound.secret_env is None,
            )
        secrets.setdefault(env, name)
        if not ctx.known(at.at("entity"), "entity", inbound.entity, forms, "unknown-entity"):
            continue
        form = forms[inbound.entity].spec
        if not form.key:
            ctx.error(
                at.at("entity"),
                "no-key",
                f"entity '{inbound.entity}' declares no key, so a push cannot find its record",
                f"add 'key: [field, ...]' to the form of '{inbound.entity}'",
            )
        seen: set[str] = set()
        for i, field in enumerate(inbound.fields):
            where = at.at("fields", i)
            if not ctx.known(
                where, "field", field, form.fields, "unknown-field", f"entity '{inbound.entity}': "
            ):
                continue
            if field in seen:
                ctx.error(where, "duplicate-field", f"field '{field}' is listed twice")
            elif form.fields[field].computed:
                ctx.error(
                    where,
                    "computed-field",
                    f"field '{field}' is computed: no sender can set it",
                    "leave it out of 'fields'",
                )
            seen.add(field)
        missing = [k for k in form.key if k not in inbound.fields]
        if missing:
            ctx.error(
                at.at("fields"),
                "key-not-listed",
                f"inbound '{name}' does not let the sender give the key field"
                f"{'s' if len(missing) > 1 else ''} {', '.join(repr(k) for k in missing)} "
                f"of '{inbound.entity}'",
                f"add {', '.join(missing)} to 'fields': a push finds its record by the key",
            )


def _check_holidays_table(ctx: Context, at: Site, table: str | None) -> None:
    """A calendar's holidays table must exist and have a `date` column of type date."""
    if table is None or not ctx.known(at, "table", table, ctx.tables):
        return
    column = ctx.tables[table].spec.columns.get("date")
    if column is None:
        ctx.error(
            at,
            "bad-holidays-table",
            f"table '{table}' has no 'date' column to read holidays from",
            "add 'date: date' to its columns, one row per holiday",
        )
    elif column != "date":
        ctx.error(
            at,
            "bad-holidays-table",
            f"the 'date' column of table '{table}' is {column}, not date",
            "declare it 'date: date'",
        )


def _check_attributes(
    ctx: Context, at: Site, extra: dict[str, Any], declared: dict[str, UserFieldSpec]
) -> None:
    for key, value in extra.items():
        if not ctx.known(at.at(key), "user attribute", key, declared, "unknown-user-field"):
            continue
        spec = declared[key]
        many = spec.type in ("list", "multi_enum")
        if many and not isinstance(value, list):
            ctx.error(at.at(key), "bad-type", f"user attribute '{key}' must be a list")
        elif isinstance(value, list) and not many:
            ctx.error(
                at.at(key),
                "bad-type",
                f"user attribute '{key}' takes one {spec.type} value, not a list",
            )
            continue
        items = value if isinstance(value, list) else [value]
        base = {"enum": "string", "multi_enum": "string", "list": "string"}.get(
            spec.type, spec.type
        )
        for i, item in enumerate(items):
            where = at.at(key, i) if isinstance(value, list) else at.at(key)
            if not value_fits(base, item):
                what = f"{base} items" if isinstance(value, list) else f"{spec.type} values"
                ctx.error(
                    where, "bad-type", f"user attribute '{key}' takes {what}, got {shown(item)}"
                )
            elif spec.values and item not in spec.values:
                ctx.known(where, f"value of '{key}'", str(item), spec.values, "unknown-enum-value")


def _hashable(value: Any) -> Any:
    """Make a cell value usable as part of a row key (lists and mappings included)."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def check_table(ctx: Context, name: str, entry: Entry[TableSpec]) -> None:
    """Check a reference table: key and range columns, and every row against the columns."""
    table, site = entry.spec, entry.site
    columns = table.columns
    for i, key in enumerate(table.key):
        ctx.known(site.at("key", i), "column", key, columns, "unknown-column")
    for i, col in enumerate(table.range or []):
        if (
            ctx.known(site.at("range", i), "column", col, columns, "unknown-column")
            and columns[col] != "date"
        ):
            ctx.error(site.at("range", i), "bad-type", f"range column '{col}' must be a date")
    if not table.key and not table.range:
        ctx.error(
            site,
            "table-without-key",
            f"table '{name}' has neither 'key' nor 'range'",
            "say which columns identify a row",
        )
    seen: dict[tuple[Any, ...], int] = {}
    for i, row in enumerate(table.rows):
        at = site.at("rows", i)
        for col, value in row.items():
            if ctx.known(
                at.at(col), "column", col, columns, "unknown-column", f"table '{name}': "
            ) and not value_fits(columns[col], value):
                ctx.error(
                    at.at(col),
                    "bad-type",
                    f"column '{col}' of table '{name}' takes "
                    f"{columns[col]} values, got {shown(value)}",
                )
        for col in [*table.key, *(table.range or [])]:
            if row.get(col) is None:
                ctx.error(
                    at,
                    "missing-key",
                    f"row {i + 1} of table '{name}' has no value for key column '{col}'",
                )
        ident = tuple(_hashable(row.get(k)) for k in table.key) if table.key else ()
        if table.key and ident in seen:
            ctx.error(
                at,
                "duplicate-row",
                f"row {i + 1} of table '{name}' repeats the key {shorten(list(ident))}",
                f"first in row {seen[ident] + 1}",
            )
        seen.setdefault(ident, i)
    for col, value in (table.default or {}).items():
        at = site.at("default", col)
        if ctx.known(
            at, "column", col, columns, "unknown-column", f"table '{name}' default: ", key=True
        ) and not value_fits(columns[col], value):
            ctx.error(
                at,
                "bad-type",
                f"column '{col}' of table '{name}' takes {columns[col]} values, got {shown(value)}",
            )
