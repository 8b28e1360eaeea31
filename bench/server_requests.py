"""HTTP lead creation: sopflow against a hand-written Litestar app doing the same work, under wrk.

Issue 14's row: sopflow's `POST /api/v1/records/lead` (the lead bundle of the
lead-creation benchmark: a 12-field form, a 17-feature score, routing over 100 reps,
audit event and explanations, one SQLite transaction each) against a hand-written
Litestar app's `POST /leads` doing the same work with one INSERT (`bench/lead_baseline.py`:
a pydantic model of the 12 fields, the score and the least-loaded pick written by hand,
one INSERT + COMMIT into a SQLite file in WAL mode); target: sopflow at >= 0.6x its
rate. A Litestar hello-world is measured too, as the floor of the stack, and the
hand-written app also writing the rows sopflow keeps for a lead (`Audited`), as the
floor of sopflow's audit.

Each server runs alone in its own process (`bench/serve_app.py`, uvicorn with uvloop
and httptools, access logs off), pinned to CPU 0; wrk, the load generator, runs in
another process pinned to CPU 1, on loopback. The four are measured in rotating order
in the same run, the lead servers with the same request bodies. A non-2xx answer or a
socket error fails the run, and so does a lead store holding fewer rows than its server
acknowledged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import median

from bench import runtime_bundles as rb
from bench.common import BenchError, Machine, Result, load, md_table, rate, verdict

NAME = "server_requests"
TITLE = "HTTP lead creation (score + routing over 100 reps) vs a hand-written Litestar app"
CONNECTIONS = 16
BODIES = 200
TARGET = 0.6  # sopflow's rate / the hand-written app's (issue 14)
HELLO, LEAD, AUDITED, SOPFLOW = "hello", "lead", "audited", "sopflow"
KINDS = (HELLO, LEAD, AUDITED, SOPFLOW)
PATHS = {HELLO: "/hello", LEAD: "/leads", AUDITED: "/leads", SOPFLOW: "/api/v1/records/lead"}
NAMES = {
    HELLO: "Litestar hello-world (GET /hello)",
    LEAD: "hand-written Litestar POST /leads",
    AUDITED: "hand-written + sopflow's audit rows POST /leads",
    SOPFLOW: "sopflow POST /api/v1/records/lead",
}
STORES = {LEAD: "lead.db", AUDITED: "audited.db", SOPFLOW: "sopflow.db"}


@dataclass
class WrkRun:
    """What one wrk run printed: rate, latency percentiles, failures."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failed: int
    # The server's CPU per request (us) in its event-loop thread and in its other
    # threads (workers), read from /proc around the run; 0 where /proc is missing.
    cpu_loop_us: float = 0.0
    cpu_workers_us: float = 0.0


@dataclass
class Variant:
    """One server under load, its runs."""

    name: str
    runs: list[WrkRun] = field(default_factory=list)

    def med(self, attr: str) -> float:
        return float(median(float(getattr(r, attr)) for r in self.runs))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") else []


def _wait(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"the server on port {port} did not start within {timeout:.0f} s")


