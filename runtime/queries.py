"""Read queries: list records with filters, sorting and pages; what waits in queues.

Everything is filtered, sorted, counted and cut into pages by the database (SQLite or
PostgreSQL alike); only the rows of one page come back. A record's own fields live in
its JSON `data` column and are read with the dialect-aware helpers of
`runtime.metrics.StoreSql` (a numeric filter never casts text that is not a number, so
an old record holding a string where a number now belongs cannot break a listing).

Bad input (an unknown field or column, a value that does not fit the field's type) is
a `QueryError` listing every problem with a did-you-mean where one is near.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, union, union_all
from sqlalchemy.sql.elements import ColumnElement

from engine.bundle import Bundle, CompiledForm
from engine.spec import FieldSpec
from runtime import named, timebox
from runtime.clock import iso, utc
from runtime.data import INT64
from runtime.errors import Problem
from runtime.metrics import StoreSql
from runtime.records import RecordView, view_of
from runtime.rows import Reach
from runtime.store import T_ASSIGNMENT, T_RECORD

CORE_FILTERS = ("stage", "status", "owner", "queue", "workflow")
CORE_SORTS = (
    "created_at",
    "updated_at",
    "stage_entered_at",
    "stage",
    "status",
    "owner",
    "queue",
    "workflow",
    "id",
)
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
TEXT_TYPES = {"string", "text", "phone", "address", "email", "ref", "enum"}
NUMBER_TYPES = {"integer", "decimal"}
LIST_TYPES = {"list", "multi_enum", "evidence"}
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class QueryError(ValueError):
    """A listing asked for something that does not exist or does not fit: every problem."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems


@dataclass(frozen=True)
class FieldFilter:
    """`data.<name>` equals one of `values` (typed like the field)."""

    name: str
    type: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class FieldRange:
    """`data.<name>` lies between `low` and `high`, both included (None: no bound)."""

    name: str
    type: str
    low: Any = None
    high: Any = None


@dataclass(frozen=True)
class SortKey:
    """Order by a core column or a data field (`type` is None for core columns)."""

    name: str
    descending: bool = False
    type: str | None = None


@dataclass
class RecordQuery:
    """What a listing asks for: entities, filters, order, one page."""

    entities: tuple[str, ...]
    core: dict[str, tuple[str, ...]] = field(default_factory=dict)
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    fields: list[FieldFilter] = field(default_factory=list)
    ranges: list[FieldRange] = field(default_factory=list)
    sort: list[SortKey] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    # Records the owner or a named assignment of is one of these users ("my work").
    assigned_to: tuple[str, ...] = ()
    # Row-level access (runtime/rows.py), per entity: only records of it an owner or
    # assignee of is one of its users, or waiting in one of its queues (an entity not
    # listed: every row).
    rows: Mapping[str, Reach] = field(default_factory=dict)
    # Records waiting in this queue: unowned in it, or a named assignment waits in it.
    waiting_in: str | None = None
    # Count at most this many matching records (None: count them all); a page whose
    # `total` reached the cap says `capped` (there are at least that many).
    count_cap: int | None = None
    # ... spending at most this many seconds on the count (None: as long as it takes);
    # past it the page says `capped` with `total` the end of this page.
    count_seconds: float | None = None


@dataclass
class Page:
    """One page of records, how many match in all, and the offset of the next page."""

    items: list[RecordView]
    total: int
    next: int | None
    capped: bool = False


# -- parsing what a caller asked for ------------------------------------------------------
def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' when a known name is close to `name`, else ''."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def readable_fields(form: CompiledForm, hidden: Iterable[str] = ()) -> dict[str, FieldSpec]:
    """Return the fields of a form a caller may read (filter and sort on)."""
    out = set(hidden)
    return {n: s for n, s in form.spec.fields.items() if n not in out}


def enum_values(form: CompiledForm, name: str) -> tuple[str, ...]:
    """Return the allowed values of an enum field (declared or from a table)."""
    typed = form.types.get(name)
    if typed is not None and typed.values:
        return tuple(typed.values)
    spec = form.spec.fields[name]
    return tuple(spec.values or ())


