"""Assigning a record by hand obeys the routing rules' hard rules (`eligible`).

Every routing rule of the record's entity whose `when` holds (or that has none) must
find the user eligible, read as `candidate` the way routing reads them. Someone holding
one of a refusing rule's `override_roles` (or the system, acting for nobody) may assign
anyway: the override is returned so that the `assigned` event records it.
"""

from __future__ import annotations

from typing import Any

from engine.expr import EvaluationError
from engine.spec import RoutingSpec
from runtime import failures
from runtime.errors import Problem, Refused
from runtime.people import allowed, candidate_base, loads
from runtime.records import RecordView
from runtime.unit import Unit


def _applies(unit: Unit, spec: RoutingSpec, record: RecordView) -> bool:
    if spec.entity != record.entity:
        return False
    if not spec.when:
        return True
    scope = record.scope()
    try:
        return bool(unit.bundle.expr(spec, "when").fn(scope, unit.context(scope)))
    except EvaluationError as exc:  # a rule that cannot tell still guards the record
        failures.record(unit, record.id, "routing", spec.name, exc, field="when")
        return True


def _eligible(unit: Unit, spec: RoutingSpec, record: RecordView, user: str) -> bool:
    if not spec.eligible:
        return True
    scope = record.scope()
    load = loads(unit.tx.conn, [user])[user][0]
    person = {**candidate_base(unit.bundle, user), "load": load, "available": True}
    try:
        return bool(
            unit.bundle.expr(spec, "eligible").fn(scope, unit.context(scope, candidate=person))
        )
    except EvaluationError as exc:  # the check refuses; the actor may override it
        detail = {"field": "eligible", "candidate": user}
        failures.record(unit, record.id, "routing", spec.name, exc, **detail)
        return False


def check_assignment(
    unit: Unit, record: RecordView, user: str, rules: list[RoutingSpec] | None = None
) -> list[str]:
    """Refuse giving `record` to `user` against a routing rule's hard rules.

    `rules`: the rules to check (default: every routing rule of the record's entity
    whose `when` holds; a named assignment checks only its own rule).
    Return the names of the rules the actor overrode (empty: no rule refused).
    """
    if rules is None:  # the owner: the rules of named assignments are theirs alone
        form = unit.bundle.forms.get(record.entity)
        theirs = {a.routing for a in form.spec.assignments.values()} if form else set()
        rules = [s for s in unit.bundle.routings.values() if s.name not in theirs]
    pool = rules
    refusing = [
        spec
        for spec in pool
        if _applies(unit, spec, record) and not _eligible(unit, spec, record, user)
    ]
    denied = [
        spec for spec in refusing if not allowed(unit.bundle, unit.actor, spec.override_roles)
    ]
    if denied:
        raise Refused(
            f"'{user}' may not be given this {record.entity}: the hard rules of routing rule "
            f"'{denied[0].name}' refuse them",
            [
                Problem(
                    "not-eligible",
                    f"routing rule '{spec.name}': not eligible: {spec.eligible}"
                    + (
                        f" (roles that may override: {', '.join(spec.override_roles)})"
                        if spec.override_roles
                        else " (nobody may override)"
                    ),
                    "user",
                    rule=spec.name,
                )
                for spec in denied
            ],
        )
    return [spec.name for spec in refusing]


def override_detail(overridden: list[str], unit: Unit) -> dict[str, Any]:
    """Return what the `assigned` event says of an override (nothing when none)."""
    if not overridden:
        return {}
    return {"override": True, "overridden_rules": overridden, "override_by": unit.actor}
