"""Metric snapshots: a metric's value per group, stored on its `snapshot` cadence.

The scheduler takes them in `tick` (runtime/ticking.py): each metric with a `snapshot`
has a row `metric:<name>` in sf_schedule saying when the next is due, so a restart
neither loses nor repeats one; a snapshot that fell due while nothing ticked is taken
once, late, at the time of the tick (its `at` says when the value was computed).
Snapshots older than the metric's `keep` are deleted when the next is taken.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from engine.bundle import Bundle
from engine.spec import MetricSpec
from runtime.data import json_value, to_json
from runtime.metrics import compute_metric
from runtime.store import T_SNAPSHOT

MAX_LIMIT = 1000


STATE_LENGTH = 64  # sf_schedule.name
KEY_LENGTH = 512  # sf_metric_snapshot.group_key


def state_name(metric: str) -> str:
    """Return the sf_schedule row that says when a metric's next snapshot is due.

    `metric:<name>` (a name holds no ':', so no schedule has it); a name too long for
    the column is hashed instead.
    """
    name = f"metric:{metric}"
    if len(name) <= STATE_LENGTH:
        return name
    return f"metric:#{hashlib.sha256(metric.encode()).hexdigest()[: STATE_LENGTH - 8]}"


def group_key(values: Sequence[Any]) -> str:
    """Return the stored key of a group: its values, in `group_by` order, as JSON (a key
    too long for the column is `#` and its hash: JSON keys start with `[`)."""
    items = [json_value(v) for v in values]
    text = json.dumps(items, separators=(",", ":"), ensure_ascii=False)
    if len(text) <= KEY_LENGTH:
        return text
    return "#" + hashlib.sha256(text.encode()).hexdigest()


def take(conn: Connection, bundle: Bundle, spec: MetricSpec, now: datetime) -> int:
    """Store the metric's value per group at `now` and prune old ones; return rows stored."""
    rows = compute_metric(conn, spec, now, bundle=bundle)
    stored = [
        {
            "metric": spec.name,
            "group_key": group_key([row.groups.get(g) for g in spec.group_by]),
            "groups": to_json(dict(row.groups)),
            "at": now,
            "value": row.value,
            "count": row.count,
        }
        for row in rows
    ]
    if stored:
        conn.execute(insert(T_SNAPSHOT), stored)
    if spec.keep is not None:
        oldest = now - timedelta(seconds=spec.keep.seconds)
        s = T_SNAPSHOT.c
        conn.execute(delete(T_SNAPSHOT).where(s.metric == spec.name, s.at < oldest))
    return len(stored)


@dataclass(frozen=True)
class Page:
    """Snapshots of one page, oldest first, and the cursor of the next (None: no more)."""

    items: list[dict[str, Any]]
    next_cursor: int | None


def query(
    conn: Connection,
    spec: MetricSpec,
    *,
    since: datetime | None,
    until: datetime | None,
    group: Sequence[Any] | None,
    limit: int,
    also: Sequence[Sequence[Any]] = (),
    after: int | None,
) -> Page:
    """Return stored snapshots of a metric: `since` <= at < `until`, of one group if given
    (or of any of the groups in `also` besides: the ways a group's text may be read)."""
    s = T_SNAPSHOT.c
    sql = select(s.id, s.groups, s.at, s.value, s.count).where(s.metric == spec.name)
    if since is not None:
        sql = sql.where(s.at >= since)
    if until is not None:
        sql = sql.where(s.at < until)
    if group is not None:
        sql = sql.where(s.group_key.in_([group_key(g) for g in (group, *also)]))
    if after is not None:
        sql = sql.where(s.id > after)
    rows = conn.execute(sql.order_by(s.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {"at": r.at, "groups": _groups(r.groups), "value": r.value, "count": r.count} for r in rows
    ]
    return Page(items, rows[-1].id if more and rows else None)


def _groups(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return dict(value or {})
