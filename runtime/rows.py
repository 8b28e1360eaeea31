"""Row-level access (form `permissions.rows`): which records of an entity a caller sees.

Each role of the caller that may read the entity gives it rows: `all` (or no entry:
every row), `assigned` (records the caller owns or holds a named assignment of) or
`team` (records owned or held by the caller, by people who report to them, or by
members of teams they lead). A role listed on a queue's `visible_to` also sees the
records waiting in that queue (unowned in it, or a named assignment of which waits in
it), so it can take or assign them. A caller sees the union over their roles. The
answer is a Reach (whose records, which queues) or None: every row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from engine.bundle import Bundle
from runtime.people import is_system, manager_of, team_members
from runtime.records import RecordView
from runtime.store import T_ASSIGNMENT, T_RECORD


@dataclass(frozen=True)
class Reach:
    """The records of an entity a caller sees when not every row: those whose owner or an
    assignee is one of `users`, and those waiting in one of `queues` (unowned in it, or a
    named assignment of which waits in it, held by nobody)."""

    users: frozenset[str]
    queues: frozenset[str] = frozenset()

    def owns(self, owner: str | None, queue: str | None) -> bool:
        """Tell whether a record's owner (or, unowned, the queue it waits in) is reached."""
        return owner in self.users if owner is not None else queue in self.queues

    def holds(self, user: str | None, queue: str | None) -> bool:
        """Tell whether a named assignment (its holder, or the queue it waits in) is reached."""
        return user in self.users if user is not None else queue in self.queues


def reports_and_team(bundle: Bundle, user: str) -> set[str]:
    """Return `user`, who reports to them, and the members of the teams they lead."""
    found = {user}
    for name, team in bundle.manifest.teams.items():
        if team.lead == user:
            found.update(team_members(bundle, name))
    found.update(u for u in bundle.manifest.users if manager_of(bundle, u) == user)
    return found


def reach(bundle: Bundle, entity: str, user: str | None, roles: Iterable[str]) -> Reach | None:
    """Return which records of `entity` `user` (holding `roles`) sees (None: all rows)."""
    form = bundle.forms.get(entity)
    if user is None or is_system(user) or form is None:
        return None  # the system (and a declared sender) sees everything
    rows = form.spec.permissions.rows
    if rows is None:
        return None
    readers = form.spec.permissions.read
    held = [r for r in roles if readers is None or r in readers]
    seen: set[str] = set()
    queues: set[str] = set()
    for role in held:
        access = rows.get(role, "all")
        if access == "all":
            return None
        seen.update({user} if access == "assigned" else reports_and_team(bundle, user))
        queues.update(n for n, q in bundle.manifest.queues.items() if role in q.visible_to)
    return Reach(frozenset(seen), frozenset(queues))


def _assignment_reached(conn: Connection, record_id: str, seen: Reach) -> bool:
    """Tell whether a named assignment of a record is held by, or waits for, `seen`."""
    t = T_ASSIGNMENT.c
    held: ColumnElement[bool] = t.user_id.in_(sorted(seen.users))
    if seen.queues:
        held = or_(held, and_(t.user_id.is_(None), t.queue.in_(sorted(seen.queues))))
    found = conn.execute(select(t.name).where(t.record_id == record_id, held).limit(1)).first()
    return found is not None


def sees(conn: Connection, view: RecordView, seen: Reach | None) -> bool:
    """Tell whether a record is among the rows `seen` (reach) lets through."""
    if seen is None or seen.owns(view.owner, view.queue):
        return True
    return _assignment_reached(conn, view.id, seen)


def restricted(
    bundle: Bundle, entities: Iterable[str], user: str | None, roles: Iterable[str]
) -> dict[str, Reach]:
    """Return, for each of `entities` whose rows `user` sees only in part, what they see."""
    held = list(roles)
    found = {e: reach(bundle, e, user, held) for e in entities}
    return {e: seen for e, seen in found.items() if seen is not None}


def sees_view(view: RecordView, seen: Reach | None) -> bool:
    """Tell from a view with its assignments read (named.attach) whether `seen` lets it in."""
    if seen is None or seen.owns(view.owner, view.queue):
        return True
    held = (view.assignments or {}).values()
    return any(seen.holds(a.get("user"), a.get("queue")) for a in held)


def record_visible(
    conn: Connection, bundle: Bundle, record_id: str | None, user: str | None, roles: Iterable[str]
) -> bool:
    """Tell whether the caller's row-level access lets them see a record (none: yes)."""
    if record_id is None:
        return True
    r = T_RECORD.c
    row = conn.execute(select(r.entity, r.owner, r.queue).where(r.id == record_id)).first()
    if row is None:
        return True
    seen = reach(bundle, row.entity, user, roles)
    if seen is None or seen.owns(row.owner, row.queue):
        return True
    return _assignment_reached(conn, record_id, seen)


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
    seen_by: dict[str, Reach | None] = {}
    hidden: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        r = T_RECORD.c
        found = conn.execute(select(r.id, r.entity, r.owner, r.queue).where(r.id.in_(chunk))).all()
        doubtful: dict[str, Reach] = {}
        for record_id, entity, owner, queue in found:
            if entity not in seen_by:
                seen_by[entity] = reach(bundle, entity, user, held)
            seen = seen_by[entity]
            if seen is not None and not seen.owns(owner, queue):
                doubtful[record_id] = seen
        if not doubtful:
            continue
        t = T_ASSIGNMENT.c
        assigned = conn.execute(
            select(t.record_id, t.user_id, t.queue).where(t.record_id.in_(sorted(doubtful)))
        ).all()
        reached = {rid for rid, u, q in assigned if doubtful[rid].holds(u, q)}
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
