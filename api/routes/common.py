"""What every route module needs: the server, the caller, the bundle of this request."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ServiceUnavailableException

from api.server import Server
from engine.bundle import Bundle
from runtime.access import Principal
from runtime.core import Runtime

API = "/api/v1"


def server_of(request: Request[Any, Any, Any]) -> Server:
    """Return the Server this app serves."""
    server: Server = request.app.state.server
    return server


def caller(request: Request[Any, Any, Any]) -> Principal:
    """Return who is calling (the auth middleware put it there)."""
    who: Principal = request.user
    return who


def runtime_of(request: Request[Any, Any, Any]) -> tuple[Runtime, Bundle]:
    """Return the runtime and the one Bundle this request works with."""
    runtime = server_of(request).runtime
    if runtime is None:
        raise ServiceUnavailableException("no bundle is loaded: see /readyz")
    return runtime, runtime.bundle
