"""A unit of work: one command's transaction, the bundle it runs on, and its helpers."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.bundle import Bundle
from runtime import attachments
from runtime.render import RenderError, render
from runtime.store import Tx


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
        c.update(extra)
        return c

    def _evidence_counter(self, record_id: Any) -> Callable[[str, str], int]:
        """Return `evidence_count(kind, stays)` for one record, read from the store."""
        conn, key = self.tx.conn, str(record_id) if record_id is not None else None
        return lambda kind, stays: attachments.count(conn, key, kind, stays)
