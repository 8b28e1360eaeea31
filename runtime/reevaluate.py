"""Re-evaluation on model change: decide stored records again after a rule changed.

A scoring model, decision table or routing rule with `reevaluate: {records: ...}`
gets a job in sf_reevaluation when a bundle whose version of the rule differs from
the one that decided stored records is applied (reload or start). The job runs in
the background, `batch` records per transaction: each batch re-runs the rule on its
records, writes what changed with the same side effects as any other change
(computed fields, routing of records nobody holds, load, alerts), adds one
`reevaluated` audit event per record (before -> after, versions) and moves the job's
cursor, all in one commit. A crash loses at most the batch it was in; the next run
resumes after the last committed one. A newer version of the rule supersedes an
older job. See docs/language.md "Re-evaluation on model change".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from engine.bundle import Bundle
from engine.expr import EvaluationError
from engine.versions import DECISION_KINDS, KIND_ATTRS, rule_version, spec_of
from runtime import load, records
from runtime.clock import iso
from runtime.errors import CommandError
from runtime.records import RecordView
from runtime.store import T_DECISION, T_RECORD, T_REEVAL, Store, Tx
from runtime.unit import Unit

ACTIVE = ("queued", "running")


def reevaluating(bundle: Bundle) -> Iterator[tuple[str, str, Any]]:
    """Yield (kind, name, spec) of every rule that re-evaluates records."""
    for kind, attr in KIND_ATTRS.items():
        for name, item in getattr(bundle, attr).items():
            spec = getattr(item, "spec", item)
            block = spec.reevaluate
            if block is not None and block.records != "none":
                yield kind, name, spec


def _chosen(records_: str, entity: str) -> Any:
    """Return the SQL condition of the records a job goes through."""
    cond = T_RECORD.c.entity == entity
    if records_ in ("open", "queued"):
        cond = and_(cond, T_RECORD.c.status == "open")
    if records_ == "queued":
        cond = and_(cond, T_RECORD.c.owner.is_(None))
    return cond


def _stale(conn: Connection, kind: str, name: str, version: str) -> bool:
    """Tell whether some record was decided by another version of the rule."""
    found = conn.execute(
        select(T_DECISION.c.id)
        .where(
            T_DECISION.c.kind == DECISION_KINDS[kind],
            T_DECISION.c.rule == name,
            T_DECISION.c.record_id.is_not(None),
            or_(T_DECISION.c.version.is_(None), T_DECISION.c.version != version),
        )
        .limit(1)
    ).first()
    return found is not None


def queue(store: Store, bundle: Bundle, now: datetime) -> list[dict[str, Any]]:
    """Queue a job for each re-evaluating rule whose version is new to the stored records.

    A rule gets a job when its latest job (if any) is for another version and some
    record was decided by another version (or before versions were kept). Older jobs
    of the rule still queued or running are superseded. Return the jobs queued.
    """
    with store.begin(now, None, bundle.hash) as tx:
        return queue_in(tx, bundle)


def queue_in(tx: Tx, bundle: Bundle) -> list[dict[str, Any]]:
    """Queue the jobs of `queue` in the transaction `tx` (they commit with it or not at all).

    A reload queues them in the transaction of its version row: an apply that fails (a
    definition migration rolled back) leaves no job for a bundle that was never served.
    """
    queued: list[dict[str, Any]] = []
    conn = tx.conn
    for kind, name, spec in reevaluating(bundle):
        version = rule_version(bundle, kind, name) or ""
        latest = conn.execute(
            select(T_REEVAL.c.version)
            .where(T_REEVAL.c.kind == kind, T_REEVAL.c.rule == name)
            .order_by(T_REEVAL.c.id.desc())
            .limit(1)
        ).scalar()
        if latest == version or not _stale(conn, kind, name, version):
            continue
        conn.execute(
            update(T_REEVAL)
            .where(
                T_REEVAL.c.kind == kind,
                T_REEVAL.c.rule == name,
                T_REEVAL.c.state.in_(ACTIVE),
            )
            .values(state="superseded", finished_at=tx.now, note=f"superseded by {version}")
        )
        block = spec.reevaluate
        total = conn.execute(
            select(func.count()).select_from(T_RECORD).where(_chosen(block.records, spec.entity))
        ).scalar_one()
        job_id: int = conn.execute(  # type: ignore[index]
            insert(T_REEVAL).values(
                kind=kind,
                rule=name,
                entity=spec.entity,
                version=version,
                records=block.records,
                state="queued",
                total=total,
                done=0,
                changed=0,
                skipped=0,
                bundle_hash=bundle.hash,
                queued_at=tx.now,
            )
        ).inserted_primary_key[0]
        tx.event(
            "reevaluation_queued",
            None,
            spec.entity,
            job=job_id,
            rule_kind=kind,
            rule=name,
            version=version,
            total=total,
        )
        queued.append(_job(conn, job_id))
    return queued


def _job(conn: Connection, job_id: int) -> dict[str, Any]:
    row = conn.execute(select(T_REEVAL).where(T_REEVAL.c.id == job_id)).one()
    return as_dict(row)


def as_dict(row: Any) -> dict[str, Any]:
    """Return a job row as JSON-ready data (times ISO 8601 with their offset)."""
    data = dict(row._mapping)
    for key in ("queued_at", "started_at", "finished_at"):
        if data.get(key) is not None:
            data[key] = iso(data[key])
    return data


def listing(conn: Connection, *, state: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Return re-evaluation jobs, newest first."""
    query = select(T_REEVAL).order_by(T_REEVAL.c.id.desc()).limit(limit)
    if state:
        query = query.where(T_REEVAL.c.state == state)
    return [as_dict(r) for r in conn.execute(query).all()]


