"""HTTP record creation (score + routing) against a Litestar hello-world, under wrk.

Each server runs alone in its own process (`bench/serve_app.py`, uvicorn with uvloop
and httptools, access logs off), pinned to CPU 0; wrk, the load generator, runs in
another process pinned to CPU 1, on loopback. The hello-world endpoint and sopflow's
`POST /api/v1/records/lead` (the lead bundle of the lead-creation benchmark: a 12-field
form, a 17-feature score, routing over 100 reps, audit event and explanations, one
SQLite transaction each) are measured in rotating order in the same run; the ratio of
their request rates is the figure. A non-2xx answer or a socket error fails the run.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from bench import runtime_bundles as rb
from bench.common import BenchError, Machine, Result, load, md_table, rate

NAME = "server_requests"
TITLE = "HTTP record creation with scoring and routing vs a Litestar hello-world"
CONNECTIONS = 16
BODIES = 200


@dataclass
class WrkRun:
    """What one wrk run printed: rate, latency percentiles, failures."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failed: int


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
        if kind == "sopflow":
            args += [str(root / "bundle"), str(root / "sopflow.db")]
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

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


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


def measure(root: Path, seconds: float, rounds: int) -> tuple[Variant, Variant, int]:
    """Run both servers; each round loads each once (rotating order). Return both and the
    number of leads the sopflow store holds afterwards."""
    rb.write_lead_bundle(root / "bundle")
    bodies = [json.dumps(b) for b in rb.make_leads(BODIES)]
    hello, sop = Served("hello", root), Served("sopflow", root)
    script = root / "create.lua"
    script.write_text(_lua(sop.token, bodies), encoding="utf-8")
    variants = {
        "hello": Variant("Litestar hello-world (GET /hello)"),
        "sopflow": Variant("sopflow POST /api/v1/records/lead"),
    }
    try:
        wrk(f"http://127.0.0.1:{hello.port}/hello", 1, None)  # warm up both
        wrk(f"http://127.0.0.1:{sop.port}/api/v1/records/lead", 1, script)
        for i in range(rounds):
            order = ["hello", "sopflow"] if i % 2 == 0 else ["sopflow", "hello"]
            for kind in order:
                if kind == "hello":
                    run = wrk(f"http://127.0.0.1:{hello.port}/hello", seconds, None)
                else:
                    run = wrk(f"http://127.0.0.1:{sop.port}/api/v1/records/lead", seconds, script)
                if run.failed:
                    raise BenchError(f"{kind}: {run.failed} failed requests of {run.requests}")
                variants[kind].runs.append(run)
    finally:
        hello.close()
        sop.close()
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(root / "sopflow.db") as conn:
        stored = int(conn.execute("SELECT count(*) FROM sf_record").fetchone()[0])
    return variants["hello"], variants["sopflow"], stored


def _summary(v: Variant) -> str:
    return f"{rate(v.med('rps'))} p50 {v.med('p50_ms'):.2f} ms p99 {v.med('p99_ms'):.2f} ms"


def run(seconds: float = 10, rounds: int = 3, *, machine: Machine) -> Result:
    """Measure and report."""
    loads = [load()]
    root = Path(tempfile.mkdtemp(prefix="sopflow-bench-http-"))
    try:
        hello, sop, stored = measure(root, seconds, rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    loads.append(load())
    ratio = sop.med("rps") / hello.med("rps")
    sent = sum(r.requests for r in sop.runs)
    rows = [
        [
            v.name,
            rate(v.med("rps")),
            f"{v.med('p50_ms'):.2f} ms",
            f"{v.med('p99_ms'):.2f} ms",
            f"{sum(r.requests for r in v.runs):,}",
            str(sum(r.failed for r in v.runs)),
        ]
        for v in (hello, sop)
    ]
    lines = [
        ("hello-world", _summary(hello)),
        ("sopflow create", _summary(sop)),
        ("ratio sopflow / hello-world", f"{ratio:.3f}x"),
        (
            "leads stored",
            f"{stored:,} ({sent:,} answered 201 in the timed runs, the rest in the warm-up)",
        ),
    ]
    parts = [
        f"## {TITLE}",
        "",
        f"Measured {machine.line()}; 1-minute load average {' -> '.join(loads)}.",
        "",
        f"- Result: sopflow creates **{rate(sop.med('rps'))}** leads/s over HTTP against "
        f"{rate(hello.med('rps'))} requests/s for a Litestar hello-world: **{ratio:.3f}x**; "
        f"p50 {sop.med('p50_ms'):.2f} ms, p99 {sop.med('p99_ms'):.2f} ms. No target was set; "
        "the ratio is the figure.",
        "- Servers: one uvicorn process each (uvloop, httptools, access log off), pinned "
        "to CPU 0; wrk (1 thread, "
        f"{CONNECTIONS} connections, {seconds:.0f} s a run) pinned to CPU 1, on loopback. "
        f"Medians of {rounds} runs per server in rotating order, after a 1 s warm-up.",
        "- sopflow: `POST /api/v1/records/lead` with a bearer token, bodies cycling "
        f"through {BODIES} generated leads (`bench/runtime_bundles.py`): validation, "
        "the 17-feature score, routing over 100 reps, audit event and explanations, "
        "one SQLite (WAL) transaction per request, as `sopflow serve` runs it.",
        f"- Checked: no failed request in any run; the store holds {stored:,} leads.",
        "",
        md_table(["server", "requests/s", "p50", "p99", "requests", "failed"], rows),
    ]
    data = {"ratio": ratio, "stored": stored}
    return Result(
        NAME, TITLE, "no target; ratio to hello-world reported", None, lines, "\n".join(parts), data
    )
