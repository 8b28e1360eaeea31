"""Records of every entity in the current bundle: entities, create, read, list, update,
ingest with dedup, stage transitions.

Every handler reads the bundle once (`Ctx`), acts as the caller (`actor=caller.user`)
and shows only the fields the caller may read. Evidence, history, audit, explanations,
assignment and queues are in `record_parts`; both modules' routes are in `ROUTES`.

Row versions: a record carries `row_version`. `PATCH` must send the version it read in
its body (`{"row_version": n, "data": {...}}`); a transition or assignment may send one.
A stale version is a 409 whose body carries `current`, the record as it is now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from litestar import Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from msgspec import Struct

from api.auth import may
from api.errors import problem_item
from api.openapi import errors
from api.routes import record_parts
from api.routes.common import API
from api.routes.record_common import (
    TAGS,
    Ctx,
    bad_query,
    entity_readable,
    hidden_fields,
    runtime_and_bundle,
)
from engine.bundle import Bundle, CompiledForm
from engine.spec.workflow import required_name
from runtime import queries
from runtime.access import Principal
from runtime.clock import utc
from runtime.data import json_value
from runtime.errors import Problem
from runtime.queries import CORE_FILTERS, QueryError, RecordQuery
from runtime.records import RecordView

RECORD = record_parts.RECORD
LIST_PARAMS = {
    "limit",
    "offset",
    "sort",
    *CORE_FILTERS,
    "created_from",
    "created_to",
    "updated_from",
    "updated_to",
    "assignee",
}


class UpdateRequest(Struct, forbid_unknown_fields=True):
    """Changed fields, and the row version they were read at (409 when it moved on)."""

    row_version: int
    data: dict[str, Any]


class TransitionRequest(Struct, forbid_unknown_fields=True):
    """The stage or exit to move to (and optionally the row version it was read at)."""

    to: str
    row_version: int | None = None


# -- entities ----------------------------------------------------------------------------
def _field(form: CompiledForm, name: str, who: Principal) -> dict[str, Any]:
    spec = form.spec.fields[name]
    out: dict[str, Any] = {
        "name": name,
        "type": spec.type,
        "title": spec.title or name,
        "required": spec.required,
        "computed": name in form.computed,
        "writable": name not in form.computed and may(who, spec.write),
    }
    if spec.type in ("enum", "multi_enum") or spec.of == "enum":
        out["values"] = list(queries.enum_values(form, name))
    for key in ("of", "to", "min", "max", "default", "description"):
        value = getattr(spec, key)
        if value not in (None, ""):
            out[key] = json_value(value)
    if spec.accept:
        out["accept"] = list(spec.accept)
    return out


def _workflow(bundle: Bundle, name: str) -> dict[str, Any]:
    wf = bundle.workflows[name]
    return {
        "name": name,
        "title": wf.body.title or name,
        "entity": wf.entity,
        "stages": [
            {
                "id": s.id,
                "title": s.title or s.id,
                "require": [required_name(r) for r in s.require],
                "evidence": [e.kind for e in s.evidence],
                **({"only_when": s.only_when} if s.only_when else {}),
            }
            for s in wf.body.stages
        ],
        "exits": [
            {"id": e.id, "title": e.title or e.id, "outcome": e.outcome} for e in wf.body.exits
        ],
    }


@get(f"{API}/entities", tags=TAGS)
async def list_entities(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The entities the caller may read, with the fields it may read, and their workflows."""
    _, bundle, who = runtime_and_bundle(request)
    entities = []
    for name, form in bundle.forms.items():
        if not entity_readable(form, who):
            continue
        hidden = hidden_fields(form, who)
        entities.append(
            {
                "name": name,
                "title": form.spec.title or name,
                "key": [k for k in form.spec.key if k not in hidden],
                "schema_version": form.spec.schema_version,
                "creatable": may(who, form.spec.permissions.create),
                "writable": may(who, form.spec.permissions.write),
                "fields": [_field(form, f, who) for f in form.spec.fields if f not in hidden],
                "workflows": [w for w, wf in bundle.workflows.items() if wf.entity == name],
            }
        )
    shown = {e["name"] for e in entities}
    workflows = [_workflow(bundle, w) for w, wf in bundle.workflows.items() if wf.entity in shown]
    return {"entities": entities, "workflows": workflows}


