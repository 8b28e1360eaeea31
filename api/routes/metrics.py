"""Metrics for the console: funnel, dwell per stage, forecast (F8), declared metrics (P14).

Every route needs one of the roles the bundle's `access.metrics` names. Each answer is
aggregated in the database (runtime/reports.py, runtime/metrics.py, runtime/forecast.py).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, QueryParameter

from api.auth import access, require
from api.calls import call
from api.openapi import errors
from api.routes.common import API, caller, runtime_of, server_of
from api.routes.record_common import hidden_queues
from engine.bundle import Bundle, CompiledWorkflow
from engine.suggest import did_you_mean
from runtime import failures, heatmap, metric_compare, reports, rows, snapshots
from runtime.calendar import working_time
from runtime.clock import iso, utc
from runtime.core import Runtime
from runtime.people import team_members


def _metrics(request: Request[Any, Any, Any]) -> tuple[Runtime, Bundle]:
    """Return runtime and bundle once the caller may see metrics (else 403)."""
    runtime, bundle = runtime_of(request)
    require(caller(request), access(bundle, "metrics"), "see metrics")
    return runtime, bundle


def _unknown(what: str, name: str, known: list[str], key: str, source: str) -> NotFoundException:
    """Return a 404 naming the unknown thing, the closest known name and the known ones."""
    hint = did_you_mean(name, known)
    listed = ", ".join(sorted(known)) or "none"
    detail = f"{what} '{name}' does not exist" + (f"; {hint}" if hint else "")
    return NotFoundException(
        detail, extra=[{"key": key, "message": f"known: {listed}", "source": source}]
    )


def _workflow(bundle: Bundle, name: str) -> CompiledWorkflow:
    wf = bundle.workflows.get(name)
    if wf is None:
        raise _unknown("workflow", name, list(bundle.workflows), "workflow", "query")
    return wf


MIN_DAY, MAX_DAY = date(1900, 1, 1), date(9000, 12, 31)
YEARS = {"pattern": "^(19[0-9]{2}|[2-8][0-9]{3}|9000)-"}  # MIN_DAY..MAX_DAY, documented


def _midnight_utc(day: date, timezone: str) -> datetime:
    """Return the start of `day` in the bundle's timezone as naive UTC (the store's time)."""
    local = datetime.combine(day, time(), tzinfo=ZoneInfo(timezone))
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def funnel_owners(bundle: Bundle, team: str | None, rep: str | None) -> list[str] | None:
    """Return whose stays a funnel keeps: a rep, a team's members (both: the rep, who must
    be in the team), or None: everyone. An unknown team or user is a 400 naming it."""
    owners: list[str] | None = None
    if team is not None:
        if team not in bundle.manifest.teams:
            hint = did_you_mean(team, list(bundle.manifest.teams))
            raise _bad("team", f"unknown team '{team}'", hint or "see the bundle's teams")
        owners = team_members(bundle, team)
    if rep is not None:
        if rep not in bundle.manifest.users:
            hint = did_you_mean(rep, list(bundle.manifest.users))
            raise _bad("rep", f"unknown user '{rep}'", hint or "see the bundle's users")
        owners = [rep] if owners is None or rep in owners else []
    return owners


def check_days(since: date | None, until: date | None) -> None:
    """Refuse (400) a period out of range or ending before it starts."""
    for key, day in (("from", since), ("to", until)):
        if day is not None and not MIN_DAY <= day <= MAX_DAY:
            raise _bad(
                key, f"'{key}' is out of range", f"{day} is not between {MIN_DAY} and {MAX_DAY}"
            )
    if since is not None and until is not None and until < since:
        raise _bad("to", "'to' is before 'from'", f"{until} is before {since}")


def check_region(region: str | None) -> str | None:
    """Refuse (400) an empty or overlong region name; return it otherwise."""
    if region is None:
        return None
    if not region.strip() or len(region) > 64:
        raise _bad("region", "'region' must be a region name", "1 to 64 characters")
    return region


async def funnel_report(
    request: Request[Any, Any, Any],
    wf: CompiledWorkflow,
    since: date | None,
    until: date | None,
    team: str | None = None,
    rep: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """The funnel as GET /metrics/funnel answers it (the console shows the same)."""
    runtime, bundle = runtime_of(request)
    check_days(since, until)
    owners = funnel_owners(bundle, team, rep)
    region = check_region(region)
    zone = bundle.manifest.timezone
    start = _midnight_utc(since, zone) if since else None
    end = _midnight_utc(until + timedelta(days=1), zone) if until else None
    found: dict[str, Any] = await call(
        reports.read,
        runtime.store,
        reports.funnel,
        wf,
        since=start,
        until=end,
        owners=owners,
        region=region,
    )
    return {
        **found,
        "entity": wf.entity,
        "from": since.isoformat() if since else None,
        "to": until.isoformat() if until else None,
        "team": team,
        "rep": rep,
        "region": region,
    }


@get(f"{API}/metrics/funnel", tags=["metrics"], responses=errors(400, 403, 404))
async def funnel(
    request: Request[Any, Any, Any],
    workflow: FromQuery[str],
    since: Annotated[date | None, QueryParameter(name="from", schema_extra=YEARS)] = None,
    until: Annotated[date | None, QueryParameter(name="to", schema_extra=YEARS)] = None,
    team: Annotated[
        str | None, QueryParameter(description="A team of the bundle: its members' stays.")
    ] = None,
    rep: Annotated[str | None, QueryParameter(description="A user: the stays they owned.")] = None,
    region: Annotated[
        str | None,
        QueryParameter(
            description="The records' `region` field at each stage.",
            min_length=1,
            max_length=64,
            pattern=r"\S",
        ),
    ] = None,
) -> dict[str, Any]:
    """Per stage in workflow order: records that reached it, records in it now and the
    conversion from the previous stage; per exit (won/lost): records and share.

    `from`/`to` (dates in the bundle's timezone, both included, years 1900 to 9000)
    keep the records that entered the workflow on those days; `to` before `from` is a 400.
    `team`, `rep` and `region` keep the stays owned by the team's members, by the rep,
    in the region (as the record was when it entered the stage); an unknown team or
    user is a 400.
    """
    _, bundle = _metrics(request)
    wf = _workflow(bundle, workflow)
    return await funnel_report(request, wf, since, until, team, rep, region)


@get(f"{API}/metrics/dwell", tags=["metrics"], responses=errors(403, 404))
async def dwell(
    request: Request[Any, Any, Any],
    workflow: FromQuery[str],
    calendar: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """Per stage in workflow order: stays, open stays, mean, median and p90 dwell in
    seconds (a stay still open counts its time so far) and SLA breaches; with
    `?calendar=office`, dwell counts only that calendar's working time."""
    runtime, bundle = _metrics(request)
    wf = _workflow(bundle, workflow)
    working = working_time(bundle, calendar)
    if calendar is not None and working is None:
        raise _unknown("calendar", calendar, list(bundle.manifest.calendars), "calendar", "query")
    now = server_of(request).clock.now()
    stages = await call(reports.read, runtime.store, reports.dwell, wf, now, working)
    return {
        "workflow": wf.name,
        "calendar": calendar,
        "computed_at": iso(now),
        "stages": stages,
    }


HEATMAP_WEEKS = 12
BY = {"enum": ["week", "team"]}


def heatmap_period(since: date | None, until: date | None, today: date) -> tuple[date, date]:
    """Return the heatmap's days: `from`..`to`, by default the 12 weeks up to today."""
    check_days(since, until)
    last = until or (today if since is None else max(today, since))
    first = since or (last - timedelta(days=last.weekday()) - timedelta(weeks=HEATMAP_WEEKS - 1))
    if (last - first).days >= heatmap.MAX_WEEKS * 7 - 6:
        raise _bad("to", f"at most {heatmap.MAX_WEEKS} weeks", f"{first} to {last} is longer")
    return first, last


async def heatmap_report(
    request: Request[Any, Any, Any],
    wf: CompiledWorkflow,
    by: str,
    since: date | None,
    until: date | None,
) -> dict[str, Any]:
    """The dwell heatmap as GET /metrics/dwell/heatmap answers it (the console too)."""
    runtime, bundle = runtime_of(request)
    if by not in ("week", "team"):
        raise _bad("by", f"'by' must be week or team, not '{by}'", "week or team")
    zone = bundle.manifest.timezone
    now = server_of(request).clock.now()
    today = now.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).date()
    first, last = heatmap_period(since, until, today)
    weeks = heatmap.week_columns(first, last, zone)
    start, end = weeks[0].start, weeks[-1].end
    assert start is not None and end is not None
    columns = weeks if by == "week" else heatmap.team_columns(bundle)
    found: dict[str, Any] = await call(
        reports.read, runtime.store, heatmap.dwell_heatmap, bundle, wf, now, columns, by, start, end
    )
    return {**found, "from": first.isoformat(), "to": last.isoformat()}


