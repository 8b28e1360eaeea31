"""SLA breach detection: time per `Runtime.tick` with N open records of which 100 are due.

Decision 5 of ARCHITECTURE.md: a breach costs O(due timers), not O(open records). For
each N, a SQLite store is bulk-loaded with sqlite3 directly (not through the runtime,
to keep set-up fast): N open `case` records in the `review` stage of a generated
workflow, each with its SLA timer in `sf_timer`; 100 timers are due, the rest fall due
hours to days later. Each measured tick then does the real work for the 100: claim the
due timers, load each record, check it is still open in the stage, write the
`sla_breached` event, run the stage's `on_breach` actions (a notification to the owner
and their manager: two outbox rows) and mark the timer fired. Before each measured tick
100 other records' timers are re-armed (made due), so every tick fires 100 fresh ones.
Target: the median tick under 50 ms at every N, flat as N grows.
"""

from __future__ import annotations

import gc
import json
import random
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from bench import runtime_bundles as rb
from bench.common import BenchError, Machine, Result, Stats, load, md_table, seconds, timed, verdict
from bench.runtime_support import (
    Hotspots,
    count_statements,
    hotspots,
    profile_markdown,
    statement_kinds,
)
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import T_EVENT, T_OUTBOX, T_RECORD, T_TIMER, Store
from runtime.ticking import TickReport

NAME = "sla_tick"
TITLE = "SLA breach detection: Runtime.tick with 100 due among N open records"
TARGET_SECONDS = 0.050
FLAT_RATIO = 1.5  # "flat": the largest N's median within 1.5x of the smallest N's
START = datetime(2026, 1, 5, 9, 0)
SLA = timedelta(days=2)
RECIPIENTS = 2  # owner and owner.manager
SEED = 20261125


def _stamp(value: datetime) -> str:
    """Format a datetime as SQLAlchemy stores it in SQLite (what its queries compare)."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass
class Loaded:
    """A bulk-loaded store: where it is, and which timers to re-arm for each tick."""

    path: Path
    n: int
    seconds: float
    batches: list[list[int]]  # timer ids; batch 0 is due from the start


def _indexes(conn: sqlite3.Connection, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    marks = ",".join("?" for _ in tables)
    rows = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks})",
        tables,
    ).fetchall()
    return [(str(name), str(sql)) for name, sql in rows]


def _record_rows(ids: list[str], due: dict[int, datetime]) -> Iterator[tuple[Any, ...]]:
    for i, record_id in enumerate(ids):
        entered = due.get(i, START) - SLA
        yield (
            record_id, "case", "case_flow", rb.SLA_STAGE, _stamp(entered), "open",
            rb.SLA_OWNERS[i % len(rb.SLA_OWNERS)], None, None, json.dumps(rb.case(i)), 1, 0,
            1, _stamp(entered), _stamp(entered), None,
        )  # fmt: skip


def _timer_rows(ids: list[str], due: dict[int, datetime]) -> Iterator[tuple[Any, ...]]:
    for i, record_id in enumerate(ids):
        at = due[i]
        payload = {"stage": rb.SLA_STAGE, "workflow": "case_flow", "due": at.isoformat()}
        yield (
            i + 1,
            _stamp(at),
            "sla_breach",
            record_id,
            rb.SLA_STAGE,
            json.dumps(payload),
            0,
            None,
            None,
        )


def bulk_load(path: Path, n: int, due: int, batches: int, first_tick: datetime) -> Loaded:
    """Create the schema (migrations), then load N records and N SLA timers with sqlite3.

    Secondary indexes are dropped during the load and created again afterwards (the
    same statements), which is how a bulk import is done; the data is the same.
    """
    started = time.perf_counter()
    Store.open(f"sqlite:///{path}").dispose()
    rng = random.Random(SEED + n)
    ids = sorted(uuid.UUID(int=rng.getrandbits(128), version=4).hex for _ in range(n))
    chosen = rng.sample(range(n), due * batches)
    plan = [chosen[k * due : (k + 1) * due] for k in range(batches)]
    when: dict[int, datetime] = {
        i: START + timedelta(hours=1, seconds=rng.randrange(2 * 86_400)) for i in range(n)
    }
    for i in plan[0]:
        when[i] = first_tick - timedelta(seconds=30)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        saved = _indexes(conn, ("sf_record", "sf_timer"))
        for name, _ in saved:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO sf_record (id, entity, workflow, stage, stage_entered_at, status, "
            "owner, queue, dedup_key, data, schema_version, read_only, row_version, "
            "created_at, updated_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, ?)",
            _record_rows(ids, when),
        )
        conn.executemany(
            "INSERT INTO sf_timer (id, due_at, kind, record_id, ref, payload, fired, "
            "claimed_by, claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _timer_rows(ids, when),
        )
        conn.execute("COMMIT")
        for _, sql in saved:
            conn.execute(sql)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return Loaded(path, n, time.perf_counter() - started, [[i + 1 for i in b] for b in plan])


def rearm(engine: Engine, timer_ids: list[int], at: datetime) -> None:
    """Make these (future) timers due at `at`."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE sf_timer SET due_at = ? WHERE id = ?", [(_stamp(at), t) for t in timer_ids]
        )


