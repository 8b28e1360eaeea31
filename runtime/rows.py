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
from typing import Any

from sqlalchemy import Connection, select

from engine.bundle import Bundle
from runtime.people import is_system, manager_of, team_members
from runtime.records import RecordView
from runtime.store import T_ASSIGNMENT, T_RECORD


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
    if user is None or is_system(user) or form is None:
        return None  # the system (and a declared sender) sees everything
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


def restricted(
    bundle: Bundle, entities: Iterable[str], user: str | None, roles: Iterable[str]
) -> dict[str, frozenset[str]]:
    """Return, for each of `entities` whose rows `user` sees only in part, whose they see."""
    held = list(roles)
    found = {e: visible_users(bundle, e, user, held) for e in entities}
    return {e: users for e, users in found.items() if users is not None}


def sees_view(view: RecordView, users: frozenset[str] | None) -> bool:
    """Tell from a view with its assignments read (named.attach) whether `users` see it."""
    if users is None or view.owner in users:
        return True
    return any((a.get("user") in users) for a in (view.assignments or {}).values())


def record_visible(
    conn: Connection, bundle: Bundle, record_id: str | None, user: str | None, roles: Iterable[str]
) -> bool:
    """Tell whether the caller's row-level access lets them see a record (none: yes)."""
    if record_id is None:
        return True
    row = conn.execute(
        select(T_RECORD.c.entity, T_RECORD.c.owner).where(T_RECORD.c.id == record_id)
    ).first()
    if row is None:
        return True
    users = visible_users(bundle, row.entity, user, roles)
    if users is None or row.owner in users:
        return True
    t = T_ASSIGNMENT.c
    found = conn.execute(
        select(t.name).where(t.record_id == record_id, t.user_id.in_(sorted(users))).limit(1)
    ).first()
    return found is not None


# Columns of a metric's sources (runtime/metrics.py) whose values are record ids.
ID_COLUMNS = frozenset({"id", "record_id"})
_CHUNK = 500


def hidden_among(
    conn: Connection, bundle: Bundle, values: Iterable[Any], user: str | None, roles: Iterable[str]
) -> set[str]:
    """Return which of `values` are ids of records the caller's rows leave out.

    For answers that carry record ids as data (a metric grouped by `id`): values that are
    no record id are never hidden. Read in chunks of ids, two queries each.
    """
    ids = sorted({v for v in values if isinstance(v, str)})
    held = list(roles)
    seen_by: dict[str, frozenset[str] | None] = {}
    hidden: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        r = T_RECORD.c
        found = conn.execute(select(r.id, r.entity, r.owner).where(r.id.in_(chunk))).all()
        doubtful: dict[str, frozenset[str]] = {}
        for record_id, entity, owner in found:
            if entity not in seen_by:
                seen_by[entity] = visible_users(bundle, entity, user, held)
            users = seen_by[entity]
            if users is not None and owner not in users:
                doubtful[record_id] = users
        if not doubtful:
            continue
        t = T_ASSIGNMENT.c
        assigned = conn.execute(
            select(t.record_id, t.user_id).where(t.record_id.in_(sorted(doubtful)))
        ).all()
        reached = {rid for rid, u in assigned if u is not None and u in doubtful[rid]}
        hidden.update(set(doubtful) - reached)
    return hidden


def alerts_by_record(bundle: Bundle) -> dict[str, str]:
    """Return, for each metric alert whose metric groups by a record id, the value of its
    alerts that names the record (an alert per record, as listings are)."""
    found: dict[str, str] = {}
    for name, spec in bundle.alerts.items():
        metric = bundle.metrics.get(spec.metric) if spec.metric else None
        column = next((c for c in metric.group_by if c in ID_COLUMNS), None) if metric else None
        if column is not None:
            found[name] = column
    return found
