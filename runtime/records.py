"""Reading and writing record rows: typed views, optimistic version checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from engine.bundle import Bundle
from engine.moves import CORE_COLUMNS
from runtime.data import form_model, to_json
from runtime.errors import Conflict, NotFound
from runtime.store import db_json, db_time, is_postgres, py_json, py_time, run_sql

CORE = CORE_COLUMNS  # the record's own columns, in the order a scope shows them


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
    # The writable columns as the store holds them at `row_version` (None: not stored
    # yet): `save_record` writes only what differs, so unchanged indexes stay untouched.
    stored: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    # Named assignments (runtime/named.py `attach`): name -> {user, queue, filled_at};
    # None: not read (or the entity has none).
    assignments: dict[str, dict[str, Any]] | None = field(default=None, compare=False)

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
            data=None,  # its place in the order; filled below
        )
        if self.warnings:
            out["warnings"] = self.warnings
        if self.assignments is not None:
            out["assignments"] = self.assignments
        out = to_json(out)
        out["data"] = to_json(self.data)  # the fields walked once, not again with `out`
        return out


def new_id() -> str:
    """Return a new record id."""
    return uuid.uuid4().hex


def view_of(row: Any, bundle: Bundle) -> RecordView:
    """Build a typed view of a record row (data read leniently: it may be old)."""
    entity = row.entity
    raw = row.data or {}
    data = form_model(bundle, entity).read(raw) if entity in bundle.forms else dict(raw)
    view = RecordView(
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
    view.stored = _stored(view, row.data)
    return view


def _stored(view: RecordView, data: Any) -> dict[str, Any]:
    """Snapshot the writable columns; `data` as JSON text (so no alias can change it)."""
    text = data if isinstance(data, str) else db_json(data)
    return {**_columns(view, with_data=False), "data": text}


_LOAD = (
    "SELECT id, entity, workflow, stage, status, owner, queue, dedup_key, data, "
    "schema_version, read_only, row_version, created_at, updated_at, stage_entered_at, "
    "created_by FROM sf_record WHERE id = :id"
)


def _loaded(row: Any, bundle: Bundle) -> RecordView:
    """Build a view of a row read through the driver (text dates and JSON on SQLite)."""
    (rid, entity, workflow, stage, status, owner, queue, dedup_key, text) = row[:9]
    raw = py_json(text) or {}
    data = form_model(bundle, entity).read(raw) if entity in bundle.forms else dict(raw)
    view = RecordView(
        id=rid,
        entity=entity,
        data=data,
        workflow=workflow,
        stage=stage,
        status=status,
        owner=owner,
        queue=queue,
        dedup_key=dedup_key,
        schema_version=row[9],
        read_only=bool(row[10]),
        row_version=row[11],
        created_at=py_time(row[12]),
        updated_at=py_time(row[13]),
        stage_entered_at=py_time(row[14]),
        created_by=row[15],
    )
    view.stored = _stored(view, text)
    return view


def load(conn: Connection, bundle: Bundle, record_id: str) -> RecordView:
    """Load one record; raise NotFound when there is none."""
    row = run_sql(conn, _LOAD, {"id": record_id}).fetchone()
    if row is None:
        raise NotFound(f"record '{record_id}' does not exist")
    return _loaded(row, bundle)


_FIND_BY_KEY = (
    "SELECT id, entity, workflow, stage, status, owner, queue, dedup_key, data, "
    "schema_version, read_only, row_version, created_at, updated_at, stage_entered_at, "
    "created_by FROM sf_record WHERE entity = :entity AND dedup_key = :key"
)


def find_by_key(conn: Connection, bundle: Bundle, entity: str, key: str) -> RecordView | None:
    """Return the record of `entity` with dedup key `key`, if any, locked for the caller's
    transaction (PostgreSQL): ingests merging into one record queue, each reading the
    version the one before it wrote. (Hand-written SQL: every ingest runs it.)"""
    sql = _FIND_BY_KEY + (" FOR UPDATE" if is_postgres(conn) else "")
    row = run_sql(conn, sql, {"entity": entity, "key": key}).fetchone()
    return _loaded(row, bundle) if row is not None else None


def _columns(view: RecordView, *, with_data: bool = True) -> dict[str, Any]:
    columns: dict[str, Any] = {
        "workflow": view.workflow,
        "stage": view.stage,
        "status": view.status,
        "owner": view.owner,
        "queue": view.queue,
        "dedup_key": view.dedup_key,
        "schema_version": view.schema_version,
        "read_only": view.read_only,
        "stage_entered_at": view.stage_entered_at,
    }
    if with_data:
        columns["data"] = to_json(view.data)
    return columns


_INSERT = (
    "INSERT INTO sf_record (id, entity, workflow, stage, status, owner, queue, dedup_key, "
    "data, schema_version, read_only, row_version, created_at, updated_at, "
    "stage_entered_at, created_by) VALUES (:id, :entity, :workflow, :stage, :status, "
    ":owner, :queue, :dedup_key, :data, :schema_version, :read_only, :row_version, "
    ":created_at, :updated_at, :stage_entered_at, :created_by)"
)


def insert_record(
    conn: Connection, view: RecordView, now: datetime, *, data: dict[str, Any] | None = None
) -> RecordView:
    """Insert a new record row (version 1); `data`: `to_json(view.data)` if already made."""
    view.created_at = view.updated_at = now
    view.row_version = 1
    postgres = is_postgres(conn)
    stamp = db_time(now, postgres)
    params = _bind(_columns(view, with_data=False), postgres)
    params.update(
        id=view.id,
        entity=view.entity,
        data=db_json(to_json(view.data) if data is None else data),
        row_version=1,
        created_at=stamp,
        updated_at=stamp,
        created_by=view.created_by,
    )
    run_sql(conn, _INSERT, params)
    return view


def _update_sql(names: tuple[str, ...]) -> str:
    sets = "".join(f", {name} = :{name}" for name in names)
    return (
        f"UPDATE sf_record SET updated_at = :updated_at, row_version = :next{sets} "
        "WHERE id = :id AND row_version = :version"
    )


def _changed(view: RecordView, columns: dict[str, Any]) -> dict[str, Any]:
    """Return the columns whose value differs from what the store holds."""
    stored = view.stored
    if stored is None:
        return columns
    return {k: v for k, v in columns.items() if k not in stored or stored[k] != v}


def _bind(changed: dict[str, Any], postgres: bool) -> dict[str, Any]:
    params = dict(changed)
    if "stage_entered_at" in params:
        params["stage_entered_at"] = db_time(params["stage_entered_at"], postgres)
    return params


def save_record(conn: Connection, bundle: Bundle, view: RecordView, now: datetime) -> RecordView:
    """Write a changed record if nobody changed it since `view.row_version` was read.

    Only the columns that differ from the stored row are written (besides the version
    and `updated_at`). Raise Conflict carrying the current record when the version
    moved on (decision 8).
    """
    postgres = is_postgres(conn)
    columns = {**_columns(view, with_data=False), "data": db_json(to_json(view.data))}
    changed = _changed(view, columns)
    params = _bind(changed, postgres)
    params.update(
        updated_at=db_time(now, postgres),
        next=view.row_version + 1,
        id=view.id,
        version=view.row_version,
    )
    result = run_sql(conn, _update_sql(tuple(changed)), params)
    if result.rowcount != 1:
        current = load(conn, bundle, view.id)
        raise Conflict(
            f"record '{view.id}' changed since version {view.row_version} "
            f"(it is at version {current.row_version}); reload and try again",
            current,
        )
    view.row_version += 1
    view.updated_at = now
    view.stored = columns
    return view