def due_query_plan(engine: Engine, now: datetime) -> str:
    """Return SQLite's plan for the due-timers query the tick runs."""
    query = (
        select(T_TIMER)
        .where(T_TIMER.c.fired.is_(False), T_TIMER.c.due_at <= now)
        .order_by(T_TIMER.c.due_at, T_TIMER.c.id)
        .limit(500)
    )
    compiled = query.compile(engine)
    params = tuple(
        _stamp(v) if isinstance(v, datetime) else v
        for v in (compiled.params[k] for k in compiled.positiontup or ())
    )
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params).all()
    return "; ".join(str(r[-1]) for r in rows)


@dataclass
class Size:
    """The figures at one N."""

    n: int
    load_seconds: float
    ticks: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    idle: list[float] = field(default_factory=list)
    plan: str = ""
    db_bytes: int = 0

    @property
    def stats(self) -> Stats:
        """Wall-clock time per tick with 100 due."""
        return Stats.of(self.ticks)


def _count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _check(report: TickReport, due: int) -> None:
    if report.timers != due or report.failed or report.late:
        raise BenchError(
            f"a tick fired {report.timers} timers ({report.failed} failed, {report.late} late); "
            f"expected {due} on time"
        )


@dataclass
class Extra:
    """What one profiled tick shows."""

    statements: str = ""
    spots: Hotspots | None = None


def measure_size(
    root: Path, n: int, due: int, repeats: int, extra: Extra | None, profile_top: int
) -> Size:
    """Bulk-load N records, then time `repeats` ticks with `due` fresh due timers each."""
    rounds = repeats + 1 + (2 if extra is not None else 0)
    loaded = bulk_load(root / f"sla-{n}.db", n, due, rounds, START)
    store = Store.open(f"sqlite:///{loaded.path}", upgrade=False)
    size = Size(n, loaded.seconds, db_bytes=loaded.path.stat().st_size)
    try:
        bundle = rb.compiled(root / "bundle")
        rt = Runtime(bundle, store, FakeClock(START), evidence_dir=root / "evidence")
        engine = store.engine
        if _count(engine, T_RECORD) != n or _count(engine, T_TIMER) != n:
            raise BenchError(f"the bulk load of {n} records is incomplete")
        size.plan = due_query_plan(engine, START)
        _check(rt.tick(START), due)  # warm-up: the first batch was loaded due
        now = START
        for k in range(1, repeats + 1):
            now += timedelta(minutes=1)
            rearm(engine, loaded.batches[k], now - timedelta(seconds=30))
            gc.collect()
            timing, report = timed(lambda at=now: rt.tick(at))  # type: ignore[misc]
            _check(report, due)
            size.ticks.append(timing.wall)
            size.cpu.append(timing.cpu)
        for _ in range(repeats):
            now += timedelta(minutes=1)
            gc.collect()
            timing, report = timed(lambda at=now: rt.tick(at))  # type: ignore[misc]
            _check(report, 0)
            size.idle.append(timing.wall)
        fired = due * (repeats + 1)
        if extra is not None:
            now += timedelta(minutes=1)
            rearm(engine, loaded.batches[-2], now - timedelta(seconds=30))
            with count_statements(engine) as sent:
                _check(rt.tick(now), due)
            extra.statements = statement_kinds(sent, due)
            fired += due
            if profile_top:
                now += timedelta(minutes=1)
                rearm(engine, loaded.batches[-1], now - timedelta(seconds=30))
                extra.spots = hotspots(lambda at=now: _check(rt.tick(at), due), due, top=20)  # type: ignore[misc]
                fired += due
        breaches = _count(engine, T_EVENT, T_EVENT.c.kind == "sla_breached")
        outbox = _count(engine, T_OUTBOX)
        if breaches != fired or outbox != fired * RECIPIENTS:
            raise BenchError(
                f"N={n}: {breaches} breach events and {outbox} outbox rows; expected "
                f"{fired} and {fired * RECIPIENTS}"
            )
    finally:
        store.dispose()
        loaded.path.unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(f"{loaded.path}{suffix}").unlink(missing_ok=True)
    return size


