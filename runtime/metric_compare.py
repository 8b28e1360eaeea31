"""A metric before and after a definition version (P14: KPIs compared across a change).

The version's time is when its bundle was applied (`sf_bundle_version`, newest
application of that hash). "Before" is the metric over the span of its window that
ends at that time, "after" over the same span starting then (cut at now); a metric
without a window takes every row before, and every row after. Rows are split on the
window's time column (`created_at` by default; `entered_at` of stage history, `fired_at`
of alerts when the metric has no window).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from engine.bundle import Bundle
from engine.spec import MetricSpec
from engine.spec.base import Duration
from engine.spec.signals import MetricWindow
from runtime.clock import iso
from runtime.store import T_BUNDLE

EPOCH = datetime(1970, 1, 1)
DEFAULT_ON = {"records": "created_at", "stage_history": "entered_at", "alerts": "fired_at"}


class UnknownVersion(LookupError):
    """No applied bundle version has (or starts with) this hash, or several do."""


def version_applied(conn: Connection, wanted: str) -> dict[str, Any]:
    """Return the newest application of the version whose hash is or starts with `wanted`."""
    text = wanted.strip().lower()
    if len(text) < 4:
        raise UnknownVersion(f"'{wanted}' is too short: give at least 4 characters of a hash")
    rows = conn.execute(
        select(T_BUNDLE.c.hash, T_BUNDLE.c.applied_at, T_BUNDLE.c.author)
        .where(T_BUNDLE.c.hash.startswith(text, autoescape=True))
        .order_by(T_BUNDLE.c.id.desc())
    ).all()
    hashes = {r.hash for r in rows}
    if not rows:
        raise UnknownVersion(f"no applied definitions version has hash '{wanted}'")
    if len(hashes) > 1:
        raise UnknownVersion(f"'{wanted}' starts {len(hashes)} version hashes; give more of it")
    newest = rows[0]
    return {"hash": newest.hash, "applied_at": newest.applied_at, "author": newest.author}


def _span(spec: MetricSpec, end: datetime, length: timedelta) -> MetricSpec:
    """Return the metric over `(end - length, end]` of its time column."""
    on = spec.window.on if spec.window is not None else DEFAULT_ON[spec.source]
    seconds = max(length.total_seconds(), 1e-6)
    last = Duration(seconds, False, f"{seconds}s")
    return spec.model_copy(update={"window": MetricWindow(last=last, on=on)})


def split_at_version(
    conn: Connection,
    spec: MetricSpec,
    wanted: str,
    now: datetime,
    report: Any,
    group_by: list[str] | None,
    bundle: Bundle | None,
) -> dict[str, Any]:
    """Return the metric before and after the version `wanted` was applied.

    `report(conn, spec, now, group_by, bundle)` computes one side (runtime/reports.py
    metric_report); each side says the span it covers (`from` exclusive, `to` inclusive).
    """
    version = version_applied(conn, wanted)
    at: datetime = version["applied_at"]
    if spec.window is not None:
        length = timedelta(seconds=spec.window.last.seconds)
        start = at - length
        end = min(at + length, now)
    else:
        start, end = EPOCH, now
        length = at - EPOCH
    sides = {}
    for side, lo, hi in (("before", start, at), ("after", at, max(end, at))):
        found = report(
            conn, _span(spec, hi, hi - lo if side == "after" else length), hi, group_by, bundle
        )
        sides[side] = {
            "from": iso(lo),
            "to": iso(hi),
            "value": found["value"],
            "count": found["count"],
            "groups": found["groups"],
        }
    return {
        "version": version["hash"],
        "applied_at": iso(at),
        "author": version["author"],
        **sides,
    }
