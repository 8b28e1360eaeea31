"""Alerts: list and filter, read one, acknowledge, feedback, per-rule precision (F9, F10).

The roles the bundle's `access.alerts` names use every route. Anyone else sees, reads,
acknowledges and judges only the alerts that notify them (the rule's `notify`
recipients: `role:x`, `owner`, `owner.manager`, `field:x`...; resolved against the
alert's record as it is now); precision stays with the `access.alerts` roles.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Request, get, post
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter
from msgspec import Struct

from api.auth import access, may, require
from api.calls import call
from api.openapi import errors
from api.routes.common import API, caller, runtime_of
from api.routes.record_common import entity_readable, hidden_fields
from engine.bundle import Bundle
from runtime import reports, rows
from runtime.access import Principal
from runtime.alerts import VERDICTS, notified, notify_targets, notifying
from runtime.core import Runtime
from runtime.data import ROW_ID

MAX_PAGE = 500
MAX_OFFSET = 10**9
AlertId = Annotated[int, PathParameter(ge=1, le=ROW_ID)]
STATES = ("pending", "firing", "resolved")
Severity = Literal["critical", "high", "warning", "info"]


class Feedback(Struct, forbid_unknown_fields=True):
    """Whether an alert that fired was `useful` or a `false_positive` (F10), and why."""

    verdict: str
    note: str = ""


def _alerts(request: Request[Any, Any, Any]) -> tuple[Runtime, Bundle]:
    """Return runtime and bundle once the caller may use alerts (else 403)."""
    runtime, bundle = runtime_of(request)
    require(caller(request), access(bundle, "alerts"), "see or handle alerts")
    return runtime, bundle


def _role(bundle: Bundle, who: Principal) -> bool:
    """Tell whether the caller holds an `access.alerts` role (else: recipients only)."""
    return may(who, access(bundle, "alerts"))


def _silent_rules(bundle: Bundle) -> list[str]:
    """Return the alert rules that notify nobody (no recipient can see their alerts)."""
    return sorted(n for n, spec in bundle.alerts.items() if not notify_targets(spec))


async def _as_recipient(
    request: Request[Any, Any, Any], runtime: Runtime, bundle: Bundle, alert_id: int
) -> dict[str, Any]:
    """Return an alert that notifies the caller (who holds no `access.alerts` role); 403
    for any other alert, existing or not, as for every alert before."""
    who = caller(request)

    def read(conn: Any) -> dict[str, Any] | None:
        found = reports.alert_by_id(conn, alert_id)
        if found is None or who.user not in notified(conn, bundle, found):
            return None
        return found

    found: dict[str, Any] | None = await call(reports.read, runtime.store, read)
    if found is None:
        require(who, access(bundle, "alerts"), "see or handle alerts")
    assert found is not None
    return found


async def _handled(
    request: Request[Any, Any, Any], alert_id: int
) -> tuple[Runtime, Bundle, Principal]:
    """Check that the caller may handle this alert (role, or recipient); 403/404 if not."""
    runtime, bundle = runtime_of(request)
    who = caller(request)
    if _role(bundle, who):
        _visible(await _one(request, runtime, alert_id), alert_id, bundle, who)
    else:
        await _as_recipient(request, runtime, bundle, alert_id)
    return runtime, bundle, who


def _unreadable(bundle: Bundle, who: Principal) -> list[str]:
    """Return the entities the caller may not read (F12)."""
    return sorted(e for e, form in bundle.forms.items() if not entity_readable(form, who))


def _hidden_rules(bundle: Bundle, who: Principal) -> list[str]:
    """Return the alert rules watching an entity the caller may not read."""
    hidden = set(_unreadable(bundle, who))
    return sorted(n for n, spec in bundle.alerts.items() if spec.entity in hidden)


def _described(alert: dict[str, Any], bundle: Bundle, who: Principal) -> dict[str, Any]:
    """Add the rule's title (and whether the current bundle still declares it); leave out
    what the caller may not read: values of hidden fields, and the dedup key (made of
    field values) when any field is hidden. An alert of a rule the bundle no longer
    declares keeps neither values nor key: nothing says which fields they came from."""
    spec = bundle.alerts.get(alert["rule"])
    values = alert.get("values") or {}
    form = bundle.forms.get(spec.entity or "") if spec is not None else None
    hidden = hidden_fields(form, who) if form is not None else frozenset()
    if spec is None or (form is None and spec.entity):
        values, key = {}, None
    else:
        values = {k: v for k, v in values.items() if k not in hidden}
        key = None if hidden else alert.get("dedup_key")
    return {
        **alert,
        "values": values,
        "dedup_key": key,
        "title": spec.title if spec else "",
        "declared": spec is not None,
    }


def _visible(
    alert: dict[str, Any] | None, alert_id: int, bundle: Bundle, who: Principal
) -> dict[str, Any]:
    """Return the alert, or 404 when it is missing or watches what the caller may not read."""
    unreadable = set(_unreadable(bundle, who))
    if (
        alert is None
        or alert["rule"] in _hidden_rules(bundle, who)
        or alert.get("entity") in unreadable
    ):
        raise NotFoundException(
            f"alert {alert_id} does not exist",
            extra=[{"key": "alert_id", "message": "no such alert", "source": "path"}],
        )
    return {k: v for k, v in alert.items() if k != "entity"}  # as in the list


@get(f"{API}/alerts", tags=["alerts"])
async def list_alerts(
    request: Request[Any, Any, Any],
    alert_state: Annotated[
        str | None,
        QueryParameter(
            name="state", description="pending, firing or resolved", schema_extra={"enum": STATES}
        ),
    ] = None,
    rule: FromQuery[str | None] = None,
    record_id: FromQuery[str | None] = None,
    severity: FromQuery[Severity | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """List alerts, newest first, filtered by state, rule, record and severity (paged).

    Alerts of rules watching an entity the caller may not read are left out, and alert
    values of fields the caller may not read are hidden (as in records)."""
    runtime, bundle = runtime_of(request)
    who = caller(request)
    if alert_state is not None and alert_state not in STATES:
        raise ValidationException(
            f"an alert's state is one of {', '.join(STATES)}",
            extra=[{"key": "state", "message": f"'{alert_state}' is not one", "source": "query"}],
        )
    filters: dict[str, Any] = {
        "state": alert_state,
        "rule": rule,
        "record_id": record_id,
        "severity": severity,
    }
    if _role(bundle, who):
        items, total = await call(
            reports.read,
            runtime.store,
            reports.alert_page,
            **filters,
            limit=limit,
            offset=offset,
            exclude_rules=_hidden_rules(bundle, who),
            exclude_entities=_unreadable(bundle, who),
            rows=rows.restricted(bundle, list(bundle.forms), who.user, who.roles),
            by_record=rows.alerts_by_record(bundle),
        )
    else:  # only the alerts that notify the caller

        def mine(conn: Any) -> list[dict[str, Any]]:
            found, _ = reports.alert_page(
                conn, **filters, limit=MAX_OFFSET, offset=0, exclude_rules=_silent_rules(bundle)
            )
            return notifying(conn, bundle, found, who.user)

        every = await call(reports.read, runtime.store, mine)
        items, total = every[offset : offset + limit], len(every)
    return {
        "items": [_described(a, bundle, who) for a in items],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@get(f"{API}/alerts/precision", tags=["alerts"], responses=errors(403))
async def alert_precision(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Per alert rule: alerts fired, judged, useful, false positives and precision (F10).

    Precision is useful / judged (None until an alert of the rule is judged). Every rule
    the bundle declares is listed, with zeros when it never fired.
    """
    runtime, bundle = _alerts(request)
    found = await call(runtime.alert_precision)
    by_rule = {row["rule"]: row for row in found}
    empty = {"fired": 0, "judged": 0, "useful": 0, "false_positive": 0, "precision": None}
    rules = [
        {
            **by_rule.get(name, {"rule": name, **empty}),
            "title": spec.title,
            "severity": spec.severity,
            "declared": True,
        }
        for name, spec in sorted(bundle.alerts.items())
    ]
    rules += [
        {**row, "declared": False} for name, row in by_rule.items() if name not in bundle.alerts
    ]
    judged = sum(r["judged"] for r in rules)
    useful = sum(r["useful"] for r in rules)
    return {
        "rules": rules,
        "verdicts": list(VERDICTS),
        "overall": {
            "fired": sum(r["fired"] for r in rules),
            "judged": judged,
            "useful": useful,
            "false_positive": judged - useful,
            "precision": round(useful / judged, 4) if judged else None,
        },
    }


