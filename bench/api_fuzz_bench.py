"""Schemathesis against a live `sopflow serve` on the default bundle (issue 10, item 8).

The server runs as `make run` would start it (uvicorn, no watching) in its own process,
once on a SQLite file and once on PostgreSQL (a fresh schema); schemathesis reads the
OpenAPI document it serves and calls every operation over HTTP (bench/api_fuzz.py:
coverage and fuzzing phases, deterministic) with more examples per operation than the
suite's run. The figures: requests sent, server errors, answers that contradict the
document, valid requests refused. The target is zero of each.
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
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from bench import api_fuzz
from bench.common import BenchError, Machine, Result, md_table
from bench.runtime_support import PG_URL, postgres_problem
from engine.compiler.pipeline import compile_bundle
from runtime.clock import SystemClock
from runtime.db import normalise_url
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
    """`sopflow serve` on a copy of the default bundle and `database` (and `schema`)."""

    def __init__(self, root: Path, database: str, schema: str | None) -> None:
        self.directory = root / "definitions"
        shutil.copytree(REPO / "definitions", self.directory)
        self.database, self.schema = database, schema
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "SOPFLOW_DATABASE_URL": self.database,
            "SOPFLOW_DATABASE_SCHEMA": schema or "",
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


def measure(
    max_examples: int,
    backend: str = "sqlite",
    seed: int = SEED,
    path_regex: str | None = None,
) -> api_fuzz.Outcome:
    """Serve the default bundle on `backend`, run schemathesis against it, stop."""
    with tempfile.TemporaryDirectory(prefix="sopflow-fuzz-") as tmp:
        root = Path(tmp)
        schema_name = f"fuzz_{uuid.uuid4().hex[:12]}" if backend == "postgresql" else None
        url = PG_URL if schema_name else f"sqlite:///{root / 'sopflow.db'}"
        if schema_name:
            with create_engine(normalise_url(url)).begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema_name}"'))
        live = Live(root, url, schema_name)
        store = Store.open(url, schema=schema_name)
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
            if schema_name:
                with create_engine(normalise_url(url)).begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
    return outcome


def run(
    max_examples: int,
    machine: Machine,
    path_regex: str | None = None,
    backends: tuple[str, ...] = ("sqlite", "postgresql"),
) -> Result:
    """Run the benchmark on each backend; passed when nothing was found on any."""
    if "postgresql" in backends and (problem := postgres_problem(PG_URL)):
        raise BenchError(f"PostgreSQL at {PG_URL} cannot be used: {problem}")
    outcomes = {b: measure(max_examples, b, path_regex=path_regex) for b in backends}
    passed = all(
        not o.findings and not o.errors and o.server_errors == 0 for o in outcomes.values()
    )
    figures = [
        ("operations", lambda o: str(len(o.operations))),
        ("requests", lambda o: str(o.requests)),
        ("answers by status", _statuses),
        ("server errors (5xx)", lambda o: str(o.server_errors)),
        ("answers contradicting the document", lambda o: str(o.contradictions)),
        ("valid requests refused", lambda o: str(o.refused)),
        ("engine errors", lambda o: str(len(o.errors))),
        ("time", lambda o: f"{o.seconds:.0f} s"),
    ]
    lines = [("examples per operation and phase", str(max_examples))]
    lines += [
        (f"{label} ({backend})", show(o))
        for backend, o in outcomes.items()
        for label, show in figures
    ]
    rows = [[label, *(show(o) for o in outcomes.values())] for label, show in figures]
    found = [
        f"- {backend}: {f.line()[:400]}" for backend, o in outcomes.items() for f in o.findings[:20]
    ]
    found += [
        f"- {backend} engine: {e.splitlines()[0][:200]}"
        for backend, o in outcomes.items()
        for e in o.errors[:10]
    ]
    limits = sum(len(o.limits) for o in outcomes.values())
    mixed = sum(o.mixed for o in outcomes.values())
    unsayable = sum(o.unsayable for o in outcomes.values())
    markdown = "\n\n".join(
        [
            f"## {TITLE}\n\nMeasured {machine.line()}. Target: {TARGET}.",
            "`sopflow serve` on the default bundle (no watching), on SQLite and on "
            f"PostgreSQL; schemathesis {_version()} reads `/schema/openapi.json` and calls "
            "every operation over HTTP: coverage and fuzzing phases, "
            f"{max_examples} examples per operation and phase, deterministic (seed "
            f"{SEED}), checks not_a_server_error, status_code_conformance, "
            "content_type_conformance, response_schema_conformance and "
            "positive_data_acceptance, as an API user holding every role "
            "(bench/api_fuzz.py). The suite runs the same with fewer examples, "
            "in-process (tests/api/test_api_fuzz.py).",
            md_table(["figure", *outcomes], rows),
            ("Findings:\n\n" + "\n".join(found)) if found else "Findings: none.",
            (
                f"Not drawn: {limits} negative case(s) past the 100000-character bound of "
                f"text (hypothesis draws no string that long). Not counted as refused: "
                f"{mixed} case(s) schemathesis called positive with a negative part, "
                f"{unsayable} refusal(s) of a rule JSON Schema cannot say (`to` before "
                "`from`; a `ref` naming no stored record)."
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
        data={"outcomes": outcomes},
    )


def _statuses(outcome: api_fuzz.Outcome) -> str:
    return ", ".join(f"{code}: {n}" for code, n in sorted(outcome.statuses.items()))


def _version() -> str:
    from importlib.metadata import version  # noqa: PLC0415

    return version("schemathesis")
