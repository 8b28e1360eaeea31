"""Who is calling: API tokens (hashed at rest) and API users an admin created.

A token is shown once, when it is created; the store keeps only its SHA-256 (the
token is 256 random bits, so a plain hash is as strong as a slow one and costs
microseconds per request). A token belongs to a user: one the bundle declares, or
an API user (a service account or a person the bundle does not list) that an
admin created with roles of the bundle.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, insert, select, update
from sqlmodel import Field, SQLModel

from engine.bundle import Bundle
from runtime.errors import Conflict, Invalid, NotFound, Problem
from runtime.store import Store

PREFIX = "sft_"
USER_ID = r"^[a-z][a-z0-9_.-]{0,63}$"  # an API user id (a trailing newline is not one)
_USER_ID = re.compile(USER_ID)


class ApiToken(SQLModel, table=True):
    """An API token: its hash, whose it is, and when it was made, used and revoked."""

    __tablename__ = "sf_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: str = Field(max_length=64, index=True)
    name: str = Field(default="", max_length=128)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False))
    created_by: str | None = Field(default=None, max_length=64)
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=False), nullable=True)
    )


class ApiUser(SQLModel, table=True):
    """A user the bundle does not declare, created by an admin, holding bundle roles."""

    __tablename__ = "sf_user"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(default="", max_length=128)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False))
    created_by: str | None = Field(default=None, max_length=64)
    active: bool = True


T_TOKEN: Any = ApiToken.__table__  # type: ignore[attr-defined]
T_USER: Any = ApiUser.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: user id, roles, and whether the bundle declares them."""

    user: str
    roles: frozenset[str]
    declared: bool
    token_id: int | None = None


def hash_token(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    store: Store, bundle: Bundle, user: str, now: datetime, *, name: str = "", by: str | None = None
) -> tuple[int, str]:
    """Make a token for a known user; return its id and the token (shown only now)."""
    if resolve_user(store, bundle, user) is None:
        raise NotFound(
            f"no user '{user}': declare it under users: in the bundle or create an API user",
            [Problem("unknown-user", f"'{user}' is neither a bundle user nor an API user")],
        )
    token = PREFIX + secrets.token_urlsafe(32)
    with store.begin(now, by) as tx:
        result = tx.conn.execute(
            insert(T_TOKEN).values(
                token_hash=hash_token(token), user_id=user, name=name, created_at=now, created_by=by
            )
        )
        tx.event("token_created", None, None, user=user, name=name)
        token_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return token_id, token


def revoke_token(store: Store, token_id: int, now: datetime, *, by: str | None = None) -> None:
    """Revoke a token (it stops working at once)."""
    with store.begin(now, by) as tx:
        changed = tx.conn.execute(
            update(T_TOKEN)
            .where(T_TOKEN.c.id == token_id, T_TOKEN.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
        if not changed:
            raise NotFound(f"no active token {token_id}")
        tx.event("token_revoked", None, None, token=token_id)


def list_tokens(store: Store) -> list[dict[str, Any]]:
    """Return every token's metadata (never the token), newest first."""
    columns = [c for c in T_TOKEN.c if c.name != "token_hash"]
    with store.read() as conn:
        rows = conn.execute(select(*columns).order_by(T_TOKEN.c.id.desc())).all()
    return [dict(r._mapping) for r in rows]


def create_user(
    store: Store,
    bundle: Bundle,
    user: str,
    roles: list[str],
    now: datetime,
    *,
    name: str = "",
    by: str | None = None,
) -> None:
    """Create an API user holding roles the bundle declares."""
    problems = []
    if not _USER_ID.fullmatch(user):
        problems.append(
            Problem("bad-user-id", "use lower-case letters, digits, '.', '_' or '-'", field="id")
        )
    if user in bundle.manifest.users:
        problems.append(Problem("declared-user", f"'{user}' is declared in the bundle", "id"))
    unknown = sorted(set(roles) - set(bundle.manifest.roles))
    if unknown:
        known = ", ".join(sorted(bundle.manifest.roles))
        problems.append(
            Problem("unknown-role", f"unknown roles {unknown}; the bundle has {known}", "roles")
        )
    if not roles:
        problems.append(Problem("no-roles", "give the user at least one role", "roles"))
    if problems:
        raise Invalid(f"cannot create user '{user}'", problems)
    with store.begin(now, by) as tx:
        exists = tx.conn.execute(select(T_USER.c.id).where(T_USER.c.id == user)).first()
        if exists:
            taken = Conflict(f"user '{user}' exists", None)
            taken.problems = [Problem("exists", "pick another id", "id")]
            raise taken
        tx.conn.execute(
            insert(T_USER).values(
                id=user, name=name, roles=sorted(roles), created_at=now, created_by=by, active=True
            )
        )
        tx.event("user_created", None, None, user=user, roles=sorted(roles))


def resolve_user(store: Store, bundle: Bundle, user: str) -> Principal | None:
    """Return a user's roles: the bundle's users first, then active API users."""
    spec = bundle.manifest.users.get(user)
    if spec is not None:
        return Principal(user, frozenset(spec.roles), True) if spec.active else None
    with store.read() as conn:
        row = conn.execute(
            select(T_USER.c.roles).where(T_USER.c.id == user, T_USER.c.active.is_(True))
        ).first()
    if row is None:
        return None
    # Roles a reload removed from the bundle are no longer held.
    return Principal(user, frozenset(row.roles) & set(bundle.manifest.roles), False)


def authenticate(store: Store, bundle: Bundle, token: str) -> Principal | None:
    """Return who holds `token` (None: unknown, revoked, or its user is gone)."""
    if not token.startswith(PREFIX):
        return None
    with store.read() as conn:
        row = conn.execute(
            select(T_TOKEN.c.id, T_TOKEN.c.user_id).where(
                T_TOKEN.c.token_hash == hash_token(token), T_TOKEN.c.revoked_at.is_(None)
            )
        ).first()
    if row is None:
        return None
    who = resolve_user(store, bundle, row.user_id)
    if who is None:
        return None
    return Principal(who.user, who.roles, who.declared, row.id)


def api_user_roles(store: Store) -> dict[str, list[str]]:
    """Return every active API user's roles (the runtime checks them like bundle users')."""
    with store.read() as conn:
        rows = conn.execute(select(T_USER.c.id, T_USER.c.roles).where(T_USER.c.active.is_(True)))
        return {r.id: list(r.roles) for r in rows}
