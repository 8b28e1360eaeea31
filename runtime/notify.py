"""Notifications: rendered once per recipient, with what that recipient may read.

A `notify` action renders its template for each recipient on its own. The record's
fields a recipient may not read (the field's `read` roles, or the entity's
`permissions.read`) are left out of `record`, of the names the record's fields give a
template, and of `alert` (the values an entity alert's condition read): to that
recipient they render as a missing value does, empty, and `record | tojson` leaves them
out.

`assignment:<name>` reaches whoever holds that named assignment of the record now; one
nobody holds (never filled, waiting in a queue, cleared) reaches nobody, and a
`notification_skipped` event (template, to, reason) says so in the record's audit.

A template that fails for a recipient (an error, a sandbox refusal, a bound of
runtime/sandbox.py) sends that recipient nothing: nothing half-rendered is stored, the
command goes on, and a `notification_failed` event (template, recipient, error, cause)
says why, in the command's own transaction; the action's result lists the failures.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from engine.spec.actions import NotifyAction
from runtime import outbox
from runtime.data import to_json
from runtime.people import assignment_holders, recipients
from runtime.permissions import hidden_fields
from runtime.records import RecordView
from runtime.render import RenderError, render
from runtime.unit import Unit

log = logging.getLogger("sopflow.notify")

# What an alert says of itself; the rest of `alert` are the values its condition read.
# Its `key` is rendered from the record's fields, so, as in the API, a recipient who may
# not read some field of the record does not get the key either.
_ALERT_OWN = ("id", "state")


def names_for(
    unit: Unit,
    record: RecordView | None,
    scope: Mapping[str, Any],
    variables: Mapping[str, Any],
    hidden: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Return the names a template renders with; fields in `hidden` left out."""
    names = {"now": unit.now, "bundle": {"name": unit.bundle.name, "hash": unit.bundle.hash}}
    names.update(variables)
    alert = names.get("alert")
    if hidden and isinstance(alert, Mapping):
        names["alert"] = {
            k: v for k, v in alert.items() if k in _ALERT_OWN or k not in (*hidden, "key")
        }
    if record is not None:
        shown = {**to_json(dict(scope)), **to_json(dict(variables.get("record_extra") or {}))}
        shown = {k: v for k, v in shown.items() if k not in hidden}
        names["record"] = shown
        names.update({k: v for k, v in shown.items() if k not in names})
    return names


def _item_user(target: str, variables: Mapping[str, Any]) -> str | None:
    """Read `to: user` as the user of a `for_each: users` item (runtime/for_each.py)."""
    if target != "user":
        return target
    item = variables.get("user")
    return f"user:{item['id']}" if isinstance(item, Mapping) and item.get("id") else None


def notify(
    unit: Unit,
    spec: NotifyAction,
    record: RecordView | None,
    scope: Mapping[str, Any],
    variables: Mapping[str, Any],
    cause: str,
) -> dict[str, Any]:
    """Render the template for each recipient and put each message in the outbox."""
    bundle = unit.bundle
    template = bundle.notifications[spec.template]
    channel = spec.channel or template.channel
    targets = [t for t in (_item_user(t, variables) for t in spec.to) if t is not None]
    held = assignment_holders(unit.tx.conn, record.id if record is not None else None, targets)
    unfilled = [name for name, user in held.items() if not user]
    to = recipients(bundle, targets, dict(scope) if record is not None else None, held)
    entity = record.entity if record is not None else None
    if unfilled and record is not None:  # nobody to tell: say so in the record's audit
        unit.tx.event(
            "notification_skipped",
            record.id,
            entity,
            template=spec.template,
            to=[f"assignment:{n}" for n in unfilled],
            reason=f"assignment {', '.join(unfilled)} not filled",
            cause=cause,
        )
    sent: list[str] = []
    failed: list[dict[str, str]] = []
    for user in to:
        person = bundle.manifest.users.get(user)
        hidden = hidden_fields(bundle, entity, person.roles if person else ())
        names = names_for(unit, record, scope, variables, hidden)
        names["recipient"] = {"id": user, "name": person.name if person else user}
        try:
            subject = render(template.subject, names)
            body = render(template.body, names)
        except RenderError as exc:
            failed.append({"to": user, "error": str(exc)})
            unit.tx.event(
                "notification_failed",
                record.id if record is not None else None,
                entity,
                template=spec.template,
                to=user,
                error=str(exc),
                cause=cause,
            )
            log.warning("notification %s to %s not sent: %s", spec.template, user, exc)
            continue
        payload: dict[str, Any] = {
            "to": user,
            "email": person.email if person else "",
            "template": spec.template,
            "subject": subject,
            "body": body,
            "cause": cause,
        }
        if channel == "webhook":
            # A notification over a webhook posts to the recipient's own `webhook_url`
            # (a user attribute); without one the outbox dead-letters it and says why.
            extra = (person.model_extra or {}) if person else {}
            payload.update(
                url=str(extra.get("webhook_url") or ""),
                method="POST",
                headers={},
                body={k: payload[k] for k in ("to", "template", "subject", "body")},
            )
        outbox.enqueue(
            unit.tx,
            action="notify",
            channel=channel,
            payload=payload,
            key=unit.effect_key(),
            record_id=record.id if record is not None else None,
        )
        sent.append(user)
    done: dict[str, Any] = {"action": "notify", "template": spec.template, "to": sent}
    if unfilled:
        done["unfilled"] = unfilled
    if not to:
        done["note"] = "no recipient"
        return done
    done["channel"] = channel
    if failed:
        done["failed"] = failed
    return done
