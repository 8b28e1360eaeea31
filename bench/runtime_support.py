"""What the runtime benchmarks share: stores, raw-driver floors, rounds, profiles.

- `sqlite_floor` / `postgres_floor`: one INSERT + COMMIT per operation with the bare
  driver (stdlib sqlite3 with sopflow's pragmas, psycopg), the floor a store write is
  measured against in the same run.
- `race`: timed batches, every variant once per round in rotating order, an untimed
  set-up before each batch.
- `hotspots`: a cProfile of one batch, summed by function and by library.
- `count_statements`: how many SQL statements a batch sends.
"""

from __future__ import annotations

import cProfile
import gc
import json
import os
import pstats
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, event

from bench.common import BenchError, Stats, Timing, md_table, rate, seconds, timed
from runtime.db import normalise_url

PG_URL = os.environ.get(
    "SOPFLOW_BENCH_POSTGRES_URL",
    os.environ.get("SOPFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
ROOT = Path(__file__).resolve().parent.parent


# -- PostgreSQL ---------------------------------------------------------------------------


def postgres_problem(url: str) -> str | None:
    """Return why PostgreSQL at `url` cannot be used (None: it can)."""
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    return None


def postgres_settings(url: str) -> str:
    """Describe the server: version and the settings that bound a commit's cost."""
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        shown = []
        for name in ("fsync", "synchronous_commit", "shared_buffers"):
            row = conn.execute(f"SHOW {name}").fetchone()
            shown.append(f"{name}={row[0] if row else '?'}")
    return f"PostgreSQL {version[0] if version else '?'} ({', '.join(shown)})"


@contextmanager
def postgres_schema(url: str, prefix: str = "bench") -> Iterator[str]:
    """Create a fresh schema for one benchmark and drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def sqlalchemy_url(url: str) -> str:
    """Return the SQLAlchemy URL (psycopg 3 driver) of a plain postgresql:// URL."""
    return normalise_url(url)


# -- the floors --------------------------------------------------------------------------

FLOOR_TABLE = (
    "CREATE TABLE floor_event (id INTEGER PRIMARY KEY, at TEXT NOT NULL, record_id TEXT, "
    "kind TEXT NOT NULL, detail TEXT NOT NULL)"
)
FLOOR_INSERT = "INSERT INTO floor_event (at, record_id, kind, detail) VALUES (?, ?, ?, ?)"


def floor_rows(n: int) -> list[tuple[str, str, str, str]]:
    """Return `n` small audit-like rows (built before timing)."""
    start = datetime(2026, 1, 5, 9, 0)
    rows = []
    for i in range(n):
        at = (start + timedelta(seconds=i)).isoformat(" ")
        detail = json.dumps({"source": "qualify", "target": "discovery", "n": i})
        rows.append((at, uuid.uuid4().hex, "stage_changed", detail))
    return rows


def sqlite_connect(path: Path) -> sqlite3.Connection:
    """Open a SQLite file with sopflow's pragmas (WAL, synchronous=NORMAL)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class SqliteFloor:
    """The SQLite floor: stdlib sqlite3, one INSERT + COMMIT per operation, a file in WAL."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite_connect(path)
        self.conn.execute(FLOOR_TABLE)
        self.conn.commit()

    def batch(self, rows: list[tuple[str, str, str, str]]) -> int:
        """Insert and commit each row on its own; return how many."""
        conn = self.conn
        for row in rows:
            conn.execute(FLOOR_INSERT, row)
            conn.commit()
        return len(rows)

    def count(self) -> int:
        """Return the rows written so far."""
        return int(self.conn.execute("SELECT count(*) FROM floor_event").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


class PostgresFloor:
    """The PostgreSQL floor: psycopg, one INSERT + COMMIT per operation, same server."""

    def __init__(self, url: str, schema: str) -> None:
        self.conn = psycopg.connect(url, options=f"-csearch_path={schema}")
        self.conn.execute(
            "CREATE TABLE floor_event (id BIGSERIAL PRIMARY KEY, at TIMESTAMP NOT NULL, "
            "record_id VARCHAR(32), kind VARCHAR(64) NOT NULL, detail JSONB NOT NULL)"
        )
        self.conn.commit()

    def batch(self, rows: list[tuple[str, str, str, str]]) -> int:
        """Insert and commit each row on its own; return how many."""
        conn = self.conn
        sql = "INSERT INTO floor_event (at, record_id, kind, detail) VALUES (%s, %s, %s, %s)"
        for row in rows:
            conn.execute(sql, row, prepare=True)
            conn.commit()
        return len(rows)

    def count(self) -> int:
        """Return the rows written so far."""
        row = self.conn.execute("SELECT count(*) FROM floor_event").fetchone()
        self.conn.commit()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


# -- timed rounds ------------------------------------------------------------------------


@dataclass
class Variant:
    """One contender: an untimed set-up returning the batch to time, and its op count."""

    name: str
    prepare: Callable[[], Callable[[], Any]]
    ops: int
    samples: list[Timing] = field(default_factory=list)

    def wall_rate(self) -> Stats:
        """Operations per second of wall-clock time, per round."""
        return Stats.of([self.ops / t.wall for t in self.samples])

    def cpu_rate(self) -> Stats:
        """Operations per second of this process's CPU time, per round."""
        return Stats.of([self.ops / max(t.cpu, 1e-9) for t in self.samples])


def race(variants: list[Variant], repeats: int) -> None:
    """Time every variant once per round, rotating the order; set-up is never timed.

    The cyclic GC stays on while timing (a server runs with it), but each batch starts
    after a full collection so one batch's garbage is not collected in the next one.
    """
    for round_ in range(repeats):
        shift = round_ % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            batch = variant.prepare()
            gc.collect()
            timing, done = timed(batch)
            if done != variant.ops:
                raise BenchError(f"{variant.name}: did {done} operations, not {variant.ops}")
            variant.samples.append(timing)


def rate_rows(variants: list[Variant], baseline: str) -> list[list[str]]:
    """Rows of a rates table: rate, spread, time per op, CPU per op, ratio to `baseline`."""
    base = next(v for v in variants if v.name == baseline).wall_rate().median
    rows = []
    for v in variants:
        wall, cpu = v.wall_rate(), v.cpu_rate()
        rows.append(
            [
                v.name,
                f"{v.ops:,} x {wall.n}",
                rate(wall.median),
                f"{rate(wall.min)} - {rate(wall.max)}",
                seconds(1 / wall.median),
                seconds(1 / cpu.median),
                f"{wall.median / base:.3f}x",
            ]
        )
    return rows


RATE_HEADER = [
    "variant",
    "ops x rounds",
    "median rate",
    "min - max rate",
    "time per op",
    "CPU per op",
    "ratio",
]


# -- where the time goes -----------------------------------------------------------------

_LIBRARIES = (
    ("/sqlalchemy/", "SQLAlchemy"),
    ("/pydantic", "pydantic"),
    ("/jinja2/", "jinja2"),
    ("/psycopg", "psycopg"),
    ("/json/", "json"),
    ("/uuid.py", "uuid"),
    (str(ROOT / "runtime") + "/", "sopflow runtime/"),
    (str(ROOT / "engine") + "/", "sopflow engine/"),
    (str(ROOT / "bench") + "/", "benchmark driver"),
)


def library_of(filename: str, function: str) -> str:
    """Name the library a profiled function belongs to."""
    if filename == "~":
        if "sqlite3." in function:
            return "sqlite3 (C: SQLite itself)"
        if "psycopg" in function:
            return "psycopg"
        return "Python built-ins"
    for marker, name in _LIBRARIES:
        if marker in filename:
            return name
    return "Python stdlib / other"


def per_op(calls: float, ops: int) -> str:
    """Format calls per operation: 2 decimals below one (a tick's 3 commits over 100 timers)."""
    value = calls / ops
    return f"{value:.2f}" if value < 1 else f"{value:.1f}"


def _label(filename: str, line: int, function: str) -> str:
    if filename == "~":
        return function
    parts = Path(filename).parts
    if "site-packages" in parts:
        short = "/".join(parts[parts.index("site-packages") + 1 :])
    elif filename.startswith(str(ROOT)):
        short = str(Path(filename).relative_to(ROOT))
    else:
        short = Path(filename).name
    return f"{short}:{line} {function}"


@dataclass
class Hotspots:
    """A profile of one batch: total time, own time by function and by library."""

    ops: int
    total: float
    functions: list[tuple[str, float, float, float]]  # label, own s, cumulative s, calls
    libraries: list[tuple[str, float]]  # library, own s
    cumulative: list[tuple[str, float, float]]  # sopflow function, cumulative s, calls

    def table(self, top: int = 12) -> str:
        """Render the top functions by own time, per operation."""
        rows = [
            [
                f"`{label}`",
                f"{own / self.total:.1%}",
                seconds(own / self.ops),
                seconds(cum / self.ops),
                per_op(calls, self.ops),
            ]
            for label, own, cum, calls in self.functions[:top]
        ]
        return md_table(["function", "own time", "own / op", "cumulative / op", "calls / op"], rows)

    def library_table(self) -> str:
        """Render own time summed by library."""
        rows = [
            [name, f"{own / self.total:.1%}", seconds(own / self.ops)]
            for name, own in self.libraries
        ]
        return md_table(["library", "share of own time", "per op"], rows)

    def sopflow_table(self, top: int = 12) -> str:
        """Render the sopflow functions with the most cumulative time, per operation."""
        rows = [
            [
                f"`{label}`",
                f"{cum / self.total:.1%}",
                seconds(cum / self.ops),
                per_op(calls, self.ops),
            ]
            for label, cum, calls in self.cumulative[:top]
        ]
        return md_table(["sopflow function", "cumulative", "per op", "calls / op"], rows)

    def lines(self, top: int = 8) -> list[tuple[str, str]]:
        """Console lines: the libraries, then the top functions by own time."""
        out = [
            ("profile: " + name, f"{own / self.total:.1%} ({seconds(own / self.ops)}/op)")
            for name, own in self.libraries[:6]
        ]
        out += [
            (
                f"hotspot {k}",
                f"{label}: {own / self.total:.1%} own, {seconds(cum / self.ops)}/op cum",
            )
            for k, (label, own, cum, _) in enumerate(self.functions[:top], 1)
        ]
        return out


def hotspots(batch: Callable[[], Any], ops: int, top: int = 20) -> Hotspots:
    """Profile one batch of `ops` operations with cProfile."""
    profiler = cProfile.Profile()
    gc.collect()
    profiler.runcall(batch)
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in raw.values()) or 1e-9
    by_library: dict[str, float] = {}
    functions = []
    cumulative = []
    runtime_dirs = (str(ROOT / "runtime") + "/", str(ROOT / "engine") + "/")
    for (filename, line, function), (_, calls, tt, ct, _) in raw.items():
        library = library_of(filename, function)
        by_library[library] = by_library.get(library, 0.0) + tt
        label = _label(filename, line, function)
        functions.append((label, tt, ct, float(calls)))
        if filename.startswith(runtime_dirs):
            cumulative.append((label, ct, float(calls)))
    functions.sort(key=lambda row: row[1], reverse=True)
    cumulative.sort(key=lambda row: row[1], reverse=True)
    libraries = sorted(by_library.items(), key=lambda kv: kv[1], reverse=True)
    return Hotspots(ops, total, functions[:top], libraries, cumulative[:top])


def profile_markdown(spots: Hotspots, what: str, top: int) -> list[str]:
    """Markdown paragraphs presenting a profile."""
    return [
        f"Profile of one batch of {spots.ops:,} {what} (cProfile, which inflates Python "
        f"calls against C; shares are of the profiled {seconds(spots.total)}):",
        "",
        spots.library_table(),
        "",
        spots.table(top),
        "",
        spots.sopflow_table(top),
        "",
        "Calls of a generator-based context manager (`unit`, `begin`) count its entry and "
        "its exit. Library shares sum each function's own time; SQLAlchemy's is the Python "
        "that builds, caches and runs statements, sqlite3's the C library doing the work.",
    ]


@contextmanager
def count_statements(engine: Engine) -> Iterator[list[str]]:
    """Collect the SQL statements an engine sends while the block runs."""
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _table_of(words: list[str]) -> str:
    for before in ("FROM", "INTO", "UPDATE"):
        if before in words[:-1]:
            at = words.index(before) + 1
            if "(" in words[at] and "JOIN" in words[at:-1]:  # a table-valued function first
                at = words.index("JOIN", at) + 1
            return words[at].strip('"').split(".")[-1].strip('"')
    return ""


def statement_kinds(sent: list[str], ops: int) -> str:
    """Summarise statements per operation by verb and table (SELECT sf_record, ...)."""
    kinds: dict[str, int] = {}
    for sql in sent:
        words = sql.split()
        upper = [w.upper() for w in words]
        verb = upper[0] if upper else "?"
        if verb == "SELECT" and "COUNT(*)" in sql.upper().replace(" ", ""):
            verb = "SELECT count"
        key = f"{verb} {_table_of(upper).lower()}".strip()
        kinds[key] = kinds.get(key, 0) + 1
    parts = [f"{n / ops:g} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])]
    return ", ".join(parts)
