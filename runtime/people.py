"""Users, roles, teams and their current load, as the bundle declares them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from engine.bundle import Bundle
from runtime.calendar import local_date, working_time
from runtime.db import loads as db_loads
from runtime.store import T_ASSIGNMENT, db_time, is_postgres, py_time, run_sql

# Who acts in this context when the bundle does not declare them: an API user an
# admin created (runtime/access.py). The server sets it for each request it
# authenticates; a command run elsewhere sees only the bundle's users.
_ACTING: ContextVar[tuple[str, frozenset[str]] | None] = ContextVar("sopflow_acting", default=None)


# A system the bundle lets push records in (`inbound:` of the manifest) acts as
# `inbound:<name>`: recorded as such in every event, but like the system (actor None)
# for permissions and row access. No user id can hold ':' (bundle users, API users).
SENDER_PREFIX = "inbound:"


def sender(name: str) -> str:
    """Return the actor a push of the inbound declaration `name` is recorded as."""
    return SENDER_PREFIX + name


def is_system(actor: str | None) -> bool:
    """Tell whether `actor` is the system or a declared sender (no roles needed)."""
    return actor is None or actor.startswith(SENDER_PREFIX)


def acting_as(user: str, roles: frozenset[str]) -> None:
    """Give `user` (not declared in the bundle) `roles` for commands in this context."""
    _ACTING.set((user, roles))


def roles_of(bundle: Bundle, user: str | None) -> set[str]:
    """Return the roles a user holds: the bundle's users, then the acting API user."""
    spec = bundle.manifest.users.get(user or "")
    if spec is not None:
        return set(spec.roles)
    acting = _ACTING.get()
    if acting is not None and acting[0] == user:
        return set(acting[1]) & set(bundle.manifest.roles)
    return set()


def allowed(bundle: Bundle, actor: str | None, roles: Iterable[str] | None) -> bool:
    """Tell whether `actor` may act where `roles` are required (None: everyone; system: yes)."""
    if is_system(actor) or roles is None:
        return True
    return bool(roles_of(bundle, actor) & set(roles))


def users_with_role(bundle: Bundle, role: str) -> list[str]:
    """Return active users holding a role, in declaration order."""
    return [u for u, s in bundle.manifest.users.items() if role in s.roles and s.active]


def team_members(bundle: Bundle, team: str) -> list[str]:
    """Return the members of a team (and users who list the team)."""
    spec = bundle.manifest.teams.get(team)
    members = list(spec.members) if spec else []
    members += [u for u, s in bundle.manifest.users.items() if team in s.teams and u not in members]
    return members


def manager_of(bundle: Bundle, user: str | None) -> str | None:
    """Return a user's manager: their own `manager`, else the lead of their first team."""
    spec = bundle.manifest.users.get(user or "")
    if spec is None:
        return None
    if spec.manager:
        return spec.manager
    for name, team in bundle.manifest.teams.items():
        if team.lead and team.lead != user and user in team_members(bundle, name):
            return team.lead
    return None


def on_leave(bundle: Bundle, user: str, now: datetime) -> bool:
    """Tell whether a user is on leave today (the date where the business is)."""
    spec = bundle.manifest.users.get(user)
    today = local_date(bundle, now)
    return bool(spec) and any(leave.start <= today <= leave.end for leave in spec.leave)  # type: ignore[union-attr]


def off_hours(bundle: Bundle, user: str, now: datetime) -> bool:
    """Tell whether a user's calendar (if they have one) says they are not working at `now`."""
    spec = bundle.manifest.users.get(user)
    calendar = working_time(bundle, spec.calendar) if spec else None
    return calendar is not None and not calendar.working_at(now)


# Loads are read and written on every routed command: the statements are written out
# once and run on the driver (runtime/store.py `run_sql`). The users to read cross as
# one parameter: a JSON array on SQLite, an array on PostgreSQL. On SQLite the array is
# walked and each user looked up by the primary key (CROSS JOIN keeps that order,
# whatever the table's statistics: tests/runtime/test_routing_prefilter.py): about a
# fifth faster over 100 users than `IN (SELECT value FROM json_each(...))`, which first
# indexes the array. SQLite hands the rows back as two JSON objects made in C (user ->
# count; user -> last round-robin pick, for those picked), read by msgspec: about 40%
# less time than fetching them as 100 Python rows (decision 91).
_LOADS_SQLITE = (
    "SELECT json_group_object(l.user_id, l.open_count), json_group_object(l.user_id, "
    "l.round_robin_at) FILTER (WHERE l.round_robin_at IS NOT NULL) "
    "FROM json_each(:ids) AS j CROSS JOIN sf_load AS l ON l.user_id = j.value"
)
_LOADS_POSTGRES = (
    "SELECT user_id, open_count, round_robin_at FROM sf_load WHERE user_id = ANY(:ids)"
)
_ADD_LOAD = "UPDATE sf_load SET open_count = open_count + :delta WHERE user_id = :user"
_ADD_LOAD_PICKED = (
    "UPDATE sf_load SET open_count = open_count + :delta, round_robin_at = :picked "
    "WHERE user_id = :user"
)
_NEW_LOAD = (
    "INSERT INTO sf_load (user_id, open_count, round_robin_at) VALUES (:user, :count, :picked)"
)


