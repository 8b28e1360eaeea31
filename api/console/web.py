"""What every console page shares: who is signed in, the page frame, errors shown as pages.

The console is server-rendered HTML (jinja2 templates in api/console/templates) in the
same Litestar app as the API. A page handler takes `who` (the signed-in Principal,
injected by `viewer`) and returns `page(...)`. Nobody signed in: a redirect to the
sign-in page, which comes back to where they were going.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from litestar import MediaType, Request
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from api.auth import SESSION_COOKIE, access, may
from api.calls import call
from api.routes.common import runtime_of, server_of
from engine.bundle import Bundle
from runtime.access import Principal
from runtime.people import acting_as
from runtime.sessions import session_user

COOKIE = SESSION_COOKIE
Who = NamedDependency[Principal]  # a page handler's `who: Who` is the signed-in user


class SignInRequired(Exception):
    """Nobody (or an expired session) is signed in: the page redirects to sign-in."""


@dataclass(frozen=True)
class NavItem:
    """An entry of the console's navigation bar."""

    href: str
    label: str
    part: str | None  # the `access:` part whose roles see it (None: everyone)


NAV = [
    NavItem("/", "Home", None),
    NavItem("/records", "Records", None),
    NavItem("/funnel", "Funnel", "metrics"),
    NavItem("/dwell", "Dwell", "metrics"),
    NavItem("/forecast", "Forecast", "metrics"),
    NavItem("/alerts", "Alerts", "alerts"),
    NavItem("/definitions", "Definitions", "definitions"),
    NavItem("/schema/swagger", "API", None),
]


async def viewer(request: Request[Any, Any, Any]) -> Principal:
    """Return who is signed in (a Litestar dependency); raise SignInRequired if nobody."""
    server = server_of(request)
    session = request.cookies.get(COOKIE)
    bundle = server.bundle
    if not session or bundle is None:
        raise SignInRequired
    who = await call(session_user, server.store, bundle, session, server.clock.now())
    if who is None:
        raise SignInRequired
    if not who.declared:
        acting_as(who.user, who.roles)
    return who


def sign_in_redirect(request: Request[Any, Any, Any], _: Exception) -> Redirect:
    """Send an anonymous visitor to the sign-in page, coming back here afterwards."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return Redirect(f"/sign-in?next={quote(target, safe='')}")


def allowed(bundle: Bundle, who: Principal, part: str | None) -> bool:
    """Tell whether `who` may see a part of the console (None: everyone)."""
    return part is None or may(who, access(bundle, part))


def display_name(bundle: Bundle, user: str | None) -> str:
    """Return a user's name as the bundle spells it (their id when it has none)."""
    if not user:
        return ""
    spec = bundle.manifest.users.get(user)
    return spec.name if spec is not None and spec.name else user


def local_time(bundle: Bundle) -> Callable[[Any], str]:
    """Return a filter showing a UTC time (naive or ISO text) in the bundle's time zone."""
    zone = ZoneInfo(bundle.manifest.timezone)

    def show(value: Any) -> str:
        if value in (None, ""):
            return ""
        when = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(when, datetime):
            return str(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %z")

    return show


def page(
    request: Request[Any, Any, Any], who: Principal, template: str, title: str, **context: Any
) -> Template:
    """Render a console page inside the frame (navigation, who is signed in)."""
    _, bundle = runtime_of(request)
    nav = [item for item in NAV if allowed(bundle, who, item.part)]
    path = request.url.path
    active = max(
        (i.href for i in nav if path == i.href or (i.href != "/" and path.startswith(i.href))),
        key=len,
        default="/",
    )
    return Template(
        template_name=template,
        context={
            "title": title,
            "who": who,
            "who_name": display_name(bundle, who.user),
            "nav": nav,
            "active": active,
            "bundle": bundle,
            "when": local_time(bundle),
            "name_of": lambda user: display_name(bundle, user),
            "zone": bundle.manifest.timezone,
            **context,
        },
        media_type=MediaType.HTML,  # also when a handler is annotated `-> Any`
    )