def _last_decision(conn: Connection, kind: str, rule: str, record_id: str) -> tuple[Any, Any]:
    """Return (outcome, version) of the latest decision of a rule about a record."""
    row = conn.execute(
        select(T_DECISION.c.outcome, T_DECISION.c.version)
        .where(
            T_DECISION.c.record_id == record_id,
            T_DECISION.c.kind == DECISION_KINDS[kind],
            T_DECISION.c.rule == rule,
        )
        .order_by(T_DECISION.c.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


class _Lost(Exception):
    """Another worker moved the job on first: this batch rolls back."""


@dataclass
class Step:
    """What one call of `Reevaluator.reevaluate_step` did."""

    job: int
    state: str
    records: int = 0
    changed: int = 0


class Reevaluator:
    """The re-evaluation side of the Runtime (mixed in; needs its rule methods)."""

    clock: Any
    bundle: Any
    unit: Callable[..., AbstractContextManager[Unit]]  # Runtime.unit(actor, now)
    score_in: Callable[[Unit, RecordView, str], None]
    decide_in: Callable[[Unit, RecordView, str], None]
    _apply_routing: Callable[[Unit, RecordView, Any], None]
    _route: Callable[[Unit, RecordView, str], None]
    _routes: Callable[[Unit, RecordView, Any], bool]
    _entity_alerts: Callable[[Unit, RecordView], None]

    def queue_reevaluations(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Queue the jobs the current bundle's changed rules call for (see `queue`)."""
        store: Store = self.store  # type: ignore[attr-defined]
        return queue(store, self.bundle, now or self.clock.now())

    def reevaluations(self, *, state: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Return re-evaluation jobs with their progress, newest first."""
        with self.store.read() as conn:  # type: ignore[attr-defined]
            return listing(conn, state=state, limit=limit)

    def reevaluate(self, max_batches: int | None = None) -> int:
        """Run queued jobs batch by batch until none is left; return the batches run."""
        batches = 0
        while max_batches is None or batches < max_batches:
            step = self.reevaluate_step()
            if step is None:
                break
            batches += 1
        return batches

    def reevaluate_step(self, now: datetime | None = None) -> Step | None:
        """Run one batch of the oldest active job in its own transaction (None: no job)."""
        try:
            with self.unit(None, now or self.clock.now()) as unit:
                return self._batch(unit)
        except _Lost:
            return Step(0, "lost")

    def _batch(self, unit: Unit) -> Step | None:
        conn, bundle = unit.tx.conn, unit.bundle
        query = select(T_REEVAL).where(T_REEVAL.c.state.in_(ACTIVE)).order_by(T_REEVAL.c.id)
        if unit.tx.postgres:  # a second server process leaves a job being run alone
            query = query.with_for_update(skip_locked=True)
        job = conn.execute(query.limit(1)).first()
        if job is None:
            return None
        spec = spec_of(bundle, job.kind, job.rule) if job.kind in KIND_ATTRS else None
        block = spec.reevaluate if spec is not None else None
        why = None
        if block is None or block.records == "none":
            why = "the rule no longer re-evaluates records"
        elif rule_version(bundle, job.kind, job.rule) != job.version:
            why = "the rule changed again"
        if why is not None or block is None:
            self._finish(unit, job, "superseded", why or "")
            return Step(job.id, "superseded")
        query = select(T_RECORD.c.id).where(_chosen(job.records, job.entity))
        if job.cursor is not None:
            query = query.where(T_RECORD.c.id > job.cursor)
        ids = list(conn.execute(query.order_by(T_RECORD.c.id).limit(block.batch + 1)).scalars())
        more = len(ids) > block.batch
        ids = ids[: block.batch]
        where = bundle.expr(block, "where").fn if block.where else None
        changed = skipped = 0
        for record_id in ids:
            view = records.load(conn, bundle, record_id)
            outcome = self._isolated(unit, job, spec, where, view)
            changed += outcome == "changed"
            skipped += outcome in ("skipped", "failed")
        values: dict[str, Any] = {
            "state": "running" if more else "done",
            "done": job.done + len(ids),
            "changed": job.changed + changed,
            "skipped": job.skipped + skipped,
            "cursor": ids[-1] if ids else job.cursor,
        }
        if job.started_at is None:
            values["started_at"] = unit.now
        if not more:
            values["finished_at"] = unit.now
        moved = conn.execute(
            update(T_REEVAL)
            .where(
                T_REEVAL.c.id == job.id,
                T_REEVAL.c.done == job.done,
                T_REEVAL.c.state.in_(ACTIVE),
            )
            .values(**values)
        )
        if moved.rowcount != 1:
            raise _Lost(job.id)
        if not more:
            unit.tx.event(
                "reevaluation_done",
                None,
                job.entity,
                job=job.id,
                rule=job.rule,
                version=job.version,
                done=values["done"],
                changed=values["changed"],
            )
        return Step(job.id, values["state"], len(ids), changed)

    def _isolated(self, unit: Unit, job: Any, spec: Any, where: Any, view: RecordView) -> str:
        """Run `_one` under a savepoint: a record whose rule refuses or fails is undone
        alone, counted as skipped and recorded (`reevaluation_failed`), so one record
        cannot hold its job, and every job queued after it, at the same batch forever."""
        try:
            with unit.savepoint():
                return self._one(unit, job, spec, where, view)
        except (CommandError, EvaluationError) as exc:
            unit.tx.event(
                "reevaluation_failed",
                view.id,
                view.entity,
                job=job.id,
                rule=job.rule,
                version=job.version,
                error=str(exc),
            )
            return "failed"

    def _finish(self, unit: Unit, job: Any, state: str, note: str) -> None:
        unit.tx.conn.execute(
            update(T_REEVAL)
            .where(T_REEVAL.c.id == job.id)
            .values(state=state, finished_at=unit.now, note=note)
        )

    def _one(self, unit: Unit, job: Any, spec: Any, where: Any, view: RecordView) -> str:
        """Decide one record again; return 'skipped', 'changed' or 'same'.

        A read-only record (stored under an older schema and failing today's form) is
        skipped: it stays as it was kept until a change makes it pass the form.
        """
        if view.read_only:
            return "skipped"
        if where is not None:
            scope = view.scope()
            try:
                keep = bool(where(scope, unit.context(scope)))
            except EvaluationError:
                keep = False
            if not keep:
                return "skipped"
        conn = unit.tx.conn
        before, old_version = _last_decision(conn, job.kind, job.rule, view.id)
        work = view.copy()
        if job.kind == "scoring":
            self.score_in(unit, work, job.rule)
        elif job.kind == "decision_table":
            self.decide_in(unit, work, job.rule)
        elif (
            work.owner is None
            and work.status == "open"
            and (not spec.when or self._routes(unit, work, spec))
        ):
            self._apply_routing(unit, work, spec)
        fields = {k: [view.data.get(k), v] for k, v in work.data.items() if view.data.get(k) != v}
        if fields and work.owner is None:
            self._route(unit, work, "updated")  # a changed score may route a waiting record
        moved = (view.owner, view.queue) != (work.owner, work.queue)
        if fields or moved:
            load.recount(unit, work)
            self._entity_alerts(unit, work)
            records.save_record(conn, unit.bundle, work, unit.now)
        after, _ = _last_decision(conn, job.kind, job.rule, view.id)
        unit.tx.event(
            "reevaluated",
            view.id,
            view.entity,
            job=job.id,
            rule_kind=job.kind,
            rule=job.rule,
            before=before,
            after=after,
            from_version=old_version,
            to_version=job.version,
            fields=fields,
            owner=[view.owner, work.owner] if moved else None,
        )
        return "changed" if fields or moved else "same"
