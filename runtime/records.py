"""Reading and writing record rows: typed views, optimistic version checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from engine.bundle import Bundle
from runtime.data import form_model, to_json
from runtime.errors import Conflict, NotFound
from runtime.store import T_RECORD

CORE = (
    "id",
    "entity",
    "workflow",
    "stage",
    "status",
    "owner",
    "queue",
    "created_at",
    "updated_at",
    "stage_entered_at",
    "schema_version",
)


@dataclass
class RecordView:
    """A record as the runtime and its callers see it: core columns plus typed data."""

    id: str
    entity: str
    data: dict[str, Any]
    workflow: str | None = None
    stage: str | None = None
    status: str = "open"
    owner: str | None = None
    queue: str | None = None
    dedup_key: str | None = None
    schema_version: int = 1
    read_only: bool = False
    row_version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    stage_entered_at: datetime | None = None
    created_by: str | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def scope(self) -> dict[str, Any]:
        """Return what expressions read: the fields plus the core columns."""
        values = dict(self.data)
        values.update(
            id=self.id,
            entity=self.entity,
            workflow=self.workflow,
            stage=self.stage,
            status=self.status,
            owner=self.owner,
            queue=self.queue,
            created_at=self.created_at,
            updated_at=self.updated_at,
            stage_entered_at=self.stage_entered_at,
            schema_version=self.schema_version,
        )
        return values

    def copy(self) -> RecordView:
        """Return a working copy whose data can change without touching this one."""
        return replace(self, data=dict(self.data), warnings=list(self.warnings))

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready data."""
        out = {k: getattr(self, k) for k in CORE}
        out.update(
            row_version=self.row_version,
            read_only=self.read_only,
            dedup_key=self.dedup_key,
            created_by=self.created_by,
            data=to_json(self.data),
        )
        if self.warnings:
            out["warnings"] = self.warnings
        return to_json(out)


def new_id() -> str:
    """Return a new record id."""
    return uuid.uuid4().hex


def view_of(row: Any, bundle: Bundle) -> RecordView:
    """Build a typed view of a record row (data read leniently: it may be old)."""
    entity = row.entity
    data = row.data or {}
    if entity in bundle.forms:
        data = form_model(bundle, entity).read(data)
    return RecordView(
        id=row.id,
        entity=entity,
        data=data,
        workflow=row.workflow,
        stage=row.stage,
        status=row.status,
        owner=row.owner,
        queue=row.queue,
        dedup_key=row.dedup_key,
        schema_version=row.schema_version,
        read_only=row.read_only,
        row_version=row.row_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        stage_entered_at=row.stage_entered_at,
        created_by=row.created_by,
    )


def load(conn: Connection, bundle: Bundle, record_id: str) -> RecordView:
    """Load one record; raise NotFound when there is none."""
    row = conn.execute(select(T_RECORD).where(T_RECORD.c.id == record_id)).first()
    if row is None:
        raise NotFound(f"record '{record_id}' does not exist")
    return view_of(row, bundle)


def find_by_key(conn: Connection, bundle: Bundle, entity: str, key: str) -> RecordView | None:
    """Return the record of `entity` with dedup key `key`, if any."""
    row = conn.execute(
        select(T_RECORD).where(T_RECORD.c.entity == entity, T_RECORD.c.dedup_key == key)
    ).first()
    return view_of(row, bundle) if row is not None else None


def _columns(view: RecordView) -> dict[str, Any]:
    return {
        "workflow": view.workflow,
        "stage": view.stage,
        "status": view.status,
        "owner": view.owner,
        "queue": view.queue,
        "dedup_key": view.dedup_key,
        "data": to_json(view.data),
        "schema_version": view.schema_version,
        "read_only": view.read_only,
        "stage_entered_at": view.stage_entered_at,
    }


def insert_record(conn: Connection, view: RecordView, now: datetime) -> RecordView:
    """Insert a new record row (version 1)."""
    view.created_at = view.updated_at = now
    view.row_version = 1
    conn.execute(
        insert(T_RECORD),
        {
            "id": view.id,
            "entity": view.entity,
            "created_at": now,
            "updated_at": now,
            "row_version": 1,
            "created_by": view.created_by,
            **_columns(view),
        },
    )
    return view


def save_record(conn: Connection, bundle: Bundle, view: RecordView, now: datetime) -> RecordView:
    """Write a changed record if nobody changed it since `view.row_version` was read.

    Raise Conflict carrying the current record when the version moved on (decision 8).
    """
    result = conn.execute(
        update(T_RECORD)
        .where(T_RECORD.c.id == view.id, T_RECORD.c.row_version == view.row_version)
        .values(updated_at=now, row_version=view.row_version + 1, **_columns(view))
    )
    if result.rowcount != 1:
        current = load(conn, bundle, view.id)
        raise Conflict(
            f"record '{view.id}' changed since version {view.row_version} "
            f"(it is at version {current.row_version}); reload and try again",
            current,
        )
    view.row_version += 1
    view.updated_at = now
    return view
