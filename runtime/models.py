"""The store's tables (SQLModel): records, history, audit, evidence, alerts, timers, outbox.

Records keep typed core columns plus the entity's own fields in one validated JSON
column (ARCHITECTURE.md decision 7), so a definition change never rewrites a table.
Every table is prefixed `sf_` so sopflow can share a database with other software.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def _json(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


def _time(nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None, sa_column=Column(DateTime(timezone=False), nullable=nullable, index=index)
    )


class Record(SQLModel, table=True):
    """One business record (a lead, an opportunity, a ticket...)."""

    __tablename__ = "sf_record"
    __table_args__ = (
        UniqueConstraint("entity", "dedup_key", name="uq_sf_record_dedup"),
        Index("ix_sf_record_entity_stage", "entity", "stage"),
        Index("ix_sf_record_entity_created", "entity", "created_at"),
        # funnel "in it now" and forecast buckets: open records of a workflow per stage
        Index("ix_sf_record_workflow_status_stage", "workflow", "status", "stage"),
    )

    id: str = Field(primary_key=True, max_length=32)
    entity: str = Field(max_length=64)
    workflow: str | None = Field(default=None, max_length=64)
    stage: str | None = Field(default=None, max_length=64)
    stage_entered_at: datetime | None = _time()
    status: str = Field(default="open", max_length=16)
    owner: str | None = Field(default=None, max_length=64, index=True)
    queue: str | None = Field(default=None, max_length=64, index=True)
    dedup_key: str | None = Field(default=None, max_length=512)
    data: dict[str, Any] = _json()
    schema_version: int = 1
    read_only: bool = False
    row_version: int = 1
    created_at: datetime = _time(nullable=False)
    updated_at: datetime = _time(nullable=False)
    created_by: str | None = Field(default=None, max_length=64)


class StageStay(SQLModel, table=True):
    """One stay of a record in a stage: entered, then left (with dwell) or still open."""

    __tablename__ = "sf_stage_history"
    __table_args__ = (
        # funnel counts (records per stage, per exit) read these indexes alone
        Index("ix_sf_stage_history_wf_stage_record", "workflow", "stage", "record_id"),
        Index("ix_sf_stage_history_wf_to_record", "workflow", "to_stage", "record_id"),
        # a record's stays (its lookups must not fall back on the workflow indexes above)
        Index("ix_sf_stage_history_record_wf_stage", "record_id", "workflow", "stage"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(max_length=32)
    entity: str = Field(max_length=64)
    workflow: str = Field(max_length=64)
    stage: str = Field(max_length=64)
    from_stage: str | None = Field(default=None, max_length=64)
    to_stage: str | None = Field(default=None, max_length=64)
    entered_at: datetime = _time(nullable=False)
    left_at: datetime | None = _time()
    dwell_seconds: float | None = None
    actor: str | None = Field(default=None, max_length=64)
    left_by: str | None = Field(default=None, max_length=64)
    owner: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=64)
    outcome: str | None = Field(default=None, max_length=16)
    evidence_ids: list[str] = _json()
    evidence_kind: str | None = Field(default=None, max_length=512)


class Event(SQLModel, table=True):
    """The append-only audit and event log: every change, who made it, and why."""

    __tablename__ = "sf_event"
    # SLA breaches per stage (dwell reports) look up one kind of event per record; no
    # query looks events up by `at` alone, so it has no index (every insert would pay).
    __table_args__ = (Index("ix_sf_event_kind_record", "kind", "record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _time(nullable=False)
    record_id: str | None = Field(default=None, max_length=32, index=True)
    entity: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=64)
    actor: str | None = Field(default=None, max_length=64)
    bundle_hash: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = _json()


class Evidence(SQLModel, table=True):
    """A file attached to a record as evidence; its bytes live on disk by content address."""

    __tablename__ = "sf_evidence"

    id: str = Field(primary_key=True, max_length=32)
    record_id: str = Field(max_length=32, index=True)
    kind: str = Field(max_length=64)
    stage: str | None = Field(default=None, max_length=64)
    sha256: str = Field(max_length=64, index=True)
    file_name: str = Field(max_length=255)
    media_type: str = Field(max_length=127)
    size: int
    uploader: str | None = Field(default=None, max_length=64)
    uploaded_at: datetime = _time(nullable=False)


class Decision(SQLModel, table=True):
    """Why an automated decision came out as it did (score breakdown, routing, refusal)."""

    __tablename__ = "sf_decision"

    id: int | None = Field(default=None, primary_key=True)
    record_id: str | None = Field(default=None, max_length=32, index=True)
    kind: str = Field(max_length=32)
    rule: str = Field(max_length=64)
    at: datetime = _time(nullable=False)
    outcome: str = Field(default="", max_length=255)
    detail: dict[str, Any] = _json()
    version: str | None = Field(default=None, max_length=16)  # the rule's (engine/versions.py)


class Alert(SQLModel, table=True):
    """An alert instance: pending -> firing -> resolved, deduplicated by key."""

    __tablename__ = "sf_alert"
    __table_args__ = (Index("ix_sf_alert_rule_key_state", "rule", "dedup_key", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=64)
    dedup_key: str = Field(max_length=512)
    record_id: str | None = Field(default=None, max_length=32, index=True)
    state: str = Field(max_length=16)  # pending | firing | resolved
    severity: str = Field(default="warning", max_length=16)
    started_at: datetime = _time(nullable=False)
    fired_at: datetime | None = _time()
    resolved_at: datetime | None = _time()
    acked_at: datetime | None = _time()
    acked_by: str | None = Field(default=None, max_length=64)
    feedback: str | None = Field(default=None, max_length=32)
    feedback_by: str | None = Field(default=None, max_length=64)
    feedback_note: str | None = Field(default=None, max_length=1000)
    values: dict[str, Any] = _json()
    labels: dict[str, Any] = _json()


class Timer(SQLModel, table=True):
    """A durable timer: something to do at a due time (SLA, reminder, alert `for:`)."""

    __tablename__ = "sf_timer"
    __table_args__ = (Index("ix_sf_timer_due", "fired", "due_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    due_at: datetime = _time(nullable=False)
    kind: str = Field(max_length=32)  # sla_breach | sla_remind | alert_for | schedule
    record_id: str | None = Field(default=None, max_length=32, index=True)
    ref: str = Field(default="", max_length=255)
    payload: dict[str, Any] = _json()
    fired: bool = False
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = _time()


class Outbox(SQLModel, table=True):
    """An effect leaving the system (notification, webhook), delivered after commit."""

    __tablename__ = "sf_outbox"
    __table_args__ = (Index("ix_sf_outbox_pending", "state", "next_attempt_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=128, unique=True)
    action: str = Field(max_length=32)  # notify | webhook | suggest
    channel: str = Field(default="log", max_length=16)
    payload: dict[str, Any] = _json()
    record_id: str | None = Field(default=None, max_length=32, index=True)
    state: str = Field(default="pending", max_length=16)  # pending | sent | dead
    attempts: int = 0
    next_attempt_at: datetime = _time(nullable=False)
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _time(nullable=False)
    sent_at: datetime | None = _time()
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = _time()


class Assignment(SQLModel, table=True):
    """Current load per user (open records they own), for least-loaded routing."""

    __tablename__ = "sf_load"

    user_id: str = Field(primary_key=True, max_length=64)
    open_count: int = 0
    round_robin_at: datetime | None = _time()


class LoadItem(SQLModel, table=True):
    """An owned record and whether it counts in its owner's load now (runtime/load.py)."""

    __tablename__ = "sf_load_item"

    record_id: str = Field(primary_key=True, max_length=32)
    owner: str = Field(max_length=64)  # the owner at the record's last assignment
    counted: bool = False  # it is one of `owner`'s sf_load.open_count
    until: datetime | None = _time()  # the end of its load window (form `load: {for: ...}`)


