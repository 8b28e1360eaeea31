"""What people read beside the data: a record's guide (P7) and the bundle's catalog."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import FromPath, QueryParameter

from api.auth import access, require
from api.openapi import errors
from api.routes.common import API, caller, runtime_of
from api.routes.record_common import Ctx
from api.routes.record_parts import RECORD
from engine.catalog import catalog as bundle_catalog
from runtime.guide import guide_of, path_of


@get(f"{RECORD}/guide", tags=["records"], responses=errors(403, 404))
async def record_guide(
    request: Request[Any, Any, Any],
    entity: FromPath[str],
    record_id: FromPath[str],
    search: Annotated[str | None, QueryParameter(max_length=200)] = None,
) -> dict[str, Any]:
    """Show what goes beside a record: layout, name, stage path and the stage's guide.

    The layout follows the caller's roles; the guide holds the current stage's title,
    guidance, knowledge (links and the rows they pick: a table's rows or a metric's
    groups), insights, evidence checklist and the moves open from it. `search` keeps
    only the knowledge rows holding that text in any column, in any case (e.g. the
    objection-handling scripts about price).
    """
    ctx = Ctx(request, entity)
    await ctx.record(record_id)
    return await ctx.run(guide_of, ctx.runtime, record_id, ctx.who.user, search or None)


@get(f"{RECORD}/path", tags=["records"], responses=errors(403, 404))
async def record_path(
    request: Request[Any, Any, Any], entity: FromPath[str], record_id: FromPath[str]
) -> dict[str, Any]:
    """Show a record's stage path: every stage in order, then the exits, each with its
    `state` (done, current, ahead, skipped, exit), whether it `applies` and `why` (a
    conditional stage's `only_when` and the values it read).
    """
    ctx = Ctx(request, entity)
    await ctx.record(record_id)
    return await ctx.run(path_of, ctx.runtime, record_id, ctx.who.user)


@get(f"{API}/definitions/catalog", tags=["definitions"], responses=errors(403))
async def catalog(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Return every title, description and note of the served bundle, by kind and name."""
    _, bundle = runtime_of(request)
    require(caller(request), access(bundle, "definitions"), "read the definitions")
    return bundle_catalog(bundle)


ROUTES = [record_guide, record_path, catalog]

__all__ = ["ROUTES"]
