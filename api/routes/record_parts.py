"""Around a record: evidence files, stage history, audit trail, explanations,
assignment, and the queues records wait in (P3).

Evidence is uploaded as multipart (`kind`, `file`); the upload limit is the server's
`max_upload_bytes` (413 past it), the media type is read from the content by the
runtime, and the bytes are stored once by sha256.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, JSONBody, MultipartBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_413_REQUEST_ENTITY_TOO_LARGE
from msgspec import Struct

from api.auth import may
from api.calls import call
from api.downloads import download_headers
from api.openapi import errors
from api.routes.common import API, server_of
from api.routes.record_common import (
    TAGS,
    Ctx,
    bad_request,
    entity_readable,
    hidden_fields,
    hidden_queues,
    present,
    runtime_and_bundle,
)
from engine.bundle import Bundle
from engine.spec.manifest import QueueSpec
from runtime import failures, queries, rows
from runtime.access import Principal
from runtime.errors import Forbidden, Invalid, NotFound, Problem
from runtime.queries import DEFAULT_LIMIT, MAX_LIMIT, did_you_mean
from runtime.records import RecordView

RECORD = f"{API}/records/{{entity:str}}/{{record_id:str}}"
MAX_OFFSET = 1_000_000_000
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Records per page.")]
Offset = Annotated[
    int, QueryParameter(ge=0, le=MAX_OFFSET, description="Records to skip (`next` of a page).")
]


@dataclass
class EvidenceUpload:
    """A multipart upload: the evidence kind and the file."""

    kind: str
    file: UploadFile


class AssignRequest(Struct, forbid_unknown_fields=True):
    """Exactly one of: a user to own the record, a queue to wait in, a routing rule to run.

    `as`: a named assignment of the entity to set instead of the owner; with it, none of
    user, queue and routing clears that assignment.
    """

    user: str | None = None
    queue: str | None = None
    routing: str | None = None
    row_version: int | None = None
    as_: str | None = msgspec.field(default=None, name="as")


# -- evidence ----------------------------------------------------------------------------
@post(
    f"{RECORD}/evidence",
    tags=TAGS,
    status_code=HTTP_201_CREATED,
    responses=errors(403, 404, 409, 413, 422),
)
async def upload_evidence(
    request: Request[Any, Any, Any],
    entity: FromPath[str],
    record_id: FromPath[str],
    data: MultipartBody[EvidenceUpload],
) -> dict[str, Any]:
    """Attach a file as evidence of `kind` (multipart fields `kind` and `file`); 201 + row.

    Past the server's upload limit the answer is 413; a file whose content is not of a
    media type the stage accepts (whatever its name or declared type) is a 422.
    """
    ctx = Ctx(request, entity)
    if "\x00" in (data.file.filename or ""):  # PostgreSQL stores no NUL in text
        await data.file.close()
        raise bad_request("the file name may not contain a NUL character (\\u0000)", "file")
    await ctx.record(record_id)
    limit = server_of(request).config.max_upload_bytes
    content = await data.file.read(limit + 1)
    await data.file.close()
    if len(content) > limit:
        raise HTTPException(
            status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            detail=f"the file is larger than the upload limit of {limit} bytes",
            extra=[{"key": "file", "message": f"at most {limit} bytes", "source": "body"}],
        )
    row: dict[str, Any] = await ctx.run(
        ctx.runtime.attach_evidence,
        record_id,
        data.kind,
        content,
        file_name=data.file.filename or "file",
        media_type=data.file.content_type or "application/octet-stream",
        actor=ctx.who.user,
    )
    return row


@get(f"{RECORD}/evidence", tags=TAGS, responses=errors(403, 404))
async def list_evidence(
    request: Request[Any, Any, Any], entity: FromPath[str], record_id: FromPath[str]
) -> list[dict[str, Any]]:
    """The evidence files attached to a record (kind, stage, sha256, media type, size)."""
    ctx = Ctx(request, entity)
    await ctx.record(record_id)
    rows = await ctx.run(ctx.runtime.evidence, record_id)
    return [r for r in rows if r["kind"] not in ctx.hidden]


@get(f"{RECORD}/evidence/{{evidence_id:str}}/content", tags=TAGS, responses=errors(403, 404))
async def evidence_content(
    request: Request[Any, Any, Any],
    entity: FromPath[str],
    record_id: FromPath[str],
    evidence_id: FromPath[str],
) -> Response[bytes]:
    """Download an evidence file's bytes with its media type, always as an attachment.

    The answer carries `Content-Disposition: attachment` (the file name as RFC 6266
    gives it), `X-Content-Type-Options: nosniff` and a sandboxing
    `Content-Security-Policy`, so no browser runs what it holds.
    """
    ctx = Ctx(request, entity)
    await ctx.record(record_id)
    rows = await ctx.run(ctx.runtime.evidence, record_id)
    row = next((r for r in rows if r["id"] == evidence_id and r["kind"] not in ctx.hidden), None)
    if row is None:
        raise NotFound(f"record '{record_id}' has no evidence '{evidence_id}'")
    content = await ctx.run(ctx.runtime.blobs.get, row["sha256"])
    return Response(
        content,
        media_type=str(row["media_type"]),
        headers=download_headers(str(row["file_name"])),
    )


# -- history, audit, explanations ---------------------------------------------------------
@get(f"{RECORD}/history", tags=TAGS, responses=errors(403, 404))
async def record_history(
    request: Request[Any, Any, Any], entity: FromPath[str], record_id: FromPath[str]
) -> list[dict[str, Any]]:
    """The record's stays in stages, oldest first (entered/left, by whom, dwell)."""
    ctx = Ctx(request, entity)
    await ctx.record(record_id)
    rows = await ctx.run(ctx.runtime.history, record_id)
    return [ctx.scrub(r) for r in rows]


