"""What the record routes share: the entity of a path, read permissions, presenting records.

Read permissions are the API's to enforce (the runtime enforces writes): an entity's
`permissions.read` roles decide who sees its records at all (403 otherwise), a field's
`read` roles who sees that field, `permissions.rows` which of its records (a record the
caller's rows leave out is answered 404, as if it did not exist). A field the caller may
not read is left out of every record, list, conflict answer, audit entry and history
row this module presents, and filtering or sorting on it is refused as if it did not exist.

A queue the caller may not see (its `visible_to`) is hidden the same way: a record
waiting in it shows `queue: null`, audit, history and explanation rows do not name it,
and a filter or an assignment naming it is answered as for a queue that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from litestar import Request
from litestar.exceptions import ValidationException

from api.auth import may
from api.calls import call
from api.routes.common import caller, runtime_of
from engine.bundle import Bundle, CompiledForm
from runtime import rows
from runtime.access import Principal
from runtime.core import Runtime
from runtime.errors import Conflict, Forbidden, NotFound, Problem
from runtime.queries import QueryError, did_you_mean
from runtime.records import RecordView

T = TypeVar("T")
TAGS = ["records"]


class Ctx:
    """One request's view of an entity: runtime, bundle, caller, form and hidden fields."""

    def __init__(
        self,
        request: Request[Any, Any, Any],
        entity: str,
        *,
        read: bool = True,
        who: Principal | None = None,
    ) -> None:
        self.request = request
        self.runtime, self.bundle = runtime_of(request)
        self.who = who if who is not None else caller(request)  # console pages pass theirs
        self.entity = entity
        self.form = form_of(self.bundle, entity)
        self.readable = entity_readable(self.form, self.who)
        if read and not self.readable:
            roles = ", ".join(self.form.spec.permissions.read or []) or "nobody"
            raise Forbidden(f"your roles may not read {entity} records (allowed: {roles})")
        self.hidden = hidden_fields(self.form, self.who)
        self.queues = hidden_queues(self.bundle, self.who)
        # Row-level access (form `permissions.rows`): whose records the caller sees.
        self.rows = rows.reach(self.bundle, entity, self.who.user, self.who.roles)

    async def run(self, fn: Callable[..., T], /, *args: Any, **kw: Any) -> T:
        """Run a runtime call (the caller acts); a conflict shows only what it may read."""
        try:
            return await call(fn, *args, **kw)
        except Conflict as exc:
            if isinstance(exc.current, RecordView):
                exc.current = Shown(self.show(exc.current))
            raise

    async def record(self, record_id: str) -> RecordView:
        """Return a record of this entity (404 when it is missing or of another entity)."""
        view = await self.run(self.runtime.get, record_id)
        if view.entity != self.entity:
            raise NotFound(f"record '{record_id}' is not a {self.entity} record")
        if not rows.sees_view(view, self.rows):  # a row the caller may not see: as missing
            raise NotFound(f"record '{record_id}' does not exist")
        return view

    def show(self, view: RecordView) -> dict[str, Any]:
        """Return a record as this caller may see it."""
        return present(view, self.form, self.hidden, self.queues)

    def scrub(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Return an audit, history or decision row as this caller may see it."""
        return scrub(row, self.hidden, self.queues)


class Shown:
    """A record already presented (what a 409 carries as `current`)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        """Return the presented record."""
        return self.data


def form_of(bundle: Bundle, entity: str) -> CompiledForm:
    """Return an entity's compiled form; 404 (with a did-you-mean) when there is none."""
    form = bundle.forms.get(entity)
    if form is None:
        known = sorted(bundle.forms)
        raise NotFound(
            f"there is no entity '{entity}'{did_you_mean(entity, known)}",
            [Problem("unknown-entity", f"entities: {', '.join(known)}", None, "path")],
        )
    return form


def entity_readable(form: CompiledForm, who: Principal) -> bool:
    """Tell whether `who` may read records of this entity."""
    return may(who, form.spec.permissions.read)


def hidden_fields(form: CompiledForm, who: Principal) -> frozenset[str]:
    """Return the fields `who` may not read (all of them without entity read permission)."""
    if not entity_readable(form, who):
        return frozenset(form.spec.fields)
    return frozenset(n for n, s in form.spec.fields.items() if not may(who, s.read))


def hidden_queues(bundle: Bundle, who: Principal) -> frozenset[str]:
    """Return the queues `who` may not see (a queue listing no roles is seen by everyone)."""
    return frozenset(
        name
        for name, spec in bundle.manifest.queues.items()
        if spec.visible_to and not may(who, spec.visible_to)
    )


def present(
    view: RecordView,
    form: CompiledForm,
    hidden: Iterable[str],
    queues: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Return a record as JSON-ready data: every field of its form (unset ones as null),
    hidden fields left out, a hidden queue shown as none. Values of fields the form no
    longer declares are kept aside in the store, not shown: nothing says any more who
    may read them."""
    out = view.to_dict()
    if out.get("queue") in queues:
        out["queue"] = None
    for held in (out.get("assignments") or {}).values():
        if held.get("queue") in queues:
            held["queue"] = None
    gone = set(hidden)
    values = out["data"]
    out["data"] = {k: values.get(k) for k in form.spec.fields if k not in gone}
    return out


def scrub(
    row: Mapping[str, Any], hidden: frozenset[str], queues: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Drop hidden fields from an audit, history or decision row (and its detail), and
    the names of hidden queues."""
    if queues:
        row = _unqueue(row, queues)
    out = {k: v for k, v in row.items() if k not in hidden}
    detail = out.get("detail")
    if isinstance(detail, dict) and hidden:
        cleaned = {k: v for k, v in detail.items() if k not in hidden}
        for part in ("data", "changes", "inputs", "values"):
            inner = cleaned.get(part)
            if isinstance(inner, dict):
                cleaned[part] = {k: v for k, v in inner.items() if k not in hidden}
        out["detail"] = cleaned
    return out


def _unqueue(value: Any, queues: frozenset[str], key: str = "") -> Any:
    """Return `value` without the names of `queues`: a `queue` value or `queue:<name>`
    becomes None, a message quoting `queue '<name>'` says `a queue you do not see`."""
    if isinstance(value, Mapping):
        return {k: _unqueue(v, queues, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_unqueue(v, queues) for v in value]
    if not isinstance(value, str):
        return value
    if (key in QUEUE_KEYS and value in queues) or (
        value.startswith("queue:") and value[6:] in queues
    ):
        return None
    for name in queues:
        if f"queue '{name}'" in value:
            value = value.replace(f"queue '{name}'", "a queue you do not see")
    return value


QUEUE_KEYS = frozenset({"queue", "previous_queue", "fallback_queue"})


def bad_query(exc: QueryError) -> ValidationException:
    """Return a 400 naming every bad filter or sort key."""
    return ValidationException(
        exc.message,
        extra=[
            {"key": p.field or p.code, "message": p.message, "source": "query"}
            for p in exc.problems
        ],
    )


def bad_request(message: str, key: str, source: str = "body") -> ValidationException:
    """Return a 400 about one part of the request."""
    return ValidationException(message, extra=[{"key": key, "message": message, "source": source}])


def runtime_and_bundle(request: Request[Any, Any, Any]) -> tuple[Runtime, Bundle, Principal]:
    """Return the runtime, the bundle of this request, and the caller."""
    runtime, bundle = runtime_of(request)
    return runtime, bundle, caller(request)
