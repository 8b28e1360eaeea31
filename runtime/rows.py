"""Row-level access (form `permissions.rows`): which records of an entity a caller sees.

Each role of the caller that may read the entity gives it rows: `all` (or no entry:
every row), `assigned` (records the caller owns or holds a named assignment of) or
`team` (records owned or held by the caller, by people who report to them, or by
members of teams they lead). A caller sees the union over their roles. The answer is
a set of users (a record is visible when its owner or one of its assignees is one of
them) or None: every row.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from engine.bundle import Bundle
from runtime.people import manager_of, team_members
from runtime.records import RecordView
from runtime.store import T_ASSIGNMENT


def reports_and_team(bundle: Bundle, user: str) -> set[str]:
    """Return `user`, who reports to them, and the members of the teams they lead."""
    found = {user}
    for name, team in bundle.manifest.teams.items():
        if team.lead == user:
            found.update(team_members(bundle, name))
    found.update(u for u in bundle.manifest.users if manager_of(bundle, u) == user)
    return found


def visible_users(
    bundle: Bundle, entity: str, user: str | None, roles: Iterable[str]
) -> frozenset[str] | None:
    """Return whose records `user` (holding `roles`) sees of `entity` (None: all rows)."""
    form = bundle.forms.get(entity)
    if user is None or form is None:
        return None  # the system sees everything
    rows = form.spec.permissions.rows
    if rows is None:
        return None
    readers = form.spec.permissions.read
    held = [r for r in roles if readers is None or r in readers]
    seen: set[str] = set()
    for role in held:
        access = rows.get(role, "all")
        if access == "all":
            return None
        seen.update({user} if access == "assigned" else reports_and_team(bundle, user))
    return frozenset(seen)


def sees(conn: Connection, view: RecordView, users: frozenset[str] | None) -> bool:
    """Tell whether a record is among the rows `users` (visible_users) lets through."""
    if users is None or view.owner in users:
        return True
    t = T_ASSIGNMENT.c
    found = conn.execute(
        select(t.name).where(t.record_id == view.id, t.user_id.in_(sorted(users))).limit(1)
    ).first()
    return found is not None
