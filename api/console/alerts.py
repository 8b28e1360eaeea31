"""The alerts inbox: firing and pending alerts by rule and severity; acknowledge, mark
useful or false positive; per-rule precision and response time (F9, F10).

The same reads and commands as the JSON API (api/routes/alerts.py): reports.alert_page
with the caller's exclusions, runtime.alert_precision, runtime.acknowledge_alert and
runtime.alert_feedback, for the roles of the bundle's `access: alerts`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from msgspec import Struct

from api.auth import access, require
from api.calls import call
from api.console.web import Who, page
from api.routes.alerts import STATES, _described, _hidden_rules, _unreadable, _visible
from api.routes.common import runtime_of
from engine.bundle import Bundle
from runtime import home, reports, rows
from runtime.access import Principal
from runtime.alerts import ACTIVE, VERDICTS
from runtime.core import Runtime
from runtime.errors import CommandError
from runtime.store import T_RECORD

PER_PAGE = 50
SEVERITIES = ("critical", "high", "warning", "info")
ACTIONS = ("acknowledge", "useful", "false_positive")


class Action(Struct):
    """An inbox form: what to do with an alert, an optional note, where to come back."""

    action: str
    note: str = ""
    back: str = "/alerts"


class BadFilter(Exception):
    """A filter value the inbox does not understand."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _filters(
    bundle: Bundle, state: str | None, rule: str | None, severity: str | None, at: int
) -> dict[str, Any]:
    problems = []
    if state and state not in (*STATES, "active"):
        problems.append(f"state '{state}' is not one of active, {', '.join(STATES)}")
    if rule and rule not in bundle.alerts:
        problems.append(f"rule '{rule}' is not an alert rule of the bundle")
    if severity and severity not in SEVERITIES:
        problems.append(f"severity '{severity}' is not one of {', '.join(SEVERITIES)}")
    if at < 1:
        problems.append(f"page {at} does not exist: pages start at 1")
    if problems:
        raise BadFilter(problems)
    return {"state": state or "active", "rule": rule or "", "severity": severity or ""}


