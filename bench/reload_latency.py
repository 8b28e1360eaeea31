"""Hot reload: time from a file save to the new Bundle serving, under a request load (P9).

A `sopflow` server (uvicorn, the app of `create_app`, SQLite, watching its folder) runs
in its own process on a copy of the default bundle. A load generator in another
process sends requests without pause on loopback (alternately reading the version
served and creating a lead) and counts every failed request. Meanwhile this process
edits `rules/lead_scoring.yaml` N times (a different scoring weight each time, saved
the way editors do: a temp file renamed over the old one) and polls
`GET /api/v1/definitions` until the served hash changes: that is one latency, file
save to the new Bundle serving, observed through the API. The server's own reload
time (compile + pre-flight + swap, from `GET /api/v1/definitions/reload`) is reported
next to it. Target: every reload under 500 ms, and zero failed requests.
"""

from __future__ import annotations

import multiprocessing
import shutil
import socket
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx

from bench.common import BenchError, Machine, Result, load, md_table, seconds, verdict

NAME = "reload_latency"
TITLE = "Hot reload: file save to the new Bundle serving, under load"
TARGET_SECONDS = 0.500
DEFINITIONS = Path(__file__).resolve().parent.parent / "definitions"
SCORING = "rules/lead_scoring.yaml"
WEIGHT = 'purchase_frequency: {value: "clamp(orders_90d / 12, 0, 1)", weight: 0.14,'
PAUSE = 0.15  # seconds between edits: each reload is observed alone


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(directory: str, database: str, port: int) -> None:
    """Run the server (in a child process)."""
    import uvicorn  # noqa: PLC0415

    from api.app import create_app  # noqa: PLC0415
    from api.config import Config  # noqa: PLC0415

    app = create_app(
        Config.under(
            Path(database).parent,
            directory=Path(directory),
            database_url=f"sqlite:///{database}",
            background=False,
            watch=True,
            log_format="text",
        )
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def _load(url: str, token: str, stop: Event, counts: Any) -> None:
    """Send requests until `stop` (in a child process); count sent and failed ones."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        while not stop.is_set():
            for create in (False, True):
                try:
                    if create:
                        data = {"source": "web_form", "external_id": uuid.uuid4().hex}
                        answer = client.post(
                            "/api/v1/records/lead", json={**data, "pharmacy_name": "Load"}
                        )
                    else:
                        answer = client.get("/api/v1/definitions")
                    failed = answer.status_code >= 400
                except httpx.HTTPError:
                    failed = True
                with counts.get_lock():
                    counts[0] += 1
                    counts[1] += int(failed)


def _token(directory: Path, database: Path) -> str:
    """Create the store and an admin token before the server starts."""
    from engine.compiler.pipeline import compile_bundle  # noqa: PLC0415
    from runtime.access import create_token  # noqa: PLC0415
    from runtime.clock import SystemClock  # noqa: PLC0415
    from runtime.store import Store  # noqa: PLC0415

    bundle = compile_bundle(directory).bundle
    if bundle is None:
        raise BenchError("the default bundle does not compile")
    store = Store.open(f"sqlite:///{database}")
    try:
        _, token = create_token(store, bundle, "admin", SystemClock().now())
    finally:
        store.dispose()
    return token


@dataclass
class Measured:
    """What the edits gave."""

    latencies: list[float]
    server_ms: list[float]
    requests: int
    failed: int


def _wait_ready(client: httpx.Client, deadline: float = 30.0) -> str:
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        try:
            answer = client.get("/api/v1/definitions")
            if answer.status_code == 200:
                return str(answer.json()["hash"])
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise BenchError("the server did not start")


def _save(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)


def _edit_and_observe(
    client: httpx.Client, file: Path, base: str, n: int, hash_: str
) -> tuple[float, str]:
    weight = f"weight: {0.20 + n / 1000:.3f},"
    _save(file, base.replace(WEIGHT, WEIGHT.replace("weight: 0.14,", weight)))
    saved = time.perf_counter()
    while True:
        now = client.get("/api/v1/definitions").json()["hash"]
        if now != hash_:
            return time.perf_counter() - saved, str(now)
        if time.perf_counter() - saved > 10:
            raise BenchError(f"edit {n}: the new bundle was not served within 10 s")
        time.sleep(0.002)


def measure(root: Path, edits: int) -> Measured:
    """Start the server and the load, make the edits, return what was seen."""
    directory = root / "definitions"
    shutil.copytree(DEFINITIONS, directory)
    database = root / "sopflow.db"
    token = _token(directory, database)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    context = multiprocessing.get_context("spawn")
    server = context.Process(target=_serve, args=(str(directory), str(database), port))
    server.start()
    stop = context.Event()
    counts = context.Array("q", [0, 0])
    loader = context.Process(target=_load, args=(url, token, stop, counts))
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            current = _wait_ready(client)
            loader.start()
            while counts[0] < 50:
                time.sleep(0.01)
            file = directory / SCORING
            base = file.read_text(encoding="utf-8")
            if WEIGHT not in base:
                raise BenchError(f"{SCORING} no longer holds the weight this benchmark edits")
            latencies, server_ms = [], []
            for n in range(edits):
                took, current = _edit_and_observe(client, file, base, n, current)
                latencies.append(took)
                report = client.get("/api/v1/definitions/reload").json()
                server_ms.append(float(report["duration_ms"]))
                time.sleep(PAUSE)
        stop.set()
        loader.join(timeout=30)
        return Measured(latencies, server_ms, int(counts[0]), int(counts[1]))
    finally:
        stop.set()
        for process in (loader, server):
            if process.is_alive():
                process.terminate()
            if process.pid is not None:
                process.join(timeout=30)


def run(edits: int = 20, *, machine: Machine) -> Result:
    """Measure `edits` reloads of the default bundle under load."""
    loads = [load()]
    root = Path(tempfile.mkdtemp(prefix="sopflow-bench-reload-"))
    try:
        measured = measure(root, edits)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    loads.append(load())
    return report(measured, loads, machine)


def report(m: Measured, loads: list[str], machine: Machine) -> Result:
    """Build the console lines and the Markdown section."""
    median, worst = statistics.median(m.latencies), max(m.latencies)
    inside = statistics.median(m.server_ms) / 1000
    passed = worst < TARGET_SECONDS and m.failed == 0
    target = f"every reload under {seconds(TARGET_SECONDS)}, 0 failed requests"
    lines = [
        ("save -> serving, median", seconds(median)),
        ("save -> serving, max", seconds(worst)),
        ("server reload (compile+preflight+swap), median", seconds(inside)),
        ("requests during the reloads", f"{m.requests:,} ({m.failed} failed)"),
    ]
    rows = [
        ["file save -> new bundle serving (median)", seconds(median)],
        ["file save -> new bundle serving (min)", seconds(min(m.latencies))],
        ["file save -> new bundle serving (max)", seconds(worst)],
        ["inside the server: compile + pre-flight + swap (median)", seconds(inside)],
        ["requests sent during the reloads", f"{m.requests:,}"],
        ["failed requests", str(m.failed)],
    ]
    markdown = "\n\n".join(
        [
            f"## {TITLE}",
            f"Measured {machine.line()}; load average {loads[0]} before, {loads[1]} after.",
            f"Target: {target}. Result: **{verdict(passed)}**.",
            md_table(["measure", "value"], rows),
            f"{len(m.latencies)} edits of `{SCORING}` (a scoring weight) in a copy of the "
            "default bundle, each saved as editors do (temp file renamed over the old one), "
            "served by a separate uvicorn process (SQLite, `watch_debounce_ms` 50) while a "
            "load generator in a third process reads the version served and creates leads "
            "without pause on loopback. The latency is observed through the API: from the "
            "save until `GET /api/v1/definitions` answers the new hash (polled every 2 ms). "
            "It includes the watcher's debounce (50 ms) and the OpenAPI rebuild.",
        ]
    )
    return Result(
        NAME,
        TITLE,
        target,
        passed,
        lines,
        markdown,
        {
            "latencies": m.latencies,
            "server_ms": m.server_ms,
            "requests": m.requests,
            "failed": m.failed,
        },
    )
