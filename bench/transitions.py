"""Stage transitions per second through the full runtime path, against a raw-driver floor.

Each operation is `Runtime.transition` on a generated six-stage workflow (every stage
checks required fields, one evidence requirement satisfied beforehand, a guard, and
has an SLA): load the record, check the move, its roles, fields, evidence and guard,
close the stage stay, write the audit event, open the next stay, move the SLA timer
to the next stage's deadline (updated in place), save the record with its version
check, commit. The floor is one INSERT + COMMIT per operation with the bare driver on
the same database kind, in the same run: stdlib sqlite3 on a file with the same
pragmas, and psycopg on the same PostgreSQL server. Target (issue 14): the transition
rate is at least 0.15 of the floor's.

On SQLite two more variants run in the same rounds: the issue's lean schema replayed in
bare SQL (`bench/transitions_lean.py`), the most any store schema allows a move, and
the runtime on a store file in RAM (tmpfs), where writing costs almost nothing: what the
runtime's own work allows, whatever the schema.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Json
from sqlalchemy import func, select

from bench import runtime_bundles as rb
from bench.common import BenchError, Machine, Result, load, md_table, rate, verdict
from bench.runtime_support import (
    PG_URL,
    RATE_HEADER,
    Hotspots,
    PostgresFloor,
    SqliteFloor,
    Variant,
    count_statements,
    floor_rows,
    hotspots,
    postgres_problem,
    postgres_schema,
    postgres_settings,
    profile_markdown,
    race,
    rate_rows,
    sqlite_connect,
    statement_kinds,
)
from bench.transitions_lean import LEAN, LeanMover, ram_dir
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import T_EVENT, T_TIMER, Store

NAME = "transitions"
TITLE = "Stage transitions: full-path Runtime.transition vs one INSERT + COMMIT"
TARGET_RATIO = 0.15
MOVES = len(rb.STAGES) - 1  # each record goes qualify -> ... -> closing
JPEG = b"\xff\xd8\xff\xe0" + b"benchmark photo"
SOPFLOW = "sopflow Runtime.transition"
RAW_SQL = "same SQL as a transition, bare driver"
IN_RAM = "sopflow Runtime.transition, store file in RAM (tmpfs)"


class Driver:
    """Creates deals with their evidence (untimed) and moves them through the stages."""

    def __init__(self, store: Store, root: Path) -> None:
        bundle = rb.compiled(root / "bundle")
        self.store = store
        self.rt = Runtime(bundle, store, FakeClock(), evidence_dir=root / "evidence")
        self.created = 0
        self.moved = 0

    def prepare(self, n: int) -> list[str]:
        """Create `n` deals in the first stage, each with its site photo attached."""
        ids = []
        for _ in range(n):
            i = self.created
            view = self.rt.create("deal", rb.deal(i), actor=rb.ACTOR)
            photo = JPEG + i.to_bytes(4, "big")  # distinct content: one blob each
            self.rt.attach_evidence(
                view.id,
                rb.EVIDENCE_KIND,
                photo,
                file_name=f"site-{i}.jpg",
                media_type="image/jpeg",
                actor=rb.ACTOR,
            )
            ids.append(view.id)
            self.created += 1
        return ids

    def move_all(self, ids: list[str]) -> int:
        """Move every record one stage at a time to the last stage; return the moves."""
        transition, actor = self.rt.transition, rb.ACTOR
        for target in rb.STAGES[1:]:
            for record_id in ids:
                view = transition(record_id, target, actor=actor)
                if view.stage != target:
                    raise BenchError(f"{record_id} is in {view.stage}, not {target}")
        self.moved += len(ids) * MOVES
        return len(ids) * MOVES

    def variant(self, records: int, name: str = SOPFLOW) -> Variant:
        """A timed batch: `records` fresh deals, each moved five times."""

        def prepare() -> Any:
            ids = self.prepare(records)
            return lambda: self.move_all(ids)

        return Variant(name, prepare, records * MOVES)

    def check(self) -> None:
        """Check the store: one pending SLA timer per record, one event per move."""
        with self.store.read() as conn:
            pending = conn.execute(
                select(func.count()).select_from(T_TIMER).where(T_TIMER.c.fired.is_(False))
            ).scalar_one()
            moves = conn.execute(
                select(func.count()).select_from(T_EVENT).where(T_EVENT.c.kind == "stage_changed")
            ).scalar_one()
        if pending != self.created or moves != self.moved:
            raise BenchError(
                f"expected {self.created} pending SLA timers and {self.moved} stage changes, "
                f"found {pending} and {moves}"
            )


class RawMover:
    """The same statements as one transition, sent through the bare driver.

    What a move costs when only its SQL is paid for: the record read, the evidence
    count, closing the stage stay (one UPDATE ... RETURNING) and opening the next,
    moving the SLA timer to the next stage's deadline (in place) and dropping any
    other, the audit event and the versioned record update of the changed columns,
    then COMMIT, with the least Python around them (no rule checks, no SQLAlchemy).
    Its rate over the floor's is the most this statement mix allows.
    """

    def __init__(self, driver: Driver, backend: str, connect: Any) -> None:
        self.driver = driver
        self.postgres = backend == "postgresql"
        self.conn = connect()
        self.now = driver.rt.clock.now()

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    def _time(self, value: datetime) -> Any:
        return value if self.postgres else value.strftime("%Y-%m-%d %H:%M:%S.%f")

    def _json(self, value: Any) -> Any:
        return Json(value) if self.postgres else json.dumps(value)

    def _when(self, value: Any) -> datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)

    def move(self, record_id: str, target: str) -> None:
        """Move one record to `target` in its own transaction."""
        run, now, actor = self.conn.execute, self.now, rb.ACTOR
        prepared: dict[str, Any] = {"prepare": True} if self.postgres else {}
        if not self.postgres:
            run("BEGIN IMMEDIATE")
        row = run(
            self._sql(
                "SELECT row_version, stage, data, owner, entity, workflow, stage_entered_at "
                "FROM sf_record WHERE id = ?"
            ),
            (record_id,),
            **prepared,
        ).fetchone()
        version, source, data, owner, entity, workflow, entered = row
        data = data if isinstance(data, dict) else json.loads(data)
        files = run(
            self._sql(
                "SELECT id, kind, media_type, sha256 FROM sf_evidence WHERE record_id = ? "
                "ORDER BY uploaded_at, id"
            ),
            (record_id,),
            **prepared,
        ).fetchall()
        if not {sha for _, kind, _, sha in files if kind == rb.EVIDENCE_KIND}:
            raise BenchError(f"{record_id} has no {rb.EVIDENCE_KIND}")
        dwell = (now - self._when(entered)).total_seconds()
        run(
            self._sql(
                "UPDATE sf_stage_history SET left_at = ?, to_stage = ?, dwell_seconds = ?, "
                "left_by = ?, outcome = NULL, owner = ? WHERE id = (SELECT id FROM "
                "sf_stage_history WHERE record_id = ? AND left_at IS NULL LIMIT 1) "
                "RETURNING id, entered_at"
            ),
            (self._time(now), target, dwell, actor, owner, record_id),
            **prepared,
        ).fetchall()
        detail = {"workflow": workflow, "source": source, "target": target, "dwell_seconds": dwell}
        run(
            self._sql(
                "INSERT INTO sf_event (at, record_id, entity, kind, actor, bundle_hash, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)"
            ),
            (self._time(now), record_id, entity, "stage_changed", actor, "raw", self._json(detail)),
            **prepared,
        )
        run(
            self._sql(
                "INSERT INTO sf_stage_history (record_id, entity, workflow, stage, from_stage, "
                "entered_at, actor, owner, region, evidence_ids) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            (
                record_id,
                entity,
                workflow,
                target,
                source,
                self._time(now),
                actor,
                owner,
                data.get("region"),
                self._json([]),
            ),
            **prepared,
        )
        due = now + timedelta(days=3)
        payload = {"stage": target, "workflow": workflow, "due": due.isoformat()}
        kept = run(
            self._sql(
                "UPDATE sf_timer SET due_at = ?, ref = ?, payload = ? WHERE record_id = ? "
                "AND kind = 'sla_breach' AND fired = ? RETURNING id"
            ),
            (self._time(due), target, self._json(payload), record_id, False),
            **prepared,
        ).fetchall()
        if len(kept) != 1:
            raise BenchError(f"{record_id} has {len(kept)} pending SLA breach timers, not 1")
        run(
            self._sql(
                "DELETE FROM sf_timer WHERE record_id = ? AND kind IN ('sla_breach', "
                "'sla_remind') AND fired = ? AND id <> ?"
            ),
            (record_id, False, kept[0][0]),
            **prepared,
        )
        changed = run(
            self._sql(
                "UPDATE sf_record SET updated_at = ?, row_version = ?, stage = ?, "
                "stage_entered_at = ? WHERE id = ? AND row_version = ?"
            ),
            (self._time(now), version + 1, target, self._time(now), record_id, version),
            **prepared,
        ).rowcount
        if changed != 1:
            raise BenchError(f"{record_id} changed under the raw mover")
        if self.postgres:
            self.conn.commit()
        else:
            run("COMMIT")

    def move_all(self, ids: list[str]) -> int:
        """Move every record one stage at a time to the last stage; return the moves."""
        for target in rb.STAGES[1:]:
            for record_id in ids:
                self.move(record_id, target)
        self.driver.moved += len(ids) * MOVES
        return len(ids) * MOVES

    def variant(self, records: int) -> Variant:
        """A timed batch: `records` fresh deals (made by the runtime), each moved five times."""

        def prepare() -> Any:
            ids = self.driver.prepare(records)
            return lambda: self.move_all(ids)

        return Variant(RAW_SQL, prepare, records * MOVES)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


@dataclass
class Side:
    """One database's figures."""

    backend: str
    description: str
    floor: Variant
    sopflow: Variant
    raw: Variant
    statements: str
    spots: Hotspots | None = None
    extras: list[Variant] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """The transition rate over the floor's (wall-clock medians, same run)."""
        return self.sopflow.wall_rate().median / self.floor.wall_rate().median

    @property
    def raw_ratio(self) -> float:
        """The bare-driver rate of the same SQL over the floor's: this SQL's ceiling."""
        return self.raw.wall_rate().median / self.floor.wall_rate().median


