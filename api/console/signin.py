"""Signing in and out of the console (a session cookie; every form carries a CSRF token)."""

from __future__ import annotations

import time
from collections import deque
from typing import Annotated, Any

from litestar import MediaType, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from pydantic import BaseModel, Field

from api.calls import call
from api.console.web import COOKIE
from api.routes.common import server_of
from runtime.sessions import SESSION_DAYS, session_user, sign_in, sign_out

FAILURES_ALLOWED = 5  # failed sign-ins per user and address ...
FAILURE_WINDOW = 300.0  # ... within this many seconds, before sign-in waits


class SignInForm(BaseModel):
    """The sign-in form."""

    user: str = Field(default="", max_length=64)
    password: str = Field(default="", max_length=256)
    next: str = Field(default="/", max_length=2000)


class Failures:
    """Recent failed sign-ins by (user, address): slows down password guessing."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], deque[float]] = {}

    def blocked(self, key: tuple[str, str]) -> bool:
        """Tell whether `key` failed too often lately."""
        now = time.monotonic()
        seen = self._seen.get(key)
        while seen and seen[0] < now - FAILURE_WINDOW:
            seen.popleft()
        return seen is not None and len(seen) >= FAILURES_ALLOWED

    def failed(self, key: tuple[str, str]) -> None:
        """Count a failure."""
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen.setdefault(key, deque()).append(time.monotonic())

    def forget(self, key: tuple[str, str]) -> None:
        """Forget `key`'s failures (it signed in)."""
        self._seen.pop(key, None)


def _failures(request: Request[Any, Any, Any]) -> Failures:
    state = request.app.state
    if "sign_in_failures" not in state:
        state["sign_in_failures"] = Failures()
    found: Failures = state["sign_in_failures"]
    return found


def safe_next(target: str | None) -> str:
    """Return `target` when it is a path of this site (never another site's address)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _form(next_path: str, user: str = "", error: str = "", status: int = 200) -> Template:
    return Template(
        template_name="sign_in.html",
        context={"title": "Sign in", "next": next_path, "user": user, "error": error},
        status_code=status,
        media_type=MediaType.HTML,  # whatever the handler's annotation says
    )


@get("/sign-in", include_in_schema=False)
async def sign_in_page(request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Any:
    """The sign-in form (someone already signed in goes on to `next`)."""
    server = server_of(request)
    session = request.cookies.get(COOKIE)
    if session and server.bundle is not None:
        who = await call(session_user, server.store, server.bundle, session, server.clock.now())
        if who is not None:
            return Redirect(safe_next(next))
    return _form(safe_next(next))


@post("/sign-in", include_in_schema=False, status_code=303)
async def sign_in_submit(
    request: Request[Any, Any, Any],
    data: Annotated[SignInForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Any:
    """Check the user and password; start a session and go on, or show the form again."""
    server = server_of(request)
    target = safe_next(data.next)
    user = data.user.strip().lower()
    address = request.client.host if request.client else ""
    failures = _failures(request)
    if failures.blocked((user, address)):
        return _form(
            target,
            user,
            "Too many failed attempts: wait a few minutes, then try again.",
            status=429,
        )
    bundle = server.bundle
    session = None
    if bundle is not None and user and data.password:
        session = await call(sign_in, server.store, bundle, user, data.password, server.clock.now())
    if session is None:
        failures.failed((user, address))
        return _form(target, user, "The user or the password is wrong.", status=401)
    failures.forget((user, address))
    response: Redirect = Redirect(target, status_code=303)
    response.set_cookie(
        COOKIE,
        session,
        max_age=SESSION_DAYS * 24 * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@post("/sign-out", include_in_schema=False, status_code=303)
async def sign_out_submit(request: Request[Any, Any, Any]) -> Redirect:
    """End this browser's session."""
    server = server_of(request)
    session = request.cookies.get(COOKIE)
    if session:
        await call(sign_out, server.store, session, server.clock.now())
    response: Redirect = Redirect("/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
