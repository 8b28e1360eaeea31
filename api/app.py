"""The Litestar application: `create_app()` builds one server process's app.

Routes live in `api/routes/*` (each module exports `ROUTES`); they translate HTTP
into runtime calls and back, nothing more (ARCHITECTURE.md: api/ only translates).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from api import console, openapi
from api.auth import auth_middleware
from api.calls import deadline_middleware
from api.config import Config
from api.docs_viewer import LocalSwagger
from api.errors import EXCEPTION_HANDLERS
from api.limits import BoundedRequest
from api.options import allow_every_method
from api.routes import admin, approvals, definitions, guide, inbound, ops, records, system
from api.server import Server
from runtime.clock import Clock
from runtime.sessions import console_secret

VERSION = "0.5.0"


def create_app(
    config: Config | str | Path | None = None, *, clock: Clock | None = None, **flags: Any
) -> Litestar:
    """Build the app: a Config, or a definitions folder (plus Config.load flags)."""
    if not isinstance(config, Config):
        if config is not None:
            flags["directory"] = Path(config)
        config = Config.load(**flags)
    server = Server(config, clock)

    async def start(app: Litestar) -> None:
        server.start_background()
        server.start_watching(app)
        gc.collect()
        gc.freeze()  # long-lived start-up objects out of the collector's way (p99)

    async def stop(_: Litestar) -> None:
        await server.stop_watching()
        server.close()

    app = Litestar(
        route_handlers=[
            *system.ROUTES,
            *records.ROUTES,
            *inbound.ROUTES,
            *ops.ROUTES,
            *definitions.ROUTES,
            *admin.ROUTES,
            *guide.ROUTES,
            *approvals.ROUTES,
            *console.routers(),
        ],
        template_config=console.template_config(),
        csrf_config=console.csrf_config(console_secret(server.store, server.clock.now())),
        state=State({"server": server}),
        # The deadline first, so that authenticating is within the request's time too.
        middleware=[deadline_middleware(config.request_timeout), auth_middleware()],
        request_class=BoundedRequest,
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="sopflow",
            version=VERSION,
            description="Records, stages, evidence, alerts and metrics of the bundle being served.",
            path="/schema",
            # Swagger UI from local files at /schema/swagger and /schema itself; the
            # document stays at /schema/openapi.json (added by Litestar).
            render_plugins=[LocalSwagger()],
        ),
        on_startup=[start],
        on_shutdown=[stop],
        request_max_body_size=config.max_body_bytes,
        logging_config=None,
    )
    allow_every_method(app)
    openapi.follow(app, server)
    return app