@get(f"{API}/metrics/dwell/heatmap", tags=["metrics"], responses=errors(400, 403, 404))
async def dwell_heatmap(
    request: Request[Any, Any, Any],
    workflow: FromQuery[str],
    by: Annotated[str, QueryParameter(schema_extra=BY)] = "week",
    since: Annotated[date | None, QueryParameter(name="from", schema_extra=YEARS)] = None,
    until: Annotated[date | None, QueryParameter(name="to", schema_extra=YEARS)] = None,
) -> dict[str, Any]:
    """The dwell heatmap (P5): per stage, one cell per week (`by=week`, Monday to Sunday in
    the bundle's timezone) or per team (`by=team`, the team of the stay's owner; `""`: in
    no team), over the stays that entered the stage from `from` to `to` (dates, both
    included; default: the 12 weeks up to today; at most 53 weeks). Each cell: stays,
    mean, median and p90 dwell in seconds (an open stay counts its time so far), and
    `over` with `over_by`: `sla` (the median exceeds the stage's SLA) and
    `alert:<rule>` (an alert over the stage's average dwell would hold for the cell)."""
    _, bundle = _metrics(request)
    wf = _workflow(bundle, workflow)
    return await heatmap_report(request, wf, by, since, until)


@get(f"{API}/metrics/forecast/{{name:str}}", tags=["metrics"], responses=errors(403, 404))
async def forecast(
    request: Request[Any, Any, Any],
    name: FromPath[str],
    region: Annotated[
        str | None,
        QueryParameter(
            description="Only deals whose `region` field is this.",
            min_length=1,
            max_length=64,
            pattern=r"\S",
        ),
    ] = None,
) -> dict[str, Any]:
    """A forecast (F8): the weighted pipeline now, per bucket (its seasonal coefficient
    too), and the kept snapshots with their accuracy against what was actually won
    (per past bucket: expected, coefficient, actual, error). `?region=east` counts only
    that region's deals in the buckets (snapshots and accuracy stay the whole forecast's)."""
    runtime, bundle = _metrics(request)
    spec = bundle.forecasts.get(name)
    if spec is None:
        raise _unknown("forecast", name, list(bundle.forecasts), "name", "path")
    region = check_region(region)
    now = server_of(request).clock.now()
    report: dict[str, Any] = await call(
        reports.read,
        runtime.store,
        reports.forecast_report,
        bundle,
        spec,
        now,
        region,
    )
    return report


