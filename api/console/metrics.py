"""The console's metrics pages: funnel, dwell heatmap (P5) and forecast (F8).

Each page shows what the JSON API under /api/v1/metrics answers for the same filters
(the same functions of api/routes/metrics.py build both), to the roles of the bundle's
`access: metrics`. A bad filter value gives the page back, saying which and why, with 400.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.exceptions import HTTPException
from litestar.response import Template
from sqlalchemy import select

from api.auth import access, require
from api.calls import call
from api.console.web import Who, page
from api.routes import metrics as api_metrics
from api.routes.common import runtime_of, server_of
from engine.bundle import Bundle
from runtime import heatmap, reports, rows
from runtime.access import Principal
from runtime.people import team_members
from runtime.store import T_STAY

Problems = list[dict[str, str]]
PAGE_SIZE = 50


class BadFilter(Exception):
    """A filter value the page cannot use: which parameter and why."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def _allowed(request: Request[Any, Any, Any], who: Principal) -> Bundle:
    _, bundle = runtime_of(request)
    require(who, access(bundle, "metrics"), "see metrics")
    return bundle


def _text(request: Request[Any, Any, Any], key: str) -> str | None:
    value = request.query_params.get(key)
    return value.strip() or None if value is not None else None


def _day(request: Request[Any, Any, Any], key: str) -> date | None:
    text = _text(request, key)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadFilter(key, f"'{key}': '{text}' is not a date (use YYYY-MM-DD)") from None


def _problems(exc: Exception) -> Problems:
    """Return what a refused filter says, per parameter."""
    if isinstance(exc, BadFilter):
        return [{"key": exc.key, "message": exc.message}]
    assert isinstance(exc, HTTPException)
    extra = exc.extra if isinstance(exc.extra, list) else []
    found = [
        {"key": str(e.get("key", "")), "message": f"{exc.detail}: {e.get('message', '')}"}
        for e in extra
        if isinstance(e, dict)
    ]
    return found or [{"key": "", "message": exc.detail}]


def regions(bundle: Bundle) -> list[str]:
    """Return the regions the bundle names: its users' `region` and workflows' params."""
    found = {
        str(s.model_extra.get("region"))
        for s in bundle.manifest.users.values()
        if s.model_extra and s.model_extra.get("region")
    }
    found.update(
        str(wf.params["region"]) for wf in bundle.workflows.values() if wf.params.get("region")
    )
    return sorted(found)


def _pick(request: Request[Any, Any, Any], key: str, known: list[str], what: str) -> str | None:
    value = _text(request, key)
    if value is not None and value not in known:
        raise BadFilter(key, f"'{key}': unknown {what} '{value}'")
    return value


def _used_workflows(conn: Any) -> set[str]:
    return {str(w) for w in conn.execute(select(T_STAY.c.workflow).distinct()).scalars()}


async def _workflow(request: Request[Any, Any, Any], bundle: Bundle) -> str:
    """The workflow asked for (checked), or the first of the bundle with records."""
    asked = _text(request, "workflow")
    if asked is not None:
        if asked not in bundle.workflows:
            raise BadFilter("workflow", f"'workflow': unknown workflow '{asked}'")
        return asked
    runtime, _ = runtime_of(request)
    used = await call(reports.read, runtime.store, _used_workflows)
    return next((w for w in bundle.workflows if w in used), next(iter(bundle.workflows)))


def _workflow_choices(bundle: Bundle) -> list[tuple[str, str]]:
    return [(name, wf.body.title or name) for name, wf in bundle.workflows.items()]


