"""Crash safety: a worker process killed with SIGKILL at random moments loses nothing it
acknowledged, doubles nothing it delivered, and fires the timers that fell due while dead.

The worker (crash_worker.py) runs a fixed stream of commands against a real store and
journals each command after it committed. The test kills it a few times, restarts it
(it continues the stream, its fake clock jumping forward by a gap each restart), lets the
last run finish and drain the outbox, then compares the journal with the database.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from crash_worker import EXITS, clock_at, read_journal
from sqlalchemy import select

from runtime.outbox import mailbox_file_name, pending_count
from runtime.store import T_EVENT, T_EVIDENCE, T_OUTBOX, T_RECORD, T_STAY, T_TIMER, Store

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("crash_worker.py")
KILLS = 4
TAIL = 60  # commands the last run executes after the last acknowledged one
SLA_EVENT = {"sla_remind": "sla_reminder", "sla_breach": "sla_breached"}
SLA_NOTIFIES = {("ticket", "sla_remind"), ("opportunity", "sla_breach")}
LATE_GRACE = timedelta(minutes=5)
BOOT_TIMEOUT = 120.0  # a hang guard, not a timing assertion


@dataclass
class Dirs:
    """Where one test's worker keeps its files."""

    root: Path

    @property
    def journal(self) -> Path:
        return self.root / "journal.jsonl"

    @property
    def mailbox(self) -> Path:
        return self.root / "mailbox"

    def args(self, url: str, schema: str | None) -> list[str]:
        return [
            sys.executable,
            str(WORKER),
            url,
            schema or "-",
            str(ROOT / "definitions"),
            str(self.root / "evidence"),
            str(self.mailbox),
            str(self.journal),
        ]


def _start(
    dirs: Dirs, url: str, schema: str | None, run: int, *extra: str
) -> subprocess.Popen[bytes]:
    with (dirs.root / f"worker-{run}.log").open("wb") as log:
        return subprocess.Popen([*dirs.args(url, schema), *extra], stdout=log, stderr=log, cwd=ROOT)


def _output(dirs: Dirs) -> str:
    return "\n".join(p.read_text()[-3000:] for p in sorted(dirs.root.glob("worker-*.log")))


def _wait_for_boot(dirs: Dirs, boots: int, proc: subprocess.Popen[bytes]) -> None:
    """Wait until the worker journaled its `boots`-th boot (it is then running commands)."""
    give_up = time.monotonic() + BOOT_TIMEOUT
    while sum(1 for e in read_journal(dirs.journal) if "boot" in e) < boots:
        assert proc.poll() is None, f"the worker died on its own:\n{_output(dirs)}"
        assert time.monotonic() < give_up, "the worker never booted"
        time.sleep(0.02)


def _run_with_kills(dirs: Dirs, url: str, schema: str | None, rng: random.Random) -> None:
    for run in range(KILLS):
        proc = _start(dirs, url, schema, run)
        try:
            _wait_for_boot(dirs, run + 1, proc)
            time.sleep(rng.uniform(0.2, 1.5))
            assert proc.poll() is None, f"the worker stopped before the kill:\n{_output(dirs)}"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    acked = max((e["k"] for e in read_journal(dirs.journal) if "k" in e), default=-1)
    proc = _start(dirs, url, schema, KILLS, "--until", str(acked + TAIL))
    code = proc.wait(timeout=300)
    assert code == 0, f"the last run failed:\n{_output(dirs)}"


# ---------------------------------------------------------------------------- what is stored


@dataclass
class Stored:
    """Everything the checks read from the database."""

    records: dict[str, Any]
    stays: dict[str, list[Any]]
    evidence: set[str]
    outbox: list[Any]
    timers: list[Any]
    events: list[Any]


def _read(url: str, schema: str | None) -> Stored:
    store = Store.open(url, schema=schema, upgrade=False)
    try:
        with store.read() as conn:
            stays: dict[str, list[Any]] = defaultdict(list)
            for row in conn.execute(select(T_STAY).order_by(T_STAY.c.id)):
                stays[row.record_id].append(row)
            assert pending_count(conn) == 0
            return Stored(
                records={r.id: r for r in conn.execute(select(T_RECORD))},
                stays=stays,
                evidence={r.id for r in conn.execute(select(T_EVIDENCE.c.id))},
                outbox=list(conn.execute(select(T_OUTBOX))),
                timers=list(conn.execute(select(T_TIMER))),
                events=list(
                    conn.execute(
                        select(T_EVENT).where(T_EVENT.c.kind.in_(list(SLA_EVENT.values())))
                    )
                ),
            )
    finally:
        store.dispose()


# ---------------------------------------------------------------------------- checks


def _check_acks(journal: list[dict[str, Any]], db: Stored) -> None:
    """Every acknowledged write is stored; each record ends exactly at its last ack."""
    last: dict[str, dict[str, Any]] = {}
    for ack in (e for e in journal if "id" in e):
        row = db.records.get(ack["id"])
        assert row is not None, f"acknowledged record {ack} is not stored"
        assert row.row_version >= ack["version"], (ack, row.row_version)
        if "evidence_id" in ack:
            assert ack["evidence_id"] in db.evidence, f"acknowledged evidence {ack} is lost"
        last[ack["name"]] = ack
    for name, ack in last.items():
        row = db.records[ack["id"]]
        got = (row.row_version, row.stage, row.status)
        assert got == (ack["version"], ack["stage"], ack["status"]), (name, got, ack)
    # Recovery found every create that committed before its ack: no orphan records.
    assert len(db.records) == len(last), "a create was stored twice or without its ack"


