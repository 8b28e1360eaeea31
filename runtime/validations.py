"""Validation rules over a record: which apply, which refuse, and the messages of those.

The rules a check runs are worked out once per (bundle, entity, on), with one function
generated for them: it tests each rule's stages and start date and runs the rule's fast
body (engine/expr/fused.py), all in one frame, and tells which rules refuse (nothing
to build when none does). Only a refusing rule's message is rendered (the names it
reads are built once for all the rules refusing one record; renders do not change
them). Whenever a fast body raises (a missing value, an evaluation error), the rules
are run one by one as `check_each` does, which keeps each error as the rule's problem.
The local date a start date is compared with is worked out once per instant
(`local_day`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.bundle import Bundle
from engine.expr import EvaluationError
from engine.expr.fused import define, fast_parts
from engine.spec import ValidationSpec
from runtime.data import shareable
from runtime.errors import Problem


def validation_applies(
    spec: ValidationSpec, stage: str | None, now: datetime, timezone: str = "UTC"
) -> bool:
    """Tell whether a validation rule applies to a record in `stage` at `now` (naive UTC).

    `effective_from` is a date where the business is: it starts at local midnight.
    """
    if spec.stages and stage not in spec.stages:
        return False
    if spec.effective_from is None:
        return True
    return local_day(now, timezone) >= spec.effective_from


_LAST_DAY: tuple[datetime, str, date] | None = None


def local_day(now: datetime, timezone: str) -> date:
    """Return the date at `now` (naive UTC) in `timezone` (the last answer is kept)."""
    global _LAST_DAY  # noqa: PLW0603  (one entry: checks of one command share their instant)
    last = _LAST_DAY
    if last is not None and last[0] == now and last[1] == timezone:
        return last[2]
    day = now.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)).date()
    _LAST_DAY = (now, timezone, day)
    return day


def start_instant(day: date, timezone: str) -> datetime | None:
    """Return when `day` starts in `timezone`, as naive UTC, where that is a plain instant.

    It is, when the zone's offset stays the same for two days either side of it: then a
    naive UTC `now` is on or after it exactly when its local date is `day` or later (no
    offset moves a local date by two days). Near an offset change (daylight saving: a
    local date could come, go back and come again) it is None: compare local dates.
    """
    zone = ZoneInfo(timezone)
    try:
        start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
        offsets = {
            (start + timedelta(hours=hours)).replace(tzinfo=UTC).astimezone(zone).utcoffset()
            for hours in range(-48, 49)
        }
    except OverflowError:  # the first or last days a datetime can hold
        return None
    return start if len(offsets) == 1 else None


@dataclass(frozen=True)
class _Rule:
    """One validation rule as a check runs it."""

    name: str
    spec: ValidationSpec
    fn: Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
    stages: frozenset[str] | None  # None: every stage
    starts: date | None
    error: bool  # severity error (else warning)


# fn(r, c, stage, now) -> one flag per rule (truthy: it refuses), () when none
# refuses, or None: run the rules one by one (a fast body raised).
Flags = Callable[[Mapping[str, Any], Mapping[str, Any], Any, datetime], tuple[Any, ...] | None]


@dataclass(frozen=True, slots=True)
class _Plan:
    bundle: Bundle
    entity: str
    when: str
    rules: tuple[_Rule, ...]
    flags: Flags


_PLANS: dict[tuple[int, str, str], _Plan] = {}


def _none_refuse(r: Any, c: Any, stage: Any, now: Any) -> tuple[Any, ...]:
    return ()


def _one_by_one(r: Any, c: Any, stage: Any, now: Any) -> None:
    return None


def _generate(bundle: Bundle, rules: tuple[_Rule, ...], label: str) -> Flags:
    """Generate the function telling which of `rules` refuse."""
    if not rules:
        return _none_refuse
    parts = fast_parts([bundle.validations[rule.name][1] for rule in rules])
    if parts is None:
        return _one_by_one
    names = parts.globals
    names["_day"], names["_tz"] = local_day, bundle.manifest.timezone
    lines = ["def _flags(r, c, stage, now):\n", parts.setup, "    try:\n"]
    for i, (rule, body) in enumerate(zip(rules, parts.bodies, strict=True)):
        tests = []
        if rule.stages is not None:
            names[f"_s{i}"] = rule.stages
            tests.append(f"stage in _s{i}")
        if rule.starts is not None:
            instant = start_instant(rule.starts, bundle.manifest.timezone)
            if instant is not None:
                names[f"_t{i}"] = instant
                tests.append(f"now >= _t{i}")
            else:
                names[f"_d{i}"] = rule.starts
                tests.append(f"_day(now, _tz) >= _d{i}")
        lines.append(f"        f{i} = {' and '.join([*tests, f'({body})'])}\n")
    lines.append("    except _Error:\n        return None\n")
    flags = [f"f{i}" for i in range(len(rules))]
    lines.append(f"    if {' or '.join(flags)}:\n        return ({', '.join(flags)},)\n")
    lines.append("    return ()\n")
    fn: Flags = define("".join(lines), names, "_flags", f"validations {label}")
    return fn


def _plan(bundle: Bundle, entity: str, when: str) -> _Plan:
    """Return the validation rules of `entity` run `on: when` and their function."""
    global _LAST  # noqa: PLW0603  (a run of saves checks the same entity)
    key = (id(bundle), entity, when)
    found = _PLANS.get(key)
    if found is None or found.bundle is not bundle:
        rules = tuple(
            _Rule(
                name,
                spec,
                expr.fn,
                frozenset(spec.stages) if spec.stages else None,
                spec.effective_from,
                spec.severity == "error",
            )
            for name, (spec, expr) in bundle.validations.items()
            if spec.entity == entity and when in spec.on
        )
        found = _Plan(bundle, entity, when, rules, _generate(bundle, rules, f"{entity} {when}"))
        if len(_PLANS) > 1024:
            _PLANS.clear()
        _PLANS[key] = found
    _LAST = (bundle, entity, when, found, found.flags)
    return found


# The plan used last, and its function: (bundle, entity, on, plan, flags).
_LAST: tuple[Any, ...] = (None, None, None, None, None)


def rules_for(bundle: Bundle, entity: str, when: str) -> tuple[_Rule, ...]:
    """Return the validation rules of `entity` run `on: when`, in declaration order."""
    return _plan(bundle, entity, when).rules


def _names(bundle: Bundle, entity: str, r: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """What a refusal's message reads: the fields every reader may see, `record`, `now`."""
    shown = shareable(bundle, entity, r)
    return {**shown, "record": shown, "now": now}


