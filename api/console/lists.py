"""Lists: the records of an entity with the API's filters, ranges, sorting, paging and CSV.

- `GET /records`                          the entities the caller may read, with counts
- `GET /records/{entity}?...`             one page (50) of the records the caller may see
- `GET /records/{entity}/export.csv?...`  every matching record, streamed as CSV

The query parameters are the JSON list API's (api/routes/records.py: stage, status,
owner, queue, workflow, assignee, created_from/to, updated_from/to, field.<name>,
field.<name>.from/.to, sort, offset); the query is built by the same `record_query`, so
the caller's field permissions, hidden queues and rows apply alike. Empty form inputs
are ignored. A date alone in a time filter is a day in the bundle's time zone. Docs:
docs/console.md "Lists and CSV export".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.exceptions import ValidationException
from litestar.params import FromPath
from litestar.response import Stream, Template

from api.calls import call
from api.console import export
from api.console.web import Who, page
from api.routes.common import runtime_of, server_of
from api.routes.record_common import Ctx, entity_readable
from api.routes.records import Listing, field_params, record_query
from engine.bundle import Bundle, CompiledForm
from engine.spec import FieldSpec
from runtime import queries, rows
from runtime.queries import LIST_TYPES, RANGE_TYPES, Page, RecordQuery

PAGE_SIZE = 50
COUNT_CAP = 10_000  # count matching records no further: "more than 10,000"
COUNT_SECONDS = 0.15  # ... nor for longer: past it, "more than" the records shown
CORE_MULTI = ("stage", "status", "owner", "queue", "workflow", "assignee")
TIMES = ("created_from", "created_to", "updated_from", "updated_to")
PARAMS = {*CORE_MULTI, *TIMES, "sort", "offset"}
STATUSES = ("open", "won", "lost", "closed")
DEFAULT_SORT = "-created_at"
CORE_COLUMNS = (
    ("id", "Record"),
    ("stage", "Stage"),
    ("status", "Status"),
    ("owner", "Owner"),
    ("queue", "Queue"),
    ("created_at", "Created"),
    ("updated_at", "Updated"),
)


@dataclass(frozen=True)
class Column:
    """A column of the list: a core column or a field, and its sort key."""

    key: str  # sort key: a core column, or field.<name>
    title: str
    field: str | None = None  # the data field (None: a core column)
    kind: str = ""


@dataclass
class Asked:
    """What the list page was asked: the non-empty query items, parsed."""

    items: list[tuple[str, str]]
    listing: Listing
    offset: int


# -- reading the query string --------------------------------------------------------------
def _problem(key: str, message: str) -> ValidationException:
    return ValidationException(
        "the filters are not right", extra=[{"key": key, "message": message, "source": "query"}]
    )


def _moment(key: str, raw: str, zone: ZoneInfo, *, end: bool) -> datetime:
    """Read a time filter: ISO (UTC without an offset) or a date alone, a day in `zone`
    (`end`: the moment after that day, for an exclusive upper bound)."""
    text = raw.strip()
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).date()
            start = datetime.combine(day + timedelta(days=1) if end else day, time(), zone)
            return start
        return datetime.fromisoformat(text)
    except ValueError:
        raise _problem(
            key, f"{key}: '{text[:40]}' is not a date (YYYY-MM-DD) or an ISO time"
        ) from None


def _datetime_bound(raw: str, zone: ZoneInfo, *, end: bool) -> str:
    """A date alone as a datetime field's bound: its day in the bundle's time zone."""
    text = raw.strip()
    if len(text) != 10:
        return text
    try:
        day = datetime.fromisoformat(text).date()
    except ValueError:
        return text  # the runtime says what is wrong with it
    moment = datetime.combine(day, time.max if end else time(), zone)
    return moment.isoformat()


def parse(items: Iterable[tuple[str, str]], form: CompiledForm, zone: ZoneInfo) -> Asked:
    """Return what a list page or export was asked; a 400 naming every bad parameter."""
    kept = [(k, v) for k, v in items if v.strip() != ""]
    asked, ranges = field_params(kept, PARAMS)
    values: dict[str, list[str]] = {}
    for key, value in kept:
        if key in PARAMS:
            values.setdefault(key, []).append(value.strip())
    listing = Listing(
        core={k: values.get(k, []) for k in CORE_MULTI if k != "assignee"},
        fields=asked,
        ranges={
            name: {
                end: _datetime_bound(raw, zone, end=end == "to")
                if _kind(form, name) == "datetime"
                else raw
                for end, raw in ends.items()
            }
            for name, ends in ranges.items()
        },
        sort=(values.get("sort") or [DEFAULT_SORT])[-1],
        assignee=values.get("assignee", []),
    )
    for key in TIMES:
        if key in values:
            moment = _moment(key, values[key][-1], zone, end=key.endswith("_to"))
            setattr(listing, key, moment)
    offset_text = (values.get("offset") or ["0"])[-1]
    if not offset_text.isdigit() or int(offset_text) > 1_000_000_000:
        raise _problem("offset", f"offset: '{offset_text[:20]}' is not a whole number ≥ 0")
    return Asked(kept, listing, int(offset_text))


def _kind(form: CompiledForm, name: str) -> str:
    spec = form.spec.fields.get(name)
    return spec.type if spec is not None else ""


def query_string(items: Iterable[tuple[str, str]], **changes: str | None) -> str:
    """Return `items` as a query string with some keys replaced (None: left out)."""
    kept = [(k, v) for k, v in items if k not in changes]
    kept += [(k, v) for k, v in changes.items() if v is not None]
    return urlencode(kept)


# -- what the page shows -------------------------------------------------------------------
def columns(form: CompiledForm, fields: Mapping[str, FieldSpec]) -> list[Column]:
    """Return the list's columns: core columns, then every readable field without a list."""
    out = [Column(key, title) for key, title in CORE_COLUMNS]
    out += [
        Column(f"field.{name}", spec.title or name, name, spec.type)
        for name, spec in fields.items()
        if spec.type not in LIST_TYPES
    ]
    return out


