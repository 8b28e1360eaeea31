"""Who may do what, as the bundle says: the server's parts (`access:`) and records' forms.

The server asks these functions before it serves a part or a record, and `sopflow
test` (`expect: may:`) asks the same ones, so a case shows what a role may do.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.bundle import Bundle

# The parts of the server the manifest's `access:` block guards.
PARTS = ("definitions", "users", "alerts", "metrics", "schedules")
_RECORD_ACTIONS = ("create", "read", "write")


def part_roles(bundle: Bundle, part: str) -> list[str] | None:
    """Return the roles `access:` gives a part of the server (None: every role)."""
    roles: list[str] | None = getattr(bundle.manifest.access, part)
    return roles


def roles_for(bundle: Bundle, what: str) -> list[str] | None:
    """Return the roles that may do `what` (None: every role).

    `what` is a part of the server (`alerts`, `metrics`, ...), or a record action:
    `read:lead`, `create:lead`, `write:lead`, or for one field `read:deal.credit_limit`,
    `write:deal.credit_limit`. Raise ValueError for anything else.
    """
    if what in PARTS:
        return part_roles(bundle, what)
    action, _, target = what.partition(":")
    entity, _, field = target.partition(".")
    form = bundle.forms.get(entity)
    if action not in _RECORD_ACTIONS or form is None:
        raise ValueError(
            f"'{what}' is not something to permit: say one of {', '.join(PARTS)}, or "
            "create:<entity>, read:<entity>, write:<entity>, read:<entity>.<field>, "
            "write:<entity>.<field>"
        )
    if not field:
        roles: list[str] | None = getattr(form.spec.permissions, action)
        return roles
    spec = form.spec.fields.get(field)
    if spec is None or action == "create":
        raise ValueError(f"'{what}': entity '{entity}' has no field '{field}' to {action}")
    field_roles: list[str] | None = spec.read if action == "read" else spec.write
    return field_roles


def permitted(roles: Iterable[str], allowed: Iterable[str] | None) -> bool:
    """Tell whether someone holding `roles` may act where `allowed` roles are needed."""
    return allowed is None or bool(set(roles) & set(allowed))


def hidden_fields(bundle: Bundle, entity: str | None, roles: Iterable[str]) -> frozenset[str]:
    """Return the fields of `entity` someone holding `roles` may not read.

    A field's `read` roles say who reads it; without the entity's `permissions.read`
    every field is hidden (as the API hides them, api/routes/record_common.py).
    """
    form = bundle.forms.get(entity or "")
    if form is None:
        return frozenset()
    held = set(roles)
    if not permitted(held, form.spec.permissions.read):
        return frozenset(form.spec.fields)
    return frozenset(n for n, s in form.spec.fields.items() if not permitted(held, s.read))


__all__ = ["PARTS", "hidden_fields", "part_roles", "permitted", "roles_for"]