def load_columns(
    conn: Connection, users: Sequence[str], encoded: str | None = None
) -> tuple[list[int], dict[str, datetime]]:
    """Return each user's open-record count (in the order given) and the last round-robin
    pick of each user who has one, in one indexed query.

    `encoded`: the users as a JSON array, when the caller keeps it (SQLite reads that).
    A user without a row counts 0 and was never picked.
    """
    if not users:
        return [], {}
    counts: dict[str, int] = {}
    picks: dict[str, datetime] = {}
    if is_postgres(conn):
        for user, count, picked in run_sql(conn, _LOADS_POSTGRES, {"ids": list(users)}).rows:
            counts[user] = count
            if picked is not None:
                picks[user] = py_time(picked)  # type: ignore[assignment]
    else:
        text = encoded if encoded is not None else json.dumps(list(dict.fromkeys(users)))
        counted, picked = run_sql(conn, _LOADS_SQLITE, {"ids": text}).rows[0]
        counts = db_loads(counted) if counted else {}
        if picked:
            picks = {user: py_time(at) for user, at in db_loads(picked).items()}  # type: ignore[misc]
    return [counts.get(u, 0) for u in users], picks


def loads(
    conn: Connection, users: Iterable[str], encoded: str | None = None
) -> dict[str, tuple[int, datetime | None]]:
    """Return (open records, last round-robin pick) per user.

    `encoded`: the users as a JSON array, when the caller keeps it (SQLite reads that).
    Each user is listed once (a user named twice is read once).
    """
    ids = list(users)
    counts, picks = load_columns(conn, ids, encoded)
    return {u: (count, picks.get(u)) for u, count in zip(ids, counts, strict=True)}


def change_load(
    conn: Connection, user: str | None, delta: int, picked: datetime | None = None
) -> None:
    """Add `delta` to a user's open-record count (and note a round-robin pick)."""
    if user is None:
        return
    postgres = is_postgres(conn)
    params: dict[str, Any] = {"user": user, "delta": delta}
    if picked is not None:
        params["picked"] = db_time(picked, postgres)
    result = run_sql(conn, _ADD_LOAD if picked is None else _ADD_LOAD_PICKED, params)
    if result.rowcount == 0:
        run_sql(
            conn,
            _NEW_LOAD,
            {"user": user, "count": max(delta, 0), "picked": db_time(picked, postgres)},
        )


def candidate_base(bundle: Bundle, user: str) -> dict[str, Any]:
    """Return what routing expressions read of a user (`candidate.x`) but load/available."""
    spec = bundle.manifest.users[user]
    values: dict[str, Any] = dict(spec.model_extra or {})
    values.update(
        id=user,
        name=spec.name,
        email=spec.email,
        roles=list(spec.roles),
        teams=list(spec.teams),
        manager=manager_of(bundle, user),
        capacity=spec.capacity,
    )
    return values


def candidate(bundle: Bundle, user: str, load: int, now: datetime) -> dict[str, Any]:
    """Return a user as routing expressions see them (`candidate.x`)."""
    values = candidate_base(bundle, user)
    values.update(
        load=load,
        available=bundle.manifest.users[user].active
        and not on_leave(bundle, user, now)
        and not off_hours(bundle, user, now),
    )
    return values


def assignment_holders(
    conn: Any, record_id: str | None, targets: Iterable[str]
) -> dict[str, str | None]:
    """Return who holds each named assignment `assignment:<name>` targets name (None: nobody)."""
    names = [t.partition(":")[2] for t in targets if t.partition(":")[0] == "assignment"]
    held: dict[str, str | None] = dict.fromkeys(names)
    if not names or record_id is None:
        return held
    t = T_ASSIGNMENT.c
    rows = conn.execute(
        select(t.name, t.user_id).where(t.record_id == record_id, t.name.in_(names))
    ).all()
    held.update({name: user or None for name, user in rows})
    return held


def recipients(
    bundle: Bundle,
    targets: Iterable[str],
    record: dict[str, Any] | None,
    held: Mapping[str, str | None] | None = None,
) -> list[str]:
    """Resolve recipient references (owner, role:x, team:x, ...) to user ids, in order.

    `held` is who holds each named assignment of the record (`assignment:<name>`)."""
    found: list[str] = []
    for target in targets:
        kind, _, name = target.partition(":")
        owner = (record or {}).get("owner")
        if target == "owner":
            ids = [owner] if owner else []
        elif target == "owner.manager":
            boss = manager_of(bundle, owner)
            ids = [boss] if boss else []
        elif kind == "role":
            ids = users_with_role(bundle, name)
        elif kind == "user":
            ids = [name]
        elif kind == "team":
            ids = team_members(bundle, name)
        elif kind == "queue":
            queue = bundle.manifest.queues.get(name)
            ids = [
                u for r in (queue.visible_to if queue else []) for u in users_with_role(bundle, r)
            ]
        elif kind == "assignment":  # whoever holds it now (nobody: never filled, queued)
            holder = (held or {}).get(name)
            ids = [holder] if holder else []
        else:  # field:<name>: the user that field names (a value naming nobody reaches nobody)
            value = (record or {}).get(name)
            ids = [value] if isinstance(value, str) and value in bundle.manifest.users else []
        found.extend(i for i in ids if i and i not in found)
    return found
