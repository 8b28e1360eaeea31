"""Reads that answer "why did this happen?": decisions, history, events, alerts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.versions import rule_version
from runtime import alerts, named, records
from runtime.data import to_json
from runtime.records import RecordView
from runtime.rules import expand_routing, expand_score
from runtime.store import T_DECISION, T_EVENT, T_EVIDENCE, T_STAY, Store

_RULE_KINDS = {"score": "scoring", "decision_table": "decision_table", "routing": "routing"}


def _versioned(decision: dict[str, Any], bundle: Any) -> dict[str, Any]:
    """Say which version of its rule made a decision and whether the live rule differs.

    `stale` is true when the rule being served has another version (or is gone); a
    decision kept before versions were recorded has `version` None and is stale.
    """
    kind = _RULE_KINDS.get(str(decision.get("kind")))
    if kind is None:
        decision.pop("version", None)
        return decision
    live = rule_version(bundle, kind, str(decision.get("rule")))
    decision["stale"] = decision.get("version") != live
    return decision


def _readable(decision: dict[str, Any]) -> dict[str, Any]:
    """Spell out a decision kept as columns: one dict per feature, one per candidate.

    Scores and routings keep their breakdowns column by column (runtime/rules.py);
    readers get them as they always did. Rows written before that pass unchanged.
    """
    detail = decision.get("detail")
    if isinstance(detail, dict):
        if decision.get("kind") == "score":
            decision["detail"] = expand_score(detail)
        elif decision.get("kind") == "routing":
            decision["detail"] = expand_routing(detail)
    return decision


class Explanations:
    """Read-side methods of the Runtime (mixed in; needs `store` and `bundle`)."""

    store: Store
    bundle: Any  # the Runtime's current Bundle

    def get(self, record_id: str) -> RecordView:
        """Return one record."""
        with self.store.read() as conn:
            view = records.load(conn, self.bundle, record_id)
            named.attach(conn, self.bundle, [view])
            return view

    def history(self, record_id: str) -> list[dict[str, Any]]:
        """Return a record's stays in stages, oldest first."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(T_STAY).where(T_STAY.c.record_id == record_id).order_by(T_STAY.c.id)
            ).all()
        return [to_json(dict(r._mapping)) for r in rows]

    def events(self, record_id: str, newest: int | None = None) -> list[dict[str, Any]]:
        """Return a record's audit trail, oldest first (only the `newest` n when given)."""
        query = select(T_EVENT).where(T_EVENT.c.record_id == record_id)
        if newest is not None:
            query = query.order_by(T_EVENT.c.id.desc()).limit(newest)
        else:
            query = query.order_by(T_EVENT.c.id)
        with self.store.read() as conn:
            rows = conn.execute(query).all()
        if newest is not None:
            rows = rows[::-1]
        return [to_json(dict(r._mapping)) for r in rows]

    def evidence(self, record_id: str) -> list[dict[str, Any]]:
        """Return the evidence files attached to a record."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(T_EVIDENCE)
                .where(T_EVIDENCE.c.record_id == record_id)
                .order_by(T_EVIDENCE.c.uploaded_at, T_EVIDENCE.c.id)
            ).all()
        return [to_json(dict(r._mapping)) for r in rows]

    def explain(self, record_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Return every automated decision about a record with its reasons, oldest first.

        Scores carry their per-feature breakdown, routing every candidate considered and
        why the winner won (or why the record went to a queue), refused moves the rule
        and expression that refused them. A score, decision table or routing decision
        also says the `version` of the rule that made it and `stale: true` when the rule
        being served has another version (runtime/reevaluate.py).
        """
        query = select(T_DECISION).where(T_DECISION.c.record_id == record_id)
        if kind:
            query = query.where(T_DECISION.c.kind == kind)
        with self.store.read() as conn:
            rows = conn.execute(query.order_by(T_DECISION.c.id)).all()
        bundle = self.bundle
        return [_versioned(_readable(to_json(dict(r._mapping))), bundle) for r in rows]

    def alerts(self, *, rule: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        """Return alerts, newest first; each keeps the values that made it fire."""
        with self.store.read() as conn:
            return alerts.listing(conn, rule=rule, state=state)

    def alert_precision(self) -> list[dict[str, Any]]:
        """Return each alert rule's precision from feedback (F10)."""
        with self.store.read() as conn:
            return alerts.precision(conn)
