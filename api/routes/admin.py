"""API tokens and API users, for the roles the bundle's `access.users` names."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, delete, get, post
from litestar.params import JSONBody, PathParameter
from msgspec import Struct

from api.auth import access, require
from api.calls import call
from api.openapi import errors
from api.routes.common import API, caller, runtime_of, server_of
from runtime import access as tokens
from runtime.data import ROW_ID, to_json

TokenId = Annotated[int, PathParameter(ge=1, le=ROW_ID)]


class TokenRequest(Struct, forbid_unknown_fields=True):
    """A token for `user` (a bundle user or an API user)."""

    user: str
    name: str = ""


class UserRequest(Struct, forbid_unknown_fields=True):
    """An API user: id, the bundle roles it holds, a readable name."""

    id: str
    roles: list[str]
    name: str = ""


def _admin(request: Request[Any, Any, Any]) -> None:
    _, bundle = runtime_of(request)
    require(caller(request), access(bundle, "users"), "manage tokens and users")


@post(f"{API}/admin/tokens", tags=["admin"], responses=errors(403, 404))
async def create_token(
    request: Request[Any, Any, Any], data: JSONBody[TokenRequest]
) -> dict[str, Any]:
    """Create a token; the answer is the only time the token is shown."""
    _admin(request)
    server = server_of(request)
    _, bundle = runtime_of(request)
    now = server.clock.now()
    token_id, token = await call(
        tokens.create_token,
        server.store,
        bundle,
        data.user,
        now,
        name=data.name,
        by=caller(request).user,
    )
    return {"id": token_id, "user": data.user, "name": data.name, "token": token}


@get(f"{API}/admin/tokens", tags=["admin"], responses=errors(403))
async def list_tokens(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    """List tokens (never the tokens themselves)."""
    _admin(request)
    server = server_of(request)
    return [to_json(t) for t in await call(tokens.list_tokens, server.store)]


@delete(
    f"{API}/admin/tokens/{{token_id:int}}",
    tags=["admin"],
    status_code=204,
    responses=errors(403, 404),
)
async def revoke_token(
    request: Request[Any, Any, Any], token_id: Annotated[int, PathParameter(ge=1, le=ROW_ID)]
) -> None:
    """Revoke a token; it stops working at once in this process."""
    _admin(request)
    server = server_of(request)
    await call(
        tokens.revoke_token,
        server.store,
        token_id,
        server.clock.now(),
        by=caller(request).user,
    )
    server.tokens.clear()


@post(f"{API}/admin/users", tags=["admin"], responses=errors(403, 409, 422))
async def create_user(
    request: Request[Any, Any, Any], data: JSONBody[UserRequest]
) -> dict[str, Any]:
    """Create an API user holding roles of the bundle."""
    _admin(request)
    server = server_of(request)
    _, bundle = runtime_of(request)
    await call(
        tokens.create_user,
        server.store,
        bundle,
        data.id,
        data.roles,
        server.clock.now(),
        name=data.name,
        by=caller(request).user,
    )
    return {"id": data.id, "roles": sorted(data.roles), "name": data.name}


@get(f"{API}/admin/users", tags=["admin"], responses=errors(403))
async def list_users(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    """List users: the bundle's and the API users, with their roles."""
    _admin(request)
    server = server_of(request)
    _, bundle = runtime_of(request)
    api_users = await call(tokens.api_user_roles, server.store)
    declared = [
        {"id": u, "name": s.name, "roles": list(s.roles), "declared": True, "active": s.active}
        for u, s in bundle.manifest.users.items()
    ]
    extra = [{"id": u, "roles": r, "declared": False, "active": True} for u, r in api_users.items()]
    return declared + extra


ROUTES = [create_token, list_tokens, revoke_token, create_user, list_users]
