"""One JSON shape for every error: `{status_code, detail, extra: [{key, message, source}]}`.

`key` names what is wrong (a field, a requirement's code), `message` says why in the
analyst's words, `source` where it came from (body, query, path, a rule's name, ...).
A 500 never leaks internals: it carries a reference the log also carries.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from sqlalchemy.exc import DataError

from api.auth import NOT_CONSOLE
from api.calls import TimedOut
from runtime.data import to_json
from runtime.errors import CommandError, Conflict, Problem, Taken

log = logging.getLogger("sopflow.api")
DOCS_PAGES = ("/schema", "/schema/swagger")  # api/docs_viewer.py


def body(status: int, detail: str, extra: list[dict[str, Any]] | None = None, **more: Any) -> Any:
    """Return the error body."""
    return {"status_code": status, "detail": detail, "extra": extra or [], **more}


def error(
    status: int, detail: str, extra: list[dict[str, Any]] | None = None, **more: Any
) -> Response[Any]:
    """Return an error response in the one shape."""
    return Response(body(status, detail, extra, **more), status_code=status)


def problem_item(problem: Problem) -> dict[str, Any]:
    """Turn a runtime Problem into an `extra` item (keeping its code, rule and expression)."""
    item: dict[str, Any] = {
        "key": problem.field or problem.code,
        "message": problem.message,
        "source": problem.rule or ("body" if problem.field else "rules"),
        "code": problem.code,
    }
    if problem.expression:
        item["expression"] = problem.expression
    if problem.detail:
        item["detail"] = problem.detail
    return item


def command_error(_: Request[Any, Any, Any], exc: CommandError) -> Response[Any]:
    """A refused, invalid, forbidden, missing or conflicting command."""
    extra = [problem_item(p) for p in exc.problems]
    if isinstance(exc, Conflict):
        current = getattr(exc.current, "to_dict", None)
        return error(exc.status, exc.message, extra, current=to_json(current() if current else {}))
    if isinstance(exc, Taken):
        more = {"existing": exc.existing} if exc.existing else {}  # none: a hidden record
        return error(exc.status, exc.message, extra, **more)
    status = exc.status
    if any(p.code == "forbidden" for p in exc.problems):
        # A refusal that includes "your roles may not" is a permission answer (403),
        # still listing every other unmet requirement.
        status = 403
    return error(status, exc.message, extra)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own errors (404 route, 401, 405, 413, payload validation) in our shape.

    A page a browser asked for outside the API (an unknown console address) is a page.
    """
    if _console_path(request) and "json" not in request.headers.get("accept", ""):
        from api.console.errors import http_error as page  # noqa: PLC0415  (cycle)

        return page(request, exc)
    if _docs_page(request) and exc.status_code == HTTP_401_UNAUTHORIZED:
        from api.console.web import sign_in_redirect  # noqa: PLC0415  (cycle)

        return sign_in_redirect(request, exc)  # a browser nobody signed in to
    extra = exc.extra if isinstance(exc.extra, list) else []
    items = [
        {
            "key": str(e.get("key", "")),
            "message": str(e.get("message", "")),
            "source": _source(e.get("source", "body")),
        }
        if isinstance(e, dict)
        else {"key": "", "message": str(e), "source": "request"}
        for e in extra
    ]
    status = exc.status_code
    if isinstance(exc, ValidationException):
        status = HTTP_400_BAD_REQUEST
    response = error(status, exc.detail or "error", items)
    response.headers.update(exc.headers or {})
    return response


def _console_path(request: Request[Any, Any, Any]) -> bool:
    """Tell whether a request is for the console (not the API, its docs or health checks)."""
    path = request.url.path
    return not path.startswith(NOT_CONSOLE)


def _docs_page(request: Request[Any, Any, Any]) -> bool:
    """Tell whether a browser asked for the API docs viewer (not the document itself)."""
    path = request.url.path.rstrip("/")
    return path in DOCS_PAGES and "text/html" in request.headers.get("accept", "")


def _source(value: Any) -> str:
    """Litestar names a parameter's place with an enum (ParamType.QUERY): say `query`."""
    return str(getattr(value, "value", value))


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Anything else is a bug: log it with a reference, answer without internals."""
    reference = uuid.uuid4().hex[:12]
    log.error(
        "internal error %s on %s %s",
        reference,
        request.method,
        request.url.path,
        exc_info=exc,
        extra={"reference": reference},
    )
    return error(
        HTTP_500_INTERNAL_SERVER_ERROR,
        f"internal error (reference {reference}); the server log has the details",
    )


def out_of_range(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A number or date too large for Python's or the database's types: a 400, not a 500."""
    log.info("out-of-range value on %s %s: %s", request.method, request.url.path, exc)
    return error(
        HTTP_400_BAD_REQUEST,
        "a value of this request is out of range or not storable",
        [
            {
                "key": "",
                "message": "a number, date or text is too large or malformed",
                "source": "request",
            }
        ],
    )


def timed_out(request: Request[Any, Any, Any], exc: TimedOut) -> Response[Any]:
    """A request past its time (Config.request_timeout): 503, nothing it did was kept."""
    log.warning("request timed out on %s %s: %s", request.method, request.url.path, exc)
    response = error(
        HTTP_503_SERVICE_UNAVAILABLE,
        f"{exc}; nothing it would have changed was stored, try again",
        [
            {
                "key": "request_timeout",
                "message": f"a request may work for at most {exc.seconds:g} s",
                "source": "server",
            }
        ],
    )
    response.headers["Retry-After"] = "1"
    return response


EXCEPTION_HANDLERS: dict[Any, Any] = {
    TimedOut: timed_out,
    CommandError: command_error,
    HTTPException: http_error,
    OverflowError: out_of_range,
    DataError: out_of_range,
    Exception: internal_error,
}