def _floor_variant(name: str, floor: SqliteFloor | PostgresFloor, ops: int) -> Variant:
    def prepare() -> Any:
        rows = floor_rows(ops)
        return lambda: floor.batch(rows)

    return Variant(name, prepare, ops)


@dataclass
class Extras:
    """SQLite's two more variants: the issue's lean schema in bare SQL, the runtime in RAM."""

    lean: LeanMover
    in_ram: Driver | None

    def warm(self, records: int) -> None:
        """Move a few records through each before timing."""
        self.lean.variant(records, MOVES).prepare()()
        if self.in_ram is not None:
            self.in_ram.move_all(self.in_ram.prepare(records))

    def variants(self, records: int) -> list[Variant]:
        """The timed batches, named as the table shows them."""
        found = [self.lean.variant(records, MOVES)]
        if self.in_ram is not None:
            found.append(self.in_ram.variant(records, IN_RAM))
        return found

    def check(self) -> None:
        """Each store holds what its moves wrote."""
        self.lean.check()
        if self.in_ram is not None:
            self.in_ram.check()


def _measure(
    backend: str,
    description: str,
    store: Store,
    floor: SqliteFloor | PostgresFloor,
    connect: Callable[[], Any],
    root: Path,
    records: int,
    floor_ops: int,
    repeats: int,
    profile_top: int,
    extras: Extras | None = None,
) -> Side:
    driver = Driver(store, root)
    raw = RawMover(driver, backend, connect)
    try:
        warm = max(records // 10, 2)
        driver.move_all(driver.prepare(warm))  # warm-up: caches, first pages
        raw.move_all(driver.prepare(warm))
        if extras is not None:
            extras.warm(warm)
        floor.batch(floor_rows(50))
        driver_name = "sqlite3" if backend == "sqlite" else "psycopg"
        floor_variant = _floor_variant(f"raw {driver_name} INSERT + COMMIT", floor, floor_ops)
        sop, same_sql = driver.variant(records), raw.variant(records)
        more = extras.variants(records) if extras is not None else []
        race([floor_variant, sop, same_sql, *more], repeats)
    finally:
        raw.close()
    ids = driver.prepare(min(records, 20))
    with count_statements(store.engine) as sent:
        driver.move_all(ids)
    statements = statement_kinds(sent, len(ids) * MOVES)
    spots = None
    if profile_top:
        ids = driver.prepare(records)
        spots = hotspots(lambda: driver.move_all(ids), records * MOVES, top=max(profile_top, 20))
    driver.check()
    if extras is not None:
        extras.check()
    if floor.count() != 50 + floor_ops * repeats:
        raise BenchError(f"the {backend} floor table holds {floor.count()} rows")
    return Side(backend, description, floor_variant, sop, same_sql, statements, spots, more)


def _sqlite_raw(path: Path) -> sqlite3.Connection:
    conn = sqlite_connect(path)
    conn.isolation_level = None  # BEGIN IMMEDIATE ... COMMIT sent by hand, as the store does
    return conn


def _sqlite(tmp: Path, records: int, floor_ops: int, repeats: int, profile_top: int) -> Side:
    store = Store.open(f"sqlite:///{tmp / 'sopflow.db'}")
    floor = SqliteFloor(tmp / "floor.db")
    lean = LeanMover(tmp / "lean.db")
    ram = ram_dir()
    ram_root = Path(tempfile.mkdtemp(prefix="sopflow-bench-ram-", dir=ram)) if ram else None
    in_ram_store = Store.open(f"sqlite:///{ram_root / 'sopflow.db'}") if ram_root else None
    try:
        in_ram = None
        if in_ram_store is not None and ram_root is not None:
            rb.write_transitions_bundle(ram_root / "bundle")
            in_ram = Driver(in_ram_store, ram_root)
        return _measure(
            "sqlite",
            "SQLite file, WAL, synchronous=NORMAL",
            store,
            floor,
            lambda: _sqlite_raw(tmp / "sopflow.db"),
            tmp,
            records,
            floor_ops,
            repeats,
            profile_top,
            Extras(lean, in_ram),
        )
    finally:
        floor.close()
        lean.close()
        store.dispose()
        if in_ram_store is not None:
            in_ram_store.dispose()
        if ram_root is not None:
            shutil.rmtree(ram_root, ignore_errors=True)


def _postgres(
    url: str, tmp: Path, records: int, floor_ops: int, repeats: int, profile_top: int
) -> Side:
    with postgres_schema(url, "bench_transitions") as schema:
        store = Store.open(url, schema=schema)
        floor = PostgresFloor(url, schema)
        try:
            return _measure(
                "postgresql",
                postgres_settings(url),
                store,
                floor,
                lambda: psycopg.connect(url, options=f"-csearch_path={schema}"),
                tmp,
                records,
                floor_ops,
                repeats,
                profile_top,
            )
        finally:
            floor.close()
            store.dispose()


def run(
    records: int = 200,
    repeats: int = 7,
    floor_ops: int = 5_000,
    *,
    machine: Machine,
    postgres_url: str | None = PG_URL,
    pg_records: int = 100,
    pg_floor_ops: int = 1_000,
    profile_top: int = 0,
) -> Result:
    """Measure transitions and the floor on SQLite, then on PostgreSQL when it answers."""
    loads = [load()]
    tmp = Path(tempfile.mkdtemp(prefix="sopflow-bench-transitions-"))
    sides: list[Side] = []
    skipped = ""
    try:
        rb.write_transitions_bundle(tmp / "bundle")
        sides.append(_sqlite(tmp, records, floor_ops, repeats, profile_top))
        problem = postgres_problem(postgres_url) if postgres_url else "no URL given"
        if problem is None and postgres_url:
            sides.append(
                _postgres(postgres_url, tmp, pg_records, pg_floor_ops, repeats, profile_top)
            )
        else:
            skipped = f"PostgreSQL was not measured: {problem}."
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    loads.append(load())
    return report(sides, skipped, repeats, loads, machine, profile_top)


def _extras_lines(sides: list[Side]) -> list[str]:
    """What the lean schema and the store in RAM show, when they ran (SQLite)."""
    lines = []
    for s in sides:
        floor = s.floor.wall_rate().median
        ratios = {v.name: v.wall_rate().median / floor for v in s.extras}
        if LEAN in ratios:
            lines.append(
                "- The issue's lean store replayed in bare SQL (`bench/transitions_lean.py`: "
                "the record updated with compare-and-set on stage and version, one event row "
                "per move that carries the stay it closes, the SLA timer updated in place, "
                "and only the indexes its reads need, none of them for reports) runs at "
                f"{ratios[LEAN]:.3f}x the floor: the most a store schema allows a move here."
            )
        if IN_RAM in ratios:
            lines.append(
                "- The same runtime on a store file in RAM (tmpfs: writing a page costs a "
                f"memory copy, nothing waits on a disk) runs at {ratios[IN_RAM]:.3f}x the "
                "floor: what the runtime's own Python (loading the record, the move, role, "
                "field, evidence and guard checks, the SLA deadline, rules, routing, alerts, "
                "the audit) allows, whatever the schema or the disk. A store schema that "
                "wrote nothing at all could not lift the transition above it."
            )
    return lines


def report(
    sides: list[Side],
    skipped: str,
    repeats: int,
    loads: list[str],
    machine: Machine,
    profile_top: int,
) -> Result:
    """Build the console lines and the Markdown section."""
    passed = all(s.ratio >= TARGET_RATIO for s in sides)
    target = "transitions/s >= 0.15x one INSERT + COMMIT (SQLite and PostgreSQL)"
    lines: list[tuple[str, str]] = []
    summary = []
    for s in sides:
        sop, floor = s.sopflow.wall_rate().median, s.floor.wall_rate().median
        lines += [
            (f"{s.backend} floor", f"{rate(floor)} INSERT + COMMIT"),
            (f"{s.backend} transitions", f"{rate(sop)} = {s.ratio:.3f}x the floor"),
            (
                f"{s.backend} same SQL, bare driver",
                f"{rate(s.raw.wall_rate().median)} = {s.raw_ratio:.3f}x the floor",
            ),
            (f"{s.backend} statements / move", s.statements),
        ]
        summary.append(f"{s.backend}: {rate(sop)} against {rate(floor)}, {s.ratio:.3f}x")
        if s.spots is not None:
            lines += [(f"{s.backend} {k}", v) for k, v in s.spots.lines()]
    if skipped:
        lines.append(("postgresql", skipped))
    parts = [
        f"## {TITLE}",
        "",
        f"Measured {machine.line()}; 1-minute load average {' -> '.join(loads)}.",
        "",
        f"- Target: {target}. Result: **{verdict(passed)}**: {'; '.join(summary)}."
        + (f" {skipped}" if skipped else ""),
        "- Each operation is `Runtime.transition(record, next_stage, actor=rep)` on a generated "
        f"six-stage workflow (`bench/runtime_bundles.py`): {' -> '.join(rb.STAGES)}. Every "
        "stage requires two fields, one evidence kind (one photo attached before timing "
        "satisfies all), a guard (`amount > 1000000 and tier != 'VIP'`, message rendered) "
        "and a 3-day SLA whose breach notifies the owner's manager. One move: load the "
        "record, check the move, roles, fields, evidence and guard, close the stage stay, "
        "audit event, open the next stay, move the SLA timer to the next deadline (in place), "
        "save the record (row-version check), commit.",
        f"- The floor is one INSERT + COMMIT per operation with the bare driver on the same "
        "kind of database, timed in the same rounds: stdlib `sqlite3` on its own file with "
        "the store's pragmas (WAL, synchronous=NORMAL), `psycopg` on the same PostgreSQL "
        "server (a prepared INSERT into a BIGSERIAL + JSONB table). Rates are operations "
        "per second of wall-clock time (a database waits on I/O; on PostgreSQL most of "
        "the work is in the server's process); medians of "
        f"{repeats} rounds, floor and runtime alternating. Records are created and their "
        "evidence attached before each timed batch, untimed; the cyclic GC stays on.",
        "- A third variant sends the same statements as one transition through the bare "
        "driver (`RawMover`: record read, evidence count, close and open the stage stay, "
        "move the SLA timer in place, audit event, versioned record update, COMMIT) with "
        "the least Python around them: its ratio to the floor is the most this statement "
        "mix allows, whatever the runtime does in Python. "
        + "; ".join(
            f"{'SQLite' if s.backend == 'sqlite' else 'PostgreSQL'}: {s.raw_ratio:.3f}x the "
            f"floor, and sopflow runs at {s.ratio / s.raw_ratio:.3f}x of it"
            for s in sides
        )
        + ".",
        "- Checked after the run: one pending SLA timer per record, one `stage_changed` "
        "event per move (runtime and bare-driver moves alike), every floor row present.",
        *_extras_lines(sides),
    ]
    for s in sides:
        title = "SQLite" if s.backend == "sqlite" else "PostgreSQL"
        parts += [
            "",
            f"### {title}: {s.description}",
            "",
            f"SQL per move (besides the COMMIT): {s.statements}.",
            "",
            md_table(RATE_HEADER, rate_rows([s.floor, s.sopflow, s.raw, *s.extras], s.floor.name)),
        ]
    for s in sides:
        if s.spots is not None:
            title = "SQLite" if s.backend == "sqlite" else "PostgreSQL"
            parts += ["", f"### Where a transition's time goes ({title})", ""]
            parts += profile_markdown(s.spots, "transitions", min(profile_top, 12))
    data: dict[str, Any] = {  # plain data: a Result crosses a process boundary
        "sides": {
            s.backend: {
                "floor": s.floor.wall_rate(),
                "sopflow": s.sopflow.wall_rate(),
                "raw": s.raw.wall_rate(),
                "raw_ratio": s.raw_ratio,
                "extras": {v.name: v.wall_rate() for v in s.extras},
                "ops": (s.floor.ops, s.sopflow.ops),
                "statements": s.statements,
                "profiled": s.spots is not None,
            }
            for s in sides
        },
        "ratios": {s.backend: s.ratio for s in sides},
        "skipped": skipped,
    }
    return Result(NAME, TITLE, target, passed, lines, "\n".join(parts), data)
