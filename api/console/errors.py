"""Errors on console pages are pages: what went wrong and what to do, never JSON or a trace."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from litestar import MediaType, Request
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.response import Template

from api.console.web import SignInRequired, sign_in_redirect
from runtime.errors import CommandError

log = logging.getLogger("sopflow.console")


def _error_page(status: int, heading: str, detail: str, items: list[str]) -> Template:
    return Template(
        template_name="error.html",
        context={"title": heading, "status": status, "detail": detail, "items": items},
        status_code=status,
        media_type=MediaType.HTML,  # whatever the handler's annotation says
    )


def command_error(_: Request[Any, Any, Any], exc: CommandError) -> Template:
    """A refused command (not found, forbidden, invalid, conflict) as a page."""
    items = [p.message for p in exc.problems]
    return _error_page(exc.status, "That could not be done", exc.message, items)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Template:
    """An HTTP error (a form that expired, a page that does not exist) as a page."""
    if isinstance(exc, PermissionDeniedException) and "CSRF" in (exc.detail or ""):
        return _error_page(
            403,
            "This form has expired",
            "Go back, reload the page and send it again (the form's security token did not "
            "match, for instance after signing in elsewhere).",
            [],
        )
    if isinstance(exc, NotFoundException):
        return _error_page(404, "Not found", f"Nothing is at {request.url.path}.", [])
    items = [str(e.get("message", e)) for e in exc.extra] if isinstance(exc.extra, list) else []
    return _error_page(exc.status_code, "That could not be done", exc.detail or "error", items)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Template:
    """An unexpected failure: logged with a reference, shown without a traceback."""
    reference = uuid.uuid4().hex[:12]
    log.error(
        "console error %s on %s %s", reference, request.method, request.url.path, exc_info=exc
    )
    return _error_page(
        500,
        "Something went wrong",
        f"The server could not show this page. Tell your administrator the reference {reference}.",
        [],
    )


HANDLERS: dict[int | type[Exception], Any] = {
    SignInRequired: sign_in_redirect,
    CommandError: command_error,
    HTTPException: http_error,
    Exception: internal_error,
}
