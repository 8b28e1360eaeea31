"""The home page: what needs the signed-in person now.

My open records by stage with the time left until each stage's SLA (runtime/home.py),
the queues my roles see with how many records wait (per entity, adding up to what
queries.queue_sizes and so GET /api/v1/queues count), the active alerts that notify
me (as GET /api/v1/alerts answers a recipient), and for a manager their team's overdue
records. Aggregates and limited reads only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, get
from litestar.response import Template

from api.calls import call
from api.console.web import Who, page
from api.routes.alerts import _hidden_rules, _silent_rules, _unreadable
from api.routes.common import runtime_of, server_of
from api.routes.record_common import entity_readable
from api.routes.record_parts import _visible as queue_visible
from engine.bundle import Bundle
from runtime import home as mine
from runtime import reports, rows
from runtime.access import Principal
from runtime.alerts import ACTIVE, notifying
from runtime.core import Runtime
from runtime.home import Countdown

RECORDS = 50  # records listed (nearest deadline first)
ALERTS_SCANNED = 100  # newest active alerts checked for whether they notify me
ALERTS_SHOWN = 10


def _hours(seconds: float) -> str:
    """Show seconds as whole hours when they are (to a tenth), else with one decimal."""
    value = abs(seconds) / 3600
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def sla_text(left: Countdown | None) -> str:
    """Say how long is left until a stage's SLA deadline, or by how much it is overdue."""
    if left is None:
        return "no SLA"
    unit = "working h" if left.working else "h"
    if left.seconds > 0:
        return f"{_hours(left.seconds)} {unit} left"
    if left.seconds == 0:
        return "due now (0 h left)"
    return f"overdue by {_hours(left.seconds)} {unit}"


def _stage_title(bundle: Bundle, workflow: str | None, stage: str | None) -> str:
    wf = bundle.workflows.get(workflow or "")
    spec = next((s for s in wf.body.stages if s.id == stage), None) if wf else None
    return (spec.title if spec is not None else None) or stage or ""


def _read(runtime: Runtime, bundle: Bundle, who: Principal, now: datetime) -> dict[str, Any]:
    """Everything the home page shows, read on one connection."""
    entities = [n for n, form in bundle.forms.items() if entity_readable(form, who)]
    shown = {n: q for n, q in bundle.manifest.queues.items() if queue_visible(q, who)}
    limited = rows.restricted(bundle, entities, who.user, who.roles)
    team = sorted(rows.reports_and_team(bundle, who.user) - {who.user})
    with runtime.store.read() as conn:
        counts = mine.stage_counts(conn, who.user, entities)
        records = mine.my_records(conn, who.user, entities, RECORDS)
        by_entity = mine.queue_entities(conn, shown, entities, limited)
        overdue = mine.overdue_count(conn, team, entities, now) if team else None
        active, _ = reports.alert_page(
            conn,
            state=ACTIVE,
            limit=ALERTS_SCANNED,
            exclude_rules=sorted({*_silent_rules(bundle), *_hidden_rules(bundle, who)}),
            exclude_entities=_unreadable(bundle, who),
        )
        alerts = notifying(conn, bundle, active, who.user)
    return {
        "counts": counts,
        "records": records,
        "queues": [
            {
                "name": name,
                "title": spec.title or name,
                "waiting": sum(by_entity.get(name, {}).values()),
                "entities": sorted(by_entity.get(name, {}).items()),
            }
            for name, spec in shown.items()
        ],
        "team": team,
        "overdue": overdue,
        "alerts": alerts,
    }


def _groups(bundle: Bundle, data: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """My records grouped by entity, workflow and stage, each with its SLA countdown."""
    listed: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in data["records"]:
        left = mine.countdown(bundle, r["workflow"], r["stage"], r["sla_due"], now)
        item = {**r, "sla": sla_text(left), "over": left is not None and left.seconds <= 0}
        item["working"] = left is not None and left.working
        listed.setdefault((r["entity"], r["workflow"], r["stage"]), []).append(item)
    return [
        {
            **c,
            "title": _stage_title(bundle, c["workflow"], c["stage"]),
            "items": listed.get((c["entity"], c["workflow"], c["stage"]), []),
        }
        for c in data["counts"]
    ]


@get("/", include_in_schema=False)
async def home(request: Request[Any, Any, Any], who: Who) -> Template:
    """My records by stage with their SLA countdowns, my queues, my alerts."""
    runtime, bundle = runtime_of(request)
    now = server_of(request).clock.now()
    data = await call(_read, runtime, bundle, who, now)
    groups = _groups(bundle, data, now)
    return page(
        request,
        who,
        "home.html",
        "Home",
        groups=groups,
        open_total=sum(g["records"] for g in groups),
        listed=len(data["records"]),
        working=any(i["working"] for g in groups for i in g["items"]),
        queues=data["queues"],
        team=data["team"],
        overdue=data["overdue"],
        alerts=data["alerts"][:ALERTS_SHOWN],
        alert_count=len(data["alerts"]),
        scanned=ALERTS_SCANNED,
    )


ROUTES = [home]