@get(f"{RECORD}/audit", tags=TAGS, responses=errors(403, 404))
async def record_audit(
    request: Request[Any, Any, Any], entity: FromPath[str], record_id: FromPath[str]
) -> list[dict[str, Any]]:
    """The record's audit trail, oldest first: every change, who made it and when."""
    ctx = Ctx(request, entity)
    await ctx.record(record_id)
    rows = await ctx.run(ctx.runtime.events, record_id)
    return [ctx.scrub(r) for r in rows]


@get(f"{RECORD}/explain", tags=TAGS, responses=errors(403, 404))
async def record_explain(
    request: Request[Any, Any, Any],
    entity: FromPath[str],
    record_id: FromPath[str],
    kind: FromQuery[str | None] = None,
) -> list[dict[str, Any]]:
    """Every automated decision about the record with its reasons (`?kind=score` etc.).

    Decisions that set a field the caller may not read are left out.
    """
    ctx = Ctx(request, entity)
    await ctx.record(record_id)
    rows = await ctx.run(ctx.runtime.explain, record_id, kind)
    return [ctx.scrub(r) for r in rows if not sets_hidden(ctx.bundle, r, ctx.hidden)]


def sets_hidden(bundle: Bundle, row: dict[str, Any], hidden: frozenset[str]) -> bool:
    """Tell whether a decision's outcome is the value of a hidden field."""
    if not hidden:
        return False
    if row.get("kind") == "score" and row.get("rule") in bundle.scorings:
        return bundle.scorings[row["rule"]].spec.output in hidden
    if row.get("kind") == failures.KIND:  # a failed computed field or score feature
        detail = row.get("detail") or {}
        if detail.get("where") == "computed":
            return detail.get("field") in hidden
        scoring = bundle.scorings.get(row.get("rule") or "")
        return (
            detail.get("where") == "score"
            and scoring is not None
            and (scoring.spec.output in hidden)
        )
    if row.get("kind") == "decision_table" and row.get("rule") in bundle.decision_tables:
        return bool(set(bundle.decision_tables[row["rule"]].spec.outputs) & hidden)
    return False