@get(f"{API}/alerts/{{alert_id:int}}", tags=["alerts"], responses=errors(403, 404))
async def get_alert(request: Request[Any, Any, Any], alert_id: AlertId) -> dict[str, Any]:
    """Return one alert with the values that made it fire."""
    runtime, bundle = runtime_of(request)
    who = caller(request)
    if not _role(bundle, who):
        mine = await _as_recipient(request, runtime, bundle, alert_id)
        return _described(mine, bundle, who)
    found = await _one(request, runtime, alert_id)
    return _described(_visible(found, alert_id, bundle, who), bundle, who)


async def _one(
    request: Request[Any, Any, Any], runtime: Runtime, alert_id: int
) -> dict[str, Any] | None:
    """Return one alert with the entity of its record (None: no such alert)."""

    runtime_bundle, who = runtime_of(request)[1], caller(request)

    def read(conn: Any) -> dict[str, Any] | None:
        found = reports.alert_by_id(conn, alert_id)
        if found is not None:
            record_id = found.get("record_id")
            if not rows.record_visible(conn, runtime_bundle, record_id, who.user, who.roles):
                return None  # about a record the caller's rows leave out: as missing
            column = rows.alerts_by_record(runtime_bundle).get(found["rule"])
            named = (found.get("values") or {}).get(column) if column else None
            if named is not None and rows.hidden_among(
                conn, runtime_bundle, [named], who.user, who.roles
            ):
                return None  # a metric alert whose group is such a record: the same
            found["entity"] = reports.record_entity(conn, record_id)
        return found

    found: dict[str, Any] | None = await call(reports.read, runtime.store, read)
    return found


