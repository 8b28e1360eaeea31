"""Console sign-in: passwords (scrypt, salted) and browser sessions (hashed at rest).

A bundle user (or an API user) gets a password with `sopflow user password USER`; the
store keeps only its scrypt hash. Signing in makes a session: a random id the browser
keeps in a cookie and the store keeps as a SHA-256 hash, with an absolute expiry and an
idle limit. Signing out, or a new password, ends the session(s). This module knows no
HTTP: the console (api/console) sets the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel

from engine.bundle import Bundle
from runtime.access import Principal, resolve_user
from runtime.errors import Invalid, NotFound, Problem
from runtime.store import Store

MIN_PASSWORD = 8
SESSION_DAYS = 7  # a session ends this long after sign-in, whatever its use
IDLE_HOURS = 12  # ... or this long after its last request
_TOUCH_EVERY = timedelta(minutes=5)  # last_seen is written at most this often
# scrypt's cost (RFC 7914): 2**14 x 8 takes ~30 ms and 16 MiB here, per sign-in only.
_N, _R, _P = 2**14, 8, 1


class Password(SQLModel, table=True):
    """A user's console password (scrypt hash with its salt and cost)."""

    __tablename__ = "sf_password"

    user_id: str = Field(primary_key=True, max_length=64)
    hash: str = Field(max_length=255)
    set_at: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False))
    set_by: str | None = Field(default=None, max_length=64)


class Session(SQLModel, table=True):
    """A signed-in browser: the hash of its cookie, whose it is, and when it ends."""

    __tablename__ = "sf_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(max_length=64, index=True)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False))
    last_seen: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False))


class Setting(SQLModel, table=True):
    """A server setting kept in the store (the console's CSRF secret)."""

    __tablename__ = "sf_setting"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=255)


T_SETTING: Any = Setting.__table__  # type: ignore[attr-defined]
T_PASSWORD: Any = Password.__table__  # type: ignore[attr-defined]
T_SESSION: Any = Session.__table__  # type: ignore[attr-defined]


def hash_password(password: str) -> str:
    """Return the stored form of a password: `scrypt$N$r$p$salt$hash` (hex)."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${key.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Tell whether `password` matches a stored hash (in constant time)."""
    try:
        kind, n, r, p, salt, key = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(key) // 2,
        )
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), key)


def set_password(
    store: Store, bundle: Bundle, user: str, password: str, now: datetime, *, by: str | None = None
) -> None:
    """Give `user` a console password; their sessions end (they sign in again)."""
    if resolve_user(store, bundle, user) is None:
        raise NotFound(
            f"no active user '{user}': declare it under users: in the bundle or create an API user",
            [Problem("unknown-user", f"'{user}' is neither a bundle user nor an API user")],
        )
    if len(password) < MIN_PASSWORD or not password.strip():
        raise Invalid(
            "the password is too short",
            [Problem("short-password", f"use at least {MIN_PASSWORD} characters", "password")],
        )
    stored = hash_password(password)
    with store.begin(now, by) as tx:
        tx.conn.execute(delete(T_PASSWORD).where(T_PASSWORD.c.user_id == user))
        tx.conn.execute(insert(T_PASSWORD).values(user_id=user, hash=stored, set_at=now, set_by=by))
        tx.conn.execute(delete(T_SESSION).where(T_SESSION.c.user_id == user))
        tx.event("password_set", None, None, user=user)


def has_password(store: Store, user: str) -> bool:
    """Tell whether `user` has a console password."""
    with store.read() as conn:
        row = conn.execute(select(T_PASSWORD.c.user_id).where(T_PASSWORD.c.user_id == user))
        return row.first() is not None


def any_password(store: Store) -> bool:
    """Tell whether anybody has a console password yet."""
    with store.read() as conn:
        return conn.execute(select(T_PASSWORD.c.user_id).limit(1)).first() is not None


def new_password() -> str:
    """Return a random password to hand out (about 96 bits, easy to type)."""
    return secrets.token_urlsafe(12)


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def sign_in(store: Store, bundle: Bundle, user: str, password: str, now: datetime) -> str | None:
    """Return a new session id when `password` is `user`'s (None: wrong user or password).

    Unknown users cost as much as known ones (a dummy hash is checked), so the time
    taken does not tell which users exist.
    """
    with store.read() as conn:
        row = conn.execute(select(T_PASSWORD.c.hash).where(T_PASSWORD.c.user_id == user)).first()
    stored = row.hash if row is not None else _DUMMY
    if not check_password(password, stored) or row is None:
        return None
    if resolve_user(store, bundle, user) is None:
        return None  # a user the bundle made inactive, or removed
    session_id = secrets.token_urlsafe(32)
    with store.begin(now, user) as tx:
        tx.conn.execute(delete(T_SESSION).where(T_SESSION.c.expires_at < now))
        tx.conn.execute(
            insert(T_SESSION).values(
                id_hash=_session_hash(session_id),
                user_id=user,
                created_at=now,
                last_seen=now,
                expires_at=now + timedelta(days=SESSION_DAYS),
            )
        )
        tx.event("signed_in", None, None, user=user)
    return session_id


def session_user(store: Store, bundle: Bundle, session_id: str, now: datetime) -> Principal | None:
    """Return who holds a live session (None: unknown, expired, idle too long, user gone)."""
    if not session_id or len(session_id) > 128:
        return None
    key = _session_hash(session_id)
    with store.read() as conn:
        row = conn.execute(
            select(T_SESSION.c.user_id, T_SESSION.c.last_seen, T_SESSION.c.expires_at).where(
                T_SESSION.c.id_hash == key
            )
        ).first()
    if row is None or row.expires_at <= now or row.last_seen + timedelta(hours=IDLE_HOURS) <= now:
        return None
    who = resolve_user(store, bundle, row.user_id)
    if who is None:
        return None
    if now - row.last_seen >= _TOUCH_EVERY:
        with store.begin(now, None) as tx:
            tx.conn.execute(
                update(T_SESSION).where(T_SESSION.c.id_hash == key).values(last_seen=now)
            )
    return who


def sign_out(store: Store, session_id: str, now: datetime) -> None:
    """End a session (nothing happens for an unknown one)."""
    with store.begin(now, None) as tx:
        tx.conn.execute(delete(T_SESSION).where(T_SESSION.c.id_hash == _session_hash(session_id)))


def console_secret(store: Store, now: datetime) -> str:
    """Return the secret signing the console's CSRF tokens (made once, kept in the store).

    Kept in the store so that a restart, or a second process on the same database,
    accepts the forms the browser already holds.
    """
    with store.read() as conn:
        row = conn.execute(select(T_SETTING.c.value).where(T_SETTING.c.name == "csrf_secret"))
        found = row.first()
    if found is not None:
        return str(found.value)
    made = secrets.token_hex(32)
    try:
        with store.begin(now, None) as tx:
            tx.conn.execute(insert(T_SETTING).values(name="csrf_secret", value=made))
    except IntegrityError:  # another process made it first: read theirs
        with store.read() as conn:
            value = conn.execute(
                select(T_SETTING.c.value).where(T_SETTING.c.name == "csrf_secret")
            ).scalar_one()
        return str(value)
    return made


_DUMMY = hash_password(secrets.token_urlsafe(16))