def _unknown_field(name: str, fields: Mapping[str, FieldSpec]) -> Problem:
    listed = ", ".join(sorted(fields)) or "none"
    return Problem(
        "unknown-field",
        f"'{name}' is not a field of this entity{did_you_mean(name, fields)}; fields: {listed}",
        name,
    )


def _integer(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"'{text[:40]}' is not an integer") from None
    if abs(number) > INT64:
        raise ValueError("the integer is out of range (64 bits)")
    return number


def _decimal(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"'{text[:40]}' is not a number") from None
    if not math.isfinite(number) or abs(number) > 1e300:
        raise ValueError(f"'{text}' is not a finite number")
    return number


def _boolean(text: str) -> bool:
    if text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    raise ValueError(f"'{text}' is not a boolean (true or false)")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def _datetime(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO date and time") from None


_PARSERS: dict[str, Callable[[str], Any]] = {
    "integer": _integer,
    "decimal": _decimal,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
}


def coerce(form: CompiledForm, spec: FieldSpec, name: str, raw: str) -> Any:
    """Return a query-string value as the field's type; raise ValueError saying why not."""
    kind = spec.type
    if kind == "enum":
        allowed = enum_values(form, name)
        if allowed and raw not in allowed:
            raise ValueError(f"'{raw}' is not one of: {', '.join(allowed)}")
        return raw
    if kind in TEXT_TYPES:
        return raw
    parse = _PARSERS.get(kind)
    if parse is None:
        raise ValueError(f"a {kind} field holds a list; it cannot be filtered by equality")
    return parse(raw.strip())


def field_filters(
    form: CompiledForm, fields: Mapping[str, FieldSpec], asked: Mapping[str, Sequence[str]]
) -> list[FieldFilter]:
    """Turn `{name: [raw values]}` into typed filters; raise QueryError listing all problems."""
    found: list[FieldFilter] = []
    problems: list[Problem] = []
    for name, raws in asked.items():
        spec = fields.get(name)
        if spec is None:
            problems.append(_unknown_field(name, fields))
            continue
        try:
            values = tuple(coerce(form, spec, name, raw) for raw in raws)
        except ValueError as exc:
            problems.append(Problem("bad-value", f"field.{name}: {exc}", name))
            continue
        found.append(FieldFilter(name, spec.type, values))
    if problems:
        raise QueryError("the filters do not fit this entity", problems)
    return found


RANGE_TYPES = ("integer", "decimal", "date", "datetime")
RANGE_ENDS = ("from", "to")


def field_ranges(
    form: CompiledForm, fields: Mapping[str, FieldSpec], asked: Mapping[str, Mapping[str, str]]
) -> list[FieldRange]:
    """Turn `{name: {"from": raw, "to": raw}}` into typed ranges (both ends included);
    raise QueryError listing every problem (an unknown field, a field without an order,
    a value that does not fit, `from` after `to`).

    A datetime bound may be a date alone: as `from` its midnight (UTC), as `to` the
    whole of that day (UTC)."""
    found: list[FieldRange] = []
    problems: list[Problem] = []
    for name, ends in asked.items():
        spec = fields.get(name)
        if spec is None:
            problems.append(_unknown_field(name, fields))
            continue
        if spec.type not in RANGE_TYPES:
            problems.append(
                Problem(
                    "bad-range",
                    f"field.{name}: a {spec.type} field has no range; ranges fit "
                    f"{', '.join(RANGE_TYPES)} fields",
                    name,
                )
            )
            continue
        bounds: dict[str, Any] = {}
        for end in RANGE_ENDS:
            raw = (ends.get(end) or "").strip()
            if not raw:
                continue
            try:
                bounds[end] = _bound(spec.type, raw, end == "to")
            except ValueError as exc:
                problems.append(Problem("bad-value", f"field.{name}.{end}: {exc}", name))
        # A `from` after its `to` is an empty range: it matches nothing (as a
        # created_from after created_to does), not an error.
        low, high = bounds.get("from"), bounds.get("to")
        if low is not None or high is not None:
            found.append(FieldRange(name, spec.type, low, high))
    if problems:
        raise QueryError("the filters do not fit this entity", problems)
    return found


def _bound(kind: str, raw: str, upper: bool) -> Any:
    if kind != "datetime":
        return _PARSERS[kind](raw)
    if len(raw) == 10:  # a date alone: from its midnight, or to the end of that day (UTC)
        day = _date(raw)
        start = datetime(day.year, day.month, day.day)
        return start + timedelta(days=1, microseconds=-1) if upper else start
    return utc(_datetime(raw))


def sort_keys(fields: Mapping[str, FieldSpec], text: str) -> list[SortKey]:
    """Parse `-created_at,field.amount` (a `-` sorts descending); raise QueryError."""
    keys: list[SortKey] = []
    problems: list[Problem] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        descending = part.startswith("-")
        name = part.lstrip("+-")
        if name in CORE_SORTS:
            keys.append(SortKey(name, descending))
            continue
        bare = name.removeprefix("field.")
        spec = fields.get(bare)
        if spec is None:
            known = [*CORE_SORTS, *(f"field.{f}" for f in fields)]
            problems.append(
                Problem(
                    "unknown-sort",
                    f"cannot sort on '{name}'{did_you_mean(name, known)}; sort on a core "
                    f"column ({', '.join(CORE_SORTS)}) or field.<name>",
                    name,
                )
            )
        elif spec.type in LIST_TYPES:
            problems.append(Problem("bad-sort", f"'{bare}' holds a list; it has no order", bare))
        else:
            keys.append(SortKey(bare, descending, spec.type))
    if problems:
        raise QueryError("the sort order does not fit this entity", problems)
    return keys


# -- SQL -----------------------------------------------------------------------------------
def _field_value(sql: StoreSql, kind: str, name: str) -> ColumnElement[Any]:
    data = T_RECORD.c.data
    if kind in NUMBER_TYPES:
        return sql.number(data, name)
    return sql.ordered(sql.text(data, name))


def _field_condition(sql: StoreSql, flt: FieldFilter) -> ColumnElement[bool]:
    data = T_RECORD.c.data
    if flt.type == "datetime":
        # Stored as ISO text in UTC with its offset (runtime/clock.py iso); older data
        # naive (UTC): equal text, equal value.
        values: tuple[Any, ...] = tuple(
            text for v in flt.values for text in (iso(v), utc(v).isoformat())
        )
        return or_(*(sql.text(data, flt.name) == v for v in values))
    return or_(*(sql.equals(data, flt.name, v) for v in flt.values))


def _range_conditions(sql: StoreSql, rng: FieldRange) -> list[ColumnElement[bool]]:
    data = T_RECORD.c.data
    out: list[ColumnElement[bool]] = []
    if rng.type in NUMBER_TYPES:
        value = sql.number(data, rng.name)
        if rng.low is not None:
            out.append(value >= float(rng.low))
        if rng.high is not None:
            out.append(value <= float(rng.high))
        return out
    text = sql.ordered(sql.text(data, rng.name))
    if rng.type == "date":
        if rng.low is not None:
            out.append(text >= rng.low.isoformat())
        if rng.high is not None:
            out.append(text <= rng.high.isoformat())
        return out
    # Datetimes are ISO text in UTC, with their offset (runtime/clock.py iso) or, older
    # data, naive: both start with the naive text, which orders them by time.
    if rng.low is not None:
        out.append(text >= utc(rng.low).isoformat())
    if rng.high is not None:
        out.append(text < (utc(rng.high) + timedelta(microseconds=1)).isoformat())
    return out


def _where(sql: StoreSql, query: RecordQuery) -> list[ColumnElement[bool]]:
    c = T_RECORD.c
    conditions: list[ColumnElement[bool]] = [c.entity.in_(query.entities)]
    for name, values in query.core.items():
        column = c[name]
        conditions.append(column == values[0] if len(values) == 1 else column.in_(values))
    for column, low, high in (
        (c.created_at, query.created_from, query.created_to),
        (c.updated_at, query.updated_from, query.updated_to),
    ):
        if low is not None:
            conditions.append(column >= low)
        if high is not None:
            conditions.append(column < high)
    conditions.extend(_field_condition(sql, f) for f in query.fields)
    for rng in query.ranges:
        conditions.extend(_range_conditions(sql, rng))
    if query.assigned_to:
        conditions.append(held_by(query.assigned_to))
    if query.rows:
        conditions.append(row_access(query.rows))
    if query.waiting_in is not None:
        a = T_ASSIGNMENT.c
        named = select(a.record_id).where(
            a.record_id == c.id, a.queue == query.waiting_in, a.user_id.is_(None)
        )
        conditions.append(or_(c.queue == query.waiting_in, named.exists()))
    return conditions


def row_access(rows: Mapping[str, Reach]) -> ColumnElement[bool]:
    """Records a caller may see: of an entity `rows` does not list, or within its reach."""
    c = T_RECORD.c
    return or_(
        c.entity.not_in(sorted(rows)),
        *(and_(c.entity == e, reached(seen)) for e, seen in sorted(rows.items())),
    )


def reached(seen: Reach) -> ColumnElement[bool]:
    """Records held by one of the reach's users, or waiting in one of its queues.

    One `id IN (... UNION ...)` of index lookups (owner, queue, the named assignments'
    holder and queue), not a test per record: the database reads the few ids a rep or a
    team reaches, then the records by key (a manager's list of 100,000 leads sorted by a
    field reads the team's leads, not all of them: docs/benchmarks.md, console pages).
    """
    ids = sorted(seen.users)
    r, a = T_RECORD.alias("reach"), T_ASSIGNMENT.alias("reach_named")
    parts = [
        select(r.c.id).where(r.c.owner.in_(ids)),
        select(a.c.record_id).where(a.c.user_id.in_(ids)),
    ]
    if seen.queues:
        queues = sorted(seen.queues)
        parts.append(select(r.c.id).where(r.c.owner.is_(None), r.c.queue.in_(queues)))
        parts.append(select(a.c.record_id).where(a.c.user_id.is_(None), a.c.queue.in_(queues)))
    return T_RECORD.c.id.in_(union_all(*parts))


def held_by(users: Iterable[str]) -> ColumnElement[bool]:
    """Records whose owner, or the holder of one of whose named assignments, is in `users`."""
    return reached(Reach(frozenset(users), frozenset()))


def _order(sql: StoreSql, keys: Sequence[SortKey]) -> list[Any]:
    order: list[Any] = []
    for key in keys:
        if key.type is None:
            column: ColumnElement[Any] = T_RECORD.c[key.name]
            if key.name in CORE_FILTERS or key.name == "id":
                column = sql.ordered(column)
        else:
            column = _field_value(sql, key.type, key.name)
        order.append((column.desc() if key.descending else column.asc()).nulls_last())
    if not any(k.name == "id" and k.type is None for k in keys):
        order.append(sql.ordered(T_RECORD.c.id).asc())  # a total order: pages never overlap
    return order


def list_records(conn: Connection, bundle: Bundle, query: RecordQuery) -> Page:
    """Return one page of the records matching `query`, and how many match in all."""
    if not query.entities:
        return Page([], 0, None)
    sql = StoreSql(conn)
    where = and_(*_where(sql, query))
    limit = max(1, min(query.limit, MAX_LIMIT))
    offset = max(0, query.offset)
    timed_out = False
    if query.count_cap is None:
        counted = select(func.count()).select_from(T_RECORD).where(where)
        total = int(conn.execute(counted).scalar_one())
    else:  # count no further than the cap: a listing of many records stays fast
        first = select(T_RECORD.c.id).where(where).limit(query.count_cap).subquery()
        counted = select(func.count()).select_from(first)
        if query.count_seconds is None:
            total = int(conn.execute(counted).scalar_one())
        else:  # ... and for no longer than that: past it, "more than" this page's end
            found = timebox.scalar_within(conn, counted, query.count_seconds)
            timed_out = found is None
            total = query.count_cap if found is None else int(found)
    capped = query.count_cap is not None and total >= query.count_cap
    # Past a capped count, one row more than the page tells whether another page follows.
    statement = (
        select(T_RECORD)
        .where(where)
        .order_by(*_order(sql, query.sort))
        .limit(limit + 1 if capped else limit)
        .offset(offset)
    )
    rows = conn.execute(statement).all()
    items = [view_of(row, bundle) for row in rows[:limit]]
    named.attach(conn, bundle, items)
    end = offset + len(items)
    more = len(rows) > limit if capped else end < total
    if timed_out:  # the count ran out of time: "more than" the records seen so far
        total, capped = end, more
    return Page(items, total, end if items and more else None, capped)


def iter_records(
    conn: Connection, bundle: Bundle, query: RecordQuery, batch: int = MAX_LIMIT
) -> Iterator[list[RecordView]]:
    """Yield every record matching `query` (its limit and offset ignored), in its order,
    `batch` at a time, from one query whose rows are fetched as they are read."""
    if not query.entities:
        return
    sql = StoreSql(conn)
    statement = select(T_RECORD).where(and_(*_where(sql, query))).order_by(*_order(sql, query.sort))
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(statement)
    for rows in result.partitions(batch):
        items = [view_of(row, bundle) for row in rows]
        named.attach(conn, bundle, items)
        yield items


def entity_counts(
    conn: Connection,
    entities: Iterable[str],
    rows: Mapping[str, Reach] | None = None,
    cap: int | None = None,
) -> dict[str, int]:
    """Return how many records of each entity there are (those `rows` let through), each
    counted no further than `cap` (a count that reached it means "at least that many")."""
    names = list(entities)
    counts = dict.fromkeys(names, 0)
    c = T_RECORD.c
    for name in names:
        wanted = select(c.id).where(c.entity == name)
        if rows and name in rows:
            wanted = wanted.where(row_access({name: rows[name]}))
        if cap is not None:
            wanted = wanted.limit(cap)
        counts[name] = int(
            conn.execute(select(func.count()).select_from(wanted.subquery())).scalar_one()
        )
    return counts


def waiting(
    conn: Connection,
    bundle: Bundle,
    queue: str,
    entities: Iterable[str],
    *,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    rows: Mapping[str, Reach] | None = None,
) -> Page:
    """Return the open records waiting in a queue (oldest first), one page: unowned ones
    the queue holds, and those a named assignment of waits in it (nobody could take it)."""
    query = RecordQuery(
        tuple(entities),
        core={"status": ("open",)},
        sort=[SortKey("created_at")],
        limit=limit,
        offset=offset,
        rows=rows or {},
        waiting_in=queue,
    )
    return list_records(conn, bundle, query)


def queue_sizes(
    conn: Connection,
    queues: Iterable[str],
    entities: Iterable[str],
    rows: Mapping[str, Reach] | None = None,
) -> dict[str, int]:
    """Return how many open records of `entities` wait in each queue (one query): unowned
    in it, or with a named assignment waiting in it (a record counts once per queue)."""
    names, kinds = list(queues), list(entities)
    counts = dict.fromkeys(names, 0)
    if not names or not kinds:
        return counts
    c, a = T_RECORD.c, T_ASSIGNMENT.c
    owned = select(c.queue.label("queue"), c.id.label("rid")).where(
        c.queue.in_(names), c.status == "open", c.entity.in_(kinds)
    )
    assigned = (
        select(a.queue.label("queue"), a.record_id.label("rid"))
        .join(T_RECORD, c.id == a.record_id)
        .where(a.queue.in_(names), a.user_id.is_(None), c.status == "open", c.entity.in_(kinds))
    )
    if rows:  # row-level access: count only what the caller may see
        owned, assigned = owned.where(row_access(rows)), assigned.where(row_access(rows))
    both = union(owned, assigned).subquery()
    found = conn.execute(
        select(both.c.queue, func.count(both.c.rid.distinct())).group_by(both.c.queue)
    ).all()
    counts.update({str(queue): int(n) for queue, n in found})
    return counts


__all__ = [
    "MAX_LIMIT",
    "FieldFilter",
    "FieldRange",
    "Page",
    "QueryError",
    "RecordQuery",
    "SortKey",
    "entity_counts",
    "field_filters",
    "field_ranges",
    "iter_records",
    "list_records",
    "queue_sizes",
    "sort_keys",
    "waiting",
]
