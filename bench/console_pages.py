"""The web console on the demo quarter: server-side time of each page, p50 and p90.

A full run (`make bench`) serves the default bundle on a demo database of 100,000 leads
(var/demo.db, or the file $SOPFLOW_BENCH_DEMO_DB names, when it holds a demo of that many
leads; else a fresh quarter in a temporary folder: about 2.5 minutes more) and asks each
console page `repeats` times as the signed-in demo rep, manager or analyst, in process
(Litestar's TestClient: the server's work plus microseconds of in-memory transport). The
baseline, measured in the same run, is the JSON API's first page of the rep's leads
(`GET /api/v1/records/lead`). Targets (issue 13): every page's p50 under 300 ms, the
record page's under 100 ms.
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import BenchError, Machine, Result, load, md_table
from engine.compiler.pipeline import compile_bundle
from runtime.demo import DemoPlan, demo_staff, is_demo, run_demo
from runtime.sessions import set_password
from runtime.store import Store

NAME = "console_pages"
TITLE = "The web console: pages on the demo quarter (server side)"
FULL = 100_000
PAGE_MS = 300.0
RECORD_MS = 100.0
ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS = ROOT / "definitions"
PASSWORD = "bench-password"
CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def _leads(store: Store) -> int:
    from sqlalchemy import func, select  # noqa: PLC0415

    from runtime.store import T_RECORD  # noqa: PLC0415

    with store.read() as conn:
        return int(
            conn.execute(select(func.count()).where(T_RECORD.c.entity == "lead")).scalar_one()
        )


@contextmanager
def _database(leads: int) -> Iterator[Path]:
    """Yield a demo database of `leads` leads: var/demo.db if it is one, else a new one."""
    bundle = compile_bundle(DEFINITIONS).bundle
    if bundle is None:
        raise BenchError("the default bundle does not compile")
    made = Path(os.environ.get("SOPFLOW_BENCH_DEMO_DB") or ROOT / "var" / "demo.db")
    if made.exists():
        store = Store.open(f"sqlite:///{made}")
        fits = is_demo(store) and _leads(store) == leads
        store.engine.dispose()
        if fits:
            yield made
            return
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.db"
        store = Store.open(f"sqlite:///{db}")
        run_demo(bundle, store, DemoPlan(seed=1, leads=leads), evidence_dir=f"{tmp}/evidence")
        store.engine.dispose()
        yield db


def _client(db: Path, tmp: Path) -> tuple[Any, dict[str, str], Any]:
    from litestar.testing import TestClient  # noqa: PLC0415

    from api.app import create_app  # noqa: PLC0415
    from api.config import Config  # noqa: PLC0415

    config = Config.under(
        tmp, directory=DEFINITIONS, database_url=f"sqlite:///{db}", background=False, watch=False
    )
    app = create_app(config)
    server = app.state.server
    staff = {p.role: p.user for p in demo_staff(server.bundle, server.store)}
    for user in staff.values():
        set_password(server.store, server.bundle, user, PASSWORD, server.clock.now())
    return TestClient(app), staff, server


def _sign_in(client: Any, user: str) -> None:
    client.cookies.clear()
    form = client.get("/sign-in").text
    token = CSRF.search(form)
    if token is None:
        raise BenchError("the sign-in page has no CSRF token")
    answer = client.post(
        "/sign-in",
        data={"user": user, "password": PASSWORD, "next": "/", "_csrf_token": token.group(1)},
        follow_redirects=False,
    )
    if answer.status_code != 303:
        raise BenchError(f"could not sign in as {user}: {answer.status_code}")


def _time(
    client: Any, path: str, repeats: int, headers: dict[str, str] | None = None
) -> list[float]:
    took = []
    for _ in range(repeats + 2):  # the first two warm the caches
        started = time.perf_counter()
        answer = client.get(path, headers=headers or {})
        took.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise BenchError(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
    return took[2:]


def _a_record(server: Any, entity: str, owner: str) -> str:
    from sqlalchemy import select  # noqa: PLC0415

    from runtime.store import T_RECORD  # noqa: PLC0415

    with server.store.read() as conn:
        found = conn.execute(
            select(T_RECORD.c.id)
            .where(T_RECORD.c.entity == entity, T_RECORD.c.owner == owner)
            .order_by(T_RECORD.c.id.desc())
            .limit(1)
        ).scalar()
    if found is None:
        raise BenchError(f"the demo gave {owner} no {entity}")
    return str(found)


def _pages(server: Any, staff: dict[str, str]) -> list[tuple[str, str, str]]:
    """Return (who, label, path) for every page measured."""
    rep = staff["rep"]
    lead = _a_record(server, "lead", rep)
    try:
        deal = _a_record(server, "opportunity", rep)
    except BenchError:
        deal = None
    pages = [
        ("rep", "home", "/"),
        ("rep", "records index", "/records"),
        ("rep", "lead list", "/records/lead"),
        (
            "manager",
            "lead list (team), sorted by quality score",
            "/records/lead?sort=-field.quality_score",
        ),
        (
            "manager",
            "lead list, a range filter",
            "/records/lead?field.quality_score.from=60&field.quality_score.to=80",
        ),
        ("rep", "record page (lead)", f"/records/lead/{lead}"),
        ("manager", "funnel", "/funnel"),
        ("manager", "dwell heatmap by week", "/dwell"),
        ("manager", "dwell heatmap by team", "/dwell?view=team"),
        ("manager", "forecast", "/forecast"),
        ("manager", "alerts inbox", "/alerts"),
        ("analyst", "definitions", "/definitions"),
        ("analyst", "one workflow", "/definitions/workflows/pharmacy_visit"),
    ]
    if deal is not None:
        pages.insert(5, ("rep", "record page (opportunity)", f"/records/opportunity/{deal}"))
    return pages


def run(*, leads: int, repeats: int, machine: Machine) -> Result:
    """Time every console page on a demo quarter of `leads` leads."""
    rows: list[list[str]] = []
    lines: list[tuple[str, str]] = []
    misses: list[str] = []
    with _database(leads) as db, tempfile.TemporaryDirectory() as tmp:
        client, staff, server = _client(db, Path(tmp))
        with client:
            _sign_in(client, staff["rep"])
            base = statistics.median(_time(client, "/api/v1/records/lead?limit=50", repeats))
            rows.append(["rep", "baseline: JSON API, first 50 leads", f"{base:.1f}", "-", "1.0"])
            signed = "rep"
            for who, label, path in _pages(server, staff):
                if who != signed:
                    _sign_in(client, staff[who])
                    signed = who
                took = _time(client, path, repeats)
                p50 = statistics.median(took)
                p90 = statistics.quantiles(took, n=10)[-1] if len(took) > 1 else p50
                limit = RECORD_MS if label.startswith("record page") else PAGE_MS
                if p50 >= limit:
                    misses.append(f"{label} {p50:.0f} ms >= {limit:.0f}")
                rows.append(
                    [
                        who,
                        f"{label} (`{_generic(path)}`)",
                        f"{p50:.1f}",
                        f"{p90:.1f}",
                        f"{p50 / base:.1f}",
                    ]
                )
                lines.append((label, f"p50 {p50:.1f} ms, p90 {p90:.1f} ms"))
        server.close()
    passed = not misses
    markdown = "\n".join(
        [
            f"## {TITLE}",
            "",
            f"Measured {machine.line()} (load {load()});",
            f"a demo quarter of {leads:,} leads (SQLite, seed 1), {repeats} requests a page after",
            "two warm-up requests, in process (Litestar's TestClient), signed in through the",
            "sign-in form as the demo rep (the one holding most open records), their manager",
            "or an analyst. Ratio: p50 over the baseline's p50, measured in the same run.",
            f"Targets: every page's p50 under {PAGE_MS:.0f} ms, the record page's under "
            f"{RECORD_MS:.0f} ms: " + ("met." if passed else "**missed**: " + "; ".join(misses)),
            "",
            md_table(["as", "page", "p50 ms", "p90 ms", "x baseline"], rows),
            "",
        ]
    )
    target = f"p50 < {PAGE_MS:.0f} ms a page, record page < {RECORD_MS:.0f} ms"
    return Result(NAME, TITLE, target, passed, lines=lines, markdown=markdown)


def _generic(path: str) -> str:
    return re.sub(r"/records/(\w+)/[\w-]{8,}", r"/records/\1/{id}", path)
