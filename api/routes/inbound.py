"""Signed inbound webhooks (F6): a system the bundle declares pushes records, signed.

`inbound:` of the bundle manifest names each system allowed to push, the entity it
writes and the fields it may set. `POST /api/v1/inbound/{name}` takes a JSON object of
those fields (create, or merge on the form's key) without a token: the sender proves
itself with an HMAC-SHA256 signature of `"<timestamp>.<body>"` under the secret in the
declaration's environment variable (default `SOPFLOW_INBOUND_SECRET_<NAME>`), sent as
`X-Sopflow-Signature: sha256=<hex>` beside `X-Sopflow-Timestamp: <unix seconds>`. A
timestamp more than five minutes from the server's clock is refused, so a captured
request cannot be replayed later. The change is audited as made by `inbound:<name>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

from litestar import Request, Response, post
from litestar.exceptions import NotAuthorizedException, NotFoundException, ValidationException
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.calls import call
from api.openapi import errors
from api.routes.common import API, runtime_of, server_of

SIGNATURE = "X-Sopflow-Signature"
TIMESTAMP = "X-Sopflow-Timestamp"
TOLERANCE_SECONDS = 300
PATH = f"{API}/inbound/{{name:str}}"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return the signature header value a sender computes (`sha256=<hex>`)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _refuse(message: str) -> NotAuthorizedException:
    return NotAuthorizedException(message, headers={"WWW-Authenticate": "Signature"})


def check_signature(
    secret: str, headers: Any, body: bytes, now: float, tolerance: int = TOLERANCE_SECONDS
) -> None:
    """Refuse (401) a missing, stale or wrong signature; return when it holds."""
    signature = headers.get(SIGNATURE)
    timestamp = headers.get(TIMESTAMP)
    if not signature or not timestamp:
        raise _refuse(f"the request is not signed: send {SIGNATURE} and {TIMESTAMP}")
    try:
        sent = int(timestamp)
    except ValueError:
        raise _refuse(f"{TIMESTAMP} is not a whole number of seconds") from None
    if abs(now - sent) > tolerance:
        raise _refuse(
            f"{TIMESTAMP} is more than {tolerance} seconds from the server's clock "
            "(a replayed or delayed request)"
        )
    if not signature.isascii():  # compare_digest takes ASCII text only
        raise _refuse("the signature is not 'sha256=' and hex digits")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip()):
        raise _refuse("the signature does not match the body and timestamp")


@post(
    PATH,
    tags=["records"],
    status_code=HTTP_200_OK,
    responses=errors(400, 401, 404, 409, 413, 422, 503),
)
async def inbound(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[Any]:
    """Create, or merge into the record with the same key, from a signed push (F6).

    201 `{"outcome": "created", "id": ...}` or 200 `{"outcome": "merged", "id": ...}`;
    401 when the signature is missing, wrong or its timestamp is outside five minutes;
    404 when the bundle declares no such inbound or its secret is not set; 422 when
    the body sets a field the declaration does not list (nothing is stored).
    """
    runtime, bundle = runtime_of(request)
    spec = bundle.manifest.inbound.get(name)
    if spec is None:
        raise NotFoundException(f"no inbound '{name}' is declared in the bundle")
    variable = spec.secret_variable(name)
    secret = os.environ.get(variable)
    if not secret:
        raise NotFoundException(
            f"inbound '{name}' takes no pushes until its secret is set: set {variable}"
        )
    body = await request.body()
    now = server_of(request).clock.now().timestamp()
    check_signature(secret, request.headers, body, now)
    try:
        data = json.loads(body)
    except ValueError:
        raise ValidationException("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ValidationException("the body is not a JSON object of field values")
    server = server_of(request)
    view, created = await call(server.inline, runtime.receive, name, data)
    # The sender learns the outcome and the record's id, not the record (it holds no role).
    body_out = {"outcome": "created" if created else "merged", "id": view.id}
    return Response(body_out, status_code=HTTP_201_CREATED if created else HTTP_200_OK)


ROUTES: list[Any] = [inbound]
