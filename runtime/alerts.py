"""Alerts: pending -> firing -> resolved, deduplicated by key, with cooldown and feedback.

An alert with `for:` starts pending and becomes firing when its timer finds the condition
still true; a resolved alert's key stays quiet for `cooldown`. Feedback (useful / false
positive) gives each rule a precision figure (F10).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, insert, select, update

from engine.bundle import Bundle
from engine.expr import EvaluationError
from engine.spec import AlertSpec
from runtime import failures, records, timers
from runtime.data import to_json
from runtime.errors import Invalid, NotFound, Problem
from runtime.people import assignment_holders, recipients
from runtime.store import T_ALERT, Tx, run_sql
from runtime.unit import Unit, safe_render

ACTIVE = ("pending", "firing")
VERDICTS = ("useful", "false_positive")
RunActions = Callable[[AlertSpec, Mapping[str, Any], bool], list[dict[str, Any]]]


def key_of(spec: AlertSpec, names: Mapping[str, Any], fallback: str) -> str:
    """Return an alert's dedup key: its template rendered, or one per record/group."""
    if spec.dedup_key:
        return f"{spec.name}:{safe_render(spec.dedup_key, names)}"[:512]
    return f"{spec.name}:{fallback}"[:512]


@dataclass(frozen=True)
class _Active:
    """The alert of a key that is pending or firing: what `evaluate` and `promote` use."""

    id: int
    state: str
    record_id: str | None


_ACTIVE = (
    "SELECT id, state, record_id FROM sf_alert WHERE rule = :rule AND dedup_key = :key "
    "AND state IN ('pending', 'firing') ORDER BY id LIMIT 1"
)


def _active(tx: Tx, rule: str, key: str) -> _Active | None:
    # Hand-written SQL: every command on a record with alerts asks this once per alert.
    row = run_sql(tx.conn, _ACTIVE, {"rule": rule, "key": key}).fetchone()
    return _Active(int(row[0]), str(row[1]), row[2]) if row is not None else None


def _cooling(tx: Tx, spec: AlertSpec, key: str) -> bool:
    if spec.cooldown is None:
        return False
    since = tx.now - timedelta(seconds=spec.cooldown.seconds)
    row = tx.conn.execute(
        select(T_ALERT.c.id).where(
            T_ALERT.c.rule == spec.name,
            T_ALERT.c.dedup_key == key,
            T_ALERT.c.state == "resolved",
            T_ALERT.c.fired_at.is_not(None),
            T_ALERT.c.resolved_at > since,
        )
    ).first()
    return row is not None


def evaluate(
    unit: Unit,
    spec: AlertSpec,
    r: Mapping[str, Any],
    c: Mapping[str, Any],
    key: str,
    record_id: str | None,
    values: dict[str, Any],
    run: RunActions,
) -> str | None:
    """Move one alert key through its states given the condition now; return what changed."""
    tx = unit.tx
    try:
        holds = bool(unit.bundle.expr(spec, "when").fn(r, c))
    except EvaluationError as exc:  # cannot tell: the alert keeps its state
        failures.record(unit, record_id, "alert", spec.name, exc, field="when")
        return None
    current = _active(tx, spec.name, key)
    if current is None:
        if not holds or _cooling(tx, spec, key):
            return None
        state = "pending" if spec.for_ else "firing"
        result = tx.conn.execute(
            insert(T_ALERT),
            {
                "rule": spec.name,
                "dedup_key": key,
                "record_id": record_id,
                "state": state,
                "severity": spec.severity,
                "started_at": tx.now,
                "fired_at": tx.now if state == "firing" else None,
                "values": to_json(values),
                "labels": dict(spec.labels),
            },
        )
        alert_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
        if spec.for_:
            due = tx.now + timedelta(seconds=spec.for_.seconds)
            timers.add(
                tx, "alert_for", due, record_id=record_id, ref=spec.name, payload={"key": key}
            )
            tx.event("alert_pending", record_id, None, rule=spec.name, key=key, id=alert_id)
            return "pending"
        tx.event("alert_fired", record_id, None, rule=spec.name, key=key, values=to_json(values))
        run(spec, {**values, "id": alert_id, "key": key, "state": "firing"}, False)
        return "firing"
    if current.state == "pending":
        if holds:
            return None
        _set_state(tx, current.id, "resolved", resolved_at=tx.now)
        # Its `for:` timer stays; when it falls due it finds nothing pending and does nothing.
        tx.event("alert_cancelled", record_id, None, rule=spec.name, key=key)
        return "cancelled"
    resolved = _resolves(unit, spec, r, c, holds, record_id)
    if not resolved:
        return None
    _set_state(tx, current.id, "resolved", resolved_at=tx.now)
    tx.event("alert_resolved", record_id, None, rule=spec.name, key=key, values=to_json(values))
    run(spec, {**values, "id": current.id, "key": key, "state": "resolved"}, True)
    return "resolved"


def _resolves(
    unit: Unit,
    spec: AlertSpec,
    r: Mapping[str, Any],
    c: Mapping[str, Any],
    holds: bool,
    record_id: str | None,
) -> bool:
    if spec.resolve_when is None:
        return not holds
    try:
        return bool(unit.bundle.expr(spec, "resolve_when").fn(r, c))
    except EvaluationError as exc:  # cannot tell: the firing alert stays firing
        failures.record(unit, record_id, "alert", spec.name, exc, field="resolve_when")
        return False


