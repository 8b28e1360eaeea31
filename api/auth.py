"""Authentication (bearer tokens) and the permission checks handlers share.

Every route is authenticated except `/healthz` and `/readyz`. Roles come from the
bundle being served: a reload that changes a user's roles or an entity's permissions
holds from the next request on.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware

from api.calls import call
from engine.bundle import Bundle
from runtime.access import Principal, authenticate, hash_token
from runtime.errors import Forbidden
from runtime.people import acting_as
from runtime.permissions import part_roles, permitted
from runtime.sessions import session_user

PUBLIC = ["^/healthz$", "^/readyz$", "^/api/v1/inbound/"]  # inbound: signed, no token
# Routes (routers) carrying this opt check their own caller: the console's session.
EXCLUDE_OPT = "exclude_from_auth"
# Paths that are not the console's: the API, its docs and the health checks (the console's
# CSRF check leaves them out; their errors stay JSON).
NOT_CONSOLE = ("/api/", "/admin/", "/schema", "/healthz", "/readyz")
SESSION_COOKIE = "sopflow_session"  # the console's session (runtime/sessions.py)
SAFE = frozenset({"GET", "HEAD"})
CACHE_SECONDS = 5.0  # a revoked token may live this long in another process


class TokenCache:
    """Recently seen tokens (by hash): spares a store read per request."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, Principal, str]] = {}

    def get(self, token: str, bundle_hash: str) -> Principal | None:
        hit = self._seen.get(hash_token(token))
        if hit is None or hit[0] < time.monotonic() or hit[2] != bundle_hash:
            return None
        return hit[1]

    def put(self, token: str, bundle_hash: str, who: Principal) -> None:
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[hash_token(token)] = (time.monotonic() + CACHE_SECONDS, who, bundle_hash)

    def clear(self) -> None:
        self._seen.clear()


class TokenAuth(AbstractAuthenticationMiddleware):
    """`Authorization: Bearer <token>`; the user is a `Principal`."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            who = await self._session(connection)
            if who is not None:
                return AuthenticationResult(user=who, auth=None)
            raise NotAuthorizedException(
                "send an API token: 'Authorization: Bearer <token>' "
                "(create one with 'sopflow token create USER')",
                headers={"WWW-Authenticate": "Bearer"},
            )
        server = connection.app.state.server
        bundle = server.bundle
        if bundle is None:
            from litestar.exceptions import ServiceUnavailableException  # noqa: PLC0415

            raise ServiceUnavailableException("no bundle is loaded: see /readyz")
        token = token.strip()
        cache: TokenCache = server.tokens
        who = cache.get(token, bundle.hash)
        if who is None:
            who = await call(authenticate, server.store, bundle, token)
            if who is None:
                raise NotAuthorizedException(
                    "the token is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
                )
            cache.put(token, bundle.hash, who)
        if not who.declared:
            # Runtime role checks (writes, stage moves) see the API user's roles too;
            # the context is this request's (worker threads get a copy of it).
            acting_as(who.user, who.roles)
        return AuthenticationResult(user=who, auth=token)

    @staticmethod
    async def _session(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
        """A console session reads (GET, HEAD) the API and its docs; it never writes there.

        Writes through the API need a token: a cookie alone would let another site's
        page send them (the console's own forms carry a CSRF token instead).
        """
        session = connection.cookies.get(SESSION_COOKIE)
        server = connection.app.state.server
        if not session or connection.scope.get("method") not in SAFE or server.bundle is None:
            return None
        who: Principal | None = await call(
            session_user, server.store, server.bundle, session, server.clock.now()
        )
        if who is not None and not who.declared:
            acting_as(who.user, who.roles)
        return who


def auth_middleware() -> DefineMiddleware:
    """Return the authentication middleware (health checks stay open)."""
    return DefineMiddleware(TokenAuth, exclude=PUBLIC, exclude_from_auth_key=EXCLUDE_OPT)


def may(who: Principal, roles: Iterable[str] | None) -> bool:
    """Tell whether `who` holds one of `roles` (None: every role may)."""
    return permitted(who.roles, roles)


def require(who: Principal, roles: Iterable[str] | None, what: str) -> None:
    """Refuse with 403 unless `who` holds one of `roles`."""
    if not may(who, roles):
        listed = ", ".join(sorted(roles or [])) or "nobody"
        raise Forbidden(f"your roles may not {what} (allowed: {listed})")


def access(bundle: Bundle, part: str) -> list[str] | None:
    """Return the roles the bundle's `access:` gives a part of the server."""
    return part_roles(bundle, part)