@post(
    f"{API}/alerts/{{alert_id:int}}/acknowledge",
    tags=["alerts"],
    status_code=200,
    responses=errors(403, 404),
)
async def acknowledge_alert(request: Request[Any, Any, Any], alert_id: AlertId) -> dict[str, Any]:
    """Take an alert in hand: its response time is tracked (F9). Acknowledging twice keeps
    the first acknowledgement."""
    runtime, bundle, who = await _handled(request, alert_id)
    done = await call(
        runtime.acknowledge_alert,
        alert_id,
        actor=caller(request).user,
    )
    return _described(done, bundle, who)


@post(
    f"{API}/alerts/{{alert_id:int}}/feedback",
    tags=["alerts"],
    status_code=200,
    responses=errors(403, 404, 422),
)
async def alert_feedback(
    request: Request[Any, Any, Any], alert_id: AlertId, data: JSONBody[Feedback]
) -> dict[str, Any]:
    """Judge an alert that fired: `useful` or `false_positive` (F10); a later verdict
    replaces an earlier one."""
    runtime, bundle, who = await _handled(request, alert_id)
    done = await call(
        runtime.alert_feedback,
        alert_id,
        data.verdict,
        actor=caller(request).user,
        note=data.note,
    )
    return _described(done, bundle, who)


ROUTES = [list_alerts, alert_precision, get_alert, acknowledge_alert, alert_feedback]