def _refusal(
    bundle: Bundle, entity: str, rule: _Rule, r: Mapping[str, Any], now: datetime, render: Any
) -> Problem:
    message = render(rule.spec.message, _names(bundle, entity, r, now))
    return Problem("rule-refused", message, rule=rule.name, expression=rule.spec.refuse_if)


def check_validations(
    bundle: Bundle,
    entity: str,
    when: str,
    r: Mapping[str, Any],
    c: Mapping[str, Any],
    stage: str | None,
    now: datetime,
    render: Any,
) -> tuple[list[Problem], list[Problem]]:
    """Run validation rules `on: when` (save / leave_stage); return (errors, warnings)."""
    last = _LAST
    if last[0] is bundle and last[1] == entity and last[2] == when:
        refused = last[4](r, c, stage, now)
        plan: _Plan = last[3]
    else:
        plan = _plan(bundle, entity, when)
        refused = plan.flags(r, c, stage, now)
    if refused is None:
        return check_each(bundle, plan.rules, entity, r, c, stage, now, render)
    if not refused:
        return [], []
    errors: list[Problem] = []
    warnings: list[Problem] = []
    names: dict[str, Any] | None = None  # what the messages read, built once
    for rule, flag in zip(plan.rules, refused, strict=True):
        if flag:
            if names is None:
                names = _names(bundle, entity, r, now)
            message = render(rule.spec.message, names)
            problem = Problem(
                "rule-refused", message, rule=rule.name, expression=rule.spec.refuse_if
            )
            (errors if rule.error else warnings).append(problem)
    return errors, warnings


def check_each(
    bundle: Bundle,
    rules: tuple[_Rule, ...],
    entity: str,
    r: Mapping[str, Any],
    c: Mapping[str, Any],
    stage: str | None,
    now: datetime,
    render: Any,
) -> tuple[list[Problem], list[Problem]]:
    """Run `rules` one by one (the reference): a rule that cannot be evaluated refuses."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    today: date | None = None
    for rule in rules:
        if rule.stages is not None and stage not in rule.stages:
            continue
        if rule.starts is not None:
            if today is None:
                today = local_day(now, bundle.manifest.timezone)
            if today < rule.starts:
                continue
        try:
            if not rule.fn(r, c):
                continue
        except EvaluationError as exc:
            message = f"rule '{rule.name}' could not be checked: {exc}"
            problem = Problem(
                "rule-refused", message, rule=rule.name, expression=rule.spec.refuse_if
            )
        else:
            problem = _refusal(bundle, entity, rule, r, now, render)
        (errors if rule.error else warnings).append(problem)
    return errors, warnings
