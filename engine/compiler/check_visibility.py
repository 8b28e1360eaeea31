"""Notifications that would show a recipient a field their roles may not read.

The runtime renders a notification once per recipient and leaves out the fields that
recipient may not read (runtime/notify.py). Where the compiler knows who receives it
(`role:`, `user:`, `team:`, `queue:` recipients) and the template names a restricted
field (`record.credit_limit`, `record['x']`, `record.get('x')`, or `alert.x`, the value
an entity alert's condition read), sending it is a mistake: the error points at the
field in the template and names the action that sends it and the role that may not read it.
"""

from __future__ import annotations

from collections.abc import Iterator

from jinja2 import TemplateSyntaxError

from engine.compiler.context import Context, Site, find_on_line
from engine.spec.actions import NotifyAction
from engine.spec.form import FormSpec
from engine.templates import template_reads

_ALERT_OWN = ("id", "key", "state")  # what `alert` says of itself


def readable(form: FormSpec, field: str, roles: set[str]) -> bool:
    """Tell whether someone holding `roles` may read `field` of records of `form`."""
    spec = form.fields[field]
    return all(
        allowed is None or bool(roles & set(allowed))
        for allowed in (form.permissions.read, spec.read)
    )


def _audiences(ctx: Context, to: str) -> Iterator[tuple[str, set[str]]]:
    """Yield (who, their roles) for a recipient the compiler can resolve."""
    manifest = ctx.manifest.spec if ctx.manifest else None
    if manifest is None:
        return
    kind, _, name = to.partition(":")
    if kind == "role" and name in manifest.roles:
        yield f"role '{name}'", {name}
    elif kind == "user" and name in manifest.users:
        yield f"user '{name}'", set(manifest.users[name].roles)
    elif kind == "team" and name in manifest.teams:
        members = list(manifest.teams[name].members)
        members += [u for u, s in manifest.users.items() if name in s.teams and u not in members]
        for user in members:
            if user in manifest.users:
                yield f"user '{user}' (team '{name}')", set(manifest.users[user].roles)
    elif kind == "queue" and name in manifest.queues:
        for role in manifest.queues[name].visible_to:
            yield f"role '{role}' (queue '{name}')", {role}


def check_notify_visibility(
    ctx: Context, site: Site, spec: NotifyAction, entity: str | None
) -> None:
    """Refuse a notify whose template shows a known recipient a field they may not read."""
    form_entry = ctx.of("form").get(entity or "")
    template = ctx.of("notification").get(spec.template)
    if form_entry is None or template is None:
        return
    form: FormSpec = form_entry.spec
    reads = []
    for key in ("subject", "body"):
        source = getattr(template.spec, key)
        try:
            found = template_reads(source, ("record", "alert"))
        except (TemplateSyntaxError, RecursionError, ValueError, OverflowError, MemoryError):
            continue  # the template's own check reports it
        reads += [
            (key, source, field, line)
            for root, field, line in found
            if field in form.fields and not (root == "alert" and field in _ALERT_OWN)
        ]
    if not reads:
        return
    line, _ = site.doc.locate(site.base)
    sender = f"{site.doc.path}:{line}"
    reported = set()
    for to in spec.to:
        for who, roles in _audiences(ctx, to):
            for key, source, field, lineno in reads:
                if readable(form, field, roles) or (key, field, lineno, who) in reported:
                    continue
                reported.add((key, field, lineno, who))
                allowed = form.fields[field].read or form.permissions.read or []
                ctx.error_at(
                    template.site.at(key),
                    source,
                    find_on_line(source, field, lineno),
                    "hidden-field",
                    f"notification '{spec.template}' shows field '{field}' of entity "
                    f"'{entity}' to {who}, who may not read it (sent by {sender})",
                    f"leave '{field}' out of the template, send it only to roles that read "
                    f"it ({', '.join(allowed)}), or add {' or '.join(sorted(roles)) or 'a role'} "
                    "to the field's read roles",
                )
