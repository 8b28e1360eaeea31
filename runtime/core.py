"""The Runtime: a Bundle executing against a Store, one transaction per command.

Commands (create, ingest, update, transition, attach evidence, assign, alert
acknowledgement and feedback) are the Python API the server and the CLI call. Each
happens whole or not at all; rules that react run inside the same transaction.
The changes a command makes inside its unit are in runtime/changes.py, the rules
that react to them in runtime/reactions.py (both mixed into the Runtime).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from engine.bundle import Bundle
from engine.expr import MissingRow
from runtime import alerts, attachments, load, named, records, rows, stages, timers
from runtime.approvals import Approvals
from runtime.changes import RecordChanges
from runtime.clock import Clock, SystemClock
from runtime.data import form_model, to_json
from runtime.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Problem,
    Refused,
    Taken,
    missing_row,
)
from runtime.evidence import MAX_BYTES, BlobStore, read_media
from runtime.explain import Explanations
from runtime.forecast import compute_forecast, snapshot_forecast
from runtime.ingest import merge_ingest
from runtime.integrity import key_of, settle_key
from runtime.metrics import MetricCache
from runtime.people import allowed, roles_of, sender
from runtime.records import RecordView
from runtime.reevaluate import Reevaluator
from runtime.store import T_EVIDENCE, Store
from runtime.ticking import Ticker
from runtime.unit import Unit

log = logging.getLogger("sopflow.runtime")


class Runtime(RecordChanges, Explanations, Ticker, Reevaluator, Approvals):
    """Executes one Bundle (swapped whole on reload) against one Store."""

    def __init__(
        self,
        bundle: Bundle,
        store: Store,
        clock: Clock | None = None,
        *,
        evidence_dir: Path | str = "evidence",
        worker_id: str = "runtime",
        late_grace: timedelta = timedelta(minutes=5),
    ) -> None:
        self._bundle = bundle
        self.store = store
        self.clock = clock or SystemClock()
        self.blobs = BlobStore(evidence_dir)
        self.worker_id = worker_id
        self.late_grace = late_grace
        self._metric_checked: datetime | None = None

    # -- the bundle ---------------------------------------------------------------
    @property
    def bundle(self) -> Bundle:
        """Return the Bundle every new command runs on."""
        return self._bundle

    def swap(self, bundle: Bundle) -> None:
        """Serve a new Bundle from the next command on (one reference assignment)."""
        self._bundle = bundle

    @contextmanager
    def unit(self, actor: str | None = None, now: datetime | None = None) -> Iterator[Unit]:
        """Open one command's transaction on the current bundle."""
        bundle = self._bundle
        when = now or self.clock.now()
        try:
            with self.store.begin(when, actor, bundle.hash) as tx:
                cache = MetricCache(tx.conn, bundle.metrics, tx.now, bundle)
                yield Unit(bundle, tx, lambda name, group: cache.value(name, *group), self.blobs)
        except MissingRow as exc:  # a lookup without a row refuses the whole command
            raise missing_row(exc) from exc

    # -- commands -----------------------------------------------------------------
    def create(
        self,
        entity: str,
        data: Mapping[str, Any],
        *,
        actor: str | None = None,
        workflow: str | None = None,
    ) -> RecordView:
        """Create a record: normalise, validate, compute, score, route, start its workflow.

        A `workflow` the caller names must apply to the record: one whose `applies_when`
        is false for it is `Refused` (an action naming a workflow starts it regardless).
        A record whose key (the form's `key`) another record holds is refused (`Taken`,
        naming that record); ingest merges into it instead.
        """
        for attempt in (1, 2):
            try:
                with self.unit(actor) as unit:
                    made = self.create_in(unit, entity, dict(data), workflow, check_applies=True)
                    return _shown(unit, made)
            except IntegrityError:
                # Two creates of one new key raced (PostgreSQL); the loser's second try
                # finds the winner's record and is refused as a duplicate.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def ingest(
        self, entity: str, data: Mapping[str, Any], *, actor: str | None = None
    ) -> tuple[RecordView, bool]:
        """Create, or merge into the record with the same dedup key (P1); say which."""
        for attempt in (1, 2):
            try:
                with self.unit(actor) as unit:
                    return self._ingest_in(unit, entity, dict(data))
            except (IntegrityError, Taken):
                # Two ingests of one new key raced; the loser now finds the winner's row.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def receive(self, name: str, data: Mapping[str, Any]) -> tuple[RecordView, bool]:
        """Take a push of the inbound declaration `name` (its signature already checked).

        Only the declared fields may be given (others: Invalid, listing each, nothing
        stored); the record is created or merged on the form's key, as `ingest` does,
        by the actor `inbound:<name>`, who needs no role.
        """
        spec = self._bundle.manifest.inbound.get(name)
        if spec is None:
            raise NotFound(f"no inbound '{name}' is declared")
        undeclared = [k for k in data if k not in spec.fields]
        if undeclared:
            raise Invalid(
                f"inbound '{name}' may not set {', '.join(repr(k) for k in undeclared)}",
                [
                    Problem(
                        "undeclared-field",
                        f"'{k}' is not among the fields inbound '{name}' may set "
                        f"({', '.join(spec.fields)})",
                        field=k,
                    )
                    for k in undeclared
                ],
            )
        return self.ingest(spec.entity, data, actor=sender(name))

    def _ingest_in(self, unit: Unit, entity: str, data: dict[str, Any]) -> tuple[RecordView, bool]:
        fm = form_model(unit.bundle, entity)
        if not fm.spec.key:
            raise Invalid(
                f"entity '{entity}' declares no key, so it cannot be ingested with dedup",
                [Problem("no-key", "add 'key: [field, ...]' to the form")],
            )
        key = key_of(unit, entity, fm.validate(fm.normalise(data), partial=True))
        existing = records.find_by_key(unit.tx.conn, unit.bundle, entity, key)
        if existing is None:
            return self.create_in(unit, entity, data, None), True
        users = rows.reach(unit.bundle, entity, unit.actor, roles_of(unit.bundle, unit.actor))
        if not rows.sees(unit.tx.conn, existing, users):
            raise Forbidden(
                f"a {entity} record with this key exists, and your row access does not reach it"
            )
        changes = merge_ingest(fm.spec, existing.data, data)
        return self._update_in(unit, existing, changes, "ingested"), False

    def update(
        self,
        record_id: str,
        changes: Mapping[str, Any],
        *,
        actor: str | None = None,
        expected_version: int | None = None,
    ) -> RecordView:
        """Change fields of a record (checking its row version when one is given)."""
        with self.unit(actor) as unit:
            view = _reachable(unit, record_id)
            _expect(view, expected_version)
            return _shown(unit, self._update_in(unit, view, dict(changes), "updated"))

    def transition(
        self,
        record_id: str,
        target: str,
        *,
        actor: str | None = None,
        expected_version: int | None = None,
    ) -> RecordView:
        """Move a record to another stage or exit; refuse with every unmet requirement."""
        try:
            with self.unit(actor) as unit:
                view = _reachable(unit, record_id)
                _expect(view, expected_version)
                return _shown(unit, self._move(unit, view, target))
        except Refused as refused:
            self._note_refusal(record_id, target, actor, refused)
            raise

    def check_transition(
        self, record_id: str, target: str, *, actor: str | None = None
    ) -> list[Problem]:
        """Return what keeps a record from moving to `target` (nothing is written)."""
        with self.unit(actor) as unit:
            view = _reachable(unit, record_id)
            wf = self._workflow(unit, view)
            problems = stages.move_problems(unit, wf, view, target)
            unit.tx.conn.rollback()
            return problems

    def attach_evidence(
        self,
        record_id: str,
        kind: str,
        content: bytes,
        *,
        file_name: str,
        media_type: str = "application/octet-stream",
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Attach a file as evidence of `kind`; its bytes are stored once by sha256."""
        if not content:
            raise Invalid("the file is empty", [Problem("empty-file", file_name)])
        if len(content) > MAX_BYTES:
            raise Invalid(
                f"the file is {len(content)} bytes; the limit is {MAX_BYTES}",
                [Problem("too-large", file_name)],
            )
        media = read_media(content, media_type)
        sha = hashlib.sha256(content).hexdigest()
        with self.unit(actor) as unit:
            view = _reachable(unit, record_id)
            write = unit.bundle.forms[view.entity].spec.permissions.write
            if not allowed(unit.bundle, unit.actor, write):
                raise Forbidden(f"your roles may not add evidence to {view.entity} records")
            if view.status != "open":
                raise Refused(f"the record is {view.status}; it takes no more evidence")
            attachments.check_kind(unit.bundle, view, kind, media)
            files = attachments.attached(unit.tx.conn, record_id)
            wf = unit.bundle.workflows.get(view.workflow or "")
            here = stages.find(wf, view.stage or "") if wf is not None else None
            attachments.check_max(here, files, kind, sha, media.type)
            evidence_id = records.new_id()
            row = {
                "id": evidence_id,
                "record_id": record_id,
                "kind": kind,
                "stage": view.stage,
                "sha256": sha,
                "file_name": file_name[:255] or "file",
                "media_type": media.type,
                "size": len(content),
                "uploader": actor,
                "uploaded_at": unit.now,
            }
            unit.tx.conn.execute(T_EVIDENCE.insert(), row)
            stages.note_evidence(unit, record_id, evidence_id, kind)
            unit.tx.event(
                "evidence_attached",
                record_id,
                view.entity,
                evidence=evidence_id,
                evidence_kind=kind,
            )
            work = view.copy()
            field = unit.bundle.forms[view.entity].spec.fields.get(kind)
            if field is not None and field.type == "evidence":
                new = attachments.Attached(evidence_id, kind, media.type, sha, True)
                work.data[kind] = attachments.field_value(work.data.get(kind), files, kind, new)
            self._compute(unit, work)  # computed fields may count evidence
            changed = work.data != view.data
            if self._react(unit, work, "evidence_attached") or changed:
                settle_key(unit, work)
                records.save_record(unit.tx.conn, unit.bundle, work, unit.now)
            # Last, once nothing can refuse the upload: a refused one leaves no file.
            self.blobs.put(content)
            return to_json(row)

    def assign(
        self,
        record_id: str,
        *,
        user: str | None = None,
        queue: str | None = None,
        routing: str | None = None,
        as_: str | None = None,
        actor: str | None = None,
        expected_version: int | None = None,
    ) -> RecordView:
        """Give a record to a user, put it in a queue, or route it by a routing rule.

        `as_` names one of the entity's named assignments (default: the owner); with
        neither user, queue nor routing it clears that assignment.
        """
        with self.unit(actor) as unit:
            view = _reachable(unit, record_id)
            _expect(view, expected_version)
            work = view.copy()
            self.assign_in(unit, work, user=user, queue=queue, routing=routing, as_=as_)
            saved = records.save_record(unit.tx.conn, unit.bundle, work, unit.now)
            # An alert on who holds the record (e.g. "nobody owns it for 15 minutes")
            # follows the assignment, as it follows any other change.
            self._entity_alerts(unit, work)
            return _shown(unit, saved)

    def acknowledge_alert(self, alert_id: int, *, actor: str | None = None) -> dict[str, Any]:
        """Acknowledge an alert (its response time is tracked)."""
        with self.unit(actor) as unit:
            return alerts.acknowledge(unit.tx, alert_id)

    def alert_feedback(
        self, alert_id: int, verdict: str, *, actor: str | None = None, note: str = ""
    ) -> dict[str, Any]:
        """Mark an alert useful or a false positive (F10)."""
        with self.unit(actor) as unit:
            return alerts.feedback(unit.tx, alert_id, verdict, note)

    def import_legacy(
        self, entity: str, data: Mapping[str, Any], schema_version: int, *, actor: str | None = None
    ) -> RecordView:
        """Keep a record from an older schema (P12): readable; read-only if it fails the form."""
        with self.unit(actor) as unit:
            fm = form_model(unit.bundle, entity)
            if fm.spec.legacy.policy == "reject":
                raise Refused(f"entity '{entity}' does not accept legacy records")
            values = fm.read(fm.normalise(dict(data)))
            problems = fm.problems(values)
            view = RecordView(
                id=records.new_id(),
                entity=entity,
                data=values,
                schema_version=schema_version,
                read_only=bool(problems) and fm.spec.legacy.policy == "read_only_if_invalid",
                created_by=unit.actor,
            )
            records.insert_record(unit.tx.conn, view, unit.now)
            unit.tx.event(
                "imported",
                view.id,
                entity,
                schema_version=schema_version,
                problems=[p.to_dict() for p in problems],
            )
            return view

    def start_workflow_in(self, unit: Unit, record: RecordView, workflow: str) -> None:
        """Start a workflow on a record that has none (or has finished one)."""
        wf = unit.bundle.workflows.get(workflow)
        if wf is None or wf.entity != record.entity:
            raise Invalid(
                f"workflow '{workflow}' does not run on {record.entity}",
                [Problem("bad-workflow", workflow)],
            )
        if record.workflow and record.status == "open":
            stages.close_stay(unit, record, wf.body.stages[0].id, None)
            timers.cancel(unit.tx, record.id, timers.SLA_KINDS)
        record.workflow, record.status = workflow, "open"
        record.stage, record.stage_entered_at = wf.body.stages[0].id, unit.now
        self._enter(unit, wf, record, record.stage, None)
        if record.owner is not None:
            load.settle(unit, record)  # a finished record reopens: it is open work again

    def recompute_forecast_in(self, unit: Unit, name: str) -> dict[str, Any]:
        """Recompute a forecast and keep the snapshot (F8)."""
        spec = unit.bundle.forecasts[name]
        weights = unit.bundle.forecast_weights(spec)  # F8: a template's every workflow too
        table = unit.bundle.tables.get(spec.seasonality or "")
        buckets = compute_forecast(
            unit.tx.conn,
            spec,
            weights,
            table,
            unit.now,
            unit.bundle.manifest.timezone,
            unit.bundle.forecast_workflows(spec),
        )
        snapshot_forecast(unit.tx, name, buckets, unit.now)
        total = sum(b.expected for b in buckets)
        unit.tx.event("forecast_recomputed", None, None, forecast=name, total=total)
        return {"forecast": name, "total": round(total, 2), "buckets": len(buckets)}


def _shown(unit: Unit, view: RecordView) -> RecordView:
    """Return a record a command answers with, its named assignments read."""
    named.attach(unit.tx.conn, unit.bundle, [view])
    return view


def _reachable(unit: Unit, record_id: str) -> RecordView:
    """Load a record the actor acts on: one their row-level access hides does not exist
    for them (runtime/rows.py), so the answer is the same NotFound."""
    view = records.load(unit.tx.conn, unit.bundle, record_id)
    users = rows.reach(unit.bundle, view.entity, unit.actor, roles_of(unit.bundle, unit.actor))
    if not rows.sees(unit.tx.conn, view, users):
        raise NotFound(f"record '{record_id}' does not exist")
    return view


def _expect(view: RecordView, expected: int | None) -> None:
    if expected is not None and expected != view.row_version:
        raise Conflict(f"record '{view.id}' is at version {view.row_version}, not {expected}", view)


__all__ = ["Runtime"]