def _all_metrics(conn: Any, bundle: Bundle, names: list[str], now: datetime) -> list[Any]:
    return [reports.metric_report(conn, bundle.metrics[n], now, [], bundle) for n in names]


@get(f"{API}/metrics", tags=["metrics"], responses=errors(403))
async def list_metrics(
    request: Request[Any, Any, Any], kpi: FromQuery[bool | None] = None
) -> dict[str, Any]:
    """The metrics the bundle declares (`kpi: true` ones make the KPI board, P14), each
    with its overall value now; `?kpi=true` keeps the KPIs only."""
    runtime, bundle = _metrics(request)
    names = sorted(n for n, s in bundle.metrics.items() if kpi is None or s.kpi == kpi)
    now = server_of(request).clock.now()
    found = await call(reports.read, runtime.store, _all_metrics, bundle, names, now)
    for item, name in zip(found, names, strict=True):
        item["group_by"] = list(bundle.metrics[name].group_by)
        del item["groups"]
    return {"computed_at": iso(now), "metrics": found}


def _grouping(spec_groups: list[str], asked: list[str] | None) -> list[str] | None:
    """Return the group columns asked for (None: the metric's own); each must be one of the
    metric's `group_by` columns."""
    if asked is None:
        return None
    columns = [c.strip() for item in asked for c in item.split(",") if c.strip()]
    wrong = [c for c in columns if c not in spec_groups]
    if wrong:
        allowed = ", ".join(spec_groups) or "none (the metric is not grouped)"
        raise ValidationException(
            f"the metric cannot be grouped by {', '.join(wrong)}",
            extra=[{"key": "group", "message": f"allowed: {allowed}", "source": "query"}],
        )
    return list(dict.fromkeys(columns))


