"""A worker process for the crash test: runs a fixed stream of commands, journaling each ack.

Usage::

    crash_worker.py DB_URL SCHEMA|- DEFINITIONS EVIDENCE_DIR MAILBOX_DIR JOURNAL [--until N]

The stream (creates, transitions, updates, evidence, refused moves, ticks and outbox
deliveries) is a pure function of the command index, generated from a fixed seed, so a
restarted worker regenerates it and continues after the last acknowledged command.

Time is a FakeClock at ``T0 + index * STEP + boot * GAP``: each restart (a "boot") jumps
the clock forward by GAP, so timers fall due while the worker is dead and must fire at the
first tick after the restart (the boot tick).

Journal (JSON lines, each appended with one write and fsynced after the write committed):

- ``{"boot": b, "next": k, "now": iso, "timers": n}`` after the boot tick of run b;
- ``{"k": k, "op": ..., ...}`` once command k committed (its ack: record id, version,
  stage, status; or what a tick or a delivery run did);
- ``{"delivered": key, "dup": bool}`` each time the mailbox channel is called;
- ``{"done": true, "now": iso}`` after the final tick and outbox drain.

The first command after a restart may have committed without its ack (the kill fell
between commit and journal); the worker recovers it from the database (a record created
at that command's time, a row version one ahead, one more evidence file) instead of
running it twice.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from engine.compiler.pipeline import compile_bundle  # noqa: E402
from runtime.clock import FakeClock  # noqa: E402
from runtime.core import Runtime  # noqa: E402
from runtime.errors import Refused  # noqa: E402
from runtime.outbox import (  # noqa: E402
    MailboxChannel,
    Message,
    OutboxWorker,
    mailbox_file_name,
    pending_count,
)
from runtime.records import RecordView  # noqa: E402
from runtime.store import T_EVIDENCE, T_RECORD, Store  # noqa: E402

T0 = datetime(2026, 1, 5, 9, 0)
STEP = timedelta(minutes=10)
GAP = timedelta(days=3)
SEED = 20260105
AGENT = "zhao.lei"
REP = "li.wei"
JPEG = b"\xff\xd8\xff\xe0"
PDF = b"%PDF-1.4\n"

TICKET_MOVES = {
    "triage": ["in_progress"],
    "in_progress": ["resolved", "resolved", "triage"],
    "resolved": ["closed", "closed", "in_progress", "triage"],
}
OPP_CHAIN = [
    "appointment",
    "inventory_count",
    "competitor_analysis",
    "proposal_demo",
    "quote",
    "payment_tracking",
    "won",
]
OPP_NEEDS: dict[str, dict[str, int]] = {
    "inventory_count": {"shelf_photo": 3, "inventory_list": 1},
    "competitor_analysis": {"price_comparison": 1},
}
EVIDENCE_FILES = {
    "shelf_photo": (JPEG, "image/jpeg", "shelf.jpg"),
    "inventory_list": (PDF, "application/pdf", "list.pdf"),
    "price_comparison": (PDF, "application/pdf", "prices.pdf"),
}
EXITS = {"won", "lost", "closed"}


def clock_at(index: int, boot: int) -> datetime:
    """Return the fake time command `index` runs at in run `boot`."""
    return T0 + index * STEP + boot * GAP


# ---------------------------------------------------------------------------- the stream


@dataclass
class Planned:
    """A logical record while the stream is planned."""

    name: str
    entity: str
    stage: str
    evidence: Counter[str] = field(default_factory=Counter)


def _ticket_data(rng: random.Random, index: int) -> dict[str, Any]:
    return {
        "customer_tier": rng.choice(["VIP", "normal", "trial"]),
        "severity": rng.choice([1, 1, 2, 3]),
        "keyword_class": rng.choice(["out_of_stock", "invoice", "system_error", "other"]),
    }


def _opp_data(rng: random.Random, index: int) -> dict[str, Any]:
    return {
        "pharmacy_name": f"opp-{index}",
        "region": "sichuan",
        "product_class": "herbal_pieces",
        "quote_price": rng.choice([10, 20.5, 30, 38]),
        "pharmacy_tier": rng.choice(["chain", "single"]),
    }


def _opp_move(rng: random.Random, rec: Planned) -> dict[str, Any]:
    """Return the next step of an opportunity: evidence it lacks, a move, or a loss."""
    if rng.random() < 0.08:
        return {"op": "move", "name": rec.name, "target": "lost"}
    for kind, need in OPP_NEEDS.get(rec.stage, {}).items():
        if rec.evidence[kind] < need:
            return {"op": "evidence", "name": rec.name, "kind": kind}
    if rec.stage == "quote" and rng.random() < 0.3:
        return {"op": "move", "name": rec.name, "target": "proposal_demo"}
    return {"op": "move", "name": rec.name, "target": OPP_CHAIN[OPP_CHAIN.index(rec.stage) + 1]}


def _refused(rec: Planned) -> dict[str, Any]:
    """Return a move the workflow must refuse (and that must change nothing)."""
    if rec.entity == "ticket":
        target = "closed" if rec.stage != "resolved" else "nowhere"
    else:
        target = "won" if rec.stage != "payment_tracking" else "appointment"
        if rec.stage == "inventory_count" and rec.evidence["shelf_photo"] < 3:
            target = "competitor_analysis"  # forward, but the photos are missing
    return {"op": "refused", "name": rec.name, "target": target}


def _update(rng: random.Random, rec: Planned) -> dict[str, Any]:
    if rec.entity == "ticket":
        changes: dict[str, Any] = {
            "severity": rng.choice([1, 2, 3]),
            "keyword_class": rng.choice(["invoice", "other", "system_error"]),
        }
    else:
        changes = {"expected_amount": rng.randrange(1000, 90000), "revenue_3m": rng.randrange(100)}
    return {"op": "update", "name": rec.name, "changes": changes}


def _apply(op: dict[str, Any], live: dict[str, Planned]) -> None:
    """Advance the planned state as if `op` succeeded."""
    kind, name = op["op"], op.get("name")
    if kind == "create":
        live[name] = Planned(name, op["entity"], op["stage"])
    elif kind == "move":
        if op["target"] in EXITS:
            del live[name]
        else:
            live[name].stage = op["target"]
    elif kind == "evidence":
        live[name].evidence[op["kind"]] += 1


def stream(seed: int = SEED) -> Iterator[dict[str, Any]]:
    """Yield the commands of the stream, forever, the same ones on every run."""
    rng = random.Random(seed)
    live: dict[str, Planned] = {}
    index = 0
    while True:
        if index % 4 == 3:
            op: dict[str, Any] = {"op": "tick"}
        elif index % 6 == 5:
            op = {"op": "deliver"}
        else:
            choice = rng.choices(
                ["ticket", "opp", "move", "update", "refused"], weights=[3, 1, 6, 2, 1]
            )[0]
            names = sorted(live)
            if choice in ("move", "update", "refused") and not names:
                choice = "ticket"
            if choice == "ticket":
                op = {"op": "create", "entity": "ticket", "name": f"t{index}", "stage": "triage"}
                op["data"] = _ticket_data(rng, index)
            elif choice == "opp":
                op = {
                    "op": "create",
                    "entity": "opportunity",
                    "name": f"o{index}",
                    "stage": "appointment",
                    "data": _opp_data(rng, index),
                }
            else:
                opps = [n for n in names if n.startswith("o")]
                pool = opps if opps and choice == "move" and rng.random() < 0.5 else names
                rec = live[rng.choice(pool)]
                if choice == "update":
                    op = _update(rng, rec)
                elif choice == "refused":
                    op = _refused(rec)
                elif rec.entity == "ticket":
                    op = {
                        "op": "move",
                        "name": rec.name,
                        "target": rng.choice(TICKET_MOVES[rec.stage]),
                    }
                else:
                    op = _opp_move(rng, rec)
            _apply(op, live)
        op["k"] = index
        yield op
        index += 1


# ---------------------------------------------------------------------------- journal


class Journal:
    """Append-only JSON lines, one write and one fsync per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = read_journal(path)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            os.write(self.fd, b"\n")  # a line cut short by the kill: start afresh

    def write(self, entry: dict[str, Any]) -> None:
        """Append one entry durably."""
        os.write(self.fd, (json.dumps(entry, sort_keys=True) + "\n").encode())
        os.fsync(self.fd)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Return the journal's complete entries (a torn last line is dropped)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class JournaledMailbox(MailboxChannel):
    """The mailbox channel, journaling every call (and whether the file was there)."""

    def __init__(self, directory: Path, journal: Journal) -> None:
        super().__init__(directory)
        self.journal = journal

    def deliver(self, message: Message) -> None:
        """Deliver as the mailbox does, then note the call."""
        dup = (self.directory / mailbox_file_name(message.key)).exists()
        super().deliver(message)
        self.journal.write({"delivered": message.key, "dup": dup})


