"""The API docs viewer: Swagger UI at /schema (and /schema/swagger), from local assets.

Litestar's viewers load their scripts, styles and icon from a CDN; this one loads
swagger-ui-dist from the console's static files (api/console/static/swagger/README.md says
which version), so it works on a machine with no network. Its page has a language, a
title, landmarks and a way back to the console (checked by axe-core in tests/browser).
The page fetches `/schema/openapi.json` (a signed-in session may GET it; API clients
send a token), the document it shows, rather than carrying a copy of it.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import SwaggerRenderPlugin

STATIC = "/static"
FAVICON = f'<link rel="icon" type="image/svg+xml" href="{STATIC}/favicon.svg">'

# Swagger UI's own greys and greens are too faint for WCAG AA (axe-core says which);
# the bar is the console's. Swagger UI brings its own <main>.
STYLE = """<style>
body { margin: 0; background: #fff; }
.docs-top { display: flex; gap: 1.25rem; align-items: center; padding: .5rem 1rem;
  background: #16202e; color: #fff; font-family: system-ui, sans-serif; }
.docs-top a { color: #fff; }
.docs-top .brand { font-weight: 700; font-size: 1.15rem; text-decoration: none; }
.swagger-ui .opblock-tag small, .swagger-ui .opblock .opblock-summary-description,
.swagger-ui .info .base-url, .swagger-ui .parameter__in, .swagger-ui .prop-format,
.swagger-ui .response-col_links { color: #3b4151; }
.swagger-ui .info .title small pre { background: #4d5561; }
.swagger-ui .info .title small.version-stamp pre { background: #146c2e; }
.swagger-ui .info .url, .swagger-ui .info a { color: #0b57d0; }
.swagger-ui .json-schema-2020-12-expand-deep-button { color: #3b4151; }
.swagger-ui .opblock .opblock-summary-method { color: #fff; background: #1b1f24; }
.swagger-ui .opblock.opblock-get .opblock-summary-method { background: #0b57d0; }
.swagger-ui .opblock.opblock-post .opblock-summary-method { background: #146c2e; }
.swagger-ui .opblock.opblock-put .opblock-summary-method,
.swagger-ui .opblock.opblock-patch .opblock-summary-method { background: #7a4b00; }
.swagger-ui .opblock.opblock-delete .opblock-summary-method { background: #b3261e; }
</style>"""


class LocalSwagger(SwaggerRenderPlugin):
    """Swagger UI from `/static/swagger/` (no CDN), in a page with the console's bar."""

    def __init__(self, path: str | list[str] = "/swagger") -> None:
        super().__init__(
            path=path,
            js_url=f"{STATIC}/swagger/swagger-ui-bundle.js",
            css_url=f"{STATIC}/swagger/swagger-ui.css",
            # Not loaded (no top bar, see render); set so nothing points at a CDN.
            standalone_preset_js_url=f"{STATIC}/swagger/swagger-ui-bundle.js",
            favicon=FAVICON,
            style=STYLE,
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """Return the viewer's page; it fetches the document (the signed-in session may)."""
        title = escape(f"{openapi_schema['info']['title']} API")
        document = escape(self.get_openapi_json_route(request))
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title} · sopflow</title>{self.favicon}"
            f'<link rel="stylesheet" href="{self.css_url}">{self.style}'
            f'<script src="{self.js_url}"></script></head>'
            '<body><header class="docs-top"><a class="brand" href="/">sopflow</a>'
            '<nav aria-label="Main"><a href="/">Back to the console</a></nav></header>'
            f'<div id="swagger-container" data-document="{document}"></div><script>'
            "window.ui = SwaggerUIBundle({url: document.getElementById('swagger-container')"
            ".dataset.document, dom_id: '#swagger-container', showExtensions: true,"
            " showCommonExtensions: true, presets: [SwaggerUIBundle.presets.apis],"
            # No deep links (a link inside each operation's button), no server picker
            # (one server, this one; its select has no label): axe-core finds both.
            " deepLinking: false, plugins: [() => ({wrapComponents: {ServersContainer:"
            " () => () => null}})], validatorUrl: null});"
            "</script></body></html>"
        ).encode()
