"""Helpers of the scenario tests: evidence files, the outbox, walking the visit SOP, time."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy import select

from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.records import RecordView
from runtime.store import T_OUTBOX
from runtime.ticking import TickReport

START = datetime(2026, 1, 5, 9, 0)  # a Monday, naive UTC like every runtime time
REP, OTHER_REP, MANAGER, AGENT = "li.wei", "chen.jie", "zhang.min", "zhao.lei"
VISIT_STAGES = (
    "appointment",
    "inventory_count",
    "competitor_analysis",
    "proposal_demo",
    "quote",
    "payment_tracking",
)
_serial = count()


def jpeg(tag: str = "") -> bytes:
    """Return a small JPEG-looking file, different on every call (sniffed as image/jpeg)."""
    return b"\xff\xd8\xff\xe0" + f"photo {tag} {next(_serial)}".encode()


def png(tag: str = "") -> bytes:
    """Return a small PNG-looking file, different on every call."""
    return b"\x89PNG\r\n\x1a\n" + f"screenshot {tag} {next(_serial)}".encode()


def pdf(tag: str = "") -> bytes:
    """Return a small PDF-looking file, different on every call."""
    return b"%PDF-1.4\n" + f"document {tag} {next(_serial)}".encode()


def outbox(
    runtime: Runtime, *, action: str | None = None, template: str | None = None
) -> list[dict[str, Any]]:
    """Return outbox rows (oldest first), optionally of one action or notification template."""
    with runtime.store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(T_OUTBOX).order_by(T_OUTBOX.c.id))]
    if action is not None:
        rows = [r for r in rows if r["action"] == action]
    if template is not None:
        rows = [r for r in rows if r["payload"].get("template") == template]
    return rows


def webhooks(runtime: Runtime, url: str) -> list[dict[str, Any]]:
    """Return the bodies of the webhooks enqueued for one URL (oldest first)."""
    return [
        r["payload"]["body"]
        for r in outbox(runtime, action="webhook")
        if r["payload"]["url"] == url
    ]


# Evidence each pharmacy-visit stage asks for before a record may leave it (P4).
_VISIT_EVIDENCE: dict[str, list[tuple[str, Any, str]]] = {
    "inventory_count": [("shelf_photo", jpeg, "image/jpeg")] * 3
    + [("inventory_list", png, "image/png")],
    "competitor_analysis": [("price_comparison", pdf, "application/pdf")],
}


def walk_visit(
    runtime: Runtime,
    record: RecordView,
    target: str,
    *,
    actor: str = REP,
    quote: dict[str, Any] | None = None,
) -> RecordView:
    """Move an opportunity forward stage by stage to `target`, attaching what each needs."""
    current = record
    while current.stage != target:
        stage = current.stage or ""
        for kind, make, media in _VISIT_EVIDENCE.get(stage, []):
            runtime.attach_evidence(
                current.id, kind, make(kind), file_name=f"{kind}.bin", media_type=media, actor=actor
            )
        if stage == "proposal_demo" and quote:
            current = runtime.update(current.id, quote, actor=actor)
        following = VISIT_STAGES[VISIT_STAGES.index(stage) + 1]
        current = runtime.transition(current.id, following, actor=actor)
    return current


def run_for(
    runtime: Runtime, clock: FakeClock, total: timedelta, step: timedelta
) -> list[TickReport]:
    """Let time pass: advance by `step` and tick, until `total` has passed."""
    reports = []
    end = clock.now() + total
    while clock.now() < end:
        clock.advance(min(step, end - clock.now()))
        reports.append(runtime.tick())
    return reports