# -- funnel -------------------------------------------------------------------------------
@get("/funnel", include_in_schema=False)
async def funnel_page(request: Request[Any, Any, Any], who: Who) -> Template:
    """Records per stage and stage-to-stage conversion, filtered by team, rep, region, period."""
    bundle = _allowed(request, who)
    context: dict[str, Any] = {
        "workflows": _workflow_choices(bundle),
        "teams": [(n, t.title or n) for n, t in bundle.manifest.teams.items()],
        "reps": sorted(bundle.manifest.users),
        "regions": regions(bundle),
        "asked": {
            k: request.query_params.get(k, "")
            for k in ("workflow", "team", "rep", "region", "from", "to")
        },
        "report": None,
        "problems": [],
    }
    try:
        name = await _workflow(request, bundle)
        context["asked"]["workflow"] = name
        since, until = _day(request, "from"), _day(request, "to")
        report = await api_metrics.funnel_report(
            request,
            bundle.workflows[name],
            since,
            until,
            _text(request, "team"),
            _text(request, "rep"),
            _pick(request, "region", context["regions"], "region"),
        )
    except (BadFilter, HTTPException) as exc:
        context["problems"] = _problems(exc)
        template = page(request, who, "funnel.html", "Funnel", **context)
        template.status_code = 400
        return template
    top = max([s["reached"] for s in report["stages"]] + [1])
    context["report"] = report
    context["top"] = top
    return page(request, who, "funnel.html", "Funnel", **context)


# -- dwell heatmap --------------------------------------------------------------------------
@get("/dwell", include_in_schema=False)
async def dwell_page(request: Request[Any, Any, Any], who: Who) -> Template:
    """Stage x week or stage x team: median and p90 dwell, cells over the SLA marked (P5)."""
    bundle = _allowed(request, who)
    context: dict[str, Any] = {
        "workflows": _workflow_choices(bundle),
        "asked": {k: request.query_params.get(k, "") for k in ("workflow", "view", "from", "to")},
        "report": None,
        "problems": [],
    }
    try:
        name = await _workflow(request, bundle)
        context["asked"]["workflow"] = name
        view = _text(request, "view") or "week"
        if view not in ("week", "team"):
            raise BadFilter("view", f"'view': '{view}' is neither week nor team")
        context["asked"]["view"] = view
        since, until = _day(request, "from"), _day(request, "to")
        report = await api_metrics.heatmap_report(
            request, bundle.workflows[name], view, since, until
        )
    except (BadFilter, HTTPException) as exc:
        context["problems"] = _problems(exc)
        template = page(request, who, "dwell.html", "Dwell heatmap", **context)
        template.status_code = 400
        return template
    if view == "team":  # only the teams with stays in the period: the page stays readable
        used = {c["column"] for s in report["stages"] for c in s["cells"] if c["stays"]}
        keep = [i for i, c in enumerate(report["columns"]) if c["key"] in used]
        report["columns"] = [report["columns"][i] for i in keep]
        for stage in report["stages"]:
            stage["cells"] = [stage["cells"][i] for i in keep]
    context["report"] = report
    return page(request, who, "dwell.html", "Dwell heatmap", **context)


