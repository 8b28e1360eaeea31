"""What browser tests share: the live server's facts and the helpers a test calls.

(A module of its own, not conftest.py: pytest loads a conftest under another module name
than a test's `import`, which would give the test a second, empty STAFF.)
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from runtime.demo import DemoPlan

REPO = Path(__file__).resolve().parents[2]
DEFINITIONS = REPO / "definitions"
# `make screenshots` writes the committed ones (docs/screenshots, shown in the README and
# docs/console.md); `make test` writes to var/screenshots, leaving the repository alone.
SCREENSHOTS = Path(os.environ.get("SOPFLOW_SCREENSHOTS") or REPO / "var" / "screenshots")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "browser-test-password"
# A quarter of 90 days in seconds; a quarter of the leads made opportunities (the default
# 3% gives ~4: too few for a funnel or a dwell heatmap worth looking at).
PLAN = DemoPlan(seed=1, leads=120, tickets_per_day=1, opportunity_share=0.25)
BLOCKING = ("serious", "critical")
STAFF: dict[str, str] = {}  # role -> user of the demo staff (filled by `live`)


def png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (11, 87, 208)) -> bytes:
    """Return a real PNG image of one colour (the runtime reads what a file really is)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@dataclass
class Live:
    """The live server: its address and the demo staff (role -> user)."""

    url: str
    host: str
    staff: dict[str, str] = field(default_factory=dict)
    app: Any = None

    def runtime(self) -> Any:
        """The live server's runtime (to set data up as a person of the demo staff would)."""
        return self.app.state.server.runtime


def sign_in(page: Page, role: str, password: str = PASSWORD) -> str:
    """Sign in as the demo `role` (rep, manager, analyst) through the form; return the user."""
    user = STAFF[role]
    if "/sign-in" not in page.url:  # else the form at hand (it carries `next`)
        page.goto("/sign-in")
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation(wait_until="commit"):
        page.get_by_role("button", name="Sign in").click()
    return user


def shoot(page: Page, name: str, *, phone: bool = False, full: bool = True) -> Path:
    """Save a screenshot to SCREENSHOTS/<name>.png (full page; phone: 390x844)."""
    if phone:
        page.set_viewport_size(PHONE)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full, animations="disabled")
    assert path.stat().st_size > 1000, f"the screenshot {path} is empty"
    if phone:
        page.set_viewport_size(DESKTOP)
    return path


_AXE = Axe()


def check_a11y(page: Page) -> None:
    """Run axe-core on the page; fail on any serious or critical violation, listing each."""
    results = _AXE.run(page)
    violations = results.response["violations"]
    bad = [v for v in violations if v.get("impact") in BLOCKING]
    lines = []
    for v in bad:
        targets = "; ".join(", ".join(n["target"]) for n in v["nodes"][:8])
        lines.append(f"{v['impact']} {v['id']}: {v['help']} -> {targets}")
    assert not bad, f"axe-core on {page.url}:\n" + "\n".join(lines) + page.content()[:500]
