"""The home page: what needs the signed-in person now."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from api.console.web import Who, page


@get("/", include_in_schema=False)
async def home(request: Request[Any, Any, Any], who: Who) -> Template:
    """My records by stage with their SLA countdowns, my queues, my alerts."""
    return page(request, who, "home.html", "Home")


ROUTES = [home]