def _check_history(journal: list[dict[str, Any]], db: Stored) -> None:
    """Each record's stays are exactly its acknowledged moves, chained, one open if open."""
    moves: dict[str, list[str]] = defaultdict(list)
    for ack in journal:
        if ack.get("op") in ("create", "move"):
            moves[ack["id"]].append(ack["stage"])
    for record_id, stages in moves.items():
        stays = db.stays[record_id]
        assert [s.stage for s in stays] == [s for s in stages if s not in EXITS], record_id
        for before, after in pairwise(stays):
            assert after.from_stage == before.stage and before.to_stage == after.stage
            assert before.left_at == after.entered_at
        open_stays = [s for s in stays if s.left_at is None]
        if db.records[record_id].status == "open":
            assert open_stays == [stays[-1]], record_id
        else:
            assert not open_stays and stays[-1].to_stage == stages[-1], record_id


def _check_outbox(journal: list[dict[str, Any]], db: Stored, mailbox: Path) -> None:
    """Every effect was delivered once: one mailbox file per sent row, none twice."""
    assert {r.state for r in db.outbox} <= {"sent"}, Counter(r.state for r in db.outbox)
    assert all(r.claimed_by is None for r in db.outbox)
    keys = {r.idempotency_key for r in db.outbox}
    # A kill inside MailboxChannel.deliver can leave its temporary file (".tmp-*.json");
    # it is not a message (reported: the temporary name should not end in ".json").
    files = {p.name for p in mailbox.glob("*.json") if not p.name.startswith(".tmp-")}
    assert files == {mailbox_file_name(k) for k in keys}
    for row in db.outbox:
        document = json.loads((mailbox / mailbox_file_name(row.idempotency_key)).read_text())
        assert document["idempotency_key"] == row.idempotency_key
        assert document["record_id"] == row.record_id and document["payload"] == row.payload
    calls = [e for e in journal if "delivered" in e]
    assert {e["delivered"] for e in calls} == keys
    # Only a kill between a delivery and its bookkeeping repeats a call, at most one per kill;
    # the repeat finds the file and writes nothing.
    assert sum(e["dup"] for e in calls) <= KILLS
    assert len(calls) - len(keys) <= KILLS


def _check_timers(db: Stored, final: datetime) -> None:
    """Every due timer fired once; every SLA firing left one event and its effects."""
    assert not [t for t in db.timers if not t.fired and t.due_at <= final]
    events: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for event in db.events:
        events[(event.record_id, event.kind, event.detail["due"])].append(event)
    sla = [t for t in db.timers if t.kind in SLA_EVENT and t.fired]
    assert not [t for t in sla if str(t.claimed_by).startswith("failed:")]
    for timer in sla:
        found = events.pop((timer.record_id, SLA_EVENT[timer.kind], timer.payload["due"]), [])
        assert len(found) == 1, (timer, found)
        assert found[0].at == timer.claimed_at
        assert found[0].detail["late"] == (timer.claimed_at - timer.due_at > LATE_GRACE)
    assert not events, f"SLA events without a timer: {events}"
    # The notification an SLA firing sends was written with it: one per firing, no more
    # (tickets notify on the reminder, opportunities on the breach; one recipient each).
    fired = Counter((t.record_id, t.kind) for t in sla)
    sent = Counter((r.record_id, r.payload.get("cause")) for r in db.outbox)
    for (record_id, kind), n in fired.items():
        notifies = (db.records[record_id].entity, kind) in SLA_NOTIFIES
        assert sent[(record_id, kind)] == (n if notifies else 0), (record_id, kind, n)
    assert sum(sent[key] for key in fired) == sum(
        n for key, n in sent.items() if key[1] in SLA_EVENT
    )


def _check_gaps(journal: list[dict[str, Any]], db: Stored) -> int:
    """Timers due while the worker was dead fired at the first tick after the restart."""
    boots = [e for e in journal if "boot" in e]
    assert [b["boot"] for b in boots] == list(range(KILLS + 1))
    in_gaps = 0
    for boot in boots[1:]:
        b, k = boot["boot"], boot["next"]
        low, high = clock_at(k, b - 1), clock_at(k, b)
        assert datetime.fromisoformat(boot["now"]) == high
        due = [t for t in db.timers if low < t.due_at <= high]
        for timer in due:
            assert timer.fired and timer.claimed_at == high, timer
            assert timer.claimed_by == f"crash-{b}", timer
        in_gaps += sum(1 for t in due if t.kind in SLA_EVENT)
    return in_gaps


def test_kill_restart_loses_nothing_acknowledged(
    db_url: tuple[str, str | None], tmp_path: Path
) -> None:
    url, schema = db_url
    dirs = Dirs(tmp_path)
    seed = random.randrange(2**32)
    print(f"kill timing seed: {seed}")
    _run_with_kills(dirs, url, schema, random.Random(seed))

    journal = read_journal(dirs.journal)
    assert journal[-1].get("done"), "the last run did not finish"
    db = _read(url, schema)
    _check_acks(journal, db)
    _check_history(journal, db)
    _check_outbox(journal, db, dirs.mailbox)
    _check_timers(db, datetime.fromisoformat(journal[-1]["now"]))
    in_gaps = _check_gaps(journal, db)
    assert in_gaps > 0, "no SLA timer fell due while the worker was dead"
    recovered = sum(1 for e in journal if e.get("recovered"))
    assert recovered <= KILLS
    print(
        f"commands: {max(e['k'] for e in journal if 'k' in e) + 1}, records: {len(db.records)}, "
        f"recovered: {recovered}, outbox: {len(db.outbox)}, "
        f"repeated deliveries: {sum(1 for e in journal if e.get('dup'))}, "
        f"SLA timers due while dead: {in_gaps}"
    )
