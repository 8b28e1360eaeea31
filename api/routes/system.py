"""Health, readiness, and who am I."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from api.calls import call
from api.routes.common import API, caller, server_of


@get("/healthz", sync_to_thread=False, tags=["system"])
def healthz() -> dict[str, str]:
    """Say the process is up (no authentication)."""
    return {"status": "ok"}


@get(
    "/readyz",
    tags=["system"],
    responses={503: ResponseSpec(dict[str, Any], description="Not ready: `reason` says why")},
)
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Say whether requests can be served: a bundle is loaded and the database answers."""
    server = server_of(request)
    ok, reason = await call(server.ready)  # the database, off the loop
    bundle = server.bundle
    return Response(
        {"ready": ok, "reason": reason, "bundle": bundle.hash if bundle else None},
        status_code=200 if ok else 503,
    )


@get(f"{API}/me", sync_to_thread=False, tags=["system"])
def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Return the caller: user id, roles, whether the bundle declares them."""
    who = caller(request)
    return {"user": who.user, "roles": sorted(who.roles), "declared": who.declared}


ROUTES = [healthz, readyz, me]
