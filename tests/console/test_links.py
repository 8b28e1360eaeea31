"""Every link a console page shows leads to a page: none answers 404 or 500.

Signed in as a rep, a manager and an analyst, the test follows every same-site link of
every page it reaches (breadth first, each distinct page once, at most PAGES of them)
on a database with records, alerts and a forecast history, and asks each one.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from html import unescape
from typing import Any
from urllib.parse import urldefrag, urlsplit

import pytest

PAGES = 80
HREF = re.compile(r'href="([^"]+)"')
SKIP = ("/static/", "/schema", "/sign-out", "/api/")  # assets, the API docs, the API
ROLES = {"rep": "li.wei", "manager": "zhang.min", "analyst": "ma.lin"}


def _links(html: str) -> list[str]:
    found = []
    for raw in HREF.findall(html):
        href, _ = urldefrag(unescape(raw))
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not href.startswith("/"):
            continue
        if href.startswith(SKIP) or href.endswith(".csv"):
            continue
        found.append(href)
    return found


def _seed(api: Any) -> None:
    """Give the pages records to link: leads routed to li.wei, and one no rep may take."""
    runtime = api.server.runtime
    for n, district in enumerate(["jinjiang", "jinjiang", "nowhere"]):
        data = {
            "source": "meituan",
            "external_id": f"crawl-{n}",
            "pharmacy_name": f"Pharmacy {n}",
            "district": district,
            "specialty": "otc",
        }
        runtime.create("lead", data)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_no_console_link_is_broken(console: Callable[..., Any], role: str) -> None:
    api, client = console(ROLES[role])
    _seed(api)
    seen: set[str] = set()
    queue: deque[tuple[str, str]] = deque([("/", "(start)")])
    broken: list[str] = []
    while queue and len(seen) < PAGES:
        path, source = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        answer = client.get(path, follow_redirects=False)
        if answer.status_code in (404, 500) or answer.status_code >= 500:
            broken.append(f"{path} (linked from {source}): {answer.status_code}")
            continue
        if answer.headers.get("content-type", "").startswith("text/html"):
            assert "Traceback" not in answer.text, path
            queue.extend((link, path) for link in _links(answer.text) if link not in seen)
    assert not broken, "broken console links:\n" + "\n".join(broken)
    assert len(seen) > 10  # the crawl reached the pages, not just home
