"""Transitions from several threads at once: how a store's throughput scales with writers.

Issue 14 welcomes group commit "where it helps throughput under concurrency". Whether
it could help is a measurement: the same `Runtime.transition` workload as the
`transitions` benchmark (`bench/runtime_bundles.py`, six stages, evidence, a guard and
an SLA per stage), run by 1, 4 and 8 threads sharing one Runtime, as the server's worker
threads share it. Each thread moves its own records through every stage, one move per
transaction; the rate is all moves over the wall-clock time of the slowest thread.

On PostgreSQL a commit waits for the server to flush its WAL, and the server already
flushes the WAL of commits that arrive together once (its WAL writer and `commit_delay`
do it: PostgreSQL's own group commit), so writers' waits overlap. On SQLite (WAL,
synchronous=NORMAL) a commit does not sync the disk at all; there is no flush to share,
and writers take turns on the one write lock.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from bench import runtime_bundles as rb
from bench.common import BenchError, Machine, Result, load, md_table, rate
from bench.runtime_support import PG_URL, postgres_problem, postgres_schema, postgres_settings
from bench.transitions import MOVES, Driver
from runtime.store import Store

NAME = "concurrent_writes"
TITLE = "Concurrent transitions: throughput with 1, 4 and 8 writer threads"


@dataclass
class Scaling:
    """One database's rates per number of threads."""

    backend: str
    description: str
    rates: dict[int, list[float]] = field(default_factory=dict)

    def rate(self, threads: int) -> float:
        """The median rate (moves per second) with `threads` writers."""
        return float(median(self.rates[threads]))


def _round(driver: Driver, threads: int, per_thread: int) -> float:
    """Move `per_thread` fresh records per thread through every stage; return moves/s."""
    batches = [driver.prepare(per_thread) for _ in range(threads)]  # untimed
    failures: list[BaseException] = []
    start = threading.Barrier(threads + 1)

    def work(ids: list[str]) -> None:
        start.wait()
        try:
            for target in rb.STAGES[1:]:
                for record_id in ids:
                    driver.rt.transition(record_id, target, actor=rb.ACTOR)
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=work, args=(ids,)) for ids in batches]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    took = time.perf_counter() - began
    if failures:
        raise BenchError(f"{threads} threads: {failures[0]!r}")
    driver.moved += threads * per_thread * MOVES
    return threads * per_thread * MOVES / took


def _measure(
    backend: str, description: str, store: Store, root: Path, counts: tuple[int, ...], moves: int
) -> Scaling:
    driver = Driver(store, root)
    driver.move_all(driver.prepare(10))  # warm-up
    scaling = Scaling(backend, description)
    for round_ in range(3):
        order = counts if round_ % 2 == 0 else tuple(reversed(counts))
        for threads in order:
            per_thread = max(moves // (threads * MOVES), 1)
            scaling.rates.setdefault(threads, []).append(_round(driver, threads, per_thread))
    driver.check()
    return scaling


def run(
    *,
    moves: int = 2_000,
    threads: tuple[int, ...] = (1, 4, 8),
    machine: Machine,
    postgres_url: str | None = PG_URL,
) -> Result:
    """Measure on SQLite, then on PostgreSQL when it answers."""
    loads = [load()]
    tmp = Path(tempfile.mkdtemp(prefix="sopflow-bench-concurrent-"))
    sides: list[Scaling] = []
    skipped = ""
    try:
        rb.write_transitions_bundle(tmp / "bundle")
        store = Store.open(f"sqlite:///{tmp / 'sopflow.db'}")
        try:
            described = "SQLite file, WAL, synchronous=NORMAL"
            sides.append(_measure("sqlite", described, store, tmp, threads, moves))
        finally:
            store.dispose()
        problem = postgres_problem(postgres_url) if postgres_url else "no URL given"
        if problem is None and postgres_url:
            with postgres_schema(postgres_url, "bench_concurrent") as schema:
                pg = Store.open(postgres_url, schema=schema)
                try:
                    described = postgres_settings(postgres_url)
                    sides.append(_measure("postgresql", described, pg, tmp, threads, moves // 2))
                finally:
                    pg.dispose()
        else:
            skipped = f"PostgreSQL was not measured: {problem}."
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    loads.append(load())
    return _report(sides, threads, skipped, loads, machine)


def _report(
    sides: list[Scaling],
    threads: tuple[int, ...],
    skipped: str,
    loads: list[str],
    machine: Machine,
) -> Result:
    target = "no target; how throughput scales with concurrent writers is reported"
    lines: list[tuple[str, str]] = []
    rows = []
    one = threads[0]
    for s in sides:
        for n in threads:
            scale = s.rate(n) / s.rate(one)
            lines.append((f"{s.backend} {n} threads", f"{rate(s.rate(n))} ({scale:.2f}x)"))
            spread = f"{rate(min(s.rates[n]))} - {rate(max(s.rates[n]))}"
            rows.append([s.backend, str(n), rate(s.rate(n)), spread, f"{scale:.2f}x"])
    if skipped:
        lines.append(("postgresql", skipped))
    described = "; ".join(f"{s.backend}: {s.description}" for s in sides)
    parts = [
        f"## {TITLE}",
        "",
        f"Measured {machine.line()}; 1-minute load average {' -> '.join(loads)}.",
        "",
        f"- {target[0].upper()}{target[1:]}. {skipped}".rstrip(),
        "- Each thread moves its own records (`Runtime.transition`, the `transitions` "
        "benchmark's workflow) through every stage, one move per transaction, all threads "
        "sharing one Runtime as the server's workers do. Rates are moves per second of "
        "wall-clock time, medians of 3 rounds with the thread counts in alternating order; "
        f"the ratio is to {one} thread in the same run. Databases: {described}.",
        "- What it says about group commit: on PostgreSQL a commit waits for the WAL "
        "flush, and the server already flushes the WAL of commits that arrive together "
        "once (its own group commit), so concurrent writers overlap their waits. On "
        "SQLite (WAL, synchronous=NORMAL) a commit does not sync the disk; writers take"
        " turns on its one write lock, and a move is mostly CPU (see `transitions`: the"
        " runtime on a store file in RAM is not much faster than on disk), which the "
        "interpreter runs one thread at a time: more threads only add the cost of "
        "handing the lock and the interpreter from one to the next. Batching several "
        "commands into one commit would save neither a flush nor CPU, and would tie "
        "unrelated commands' fates together (one refused command rolling back the "
        "others' work, or each needing a savepoint), so sopflow does not do it.",
        "- Checked after the run: one pending SLA timer per record and one `stage_changed` "
        "event per move on each database.",
        "",
        md_table(["database", "threads", "median rate", "min - max", "vs 1 thread"], rows),
    ]
    data = {
        "rates": {s.backend: {n: s.rate(n) for n in threads} for s in sides},
        "skipped": skipped,
    }
    return Result(NAME, TITLE, target, None, lines, "\n".join(parts), data)