# ---------------------------------------------------------------------------- running


@dataclass
class Known:
    """What the journal acknowledged about one logical record."""

    id: str
    version: int
    evidence: int = 0


class Worker:
    """Runs the stream against a Runtime, one journaled ack per committed command."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.journal = Journal(Path(args.journal))
        self.boot = sum(1 for e in self.journal.lines if "boot" in e)
        acked = [e["k"] for e in self.journal.lines if "k" in e]
        self.next = max(acked) + 1 if acked else 0
        self.known: dict[str, Known] = {}
        for entry in self.journal.lines:
            if "id" in entry:
                self.known[entry["name"]] = Known(entry["id"], entry["version"], entry["evidence"])
        bundle = compile_bundle(args.definitions).bundle
        self.store = Store.open(args.url, schema=None if args.schema == "-" else args.schema)
        self.clock = FakeClock(clock_at(self.next, self.boot))
        self.rt = Runtime(
            bundle,
            self.store,
            self.clock,
            evidence_dir=args.evidence,
            worker_id=f"crash-{self.boot}",
        )
        mailbox = JournaledMailbox(Path(args.mailbox), self.journal)
        self.outbox = OutboxWorker(
            self.store,
            self.clock,
            {"log": mailbox, "mailbox": mailbox, "webhook": mailbox},
            worker_id=f"crash-{self.boot}",
        )

    def run(self, until: int) -> None:
        """Boot tick, then the stream from the first unacknowledged command to `until`."""
        report = self.rt.tick()
        self.journal.write(
            {
                "boot": self.boot,
                "next": self.next,
                "now": self.clock.now().isoformat(),
                "timers": report.timers,
            }
        )
        for op in stream():
            k = op["k"]
            if k >= until:
                break
            if k < self.next:
                continue
            self.clock.set(clock_at(k, self.boot))
            recovering = self.boot > 0 and k == self.next
            ack = self.recover(op) if recovering else None
            if ack is None:
                ack = self.execute(op)
            self.journal.write({"k": k, "op": op["op"], **ack})
        self.clock.set(clock_at(until, self.boot))
        self.rt.tick()
        self.drain()
        self.journal.write({"done": True, "now": self.clock.now().isoformat()})

    def drain(self) -> None:
        """Deliver every pending outbox row."""
        for _ in range(1000):
            self.outbox.run_once(200)
            with self.store.read() as conn:
                if pending_count(conn) == 0:
                    return
        raise AssertionError("the outbox does not drain")

    # -- one command ----------------------------------------------------------------
    def execute(self, op: dict[str, Any]) -> dict[str, Any]:
        """Run one command; return its ack."""
        kind, rt = op["op"], self.rt
        if kind == "tick":
            return {"timers": rt.tick().timers}
        if kind == "deliver":
            return {"sent": self.outbox.run_once(20).sent}
        if kind == "create":
            actor = AGENT if op["entity"] == "ticket" else REP
            return self.ack(op, rt.create(op["entity"], op["data"], actor=actor))
        known = self.known[op["name"]]
        actor = AGENT if op["name"].startswith("t") else REP
        if kind == "move":
            view = rt.transition(
                known.id, op["target"], actor=actor, expected_version=known.version
            )
            return self.ack(op, view)
        if kind == "update":
            view = rt.update(known.id, op["changes"], actor=actor, expected_version=known.version)
            return self.ack(op, view)
        if kind == "evidence":
            content, media, file_name = EVIDENCE_FILES[op["kind"]]
            row = rt.attach_evidence(
                known.id,
                op["kind"],
                content + str(op["k"]).encode(),
                file_name=file_name,
                media_type=media,
                actor=actor,
            )
            known.evidence += 1
            return {**self.ack(op, rt.get(known.id)), "evidence_id": row["id"]}
        assert kind == "refused", op
        try:
            rt.transition(known.id, op["target"], actor=actor, expected_version=known.version)
        except Refused as refused:
            after = rt.get(known.id)
            if after.row_version != known.version:
                raise AssertionError(f"a refused move changed {known.id}") from refused
            return {**self.ack(op, after), "problems": [p.code for p in refused.problems]}
        raise AssertionError(f"command {op} was not refused")

    def ack(self, op: dict[str, Any], view: RecordView) -> dict[str, Any]:
        """Remember and return what a record command left in the database."""
        known = self.known.get(op["name"])
        if known is None or known.id != view.id:
            known = self.known[op["name"]] = Known(view.id, view.row_version)
        known.version = view.row_version
        return {
            "name": op["name"],
            "id": view.id,
            "version": view.row_version,
            "stage": view.stage,
            "status": view.status,
            "evidence": known.evidence,
        }

    def recover(self, op: dict[str, Any]) -> dict[str, Any] | None:
        """Return the ack of a command that committed before the kill (None: it did not)."""
        kind = op["op"]
        if kind == "create":
            # Every command runs at its own time: the record created at the time the
            # killed run gave this command is the one it created.
            with self.store.read() as conn:
                rows = conn.execute(
                    select(T_RECORD.c.id).where(
                        T_RECORD.c.entity == op["entity"],
                        T_RECORD.c.created_at == clock_at(op["k"], self.boot - 1),
                    )
                ).all()
            assert len(rows) <= 1, f"create {op['k']} stored {len(rows)} records"
            return {**self.ack(op, self.rt.get(rows[0].id)), "recovered": True} if rows else None
        if kind in ("move", "update"):
            known = self.known[op["name"]]
            view = self.rt.get(known.id)
            if view.row_version == known.version:
                return None
            assert view.row_version == known.version + 1, (op, view)
            return {**self.ack(op, view), "recovered": True}
        if kind == "evidence":
            known = self.known[op["name"]]
            with self.store.read() as conn:
                have = conn.execute(
                    select(func.count()).where(T_EVIDENCE.c.record_id == known.id)
                ).scalar_one()
            if have == known.evidence:
                return None
            known.evidence += 1
            return {**self.ack(op, self.rt.get(known.id)), "recovered": True}
        return None  # ticks, deliveries and refusals are safe to run again


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run the stream."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("url", "schema", "definitions", "evidence", "mailbox", "journal"):
        parser.add_argument(name)
    parser.add_argument("--until", type=int, default=10**9)
    args = parser.parse_args(argv)
    Worker(args).run(args.until)
    return 0


if __name__ == "__main__":
    sys.exit(main())
