"""A unit of work: one command's transaction, the bundle it runs on, and its helpers."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine.bundle import Bundle
from runtime import attachments
from runtime.render import RenderError, render
from runtime.store import T_ASSIGNMENT, Tx


def safe_render(source: str, variables: Mapping[str, Any]) -> str:
    """Render a message template; a template that fails says so instead of raising."""
    try:
        return render(source, variables)
    except RenderError as exc:
        return f"[template failed: {exc}]"


@dataclass
class Unit:
    """Everything one command needs: bundle, transaction, time, actor, metric lookups."""

    bundle: Bundle
    tx: Tx
    metric: Callable[[str, tuple[Any, ...]], Any]
    evidence_dir: Any = None
    created: list[str] = field(default_factory=list)
    depth: int = 0
    # Records this unit is creating and has not stored yet (entity -> ids): an action of
    # a record being created may refer to it (`request: id`) before it is written.
    forming: dict[str, set[str]] = field(default_factory=dict)
    # Records of `forming` whose load item (runtime/load.py) this unit wrote: any other
    # forming record has none yet, so settling it reads nothing.
    load_items: set[str] = field(default_factory=set)
    # Evaluation failures this unit recorded (runtime/failures.py keeps each once).
    failures: set[tuple[Any, ...]] = field(default_factory=set)
    # While set (an item of a per-item schedule), outbox keys derive from it and a count:
    # a retried run writes the same keys, and the outbox keeps each effect once.
    effect_scope: str | None = None
    effect_seq: int = 0

    def effect_key(self) -> str:
        """Return the idempotency key of the next outbox effect this unit writes."""
        if self.effect_scope is None:
            return uuid.uuid4().hex
        self.effect_seq += 1
        text = f"{self.effect_scope}#{self.effect_seq}"
        return hashlib.sha256(text.encode()).hexdigest()[:40]

    @property
    def now(self) -> datetime:
        """Return the time the unit runs at."""
        return self.tx.now

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Run a block under a savepoint: when it raises, the database and this unit's
        own account of it (records created, events, failures recorded) go back to where
        they were, and the exception goes on, so the caller can record it and carry on."""
        mark = (len(self.created), len(self.tx.events), set(self.failures))
        try:
            with self.tx.conn.begin_nested():
                yield
        except BaseException:
            del self.created[mark[0] :], self.tx.events[mark[1] :]
            self.failures = mark[2]
            raise

    @property
    def actor(self) -> str | None:
        """Return who acts (None: the system)."""
        return self.tx.actor

    def context(self, record: Mapping[str, Any] | None, **extra: Any) -> dict[str, Any]:
        """Return the context `c` expressions read: now, record, metric lookups, extras."""
        c: dict[str, Any] = {"now": self.now, "metric": self.metric}
        if record is not None:
            c["record"] = record
            c["evidence_count"] = self._evidence_counter(record.get("id"))
            c["assignee"] = self._assignee(record.get("id"))
        c.update(extra)
        return c

    def _assignee(self, record_id: Any) -> Callable[[str], str | None]:
        """Return `assignee(name)` for one record: who holds a named assignment now."""
        conn, key = self.tx.conn, str(record_id) if record_id is not None else None
        t = T_ASSIGNMENT.c

        def holder(name: str) -> str | None:
            found = conn.execute(
                select(t.user_id).where(t.record_id == key, t.name == name)
            ).scalar_one_or_none()
            return str(found) if found is not None else None

        return holder

    def _evidence_counter(self, record_id: Any) -> Callable[[str, str], int]:
        """Return `evidence_count(kind, stays)` for one record, read from the store."""
        conn, key = self.tx.conn, str(record_id) if record_id is not None else None
        return lambda kind, stays: attachments.count(conn, key, kind, stays)