@get(f"{API}/metrics/{{name:str}}", tags=["metrics"], responses=errors(403, 404))
async def metric(
    request: Request[Any, Any, Any],
    name: FromPath[str],
    group: FromQuery[list[str] | None] = None,
    compare: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """A declared metric's value now, overall and per group (`?group=region`: some of the
    metric's own `group_by` columns; `?group=` for none; default: all of them).
    `?compare=<hash>` adds the value before and after that definitions version was
    applied (P14; a hash from GET /definitions/history, at least 4 characters of it)."""
    runtime, bundle = _metrics(request)
    spec = bundle.metrics.get(name)
    if spec is None:
        raise _unknown("metric", name, list(bundle.metrics), "name", "path")
    columns = _grouping(list(spec.group_by), group)
    now = server_of(request).clock.now()
    report: dict[str, Any] = await call(
        reports.read,
        runtime.store,
        reports.metric_report,
        spec,
        now,
        columns,
        bundle,
    )
    if compare is not None:
        report["compare"] = await _compare(request, runtime, spec, compare, now, columns)
    listings = [report] + [report["compare"][s] for s in ("before", "after") if compare]
    hidden = hidden_queues(bundle, caller(request))
    ids = [c for c in report["group_by"] if c in rows.ID_COLUMNS]
    for listing in listings:
        if hidden and "queue" in report["group_by"]:  # a queue the caller may not see
            listing["groups"] = [g for g in listing["groups"] if g.get("queue") not in hidden]
        if ids:  # grouped by record: a record the caller's rows leave out is not shown
            values = [g.get(c) for g in listing["groups"] for c in ids]
            out = await _hidden_ids(request, runtime, values)
            listing["groups"] = [
                g for g in listing["groups"] if not any(g.get(c) in out for c in ids)
            ]
    return report


async def _compare(
    request: Request[Any, Any, Any],
    runtime: Runtime,
    spec: Any,
    wanted: str,
    now: datetime,
    columns: list[str] | None,
) -> dict[str, Any]:
    """The metric before and after a definitions version (runtime/metric_compare.py)."""
    try:
        found: dict[str, Any] = await call(
            reports.read,
            runtime.store,
            metric_compare.split_at_version,
            spec,
            wanted,
            now,
            reports.metric_report,
            columns,
            runtime.bundle,
        )
    except metric_compare.UnknownVersion as exc:
        raise _bad("compare", "unknown definitions version", str(exc)) from None
    return found


async def _hidden_ids(
    request: Request[Any, Any, Any], runtime: Runtime, values: list[Any]
) -> set[str]:
    """Return which of `values` are ids of records the caller's rows leave out."""
    bundle, who = runtime.bundle, caller(request)
    found: set[str] = await call(
        reports.read,
        runtime.store,
        rows.hidden_among,
        bundle,
        values,
        who.user,
        who.roles,
    )
    return found


SNAPSHOT_LIMIT = Annotated[
    int, QueryParameter(ge=1, le=snapshots.MAX_LIMIT, description="Snapshots per page.")
]
CURSOR = Annotated[
    int, QueryParameter(ge=0, description="`next` of the previous page (0: the first page).")
]


def _bad(key: str, message: str, detail: str) -> ValidationException:
    return ValidationException(message, extra=[{"key": key, "message": detail, "source": "query"}])


def _moment(key: str, text: str | None, zone: ZoneInfo) -> datetime | None:
    """Read a `from`/`to` time: ISO 8601, with an offset or in the bundle's zone."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(key, f"'{key}' is not a time", f"'{text}' is not ISO 8601") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    if not MIN_DAY <= value.date() <= MAX_DAY:
        raise _bad(
            key, f"'{key}' is out of range", f"{text} is not between {MIN_DAY} and {MAX_DAY}"
        )
    return value.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _readings(values: list[str]) -> list[list[Any]]:
    """Return the ways a group given as text may have been stored (text, or a number)."""
    ways: list[list[Any]] = [[]]
    for text in values:
        options: list[Any] = [text]
        try:
            number = json.loads(text)
        except ValueError:
            number = None
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            options.append(number)
        ways = [[*w, o] for w in ways for o in options]
    return ways


@get(f"{API}/metrics/{{name:str}}/snapshots", tags=["metrics"], responses=errors(400, 403, 404))
async def metric_snapshots(
    request: Request[Any, Any, Any],
    name: FromPath[str],
    since: Annotated[str | None, QueryParameter(name="from")] = None,
    until: Annotated[str | None, QueryParameter(name="to")] = None,
    group: FromQuery[list[str] | None] = None,
    limit: SNAPSHOT_LIMIT = 100,
    cursor: CURSOR = 0,
) -> dict[str, Any]:
    """A metric's stored snapshots (its `snapshot:` cadence), oldest first: `{items, next}`,
    each `{at, group, value, count}` with `at` in the bundle's timezone with its offset.

    `from` (included) and `to` (excluded) are ISO 8601 times, with an offset or read in
    the bundle's timezone; `group` gives the group's value per `group_by` column, in
    order (`?group=east`); `next` is the cursor of the next page (null: no more)."""
    runtime, bundle = _metrics(request)
    spec = bundle.metrics.get(name)
    if spec is None:
        raise _unknown("metric", name, list(bundle.metrics), "name", "path")
    zone = ZoneInfo(bundle.manifest.timezone)
    start, end = _moment("from", since, zone), _moment("to", until, zone)
    if start is not None and end is not None and end < start:
        raise _bad("to", "'to' is before 'from'", f"{until} is before {since}")
    if group is not None and len(group) != len(spec.group_by):
        columns = ", ".join(spec.group_by) or "none (the metric is not grouped)"
        raise _bad(
            "group",
            f"'group' takes one value per group_by column, {len(spec.group_by)}",
            f"columns: {columns}",
        )
    ways = _readings(group) if group is not None else None
    page: snapshots.Page = await call(
        reports.read,
        runtime.store,
        snapshots.query,
        spec,
        since=start,
        until=end,
        group=ways[0] if ways else None,
        also=ways[1:] if ways else (),
        limit=limit,
        after=cursor or None,
    )
    found = page.items
    ids = [c for c in spec.group_by if c in rows.ID_COLUMNS]
    if ids:  # grouped by record: a record the caller's rows leave out is not shown
        out = await _hidden_ids(request, runtime, [i["groups"].get(c) for i in found for c in ids])
        found = [i for i in found if not any(i["groups"].get(c) in out for c in ids)]
    items = [
        {
            "at": utc(i["at"]).replace(tzinfo=UTC).astimezone(zone).isoformat(),
            "group": i["groups"],
            "value": i["value"],
            "count": i["count"],
        }
        for i in found
    ]
    return {
        "metric": spec.name,
        "group_by": list(spec.group_by),
        "timezone": bundle.manifest.timezone,
        "snapshot": snapshot_text(spec),
        "keep": spec.keep.text if spec.keep else None,
        "items": items,
        "next": page.next_cursor,
    }


def snapshot_text(spec: Any) -> dict[str, Any] | None:
    """Return a metric's snapshot cadence as the API shows it."""
    snap = spec.snapshot
    if snap is None:
        return None
    return {"every": snap.every.text if snap.every else None, "cron": snap.cron}


FORMATS = {"enum": ["json", "prometheus"]}


@get(f"{API}/metrics/evaluation-failures", tags=["metrics"], responses=errors(403))
async def evaluation_failures(
    request: Request[Any, Any, Any],
    format: Annotated[str | None, QueryParameter(schema_extra=FORMATS)] = None,
) -> Response[Any]:
    """Expression evaluations that failed, counted per rule (docs/expressions.md "When an
    expression fails"): `kind` (computed, score, routing, decision_table, alert, sla,
    action), `rule`, `failures`, `last_at`. `?format=prometheus` answers the Prometheus
    text format: `sopflow_rule_evaluation_failures_total{kind="...",rule="..."} n`."""
    runtime, _ = _metrics(request)
    if format not in (None, "json", "prometheus"):
        raise ValidationException(
            f"unknown format '{format}'",
            extra=[{"key": "format", "message": "use json or prometheus", "source": "query"}],
        )
    rows = await call(reports.read, runtime.store, failures.counts)
    if format == "prometheus":
        return Response(failures.prometheus(rows), media_type="text/plain; version=0.0.4")
    return Response({"items": rows})


ROUTES = [
    funnel,
    dwell,
    dwell_heatmap,
    forecast,
    list_metrics,
    evaluation_failures,
    metric,
    metric_snapshots,
]