# -- records -----------------------------------------------------------------------------
@post(
    f"{API}/records/{{entity:str}}",
    tags=TAGS,
    status_code=HTTP_201_CREATED,
    responses=errors(403, 404, 409, 422),
)
async def create_record(
    request: Request[Any, Any, Any],
    entity: FromPath[str],
    data: JSONBody[dict[str, Any]],
    workflow: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """Create a record from its field values (validated, scored, routed); 201 + the record."""
    ctx = Ctx(request, entity, read=False)
    view = await ctx.run(ctx.runtime.create, entity, data, actor=ctx.who.user, workflow=workflow)
    return ctx.show(view)


@post(
    f"{API}/records/{{entity:str}}/ingest",
    tags=TAGS,
    status_code=HTTP_200_OK,
    responses=errors(403, 404, 409, 422),
)
async def ingest_record(
    request: Request[Any, Any, Any], entity: FromPath[str], data: JSONBody[dict[str, Any]]
) -> Response[dict[str, Any]]:
    """Create, or merge into the record with the same dedup key (P1, F6).

    201 `{"outcome": "created", "record": ...}` for a new record, 200 with
    `"outcome": "merged"` when an existing one took the values.
    """
    ctx = Ctx(request, entity, read=False)
    view, created = await ctx.run(ctx.runtime.ingest, entity, data, actor=ctx.who.user)
    body = {"outcome": "created" if created else "merged", "record": ctx.show(view)}
    return Response(body, status_code=HTTP_201_CREATED if created else HTTP_200_OK)


def _field_params(
    request: Request[Any, Any, Any],
) -> tuple[dict[str, list[str]], dict[str, dict[str, str]]]:
    """Return `field.<name>` filters and `field.<name>.from`/`.to` ranges; refuse query
    parameters nobody understands."""
    return field_params(request.query_params.multi_items(), LIST_PARAMS)


def field_params(
    items: Iterable[tuple[str, str]], known_params: Iterable[str]
) -> tuple[dict[str, list[str]], dict[str, dict[str, str]]]:
    """Split query items into `field.<name>` equality filters and `field.<name>.from` /
    `.to` ranges (the last value of a bound counts); raise a 400 naming every query
    parameter that is neither one nor in `known_params`."""
    asked: dict[str, list[str]] = {}
    ranges: dict[str, dict[str, str]] = {}
    unknown = []
    known = sorted(known_params)
    for key, value in items:
        if key.startswith("field."):
            name, _, end = key.removeprefix("field.").partition(".")
            if not end:
                asked.setdefault(name, []).append(value)
            elif end in queries.RANGE_ENDS:
                ranges.setdefault(name, {})[end] = value
            else:
                unknown.append(key)
        elif key not in known:
            unknown.append(key)
    if unknown:
        raise bad_query(
            QueryError(
                "unknown query parameters",
                [
                    Problem(
                        "unknown-parameter",
                        f"'{k}' is not a filter{queries.did_you_mean(k, known)}; filters: "
                        f"{', '.join(known)}, field.<name>, field.<name>.from, "
                        "field.<name>.to",
                        k,
                    )
                    for k in unknown
                ],
            )
        )
    return asked, ranges


NO_QUEUE = ""  # no queue has an empty name: a filter value that matches no record


@dataclass
class Listing:
    """The filters and order of a listing as asked (the API's query parameters)."""

    core: dict[str, list[str]] = field(default_factory=dict)
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    fields: dict[str, list[str]] = field(default_factory=dict)
    ranges: dict[str, dict[str, str]] = field(default_factory=dict)
    sort: str = "-created_at"
    assignee: list[str] = field(default_factory=list)


def record_query(
    ctx: Ctx, listed: Listing, *, limit: int, offset: int, count_cap: int | None = None
) -> RecordQuery:
    """Return the query of a listing as `ctx`'s caller may run it (fields they may read,
    queues they may see, their rows); a 400 naming every bad filter or sort key."""
    fields = queries.readable_fields(ctx.form, ctx.hidden)
    core = {name: tuple(values) for name, values in listed.core.items() if values}
    if "queue" in core:  # a hidden queue matches nothing, like one that does not exist
        core["queue"] = tuple(q if q not in ctx.queues else NO_QUEUE for q in core["queue"])
    problems: list[Problem] = []
    parts: dict[str, Any] = {}
    for name, parse in (
        ("fields", lambda: queries.field_filters(ctx.form, fields, listed.fields)),
        ("ranges", lambda: queries.field_ranges(ctx.form, fields, listed.ranges)),
        ("sort", lambda: queries.sort_keys(fields, listed.sort)),
    ):
        try:
            parts[name] = parse()
        except QueryError as exc:
            problems.extend(exc.problems)
    if problems:
        raise bad_query(QueryError("the filters do not fit this entity", problems))
    return RecordQuery(
        (ctx.entity,),
        core=core,
        created_from=utc(listed.created_from),
        created_to=utc(listed.created_to),
        updated_from=utc(listed.updated_from),
        updated_to=utc(listed.updated_to),
        fields=parts["fields"],
        ranges=parts["ranges"],
        sort=parts["sort"],
        limit=limit,
        offset=offset,
        assigned_to=tuple(ctx.who.user if a == "me" else a for a in listed.assignee),
        rows={ctx.entity: ctx.rows} if ctx.rows is not None else {},
        count_cap=count_cap,
    )


@get(f"{API}/records/{{entity:str}}", tags=TAGS, responses=errors(403, 404))
async def list_records(
    request: Request[Any, Any, Any],
    entity: FromPath[str],
    limit: record_parts.Limit = queries.DEFAULT_LIMIT,
    offset: record_parts.Offset = 0,
    sort: FromQuery[str] = "-created_at",
    stage: FromQuery[list[str] | None] = None,
    status: FromQuery[list[str] | None] = None,
    owner: FromQuery[list[str] | None] = None,
    queue: FromQuery[list[str] | None] = None,
    workflow: FromQuery[list[str] | None] = None,
    assignee: FromQuery[list[str] | None] = None,
    created_from: FromQuery[datetime | None] = None,
    created_to: FromQuery[datetime | None] = None,
    updated_from: FromQuery[datetime | None] = None,
    updated_to: FromQuery[datetime | None] = None,
) -> dict[str, Any]:
    """List records: `{items, total, next}`, `next` being the offset of the next page.

    Filters: core columns (`stage`, `status`, `owner`, `queue`, `workflow`; repeat one to
    match any of its values), `created_from`/`created_to`/`updated_from`/`updated_to`
    (ISO times with any offset, UTC without one; from inclusive, to exclusive), and
    fields: `field.region=sichuan` (equality, the value read as the field's type).
    Number, date and datetime fields take ranges, both ends included:
    `field.amount.from=100&field.amount.to=500`, `field.expected_close.to=2026-03-31`
    (a datetime bound may be a date alone: `from` its midnight, `to` the whole day, UTC).
    `sort=-created_at,field.amount` sorts on core columns and fields (`-` descending).
    `assignee=<user>` (or `me`; repeatable) lists the records the user owns or holds a
    named assignment of ("my work"); each record says its `assignments`. Only the rows
    the caller's `permissions.rows` let them see are listed and counted.
    An unknown filter, field or sort key is a 400 naming it.
    """
    ctx = Ctx(request, entity)
    asked, ranges = _field_params(request)
    listed = Listing(
        core={
            "stage": stage or [],
            "status": status or [],
            "owner": owner or [],
            "queue": queue or [],
            "workflow": workflow or [],
        },
        created_from=created_from,
        created_to=created_to,
        updated_from=updated_from,
        updated_to=updated_to,
        fields=asked,
        ranges=ranges,
        sort=sort,
        assignee=assignee or [],
    )
    query = record_query(ctx, listed, limit=limit, offset=offset)
    store = ctx.runtime.store

    def run() -> queries.Page:
        with store.read() as conn:
            return queries.list_records(conn, ctx.bundle, query)

    page = await ctx.run(run)
    items = [ctx.show(v) for v in page.items]
    if query.assigned_to:  # "my work": say what each record is theirs as
        for item, view in zip(items, page.items, strict=True):
            item["held_as"] = held_as(view, query.assigned_to)
    return {"items": items, "total": page.total, "next": page.next}


def held_as(view: RecordView, users: tuple[str, ...]) -> list[str]:
    """Return what `users` hold of a record: 'owner' and/or its named assignments."""
    names = ["owner"] if view.owner in users else []
    held = view.assignments or {}
    return names + [n for n, a in held.items() if a.get("user") in users]


@get(RECORD, tags=TAGS, responses=errors(403, 404))
async def get_record(
    request: Request[Any, Any, Any], entity: FromPath[str], record_id: FromPath[str]
) -> dict[str, Any]:
    """One record (404 when it is missing or belongs to another entity)."""
    ctx = Ctx(request, entity)
    return ctx.show(await ctx.record(record_id))


@patch(RECORD, tags=TAGS, responses=errors(403, 404, 409, 422))
async def update_record(
    request: Request[Any, Any, Any],
    entity: FromPath[str],
    record_id: FromPath[str],
    data: JSONBody[UpdateRequest],
) -> dict[str, Any]:
    """Change fields: body `{"row_version": n, "data": {field: value}}` (null clears one).

    `row_version` is the version the caller read; when the record moved on since, the
    answer is 409 with `current`, the record as it is now. Every invalid field is
    listed (422); a field the caller's roles may not write is a 403.
    """
    ctx = Ctx(request, entity)
    await ctx.record(record_id)
    view = await ctx.run(
        ctx.runtime.update,
        record_id,
        data.data,
        actor=ctx.who.user,
        expected_version=data.row_version,
    )
    return ctx.show(view)


@post(
    f"{RECORD}/transitions",
    tags=TAGS,
    status_code=HTTP_200_OK,
    responses=errors(403, 404, 409, 422),
)
async def transition_record(
    request: Request[Any, Any, Any],
    entity: FromPath[str],
    record_id: FromPath[str],
    data: JSONBody[TransitionRequest],
) -> dict[str, Any]:
    """Move to a stage or exit: body `{"to": stage, "row_version"?: n}`; 200 + the record.

    A refused move is a 422 whose `extra` lists every unmet requirement (the move itself,
    roles, required fields, evidence, guards with their messages). A stale `row_version`
    is a 409 carrying `current`.
    """
    ctx = Ctx(request, entity)
    await ctx.record(record_id)
    view = await ctx.run(
        ctx.runtime.transition,
        record_id,
        data.to,
        actor=ctx.who.user,
        expected_version=data.row_version,
    )
    return ctx.show(view)


@get(f"{RECORD}/transitions/{{target:str}}", tags=TAGS, responses=errors(403, 404))
async def check_transition(
    request: Request[Any, Any, Any],
    entity: FromPath[str],
    record_id: FromPath[str],
    target: FromPath[str],
) -> dict[str, Any]:
    """Dry run of a move: `{target, allowed, problems}`; nothing is written."""
    ctx = Ctx(request, entity)
    view = await ctx.record(record_id)
    problems = await ctx.run(ctx.runtime.check_transition, record_id, target, actor=ctx.who.user)
    return {
        "target": target,
        "stage": view.stage,
        "allowed": not problems,
        "problems": [problem_item(p) for p in problems],
    }


ROUTES: list[Any] = [
    list_entities,
    create_record,
    ingest_record,
    list_records,
    get_record,
    update_record,
    transition_record,
    check_transition,
    *record_parts.ROUTES,
]

__all__ = ["ROUTES"]