def stage_choices(bundle: Bundle, entity: str) -> list[tuple[str, str]]:
    """Return the stages and exits of the entity's workflows: (id, label)."""
    seen: dict[str, str] = {}
    for wf in bundle.workflows.values():
        if wf.entity != entity:
            continue
        steps = [(s.id, s.title) for s in wf.body.stages] + [(e.id, e.title) for e in wf.body.exits]
        for step, title in steps:
            seen.setdefault(step, f"{title} ({step})" if title and title != step else step)
    return list(seen.items())


def _filter_fields(form: CompiledForm, fields: Mapping[str, FieldSpec]) -> dict[str, Any]:
    """Fields with an equality control (enum, boolean, text) and those with a range."""
    equal, ranged = [], []
    for name, spec in fields.items():
        title = spec.title or name
        if spec.type in RANGE_TYPES:
            ranged.append({"name": name, "title": title, "type": spec.type})
        elif spec.type == "enum":
            values = list(queries.enum_values(form, name))
            equal.append({"name": name, "title": title, "type": "enum", "values": values})
        elif spec.type == "boolean":
            equal.append({"name": name, "title": title, "type": "boolean"})
        elif spec.type not in LIST_TYPES:
            equal.append({"name": name, "title": title, "type": "text"})
    return {"equal": equal, "ranged": ranged}


def _sort_state(sort: str) -> dict[str, str]:
    """Return the first sort key and its direction ({key: ascending|descending})."""
    first = sort.split(",", maxsplit=1)[0].strip()
    if not first:
        return {}
    return {first.lstrip("+-"): "descending" if first.startswith("-") else "ascending"}


def _cell(view: Any, column: Column, queues: frozenset[str]) -> Any:
    if column.field is not None:
        return view.data.get(column.field)
    value = getattr(view, column.key)
    if column.key == "queue" and value in queues:
        return None
    return value


def _batches(ctx: Ctx, query: RecordQuery) -> Iterator[list[Any]]:
    with ctx.runtime.store.read() as conn:
        yield from queries.iter_records(conn, ctx.bundle, query, export.BATCH)


def _run(ctx: Ctx, query: RecordQuery) -> Page:
    with ctx.runtime.store.read() as conn:
        return queries.list_records(conn, ctx.bundle, query)


# -- pages ---------------------------------------------------------------------------------
@get("/records", include_in_schema=False)
async def index(request: Request[Any, Any, Any], who: Who) -> Template:
    """The entities the caller may read, with how many records of each they may see."""
    runtime, bundle = runtime_of(request)
    readable = [n for n, f in bundle.forms.items() if entity_readable(f, who)]
    limits = {
        name: users
        for name in readable
        if (users := rows.reach(bundle, name, who.user, who.roles)) is not None
    }

    def count() -> dict[str, int]:
        with runtime.store.read() as conn:
            return queries.entity_counts(conn, readable, limits, COUNT_CAP)

    counts = await call(count)
    entities = [
        {
            "name": n,
            "title": bundle.forms[n].spec.title or n,
            "count": counts[n],
            "capped": counts[n] >= COUNT_CAP,
        }
        for n in readable
    ]
    return page(request, who, "records_index.html", "Records", entities=entities)


