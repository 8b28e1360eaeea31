"""The web console: server-rendered pages (jinja2) over the runtime, in the API's app.

`routers()` returns the console's routers; `template_config()` and `csrf_config()` what
the app needs to render pages and check every form. Docs: docs/console.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from litestar import Router
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.auth import EXCLUDE_OPT, NOT_CONSOLE
from api.console import alerts, definitions, errors, home, lists, metrics, record, signin
from api.console.web import viewer

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
CSRF_COOKIE = "sopflow_csrf"
NOT_CONSOLE_PATTERNS = [f"^{re.escape(prefix)}" for prefix in NOT_CONSOLE]

# Page handlers taking `who` (the signed-in user); each module exports ROUTES.
PAGES: list[Any] = [
    *home.ROUTES,
    *lists.ROUTES,
    *record.ROUTES,
    *metrics.ROUTES,
    *alerts.ROUTES,
    *definitions.ROUTES,
]


def routers() -> list[Any]:
    """Return the console's route handlers: pages, sign-in and the static assets."""
    pages = Router(
        path="/",
        route_handlers=PAGES,
        dependencies={"who": Provide(viewer)},
        exception_handlers=errors.HANDLERS,
        opt={EXCLUDE_OPT: True},
    )
    public = Router(
        path="/",
        route_handlers=[signin.sign_in_page, signin.sign_in_submit, signin.sign_out_submit],
        exception_handlers=errors.HANDLERS,
        opt={EXCLUDE_OPT: True},
    )
    static = create_static_files_router(
        path="/static",
        directories=[STATIC],
        include_in_schema=False,
        opt={EXCLUDE_OPT: True},
    )
    return [pages, public, static]


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Return the jinja2 templates of the console (autoescaped)."""
    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine)


def csrf_config(secret: str) -> CSRFConfig:
    """Return the CSRF check of every console form (the API, using tokens, is exempt)."""
    return CSRFConfig(
        secret=secret,
        cookie_name=CSRF_COOKIE,
        cookie_httponly=True,
        cookie_samesite="lax",
        exclude=NOT_CONSOLE_PATTERNS,
    )
