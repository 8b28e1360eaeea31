"""A stage's parallel branches and approval: complete a branch; approve, reject, send back.

The record's guide (`GET .../guide`) shows the branches and the votes; every command is
in the record's audit (`branch_completed`, `approval_vote`, `approval_given`).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Request, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK
from msgspec import Struct

from api.openapi import errors
from api.routes.record_common import TAGS, Ctx
from api.routes.record_parts import RECORD


class BranchRequest(Struct, forbid_unknown_fields=True):
    """An optional comment kept with the completion."""

    comment: str = ""


class DecisionRequest(Struct, forbid_unknown_fields=True):
    """A decision on the record's approval."""

    decision: Literal["approve", "reject", "send_back"]
    to: str | None = None
    comment: str = ""
    for_: str | None = msgspec.field(default=None, name="for")


@post(
    f"{RECORD}/branches/{{branch:str}}/complete",
    tags=TAGS,
    status_code=HTTP_200_OK,
    responses=errors(403, 404, 409, 422),
)
async def complete_branch(
    request: Request[Any, Any, Any],
    entity: FromPath[str],
    record_id: FromPath[str],
    branch: FromPath[str],
    data: JSONBody[BranchRequest | None] = None,
) -> dict[str, Any]:
    """Complete a branch of the record's stage: body `{"comment"?: text}`; 200 + record.

    A refusal is a 422 listing what the branch still needs (its roles, required
    fields, evidence) or why it cannot complete (`branch-done`, `branch-not-applicable`).
    """
    ctx = Ctx(request, entity)
    await ctx.record(record_id)
    view = await ctx.run(
        ctx.runtime.complete_branch,
        record_id,
        branch,
        actor=ctx.who.user,
        comment=data.comment if data else "",
    )
    return ctx.show(view)


@post(
    f"{RECORD}/approval", tags=TAGS, status_code=HTTP_200_OK, responses=errors(403, 404, 409, 422)
)
async def decide_approval(
    request: Request[Any, Any, Any],
    entity: FromPath[str],
    record_id: FromPath[str],
    data: JSONBody[DecisionRequest],
) -> dict[str, Any]:
    """Decide on the record's approval: body `{"decision": "approve" | "reject" |
    "send_back", "to"?: stage, "comment"?: text, "for"?: user}`; 200 + the record.

    `reject` moves the record to the approval's `on_reject` exit, `send_back` to `to`
    (one of `send_back_to`). `for` names the approver on leave the caller, their
    manager, decides for. Refusals (422): `forbidden`, `already-voted`, `approved`,
    `send-back-not-allowed`, ...
    """
    ctx = Ctx(request, entity)
    await ctx.record(record_id)
    view = await ctx.run(
        ctx.runtime.decide,
        record_id,
        data.decision,
        actor=ctx.who.user,
        to=data.to,
        comment=data.comment,
        on_behalf_of=data.for_,
    )
    return ctx.show(view)


ROUTES = [complete_branch, decide_approval]

__all__ = ["ROUTES"]