def promote(
    unit: Unit,
    spec: AlertSpec,
    key: str,
    r: Mapping[str, Any],
    c: Mapping[str, Any],
    values: dict[str, Any],
    run: RunActions,
) -> str | None:
    """An alert's `for:` ran out: fire it if its condition still holds."""
    tx = unit.tx
    current = _active(tx, spec.name, key)
    if current is None or current.state != "pending":
        return None
    try:
        holds = bool(unit.bundle.expr(spec, "when").fn(r, c))
    except EvaluationError as exc:  # cannot tell that it still holds: not promoted
        failures.record(unit, current.record_id, "alert", spec.name, exc, field="when")
        holds = False
    if not holds:
        _set_state(tx, current.id, "resolved", resolved_at=tx.now)
        tx.event("alert_cancelled", current.record_id, None, rule=spec.name, key=key)
        return "cancelled"
    _set_state(tx, current.id, "firing", fired_at=tx.now, values=to_json(values))
    tx.event("alert_fired", current.record_id, None, rule=spec.name, key=key)
    run(spec, {**values, "id": current.id, "key": key, "state": "firing"}, False)
    return "firing"


def _set_state(tx: Tx, alert_id: int, state: str, **values: Any) -> None:
    tx.conn.execute(update(T_ALERT).where(T_ALERT.c.id == alert_id).values(state=state, **values))


def acknowledge(tx: Tx, alert_id: int) -> dict[str, Any]:
    """Note that someone took an alert in hand (its response time is tracked: F9)."""
    row = _get(tx, alert_id)
    if row.acked_at is None:
        _set_state(tx, alert_id, row.state, acked_at=tx.now, acked_by=tx.actor)
        tx.event("alert_acknowledged", row.record_id, None, rule=row.rule, id=alert_id)
    return as_dict(_get(tx, alert_id))


def feedback(tx: Tx, alert_id: int, verdict: str, note: str = "") -> dict[str, Any]:
    """Record whether an alert was useful or a false positive (F10)."""
    if verdict not in VERDICTS:
        raise Invalid(
            f"feedback is one of {', '.join(VERDICTS)}",
            [Problem("bad-feedback", f"'{verdict}' is not one of {', '.join(VERDICTS)}")],
        )
    row = _get(tx, alert_id)
    if row.fired_at is None:
        raise Invalid(
            "only an alert that fired can get feedback",
            [Problem("not-fired", f"alert {alert_id} is {row.state} and never fired")],
        )
    _set_state(
        tx,
        alert_id,
        row.state,
        feedback=verdict,
        feedback_by=tx.actor,
        feedback_note=note[:1000] or None,
    )
    tx.event("alert_feedback", row.record_id, None, rule=row.rule, id=alert_id, verdict=verdict)
    return as_dict(_get(tx, alert_id))


def _get(tx: Tx, alert_id: int) -> Any:
    row = tx.conn.execute(select(T_ALERT).where(T_ALERT.c.id == alert_id)).first()
    if row is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return row


def as_dict(row: Any) -> dict[str, Any]:
    """Return an alert row as JSON-ready data."""
    out = dict(row._mapping)
    return to_json(out)


def precision(conn: Any) -> list[dict[str, Any]]:
    """Per rule: alerts fired, judged, useful, false positives and precision (F10)."""
    useful = func.sum(case((T_ALERT.c.feedback == "useful", 1), else_=0))
    false = func.sum(case((T_ALERT.c.feedback == "false_positive", 1), else_=0))
    rows = conn.execute(
        select(T_ALERT.c.rule, func.count(), useful, false)
        .where(T_ALERT.c.fired_at.is_not(None))
        .group_by(T_ALERT.c.rule)
        .order_by(T_ALERT.c.rule)
    ).all()
    out = []
    for rule, fired, good, bad in rows:
        judged = int(good or 0) + int(bad or 0)
        out.append(
            {
                "rule": rule,
                "fired": int(fired),
                "judged": judged,
                "useful": int(good or 0),
                "false_positive": int(bad or 0),
                "precision": round(int(good or 0) / judged, 4) if judged else None,
            }
        )
    return out


def listing(
    conn: Any, *, rule: str | None = None, state: str | None = None
) -> list[dict[str, Any]]:
    """Return alerts, newest first, optionally of one rule or state."""
    query = select(T_ALERT).order_by(T_ALERT.c.started_at.desc(), T_ALERT.c.id.desc())
    if rule:
        query = query.where(T_ALERT.c.rule == rule)
    if state:
        query = query.where(T_ALERT.c.state == state)
    return [as_dict(r) for r in conn.execute(query).all()]


def fired_since(conn: Any, since: datetime) -> int:
    """Count alerts fired since a time."""
    return int(conn.execute(select(func.count()).where(T_ALERT.c.fired_at >= since)).scalar_one())


# -- who an alert notifies (they may see and acknowledge it) ----------------------------


def notify_targets(spec: AlertSpec) -> list[str]:
    """Return the recipient references of the rule's `notify` actions (fire and resolve)."""
    return [t for a in (*spec.actions, *spec.on_resolve) if a.notify for t in a.notify.to]


def notified(conn: Any, bundle: Bundle, alert: Mapping[str, Any]) -> list[str]:
    """Return the users an alert notifies, resolved against its record as it is now."""
    spec = bundle.alerts.get(str(alert.get("rule")))
    targets = notify_targets(spec) if spec is not None else []
    if not targets:
        return []
    scope: dict[str, Any] | None = None
    held: dict[str, str | None] = {}
    if alert.get("record_id"):
        try:
            view = records.load(conn, bundle, str(alert["record_id"]))
        except NotFound:
            view = None
        scope = view.scope() if view is not None else None
        held = assignment_holders(conn, str(alert["record_id"]), targets)
    return recipients(bundle, targets, scope, held)


def notifying(
    conn: Any, bundle: Bundle, alerts: list[dict[str, Any]], user: str
) -> list[dict[str, Any]]:
    """Keep the alerts that notify `user`."""
    return [a for a in alerts if user in notified(conn, bundle, a)]
