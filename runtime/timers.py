"""Durable timers (decision 5): an SLA or an alert's `for:` is a row with a due time.

Detecting a breach costs O(due timers): `due()` reads an index on (fired, due_at).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, select

from runtime.store import T_TIMER, Tx, db_json, db_time, is_postgres, run_sql

SLA_KINDS = ("sla_breach", "sla_remind")

_INSERT = (
    "INSERT INTO sf_timer (due_at, kind, record_id, ref, payload, fired) "
    "VALUES (:due_at, :kind, :record_id, :ref, :payload, :fired)"
)
_CANCEL_SLA = (
    "DELETE FROM sf_timer WHERE record_id = :record_id "
    "AND kind IN ('sla_breach', 'sla_remind') AND fired = :fired"
)


def add(
    tx: Tx,
    kind: str,
    due_at: datetime,
    *,
    record_id: str | None = None,
    ref: str = "",
    payload: dict[str, Any] | None = None,
) -> None:
    """Add a timer that fires at `due_at`."""
    tx.sql(
        _INSERT,
        {
            "due_at": tx.time(due_at),
            "kind": kind,
            "record_id": record_id,
            "ref": ref,
            "payload": db_json(payload or {}),
            "fired": False,
        },
    )


def cancel(tx: Tx, record_id: str, kinds: tuple[str, ...], ref: str | None = None) -> int:
    """Drop a record's pending timers of some kinds (e.g. its stage's SLA on leaving)."""
    if kinds == SLA_KINDS and ref is None:  # the hot case, on every stage change
        return int(tx.sql(_CANCEL_SLA, {"record_id": record_id, "fired": False}).rowcount)
    condition = and_(
        T_TIMER.c.record_id == record_id, T_TIMER.c.kind.in_(kinds), T_TIMER.c.fired.is_(False)
    )
    if ref is not None:
        condition = and_(condition, T_TIMER.c.ref == ref)
    return int(tx.conn.execute(delete(T_TIMER).where(condition)).rowcount)


_MOVE_BREACH = (
    "UPDATE sf_timer SET due_at = :due_at, ref = :ref, payload = :payload "
    "WHERE record_id = :record_id AND kind = 'sla_breach' AND fired = :fired RETURNING id"
)
_CANCEL_OTHER_SLA = _CANCEL_SLA + " AND id <> :kept"


def replace_sla(
    tx: Tx,
    record_id: str,
    due_at: datetime,
    *,
    ref: str,
    payload: dict[str, Any],
    reminders: list[tuple[datetime, dict[str, Any]]],
) -> None:
    """Give a record the SLA timers of the stage it enters in place of those it had.

    The same rows result as `cancel(SLA_KINDS)` then `add` of each timer, but the
    pending breach timer, when there is one, is updated in place (decision NN): one
    UPDATE instead of a DELETE and an INSERT, and the record's index entry stays put.
    """
    kept = tx.sql(
        _MOVE_BREACH,
        {
            "due_at": tx.time(due_at),
            "ref": ref,
            "payload": db_json(payload),
            "record_id": record_id,
            "fired": False,
        },
    ).rows
    params: dict[str, Any] = {"record_id": record_id, "fired": False}
    if kept:
        tx.sql(_CANCEL_OTHER_SLA, {**params, "kept": kept[0][0]})
    else:
        tx.sql(_CANCEL_SLA, params)
        add(tx, "sla_breach", due_at, record_id=record_id, ref=ref, payload=payload)
    for at, extra in reminders:
        add(tx, "sla_remind", at, record_id=record_id, ref=ref, payload=extra)


def due(conn: Connection, now: datetime, limit: int, *, skip_locked: bool) -> list[Any]:
    """Return up to `limit` unfired timers due at `now`, oldest first (claimed on PostgreSQL)."""
    query = (
        select(T_TIMER)
        .where(T_TIMER.c.fired.is_(False), T_TIMER.c.due_at <= now)
        .order_by(T_TIMER.c.due_at, T_TIMER.c.id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query).all())


_FIRED = "UPDATE sf_timer SET fired = :fired, claimed_at = :now, claimed_by = :worker WHERE id "


def mark_fired(conn: Connection, timer_id: int, now: datetime, worker: str | None) -> None:
    """Mark a timer as done (kept for the audit of what fired when)."""
    mark_all_fired(conn, [timer_id], now, worker)


def mark_all_fired(conn: Connection, ids: list[int], now: datetime, worker: str | None) -> None:
    """Mark timers as done in one statement."""
    if not ids:
        return
    postgres = is_postgres(conn)
    marks = ", ".join(f":t{k}" for k in range(len(ids)))
    params: dict[str, Any] = {f"t{k}": timer_id for k, timer_id in enumerate(ids)}
    params.update(fired=True, now=db_time(now, postgres), worker=worker)
    run_sql(conn, _FIRED + ("= :t0" if len(ids) == 1 else f"IN ({marks})"), params)


def pending(conn: Connection, record_id: str) -> list[Any]:
    """Return a record's unfired timers."""
    return list(
        conn.execute(
            select(T_TIMER)
            .where(T_TIMER.c.record_id == record_id, T_TIMER.c.fired.is_(False))
            .order_by(T_TIMER.c.due_at)
        ).all()
    )


def late(timer_due: datetime, now: datetime, grace: timedelta) -> bool:
    """Tell whether a timer fires late (it fell due while nothing was ticking)."""
    return now - timer_due > grace