# -- assignment and queues ---------------------------------------------------------------
@post(f"{RECORD}/assign", tags=TAGS, status_code=HTTP_200_OK, responses=errors(403, 404, 409, 422))
async def assign_record(
    request: Request[Any, Any, Any],
    entity: FromPath[str],
    record_id: FromPath[str],
    data: JSONBody[AssignRequest],
) -> dict[str, Any]:
    """Give the record to a user, put it in a queue, or route it again (P3); 200 + record.

    Body: exactly one of `{"user": id}`, `{"queue": name}`, `{"routing": rule}`, and
    optionally `row_version` (409 with `current` when stale). Needs the entity's write
    roles. `{"as": "reviewer", ...}` sets a named assignment instead of the owner;
    `{"as": "reviewer"}` alone clears it.
    """
    chosen = [k for k in ("user", "queue", "routing") if getattr(data, k) is not None]
    if len(chosen) != 1 and not (data.as_ is not None and not chosen):
        raise bad_request("send exactly one of 'user', 'queue' or 'routing'", "user")
    ctx = Ctx(request, entity)
    if not may(ctx.who, ctx.form.spec.permissions.write):
        raise Forbidden(f"your roles may not change {entity} records")
    if data.queue in ctx.queues:  # answered as for a queue that does not exist
        raise Invalid(
            f"queue '{data.queue}' does not exist", [Problem("unknown-queue", data.queue)]
        )
    await ctx.record(record_id)
    view = await ctx.run(
        ctx.runtime.assign,
        record_id,
        user=data.user,
        queue=data.queue,
        routing=data.routing,
        as_=data.as_,
        actor=ctx.who.user,
        expected_version=data.row_version,
    )
    return ctx.show(view)


def _waiting_for(view: RecordView, queue: str) -> list[str]:
    """Say what of a record waits in `queue`: 'owner' and/or its named assignments."""
    parts = ["owner"] if view.queue == queue and view.owner is None else []
    held = view.assignments or {}
    return parts + [n for n, a in held.items() if a.get("queue") == queue and not a.get("user")]


def _visible(spec: QueueSpec, who: Principal) -> bool:
    """A queue lists the roles that see it; one that lists none is seen by everyone."""
    return not spec.visible_to or may(who, spec.visible_to)


def _readable_entities(bundle: Bundle, who: Principal) -> list[str]:
    return [name for name, form in bundle.forms.items() if entity_readable(form, who)]


@get(f"{API}/queues", tags=["queues"])
async def list_queues(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    """The queues the caller's roles see, with how many open records wait in each."""
    runtime, bundle, who = runtime_and_bundle(request)
    shown = {n: q for n, q in bundle.manifest.queues.items() if _visible(q, who)}
    entities = _readable_entities(bundle, who)
    limited = rows.restricted(bundle, entities, who.user, who.roles)

    def sizes() -> dict[str, int]:
        with runtime.store.read() as conn:
            return queries.queue_sizes(conn, shown, entities, limited)

    counts = await call(sizes)
    return [
        {
            "name": name,
            "title": spec.title or name,
            "description": spec.description,
            "visible_to": list(spec.visible_to),
            "waiting": counts.get(name, 0),
        }
        for name, spec in shown.items()
    ]


@get(f"{API}/queues/{{name:str}}", tags=["queues"], responses=errors(404))
async def queue_contents(
    request: Request[Any, Any, Any],
    name: FromPath[str],
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The open records waiting in a queue, oldest first: `{items, total, next}`."""
    runtime, bundle, who = runtime_and_bundle(request)
    spec = bundle.manifest.queues.get(name)
    if spec is None or not _visible(spec, who):  # a hidden queue is as if it did not exist
        known = sorted(n for n, q in bundle.manifest.queues.items() if _visible(q, who))
        raise NotFound(
            f"there is no queue '{name}'{did_you_mean(name, known)}",
            [Problem("unknown-queue", f"queues: {', '.join(known) or 'none'}")],
        )
    entities = _readable_entities(bundle, who)
    limited = rows.restricted(bundle, entities, who.user, who.roles)

    def page() -> queries.Page:
        with runtime.store.read() as conn:
            return queries.waiting(
                conn, bundle, name, entities, limit=limit, offset=offset, rows=limited
            )

    found = await call(page)
    hidden = {e: hidden_fields(bundle.forms[e], who) for e in entities}
    queues = hidden_queues(bundle, who)
    return {
        "items": [
            {
                **present(v, bundle.forms[v.entity], hidden[v.entity], queues),
                "waiting_for": _waiting_for(v, name),
            }
            for v in found.items
        ],
        "total": found.total,
        "next": found.next,
    }


ROUTES: list[Any] = [
    upload_evidence,
    list_evidence,
    evidence_content,
    record_history,
    record_audit,
    record_explain,
    assign_record,
    list_queues,
    queue_contents,
]
