"""The issue's lean store, replayed in bare SQL: the most any store schema allows a move.

Issue 14 names a schema that a transition could be written to in bare SQL at 0.15 to
0.29 of one INSERT + COMMIT: the record updated with compare-and-set on its stage and
version, one append-only event row that is also the stage history (the stay it closes
travels in the row), the SLA timer updated in place, and only the indexes its queries
need (records by workflow and stage, a record's events, timers by due time). This
module builds that schema in its own SQLite file, with the store's pragmas, and moves
records through it with the least Python: the read of the record and its evidence,
the event, the timer and the record update, COMMIT. The benchmark times it in the same
rounds as the runtime and the floor, so the gap between this variant and the runtime
is what the runtime's own work costs, whatever the schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import runtime_bundles as rb
from bench.common import BenchError
from bench.runtime_support import Variant, sqlite_connect

LEAN = "lean schema (issue 14), bare driver"
_SCHEMA = (
    "CREATE TABLE record (id TEXT PRIMARY KEY, entity TEXT, workflow TEXT, stage TEXT, "
    "stage_entered_at TEXT, status TEXT, owner TEXT, data TEXT, row_version INTEGER, "
    "updated_at TEXT)",
    "CREATE INDEX record_stage ON record (workflow, status, stage)",
    "CREATE TABLE event (id INTEGER PRIMARY KEY, at TEXT, record_id TEXT, kind TEXT, "
    "actor TEXT, detail TEXT)",
    "CREATE INDEX event_record ON event (record_id)",
    "CREATE TABLE timer (id INTEGER PRIMARY KEY, due_at TEXT, kind TEXT, record_id TEXT, "
    "ref TEXT, fired INTEGER)",
    "CREATE INDEX timer_due ON timer (fired, due_at)",
    "CREATE INDEX timer_record ON timer (record_id)",
    "CREATE TABLE evidence (id TEXT PRIMARY KEY, record_id TEXT, kind TEXT, sha256 TEXT)",
    "CREATE INDEX evidence_record ON evidence (record_id)",
)
_T0 = "2026-01-05 09:00:00.000000"
_LATER = "2026-01-05 10:00:00.000000"
_DUE = "2026-01-08 10:00:00.000000"


class LeanMover:
    """Deals in the lean schema, each with one photo, moved stage by stage."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite_connect(path)
        self.conn.isolation_level = None  # BEGIN IMMEDIATE ... COMMIT by hand
        for statement in _SCHEMA:
            self.conn.execute(statement)
        self.made = 0
        self.moved = 0

    def prepare(self, n: int) -> list[str]:
        """Create `n` deals in the first stage with their photo and timer (untimed)."""
        run, ids = self.conn.execute, []
        run("BEGIN IMMEDIATE")
        for _ in range(n):
            rid = f"{self.made:032x}"
            data = json.dumps(rb.deal(self.made))
            run(
                "INSERT INTO record VALUES (?, 'deal', 'deals', ?, ?, 'open', ?, ?, 1, ?)",
                (rid, rb.STAGES[0], _T0, rb.ACTOR, data, _T0),
            )
            run(
                "INSERT INTO evidence VALUES (?, ?, ?, ?)",
                (f"e{rid}", rid, rb.EVIDENCE_KIND, f"{self.made:064x}"),
            )
            run(
                "INSERT INTO timer (due_at, kind, record_id, ref, fired) "
                "VALUES (?, 'sla_breach', ?, ?, 0)",
                (_DUE, rid, rb.STAGES[0]),
            )
            ids.append(rid)
            self.made += 1
        run("COMMIT")
        return ids

    def move(self, record_id: str, target: str) -> None:
        """One move in its own transaction: read, event, timer, record, COMMIT."""
        run: Any = self.conn.execute
        run("BEGIN IMMEDIATE")
        version, source, entered, owner = run(
            "SELECT row_version, stage, stage_entered_at, owner FROM record WHERE id = ?",
            (record_id,),
        ).fetchone()
        files = run(
            "SELECT id, kind, sha256 FROM evidence WHERE record_id = ?", (record_id,)
        ).fetchall()
        if not files:
            raise BenchError(f"{record_id} has no {rb.EVIDENCE_KIND}")
        stay = {"from": source, "to": target, "entered_at": entered, "owner": owner}
        run(
            "INSERT INTO event (at, record_id, kind, actor, detail) "
            "VALUES (?, ?, 'stage_changed', ?, ?)",
            (_LATER, record_id, rb.ACTOR, json.dumps(stay)),
        )
        if (
            run(
                "UPDATE timer SET due_at = ?, ref = ? WHERE record_id = ? AND fired = 0",
                (_DUE, target, record_id),
            ).rowcount
            != 1
        ):
            raise BenchError(f"{record_id} has no pending timer")
        if (
            run(
                "UPDATE record SET stage = ?, stage_entered_at = ?, row_version = ?, "
                "updated_at = ? WHERE id = ? AND stage = ? AND row_version = ?",
                (target, _LATER, version + 1, _LATER, record_id, source, version),
            ).rowcount
            != 1
        ):
            raise BenchError(f"{record_id} changed under the lean mover")
        run("COMMIT")

    def variant(self, records: int, moves: int) -> Variant:
        """A timed batch: `records` fresh deals, each moved `moves` times."""

        def prepare() -> Any:
            ids = self.prepare(records)

            def batch() -> int:
                for target in rb.STAGES[1 : moves + 1]:
                    for record_id in ids:
                        self.move(record_id, target)
                self.moved += len(ids) * moves
                return len(ids) * moves

            return batch

        return Variant(LEAN, prepare, records * moves)

    def check(self) -> None:
        """Every move left one event; every record one pending timer."""
        events = self.conn.execute("SELECT count(*) FROM event").fetchone()[0]
        timers = self.conn.execute("SELECT count(*) FROM timer WHERE fired = 0").fetchone()[0]
        if events != self.moved or timers != self.made:
            raise BenchError(
                f"lean store: {events} events for {self.moved} moves, "
                f"{timers} timers for {self.made} records"
            )

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def ram_dir() -> Path | None:
    """Return a writable directory in memory (tmpfs), or None when there is none."""
    shm = Path("/dev/shm")
    try:
        probe = shm / "sopflow-bench-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return None
    return shm


__all__ = ["LEAN", "LeanMover", "ram_dir"]