class Served:
    """A server process of bench/serve_app.py."""

    def __init__(self, kind: str, root: Path) -> None:
        self.port = _free_port()
        args = [sys.executable, "-m", "bench.serve_app", kind, str(self.port)]
        if kind == SOPFLOW:
            args += [str(root / "bundle"), str(root / STORES[SOPFLOW])]
        elif kind in (LEAD, AUDITED):
            args += [str(root / STORES[kind])]
        self.proc = subprocess.Popen(
            [*_pin(0), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.token = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("token "):
                self.token = line.split(" ", 1)[1].strip()
            if line.startswith("serving"):
                break
        _wait(self.port)

    def cpu(self) -> tuple[float, float] | None:
        """Return the CPU seconds the server's process and its main thread have used."""
        pid = self.proc.pid
        try:
            return _cpu(Path(f"/proc/{pid}/stat")), _cpu(Path(f"/proc/{pid}/task/{pid}/stat"))
        except (OSError, ValueError, IndexError):
            return None

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu(stat: Path) -> float:
    """Return user + system CPU seconds from a /proc stat file (fields 14 and 15)."""
    text = stat.read_text(encoding="ascii")
    fields = text[text.rindex(")") + 2 :].split()  # after the command name: field 3 on
    return (int(fields[11]) + int(fields[12])) / _TICK


def _lua(token: str, bodies: list[str]) -> str:
    quoted = ",\n".join("[==[" + b + "]==]" for b in bodies)
    return f"""
bodies = {{
{quoted}
}}
n = 0
headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {token}"}}
request = function()
  n = n + 1
  return wrk.format("POST", nil, headers, bodies[(n % #bodies) + 1])
end
"""


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    found = re.match(r"([\d.]+)(us|ms|s)", text)
    if not found:
        raise BenchError(f"cannot read a latency from '{text}'")
    return float(found.group(1)) * _UNITS[found.group(2)]


def parse_wrk(out: str) -> WrkRun:
    """Read wrk's --latency output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"\s50%\s+(\S+)", out)
    p99 = re.search(r"\s99%\s+(\S+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not (rps and p50 and p99 and total):
        raise BenchError(f"unexpected wrk output:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = int(non2xx.group(1)) if non2xx else 0
    if errors:
        failed += sum(int(g) for g in errors.groups())
    return WrkRun(
        float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), int(total.group(1)), failed
    )


def wrk(url: str, seconds: float, script: Path | None) -> WrkRun:
    """Run wrk on CPU 1 against `url`."""
    if shutil.which("wrk") is None:
        raise BenchError(
            "wrk is not installed: run 'make bench' (it installs wrk) or apt-get install wrk"
        )
    args = [*_pin(1), "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:.0f}s", "--latency"]
    if script is not None:
        args += ["-s", str(script)]
    done = subprocess.run(
        [*args, url], capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"wrk failed: {done.stderr.strip()}")
    return parse_wrk(done.stdout)


Driver = Callable[[str, float, Path | None], WrkRun]


@dataclass
class Measured:
    """The runs of the servers, the rows each lead store holds, the load averages."""

    variants: dict[str, Variant]
    acknowledged: dict[str, int]
    stored: dict[str, int]
    loads: list[str]


def _count(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(
            conn.execute("SELECT count(*) FROM sf_record WHERE entity = 'lead'").fetchone()[0]
        )


def measure(root: Path, seconds: float, rounds: int, driver: Driver = wrk) -> Measured:
    """Run the servers; each round loads each once, in rotating order. Check that
    no request failed and that each lead store holds every row its server acknowledged."""
    rb.write_lead_bundle(root / "bundle")
    bodies = [json.dumps(b) for b in rb.make_leads(BODIES)]
    served = {kind: Served(kind, root) for kind in KINDS}
    script = root / "create.lua"  # the same requests to every lead server (/leads reads no token)
    script.write_text(_lua(served[SOPFLOW].token, bodies), encoding="utf-8")
    variants = {kind: Variant(NAMES[kind]) for kind in KINDS}
    acknowledged = dict.fromkeys(STORES, 0)
    loads: list[str] = []

    def load_once(kind: str, length: float) -> WrkRun:
        url = f"http://127.0.0.1:{served[kind].port}{PATHS[kind]}"
        before = served[kind].cpu()
        run = driver(url, length, None if kind == HELLO else script)
        after = served[kind].cpu()
        if before and after and run.requests:
            total, loop = ((b - a) * 1e6 / run.requests for a, b in zip(before, after, strict=True))
            run = replace(run, cpu_loop_us=loop, cpu_workers_us=total - loop)
        if run.failed:
            raise BenchError(f"{kind}: {run.failed} failed requests of {run.requests}")
        if kind in acknowledged:
            acknowledged[kind] += run.requests
        return run

    try:
        for kind in KINDS:  # warm up each
            load_once(kind, 1)
        for i in range(rounds):
            turn = i % len(KINDS)
            for kind in KINDS[turn:] + KINDS[:turn]:
                variants[kind].runs.append(load_once(kind, seconds))
            loads.append(load())
    finally:
        for server in served.values():
            server.close()
    stored = {kind: _count(root / name) for kind, name in STORES.items()}
    for kind, rows in stored.items():
        if rows < acknowledged[kind]:
            raise BenchError(f"{kind}: {acknowledged[kind]:,} leads acknowledged, {rows:,} stored")
    return Measured(variants, acknowledged, stored, loads)


def _summary(v: Variant) -> str:
    return f"{rate(v.med('rps'))} p50 {v.med('p50_ms'):.2f} ms p99 {v.med('p99_ms'):.2f} ms"


def _cpu_cell(v: Variant) -> str:
    loop, workers = v.med("cpu_loop_us"), v.med("cpu_workers_us")
    if not loop + workers:
        return "n/a"
    return f"{loop + workers:,.0f} us ({loop:,.0f} + {workers:,.0f})"


def run(seconds: float = 10, rounds: int = 3, *, machine: Machine, driver: Driver = wrk) -> Result:
    """Measure and report."""
    loads = [load()]
    root = Path(tempfile.mkdtemp(prefix="sopflow-bench-http-"))
    try:
        m = measure(root, seconds, rounds, driver)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    loads += m.loads
    hello, lead, audited, sop = (m.variants[k] for k in KINDS)
    h, b, a, s = (v.med("rps") for v in (hello, lead, audited, sop))
    ratio = s / b
    passed = ratio >= TARGET
    target = f"sopflow >= {TARGET}x the hand-written Litestar app's requests/s"
    rows = [
        [
            v.name,
            rate(v.med("rps")),
            f"{v.med('rps') / b:.3f}x",
            f"{v.med('rps') / h:.3f}x",
            f"{v.med('p50_ms'):.2f} ms",
            f"{v.med('p99_ms'):.2f} ms",
            _cpu_cell(v),
            f"{sum(r.requests for r in v.runs):,}",
            str(sum(r.failed for r in v.runs)),
        ]
        for v in (hello, lead, audited, sop)
    ]
    stored = ", ".join(
        f"{NAMES[k].split(' POST')[0]} {m.stored[k]:,} rows for {m.acknowledged[k]:,} acknowledged"
        for k in STORES
    )
    lines = [
        ("hello-world", _summary(hello)),
        ("hand-written lead app", _summary(lead)),
        ("hand-written + sopflow's audit rows", _summary(audited)),
        ("sopflow create", _summary(sop)),
        (f"ratio sopflow / hand-written (target >= {TARGET})", f"{ratio:.3f}x {verdict(passed)}"),
        ("ratio hand-written + audit rows / hand-written", f"{a / b:.3f}x"),
        ("ratio sopflow / hand-written + audit rows", f"{s / a:.3f}x"),
        ("ratio sopflow / hello-world", f"{s / h:.3f}x"),
        ("ratio hand-written / hello-world", f"{b / h:.3f}x"),
        ("leads stored", stored),
        *((f"server CPU a request, {NAMES[k]}", _cpu_cell(m.variants[k])) for k in KINDS),
    ]
    parts = [
        f"## {TITLE}",
        "",
        f"Measured {machine.line()}; 1-minute load average {' -> '.join(loads)} "
        "(before, then after each round).",
        "",
        f"Target (issue 14): {target}. Result: **{verdict(passed)}**: sopflow creates "
        f"**{rate(s)}** leads/s over HTTP against {rate(b)} for the hand-written app: "
        f"**{ratio:.3f}x** (p50 {sop.med('p50_ms'):.2f} ms against "
        f"{lead.med('p50_ms'):.2f} ms). A Litestar hello-world answers {rate(h)}: "
        f"sopflow runs at {s / h:.3f}x of it, the hand-written app at {b / h:.3f}x.",
        "",
        f"The hand-written app also writing the rows sopflow keeps for a lead answers "
        f"{rate(a)}: **{a / b:.3f}x** the hand-written app, before any of sopflow's own "
        f"work; sopflow runs at {s / a:.3f}x of it.",
        "",
        "- Servers: one uvicorn process each (uvloop, httptools, access log off), pinned "
        "to CPU 0; wrk (1 thread, "
        f"{CONNECTIONS} connections, {seconds:.0f} s a run) pinned to CPU 1, on loopback. "
        f"Medians of {rounds} runs per server, the {len(KINDS)} in rotating order, after a "
        "1 s warm-up each. The lead servers get the same requests: bodies cycling through "
        f"{BODIES} generated leads (`bench/runtime_bundles.py`), with a bearer token.",
        "- sopflow: `POST /api/v1/records/lead`, as `sopflow serve` runs it: the token "
        "checked (cached), validation, the 17-feature score, routing over 100 reps, audit "
        "event and explanations, one SQLite (WAL) transaction per request, the record "
        "answered as JSON.",
        "- Hand-written (`bench/serve_app.py` KIND `lead`, `bench/lead_baseline.py`, the "
        "in-process baseline of the lead-creation benchmark): a sync Litestar handler in "
        "a worker thread; the body as a dict, whitespace normalised, validated by a "
        "pydantic model of the 12 fields, the 17-term score and the least-loaded pick "
        f"among the 100 reps (eligible region, match >= {rb.THRESHOLD}) written by hand, "
        "loads in memory, one SQLAlchemy Core INSERT + COMMIT of the record row into a "
        "SQLite file opened as sopflow's (WAL, synchronous=NORMAL, BEGIN IMMEDIATE), "
        "under one lock; 201 with the row's id, score and owner. It checks no token and "
        "writes no audit or explanation.",
        "- Hand-written + sopflow's audit rows (KIND `audited`, `bench/lead_baseline.py` "
        "`Audited`): the same handler also writing, in the same transaction and straight "
        "to the driver, the rows sopflow keeps for a lead: the `created` and `routed` "
        "events, the score's and the routing's explanations as columns (the same sizes "
        "as sopflow's), the owner's load and its load item.",
        "- Server CPU a request: the server process's CPU time over the run (/proc) "
        "divided by the requests answered, split between its event-loop thread (uvicorn, "
        "Litestar, middleware, token check, body decoding, the answer's JSON) and its "
        "other threads (the handlers' work in worker threads: `Runtime.create` and its "
        "transaction for sopflow, the hand-written creation for the baseline); medians "
        "of the runs. sopflow's loop thread spends "
        f"{sop.med('cpu_loop_us'):,.0f} us against {lead.med('cpu_loop_us'):,.0f} us, its "
        f"worker threads {sop.med('cpu_workers_us'):,.0f} us against "
        f"{lead.med('cpu_workers_us'):,.0f} us.",
        f"- Checked: no failed request in any run; each lead store holds at least the "
        f"rows its server acknowledged (warm-up included; a few more may be requests "
        f"still in flight when wrk stopped): {stored}.",
        "",
        md_table(
            [
                "server",
                "requests/s",
                "vs hand-written",
                "vs hello-world",
                "p50",
                "p99",
                "server CPU a request (loop + workers)",
                "requests",
                "failed",
            ],
            rows,
        ),
    ]
    data = {
        "ratio": ratio,
        "ratio_hello": s / h,
        "rates": {k: m.variants[k].med("rps") for k in KINDS},
        "stored": m.stored,
        "acknowledged": m.acknowledged,
    }
    return Result(NAME, TITLE, target, passed, lines, "\n".join(parts), data)