@get("/records/{entity:str}", include_in_schema=False)
async def listing(request: Request[Any, Any, Any], who: Who, entity: FromPath[str]) -> Template:
    """One page of an entity's records, filtered and sorted; bad filters: 400 + this page."""
    ctx = Ctx(request, entity, who=who)
    zone = ZoneInfo(ctx.bundle.manifest.timezone)
    fields = queries.readable_fields(ctx.form, ctx.hidden)
    raw = list(request.query_params.multi_items())
    shown = [(k, v) for k, v in raw if v.strip() != ""]
    context: dict[str, Any] = {
        "entity": entity,
        "entity_title": ctx.form.spec.title or entity,
        "columns": columns(ctx.form, fields),
        "filters": _filter_fields(ctx.form, fields),
        "stages": stage_choices(ctx.bundle, entity),
        "statuses": STATUSES,
        "queues": sorted(q for q in ctx.bundle.manifest.queues if q not in ctx.queues),
        "workflows": [w for w, wf in ctx.bundle.workflows.items() if wf.entity == entity],
        "values": _values(shown),
        "fields_open": any(k.startswith("field.") for k, _ in shown),
        "problems": [],
        "views": [],
        "page": None,
        "sort": _sort_state(DEFAULT_SORT),
        "sort_link": lambda key: "",
        "csv": f"/records/{entity}/export.csv?{query_string(shown, offset=None)}",
    }
    try:
        asked = parse(raw, ctx.form, zone)
        query = replace(
            record_query(
                ctx, asked.listing, limit=PAGE_SIZE, offset=asked.offset, count_cap=COUNT_CAP
            ),
            count_seconds=COUNT_SECONDS,
        )
    except ValidationException as exc:
        context["problems"] = [str(e.get("message")) for e in exc.extra or []]  # type: ignore[union-attr]
        title = context["entity_title"]
        answer = page(request, who, "records_list.html", title, **context)
        answer.status_code = 400
        return answer
    result = await call(_run, ctx, query)
    sort = _sort_state(asked.listing.sort)
    items = asked.items

    def sort_link(key: str) -> str:
        order = f"-{key}" if sort.get(key) == "ascending" else key
        return "?" + query_string(items, sort=order, offset=None)

    shown_rows = [
        {"id": v.id, "cells": [_cell(v, c, ctx.queues) for c in context["columns"]]}
        for v in result.items
    ]
    start = asked.offset
    context.update(
        views=shown_rows,
        page={
            "first": start + 1 if result.items else 0,
            "last": start + len(result.items),
            "total": result.total,
            "capped": result.capped,
            "previous": "?" + query_string(items, offset=str(max(0, start - PAGE_SIZE)) or None)
            if start > 0
            else None,
            "next": "?" + query_string(items, offset=str(result.next))
            if result.next is not None
            else None,
        },
        sort=sort,
        sort_link=sort_link,
    )
    return page(request, who, "records_list.html", context["entity_title"], **context)


def _values(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in items:
        out.setdefault(key, []).append(value)
    return out


@get("/records/{entity:str}/export.csv", include_in_schema=False, media_type=export.MEDIA_TYPE)
async def export_csv(request: Request[Any, Any, Any], who: Who, entity: FromPath[str]) -> Stream:
    """Every matching record the caller may see, the fields they may read, as CSV."""
    ctx = Ctx(request, entity, who=who)
    zone = ZoneInfo(ctx.bundle.manifest.timezone)
    asked = parse(request.query_params.multi_items(), ctx.form, zone)
    query = record_query(ctx, asked.listing, limit=export.BATCH, offset=0)
    fields = [n for n in ctx.form.spec.fields if n not in ctx.hidden]
    header = export.header(fields)

    lines = export.Lines(
        lambda: _batches(ctx, query),
        lambda views: [export.line(export.row(ctx.show(v), fields)) for v in views],
    )

    async def rows_of() -> Any:
        yield export.BOM + export.line(header)
        async for chunk in lines:
            yield chunk

    now = server_of(request).clock.now().replace(tzinfo=UTC).astimezone(zone)
    name = f"{entity}-{now.strftime('%Y%m%d-%H%M')}.csv"
    return Stream(
        rows_of(),
        media_type=export.MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


ROUTES = [index, listing, export_csv]
