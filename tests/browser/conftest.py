"""Browser tests: Debian's Chromium, driven by Playwright, on a live server of demo data.

Per xdist worker (session scope): the default bundle served by uvicorn in a thread on a
free port of 127.0.0.1, on a temporary SQLite database filled by `runtime.demo.run_demo`
(a small plan: seconds), the demo staff (a rep, their manager, an analyst) given console
passwords; and one headless Chromium (/usr/bin/chromium: `make test` installs it with
scripts/ensure-chromium.sh; Playwright's own browser download is never used). Each test
gets a fresh browser context (no cookies) and page.

Helpers (tests/browser/helpers.py): `sign_in(page, role)` through the form as a person would, `shoot(page, name)`
(docs/screenshots/<name>.png), `check_a11y(page)` (axe-core: no serious or critical
violation). The tests are marked `browser`; `make test` runs them after the rest, in one
process, so the suite pays for one demo fill and one browser.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.app import create_app
from runtime.clock import SystemClock
from runtime.demo import demo_staff, run_demo
from runtime.sessions import set_password
from tests.browser.helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DEFINITIONS,
    DESKTOP,
    PASSWORD,
    PLAN,
    STAFF,
    Live,
    png,
)

WAIT = 20_000  # ms an action or expectation may wait (the machine may be busy)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test here `browser`."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="session")
def live() -> Iterator[Live]:
    """Serve the default bundle on a demo database (one per worker)."""
    # SQLite in memory-backed /dev/shm where there is one: the quarter's commits cost no fsync.
    shm = Path("/dev/shm")
    held = tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None, prefix="sopflow-")
    root = Path(held.name)
    app = create_app(
        DEFINITIONS,
        database_url=f"sqlite:///{root / 'demo.db'}",
        evidence_dir=root / "evidence",
        mailbox_dir=root / "mailbox",
        background=False,
        watch=False,
    )
    server = app.state.server
    bundle = server.bundle
    assert bundle is not None, "the default bundle does not compile"
    run_demo(bundle, server.store, PLAN, evidence_dir=str(root / "evidence"))
    now = SystemClock().now()
    staff = {}
    for person in demo_staff(bundle, server.store):
        set_password(server.store, bundle, person.user, PASSWORD, now, by="tests")
        staff[person.role] = person.user
    assert set(staff) == {"rep", "manager", "analyst"}, staff
    STAFF.update(staff)
    sock = _free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the live server did not start"
        time.sleep(0.02)
    yield Live(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", staff, app)
    uv.should_exit = True
    thread.join(timeout=30)
    sock.close()
    server.close()
    held.cleanup()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Debian Chromium per worker (never Playwright's download)."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, live: Live) -> Iterator[Page]:
    """A fresh page (its own cookies) at desktop size, addresses relative to the server."""
    context = browser.new_context(base_url=live.url, viewport=DESKTOP)
    context.set_default_timeout(WAIT)
    expect.set_options(timeout=WAIT)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="session")
def rep_deals(live: Live) -> dict[str, str]:
    """Three opportunities of the demo rep, made through the runtime as the rep: stage -> id.

    The demo's few opportunities may leave the rep none in a stage asking for evidence:
    `appointment` (an SLA of 14 days: a countdown at home), `inventory_count` (nothing
    attached: a move refused, listing each missing kind) and `competitor_analysis` (one
    price comparison missing: attached in the browser, then the move goes through).
    """
    runtime, rep = live.runtime(), live.staff["rep"]
    deals = {}
    for n, stage in enumerate(("appointment", "inventory_count", "competitor_analysis")):
        data = {
            "pharmacy_name": f"Browser Pharmacy {n + 1}",
            "pharmacy_tier": "chain",
            "region": "sichuan",
            "expected_amount": 50_000 + 10_000 * n,
        }
        view = runtime.create("opportunity", data, actor=rep)
        runtime.assign(view.id, user=rep, actor=rep)
        if stage != "appointment":
            runtime.transition(view.id, "inventory_count", actor=rep)
        if stage == "competitor_analysis":
            for i in range(3):
                photo = png(rgb=(40 * i, 120, 90))
                runtime.attach_evidence(
                    view.id, "shelf_photo", photo, file_name=f"shelf-{i}.png", actor=rep
                )
            runtime.attach_evidence(
                view.id, "inventory_list", png(rgb=(9, 9, 9)), file_name="list.png", actor=rep
            )
            runtime.transition(view.id, "competitor_analysis", actor=rep)
        deals[stage] = view.id
    return deals


@pytest.fixture(scope="session")
def forecast_deals(live: Live) -> list[str]:
    """Open distributor deals closing in the coming weeks (the demo makes none): the
    forecast's weeks get deals, a pipeline and a weighted amount."""
    runtime, manager = live.runtime(), live.staff["manager"]
    zone = ZoneInfo(live.app.state.server.bundle.manifest.timezone)
    today = SystemClock().now().replace(tzinfo=UTC).astimezone(zone).date()
    made = []
    for n, region in enumerate(("east", "north", "east", "north")):
        data = {
            "distributor": f"Browser Distributor {n + 1}",
            "region": region,
            "amount": 100_000 * (n + 1),
            "expected_close": (today + timedelta(days=7 * (n + 1))).isoformat(),
        }
        made.append(runtime.create("distributor_deal", data, actor=manager).id)
    return made