@get("/dwell/records", include_in_schema=False)
async def dwell_records_page(request: Request[Any, Any, Any], who: Who) -> Template:
    """The stays behind one heatmap cell, longest first, each linking to its record."""
    bundle = _allowed(request, who)
    runtime, _ = runtime_of(request)
    context: dict[str, Any] = {"problems": [], "items": [], "total": 0}
    try:
        name = _text(request, "workflow")
        if name is None or name not in bundle.workflows:
            raise BadFilter("workflow", f"'workflow': unknown workflow '{name or ''}'")
        wf = bundle.workflows[name]
        stage = _text(request, "stage")
        stages = {s.id: s for s in wf.body.stages}
        if stage is None or stage not in stages:
            raise BadFilter("stage", f"'stage': '{stage or ''}' is not a stage of {name}")
        since, until = _day(request, "from"), _day(request, "to")
        if since is None or until is None:
            raise BadFilter("from", "'from' and 'to' (dates) say which days the cell covers")
        api_metrics.check_days(since, until)
        team = request.query_params.get("team")
        owners: list[str] | None = None
        not_owners: list[str] | None = None
        team_title = None
        if team is not None:
            if team == heatmap.NO_TEAM:
                not_owners = sorted(
                    {m for t in bundle.manifest.teams for m in team_members(bundle, t)}
                )
                team_title = "No team"
            elif team in bundle.manifest.teams:
                owners = team_members(bundle, team)
                team_title = bundle.manifest.teams[team].title or team
            else:
                raise BadFilter("team", f"'team': unknown team '{team}'")
        offset = _offset(request)
    except (BadFilter, HTTPException) as exc:
        context["problems"] = _problems(exc)
        template = page(
            request, who, "dwell_records.html", "Records behind a dwell cell", **context
        )
        template.status_code = 400
        return template
    zone = bundle.manifest.timezone
    start = api_metrics._midnight_utc(since, zone)
    end = api_metrics._midnight_utc(until + timedelta(days=1), zone)
    seen = rows.restricted(bundle, [wf.entity], who.user, who.roles)
    now = server_of(request).clock.now()
    stays = await call(
        reports.read,
        runtime.store,
        heatmap.cell_stays,
        wf,
        stage,
        now,
        start,
        end,
        owners=owners,
        not_owners=not_owners,
        rows=seen,
        limit=PAGE_SIZE,
        offset=offset,
    )
    query = {k: v for k, v in request.query_params.items() if k != "offset"}
    context.update(
        items=stays.items,
        total=stays.total,
        hidden=stays.hidden,
        workflow=name,
        wf_title=wf.body.title or name,
        stage_title=stages[stage].title or stage,
        since=since,
        until=until,
        team_title=team_title,
        offset=offset,
        page_size=PAGE_SIZE,
        query=query,
        back={"workflow": name, "view": "team" if team is not None else "week"},
    )
    return page(request, who, "dwell_records.html", "Records behind a dwell cell", **context)


def _offset(request: Request[Any, Any, Any]) -> int:
    text = _text(request, "offset")
    if text is None:
        return 0
    if not text.isdigit():
        raise BadFilter("offset", f"'offset': '{text}' is not a whole number")
    return int(text)


# -- forecast -------------------------------------------------------------------------------
PAST_WEEKS = 12


@get("/forecast", include_in_schema=False)
async def forecast_page(request: Request[Any, Any, Any], who: Who) -> Template:
    """The weighted pipeline for the rolling weeks with its seasonal coefficient, and
    forecast-vs-actual error of past weeks (F8)."""
    bundle = _allowed(request, who)
    runtime, _ = runtime_of(request)
    names = list(bundle.forecasts)
    context: dict[str, Any] = {
        "forecasts": [(n, f.title or n) for n, f in bundle.forecasts.items()],
        "regions": regions(bundle),
        "asked": {k: request.query_params.get(k, "") for k in ("forecast", "region")},
        "report": None,
        "problems": [],
    }
    try:
        name = _text(request, "forecast") or (names[0] if names else None)
        if name is None:
            raise BadFilter("forecast", "the bundle declares no forecast")
        if name not in bundle.forecasts:
            raise BadFilter("forecast", f"'forecast': unknown forecast '{name}'")
        region = _pick(request, "region", context["regions"], "region")
    except BadFilter as exc:
        context["problems"] = _problems(exc)
        template = page(request, who, "forecast.html", "Forecast", **context)
        template.status_code = 400
        return template
    context["asked"]["forecast"] = name
    now = server_of(request).clock.now()
    report = await call(
        reports.read,
        runtime.store,
        reports.forecast_report,
        bundle,
        bundle.forecasts[name],
        now,
        region,
    )
    zone = ZoneInfo(bundle.manifest.timezone)
    context["report"] = report
    context["past"] = report["accuracy"][-PAST_WEEKS:]
    context["today"] = now.replace(tzinfo=UTC).astimezone(zone).date()
    return page(request, who, "forecast.html", "Forecast", **context)


ROUTES = [funnel_page, dwell_page, dwell_records_page, forecast_page]