def _entities(conn: Any, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    query = T_RECORD.select().with_only_columns(T_RECORD.c.id, T_RECORD.c.entity)
    return {i: e for i, e in conn.execute(query.where(T_RECORD.c.id.in_(ids))).all()}


def _read(
    runtime: Runtime, bundle: Bundle, who: Principal, chosen: dict[str, Any], at: int
) -> dict[str, Any]:
    """Read one page of alerts, their records' entities, precision and response times."""
    state = ACTIVE if chosen["state"] == "active" else chosen["state"]
    with runtime.store.read() as conn:
        items, total = reports.alert_page(
            conn,
            state=state,
            rule=chosen["rule"] or None,
            severity=chosen["severity"] or None,
            limit=PER_PAGE,
            offset=(at - 1) * PER_PAGE,
            exclude_rules=_hidden_rules(bundle, who),
            exclude_entities=_unreadable(bundle, who),
            rows=rows.restricted(bundle, list(bundle.forms), who.user, who.roles),
            by_record=rows.alerts_by_record(bundle),
        )
        entities = _entities(conn, sorted({a["record_id"] for a in items if a["record_id"]}))
        response = home.response_times(conn)
    precision = {row["rule"]: row for row in runtime.alert_precision()}
    return {
        "items": items,
        "total": total,
        "entities": entities,
        "precision": precision,
        "response": response,
    }


def _groups(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group alerts by severity (most severe first), then rule."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for alert in items:
        groups.setdefault((alert["severity"], alert["rule"]), []).append(alert)
    ordered = sorted(groups.items(), key=lambda kv: (rank.get(kv[0][0], 99), kv[0][1]))
    return [{"severity": s, "rule": r, "alerts": a} for (s, r), a in ordered]


def hours(seconds: float | None) -> str:
    """Show a duration in hours (one decimal), or a dash."""
    if seconds is None:
        return "n/a"
    return f"{seconds / 3600:.1f} h"


def _rules(bundle: Bundle, data: dict[str, Any]) -> list[dict[str, Any]]:
    rules = []
    for name, spec in sorted(bundle.alerts.items()):
        found = data["precision"].get(name, {})
        timing = data["response"].get(name, {})
        rules.append(
            {
                "rule": name,
                "title": spec.title or name,
                "severity": spec.severity,
                "fired": found.get("fired", 0),
                "useful": found.get("useful", 0),
                "false_positive": found.get("false_positive", 0),
                "precision": found.get("precision"),
                "acknowledged": timing.get("acknowledged", 0),
                "median": hours(timing.get("median_seconds")),
            }
        )
    return rules


async def _inbox(
    request: Request[Any, Any, Any],
    who: Principal,
    chosen: dict[str, Any],
    at: int,
    message: tuple[str, list[str]] | None = None,
) -> Template:
    runtime, bundle = runtime_of(request)
    data = await call(_read, runtime, bundle, who, chosen, at)
    items = [_described(a, bundle, who) for a in data["items"]]
    last = max(1, -(-data["total"] // PER_PAGE))
    query = {k: v for k, v in chosen.items() if v}
    here = "/alerts" + (f"?{urlencode({**query, 'page': at})}" if query or at > 1 else "")
    return page(
        request,
        who,
        "alerts.html",
        "Alerts",
        groups=_groups(items),
        entities=data["entities"],
        total=data["total"],
        chosen=chosen,
        at=at,
        last=last,
        prev_link=f"/alerts?{urlencode({**query, 'page': at - 1})}" if at > 1 else None,
        next_link=f"/alerts?{urlencode({**query, 'page': at + 1})}" if at < last else None,
        here=here,
        rules=_rules(bundle, data),
        rule_names=sorted(bundle.alerts),
        states=("active", *STATES),
        severities=SEVERITIES,
        verdicts=VERDICTS,
        message=message,
    )


@get("/alerts", include_in_schema=False)
async def alerts_page(
    request: Request[Any, Any, Any],
    who: Who,
) -> Template:
    """The inbox: alerts by severity and rule, filters, precision and response time.

    Query: `state` (active: firing or pending, the default), `rule`, `severity`, `page`."""
    _, bundle = runtime_of(request)
    require(who, access(bundle, "alerts"), "see or handle alerts")
    asked = request.query_params
    state, rule, severity = asked.get("state"), asked.get("rule"), asked.get("severity")
    raw = asked.get("page", "1")
    try:
        at = int(raw)
    except ValueError:
        at = 0
    try:
        chosen = _filters(bundle, state, rule, severity, at)
    except BadFilter as exc:
        shown = await _inbox(request, who, _filters(bundle, None, None, None, 1), 1)
        shown.context["message"] = ("These filters are not understood", exc.problems)
        shown.status_code = 400
        return shown
    return await _inbox(request, who, chosen, at)


def _back(target: str) -> str:
    """Return where to come back to: an inbox address, never another site."""
    return target if target.startswith("/alerts") and "//" not in target else "/alerts"


async def _act(
    runtime: Runtime, bundle: Bundle, who: Principal, alert_id: int, form: Action
) -> None:
    """Check the alert is one `who` may handle (as the API does) and act on it."""

    def read(conn: Any) -> dict[str, Any] | None:
        found = reports.alert_by_id(conn, alert_id)
        if found is None:
            return None
        if not rows.record_visible(conn, bundle, found.get("record_id"), who.user, who.roles):
            return None
        column = rows.alerts_by_record(bundle).get(found["rule"])
        named = (found.get("values") or {}).get(column) if column else None
        if named is not None and rows.hidden_among(conn, bundle, [named], who.user, who.roles):
            return None  # a metric alert whose group is a record the caller does not see
        found["entity"] = reports.record_entity(conn, found.get("record_id"))
        return found

    found = await call(reports.read, runtime.store, read)
    _visible(found, alert_id, bundle, who)
    if form.action == "acknowledge":
        await call(runtime.acknowledge_alert, alert_id, actor=who.user)
    else:
        await call(runtime.alert_feedback, alert_id, form.action, actor=who.user, note=form.note)


@post("/alerts/{alert_id:int}", include_in_schema=False, status_code=303)
async def alert_action(
    request: Request[Any, Any, Any],
    who: Who,
    alert_id: FromPath[int],
    data: Annotated[Action, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect | Template:
    """Acknowledge an alert, or mark it useful or a false positive; back to the inbox."""
    runtime, bundle = runtime_of(request)
    require(who, access(bundle, "alerts"), "see or handle alerts")
    back = _back(data.back)
    try:
        if data.action not in ACTIONS:
            raise BadFilter([f"'{data.action}' is not one of {', '.join(ACTIONS)}"])
        await _act(runtime, bundle, who, alert_id, data)
    except (CommandError, HTTPException, BadFilter) as exc:
        if isinstance(exc, CommandError):
            why, items, status = exc.message, [p.message for p in exc.problems], exc.status
        elif isinstance(exc, BadFilter):
            why, items, status = "That is not an action on an alert", exc.problems, 400
        else:
            status, why = exc.status_code, exc.detail
            extra = exc.extra if isinstance(exc.extra, list) else []
            items = [str(e.get("message", e)) for e in extra]
        shown = await _inbox(
            request,
            who,
            _filters(bundle, None, None, None, 1),
            1,
            (f"Alert {alert_id} was not changed: {why}", items),
        )
        shown.status_code = status
        return shown
    return Redirect(back, status_code=303)


ROUTES = [alerts_page, alert_action]