def run(
    sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000),
    repeats: int = 7,
    due: int = 100,
    *,
    machine: Machine,
    profile_top: int = 0,
) -> Result:
    """Measure the tick at each N (largest N also counts statements and, if asked, profiles)."""
    loads = [load()]
    root = Path(tempfile.mkdtemp(prefix="sopflow-bench-sla-"))
    results: list[Size] = []
    extra = Extra()
    try:
        rb.write_sla_bundle(root / "bundle")
        for n in sizes:
            last = n == max(sizes)
            results.append(
                measure_size(root, n, due, repeats, extra if last else None, profile_top)
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    loads.append(load())
    return report(results, due, repeats, extra, loads, machine, profile_top)


def report(
    sizes: list[Size],
    due: int,
    repeats: int,
    extra: Extra,
    loads: list[str],
    machine: Machine,
    profile_top: int,
) -> Result:
    """Build the console lines and the Markdown section."""
    worst = max(s.stats.median for s in sizes)
    growth = sizes[-1].stats.median / sizes[0].stats.median
    flat = growth <= FLAT_RATIO
    passed = worst < TARGET_SECONDS
    target = f"median tick with {due} due < {seconds(TARGET_SECONDS)} at every N"
    lines = [
        (
            f"N={s.n:,}",
            f"tick {seconds(s.stats.median)} (min {seconds(s.stats.min)}, max "
            f"{seconds(s.stats.max)}; {seconds(s.stats.median / due)} per due timer), idle "
            f"tick {seconds(Stats.of(s.idle).median)}",
        )
        for s in sizes
    ]
    lines += [
        ("growth largest / smallest N", f"{growth:.2f}x ({'flat' if flat else 'NOT flat'})"),
        ("SQL per due timer", extra.statements),
        ("due query plan", sizes[-1].plan),
    ]
    if extra.spots is not None:
        lines += extra.spots.lines()
    rows = [
        [
            f"{s.n:,}",
            seconds(s.stats.median),
            f"{seconds(s.stats.min)} - {seconds(s.stats.max)}",
            seconds(Stats.of(s.cpu).median),
            seconds(s.stats.median / due),
            seconds(Stats.of(s.idle).median),
            f"{s.stats.median / sizes[0].stats.median:.2f}x",
            f"{s.db_bytes / 2**20:,.0f} MiB, {seconds(s.load_seconds)}",
        ]
        for s in sizes
    ]
    header = [
        "open records N",
        f"tick, {due} due (median)",
        "min - max",
        "CPU (median)",
        "per due timer",
        "idle tick (none due)",
        "vs smallest N",
        "store size, bulk load",
    ]
    parts = [
        f"## {TITLE}",
        "",
        f"Measured {machine.line()}; 1-minute load average {' -> '.join(loads)}.",
        "",
        f"- Target: {target}. Result: **{verdict(passed)}**: worst median "
        f"{seconds(worst)}; the largest N takes {growth:.2f}x the smallest N's time "
        f"({'flat' if flat else 'not flat'}: the bound for flat is {FLAT_RATIO}x).",
        "- Store: a SQLite file (WAL, synchronous=NORMAL) per N, schema from the migrations, "
        "bulk-loaded with `sqlite3.executemany` (secondary indexes dropped during the load "
        "and re-created with the same statements): N open `case` records in stage "
        f"`{rb.SLA_STAGE}` of a generated workflow (`bench/runtime_bundles.py`), one "
        "`sla_breach` timer each; the timers not due fall due 1 h to 2 days later.",
        f"- A measured tick is `Runtime.tick(now)` with {due} timers due (on time: 30 s "
        f"old, so no late policy applies). Per due timer it loads the record, checks it is "
        "still open in the stage, writes the `sla_breached` event, runs `on_breach` (a "
        f"notification to the owner and their manager: {RECIPIENTS} outbox rows with "
        "rendered subject and body) and marks the timer fired, all in one transaction "
        "under one savepoint for the batch (redone with one savepoint per timer only if a "
        "timer fails), the timers marked fired in one UPDATE; then the (empty) schedule "
        "and metric-alert passes. "
        f"Before each of the {repeats} measured ticks, {due} other records' timers are "
        "re-armed; one untimed tick first. Times are wall clock; the idle tick is the "
        "same call with nothing due.",
        "- Checked: every tick fired exactly the due timers, none failed or late; the "
        "store holds one `sla_breached` event per fired timer and "
        f"{RECIPIENTS} outbox rows each.",
        f"- SQL per due timer: {extra.statements}. Plan of the due-timers query at the "
        f"largest N: `{sizes[-1].plan}`.",
        "",
        md_table(header, rows),
    ]
    if extra.spots is not None:
        parts += ["", f"### Where a tick's time goes (N = {sizes[-1].n:,})", ""]
        parts += profile_markdown(extra.spots, "due timers (one tick)", min(profile_top, 12))
    data: dict[str, Any] = {
        "sizes": {s.n: s.stats for s in sizes},
        "growth": growth,
        "flat": flat,
        "statements": extra.statements,
    }
    return Result(NAME, TITLE, target, passed, lines, "\n".join(parts), data)
