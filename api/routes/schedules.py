"""Schedules: each bundle schedule with its next run and how its last runs ended.

The route needs one of the roles the bundle's `access.schedules` names (every role
when it names none). Runs are read from the event log (runtime/schedules.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import QueryParameter

from api.auth import access, require
from api.calls import call
from api.openapi import errors
from api.routes.common import API, caller, runtime_of, server_of
from runtime import reports
from runtime.clock import iso
from runtime.schedules import schedule_runs

MAX_RUNS = 50
Runs = Annotated[int, QueryParameter(ge=0, le=MAX_RUNS)]


@get(f"{API}/schedules", tags=["schedules"], responses=errors(403))
async def list_schedules(request: Request[Any, Any, Any], runs: Runs = 5) -> dict[str, Any]:
    """Every schedule of the bundle: its timetable, `next_run`, counters, and its last
    `runs` runs (newest first), each with `due`, `started_at`, `finished_at`,
    `outcome` (`ok`, `failed`, `missed` or `skipped`), `error`, `late`,
    `late_by_seconds` and, for a `for_each` schedule, `items` (`total`, `ran`,
    `filtered`, `failed`). Times are ISO 8601 in UTC with their offset."""
    runtime, bundle = runtime_of(request)
    require(caller(request), access(bundle, "schedules"), "see schedules")
    server = server_of(request)
    found = await call(reports.read, runtime.store, schedule_runs, bundle, limit=runs)
    return {"computed_at": iso(server.clock.now()), "schedules": found}


ROUTES: list[Any] = [list_schedules]
