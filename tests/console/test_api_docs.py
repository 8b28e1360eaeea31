"""The API docs viewer: local assets only, for a signed-in browser; the document for clients."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

ADDRESS = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def test_the_viewer_loads_only_local_assets(console: Callable[..., Any]) -> None:
    _, client = console("li.wei")
    for path in ("/schema", "/schema/swagger"):
        page = client.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 200, page.text
        assert '<html lang="en">' in page.text
        addresses = ADDRESS.findall(page.text)
        assert "/static/swagger/swagger-ui-bundle.js" in addresses
        assert all(a.startswith("/") and not a.startswith("//") for a in addresses), addresses
        assert "cdn" not in page.text.lower().split("<body>")[0]
        assert 'data-document="/schema/openapi.json"' in page.text  # what it fetches
    assert client.get("/schema/openapi.json").status_code == 200  # ... and may
    for asset in ("/static/swagger/swagger-ui-bundle.js", "/static/swagger/swagger-ui.css"):
        answer = client.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 100_000, asset
    assert client.get("/static/favicon.svg").status_code == 200


def test_a_browser_nobody_signed_in_to_goes_to_sign_in(console: Callable[..., Any]) -> None:
    _, client = console()
    page = client.get("/schema/swagger", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code in (302, 303, 307)
    assert page.headers["location"] == "/sign-in?next=%2Fschema%2Fswagger"
    # An API client still gets the JSON 401 (tests/api/test_openapi.py has the document's).
    answer = client.get("/schema/swagger", headers={"Accept": "application/json"})
    assert answer.status_code == 401 and "token" in answer.json()["detail"]


def test_the_sign_in_page_is_html_to_a_browser(console: Callable[..., Any]) -> None:
    """Served as text/html (as JSON, a browser showed the page's source)."""
    _, client = console()
    for path in ("/sign-in", "/sign-in?next=%2Fschema"):
        page = client.get(path, headers={"Accept": "text/html"})
        assert page.headers["content-type"].startswith("text/html"), path
    wrong = client.post("/sign-in", data={"user": "li.wei", "password": "x" * 9})
    assert wrong.headers["content-type"].startswith("text/html")
