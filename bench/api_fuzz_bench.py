"""Schemathesis against a live `sopflow serve` on the default bundle (issue 10, item 8).

The server runs as `make run` would start it (uvicorn, a SQLite file, no watching) in
its own process; schemathesis reads the OpenAPI document it serves and calls every
operation over HTTP (bench/api_fuzz.py: coverage and fuzzing phases, deterministic)
with more examples per operation than the suite's run. The figures: requests sent,
server errors, answers that contradict the document, valid requests refused. The
target is zero of each.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import api_fuzz
from bench.common import BenchError, Machine, Result, md_table
from engine.compiler.pipeline import compile_bundle
from runtime.clock import SystemClock
from runtime.store import Store

NAME = "api_fuzz"
TITLE = "Schemathesis against a live server: the OpenAPI document tells the truth"
TARGET = "0 server errors, 0 answers contradicting the document, 0 valid requests refused"
REPO = Path(__file__).resolve().parent.parent
SEED = 20261204


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Live:
    """`sopflow serve` on a copy of the default bundle, a SQLite file in `root`."""

    def __init__(self, root: Path) -> None:
        self.directory = root / "definitions"
        shutil.copytree(REPO / "definitions", self.directory)
        self.database = f"sqlite:///{root / 'sopflow.db'}"
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "SOPFLOW_DATABASE_URL": self.database,
            "SOPFLOW_EVIDENCE_DIR": str(root / "evidence"),
            "SOPFLOW_MAILBOX_DIR": str(root / "mailbox"),
            "SOPFLOW_PORT": str(self.port),
        }
        self.log = (root / "server.log").open("w")
        cmd = [sys.executable, "-m", "api.cli", "serve", str(self.directory), "--no-watch"]
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=self.log, text=True
        )
        self._wait()

    def _wait(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"sopflow serve exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise BenchError(f"sopflow serve did not get ready within {timeout:.0f} s")

    def close(self) -> None:
        """Stop the server (SIGTERM, graceful), then close its log."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def measure(max_examples: int, seed: int = SEED, path_regex: str | None = None) -> api_fuzz.Outcome:
    """Serve the default bundle, run schemathesis against it, stop the server."""
    with tempfile.TemporaryDirectory(prefix="sopflow-fuzz-") as tmp:
        live = Live(Path(tmp))
        store = Store.open(live.database)
        try:
            bundle = compile_bundle(live.directory).bundle
            if bundle is None:
                raise BenchError("the default bundle does not compile")
            caller = api_fuzz.Caller(store, bundle, SystemClock())
            schema = api_fuzz.live(live.url, caller, max_examples, seed)
            if path_regex is not None:
                schema = schema.include(path_regex=path_regex)
            started = time.perf_counter()
            outcome = api_fuzz.fuzz(schema)
            outcome.seconds = time.perf_counter() - started
        finally:
            store.dispose()
            live.close()
    return outcome


def run(max_examples: int, machine: Machine, path_regex: str | None = None) -> Result:
    """Run the benchmark; passed when nothing was found."""
    outcome = measure(max_examples, path_regex=path_regex)
    passed = not outcome.findings and not outcome.errors and outcome.server_errors == 0
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(outcome.statuses.items()))
    lines = [
        ("examples per operation and phase", str(max_examples)),
        ("operations", str(len(outcome.operations))),
        ("requests", str(outcome.requests)),
        ("answers by status", statuses),
        ("server errors (5xx)", str(outcome.server_errors)),
        ("answers contradicting the document", str(outcome.contradictions)),
        ("valid requests refused", str(outcome.refused)),
        ("engine errors", str(len(outcome.errors))),
        ("time", f"{outcome.seconds:.0f} s"),
    ]
    found = [f"- {f.line()[:400]}" for f in outcome.findings[:20]]
    found += [f"- engine: {e.splitlines()[0][:200]}" for e in outcome.errors[:10]]
    markdown = "\n\n".join(
        [
            f"## {TITLE}\n\nMeasured {machine.line()}. Target: {TARGET}.",
            "`sopflow serve` on the default bundle (SQLite, no watching); schemathesis "
            f"{_version()} reads `/schema/openapi.json` and calls every operation over "
            "HTTP: coverage and fuzzing phases, deterministic (seed "
            f"{SEED}), checks not_a_server_error, status_code_conformance, "
            "content_type_conformance, response_schema_conformance and "
            "positive_data_acceptance, as an API user holding every role "
            "(bench/api_fuzz.py). The suite runs the same with fewer examples, "
            "in-process (tests/api/test_api_fuzz.py).",
            md_table(["figure", "value"], lines),
            ("Findings:\n\n" + "\n".join(found)) if found else "Findings: none.",
            (
                f"Not drawn: {len(outcome.limits)} negative case(s) past the 100000-character "
                "bound of text (hypothesis draws no string that long); "
                f"{outcome.mixed} case(s) schemathesis called positive with a negative part "
                f"and {outcome.unsayable} refusal(s) of a rule JSON Schema cannot say (`to` "
                "before `from`; a `ref` naming no stored record) were not counted as refused."
            ),
        ]
    )
    return Result(
        name=NAME,
        title=TITLE,
        target=TARGET,
        passed=passed,
        lines=lines,
        markdown=markdown,
        data={"outcome": outcome},
    )


def _version() -> str:
    from importlib.metadata import version  # noqa: PLC0415

    return version("schemathesis")