class NamedAssignment(SQLModel, table=True):
    """A named assignment of a record (form `assignments`): who holds it, or which queue.

    A row exists once the assignment was filled (by routing or by hand): a `when`
    moment fills it the first time its condition holds, never again by itself.
    """

    __tablename__ = "sf_assignment"

    record_id: str = Field(primary_key=True, max_length=32)
    name: str = Field(primary_key=True, max_length=64)
    user_id: str | None = Field(default=None, max_length=64, index=True)
    queue: str | None = Field(default=None, max_length=64, index=True)
    counted: bool = False  # it is one of `user_id`'s sf_load.open_count
    filled_at: datetime | None = _time()


class ScheduleRun(SQLModel, table=True):
    """When each schedule last ran and is next due (survives restarts: missed runs)."""

    __tablename__ = "sf_schedule"

    name: str = Field(primary_key=True, max_length=64)
    last_run_at: datetime | None = _time()
    next_due_at: datetime | None = _time()
    runs: int = 0
    missed: int = 0


class ForecastSnapshot(SQLModel, table=True):
    """A forecast as computed at one time, kept so its error against actuals is tracked."""

    __tablename__ = "sf_forecast"

    id: int | None = Field(default=None, primary_key=True)
    forecast: str = Field(max_length=64, index=True)
    computed_at: datetime = _time(nullable=False)
    bucket_start: datetime = _time(nullable=False)
    expected: float
    coefficient: float = 1.0
    open_records: int = 0


class MetricSnapshotRow(SQLModel, table=True):
    """A metric's value for one group at one time, stored on the metric's `snapshot` cadence."""

    __tablename__ = "sf_metric_snapshot"

    id: int | None = Field(default=None, primary_key=True)
    metric: str = Field(max_length=64, index=True)
    group_key: str = Field(max_length=512, description="JSON list of the group values.")
    groups: dict[str, Any] = _json()
    at: datetime = _time(nullable=False, index=True)
    value: float | None = None
    count: int = 0


class BundleVersion(SQLModel, table=True):
    """A definition bundle applied to this store: hash, time, author, summary."""

    __tablename__ = "sf_bundle_version"

    id: int | None = Field(default=None, primary_key=True)
    hash: str = Field(max_length=64, index=True)
    name: str = Field(max_length=128)
    applied_at: datetime = _time(nullable=False)
    author: str | None = Field(default=None, max_length=64)
    summary: str = Field(default="", max_length=2000)
    changes: dict[str, Any] = _json()


class Reevaluation(SQLModel, table=True):
    """A background job deciding records again after a rule changed (runtime/reevaluate.py)."""

    __tablename__ = "sf_reevaluation"
    __table_args__ = (Index("ix_sf_reevaluation_rule", "kind", "rule", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)  # scoring | decision_table | routing
    rule: str = Field(max_length=64)
    entity: str = Field(max_length=64)
    version: str = Field(max_length=16)
    records: str = Field(max_length=16)  # open | all | queued
    state: str = Field(default="queued", max_length=16)  # queued|running|done|superseded
    total: int = 0
    done: int = 0
    changed: int = 0
    skipped: int = 0
    cursor: str | None = Field(default=None, max_length=32)  # last record id processed
    bundle_hash: str | None = Field(default=None, max_length=64)
    queued_at: datetime = _time(nullable=False)
    started_at: datetime | None = _time()
    finished_at: datetime | None = _time()
    note: str | None = Field(default=None, max_length=500)
