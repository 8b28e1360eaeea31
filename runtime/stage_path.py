"""Conditional stages (`only_when`) and the stage path a person sees.

A stage with `only_when` applies to a record only while the expression holds on it. It
is read on the record at each move, so until the record reaches the stage a change of
a field can bring the stage in or take it out; `forward: next` goes to the next stage
that applies, and a move into a stage that does not apply is refused
(`stage-not-applicable`). A record in a stage stays there whatever the condition says
later. An `only_when` that cannot be evaluated makes the stage apply (the safe side:
its requirements are not dodged) and, at a move, is recorded as an evaluation failure.

The stage path lists every stage in order with its state (done, current, ahead,
skipped), whether it applies and why (the condition and the values it read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from engine.bundle import CompiledWorkflow
from engine.diagnostics import shorten
from engine.expr import EvaluationError
from engine.spec.workflow import StageSpec
from runtime import failures
from runtime.data import json_value, shareable
from runtime.errors import Problem
from runtime.people import allowed
from runtime.records import RecordView
from runtime.store import T_STAY
from runtime.unit import Unit

_LONGEST = 60  # characters of one value shown in `why`
_PARAM = re.compile(r"\bparams\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Applicability:
    """Whether a stage applies to a record now, and why (None: it has no condition)."""

    applies: bool
    why: str | None = None
    failed: bool = False


def _shown(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, str):
        return f"'{shorten(value, _LONGEST)}'"
    if isinstance(value, (float, Decimal)) and not isinstance(value, bool):
        return format(Decimal(str(value)).normalize(), "f")  # 4200, not 4200.0
    return shorten(str(json_value(value)), _LONGEST)


def condition(
    unit: Unit,
    wf: CompiledWorkflow,
    stage: StageSpec,
    record: RecordView,
    *,
    record_failure: bool = True,
    for_reader: bool = False,
) -> Applicability:
    """Tell whether `stage` applies to `record` now (no `only_when`: always).

    `why` shows the values the condition read. A field with `read:` roles shows as
    `(hidden)`: to everyone in a refusal (kept with the record for every reader), to
    those without its roles when `for_reader` (the path the actor reads).
    """
    if stage.only_when is None:
        return Applicability(True)
    compiled = unit.bundle.expr(stage, "only_when")
    scope = record.scope()
    shown = (
        _readable(unit, record.entity, scope)
        if for_reader
        else shareable(unit.bundle, record.entity, scope)
    )
    read = [
        f"{name} = {_shown(shown[name]) if name in shown else '(hidden)'}"
        for name in sorted(compiled.names)
        if name in scope
    ]
    params = sorted(set(_PARAM.findall(stage.only_when)) & set(wf.params))
    values = ", ".join(read + [f"params.{p} = {_shown(wf.params[p])}" for p in params])
    text = f"{stage.only_when}: {values}" if values else stage.only_when
    try:
        holds = bool(compiled.fn(scope, unit.context(scope, params=dict(wf.params))))
    except EvaluationError as exc:
        if record_failure:
            rule = f"{record.workflow or wf.name}.{stage.id}"
            failures.record(unit, record.id, "stage", rule, exc, field="only_when")
        return Applicability(True, f"{text} (could not be evaluated: {exc.message}; applies)", True)
    return Applicability(holds, text)


def _readable(unit: Unit, entity: str, scope: dict[str, Any]) -> dict[str, Any]:
    form = unit.bundle.forms.get(entity)
    fields = form.spec.fields if form is not None else {}
    return {
        k: v
        for k, v in scope.items()
        if k not in fields or allowed(unit.bundle, unit.actor, fields[k].read)
    }


def stage_of(wf: CompiledWorkflow, stage_id: str) -> StageSpec | None:
    """Return the stage (not an exit) with this id."""
    return next((s for s in wf.body.stages if s.id == stage_id), None)


def next_applicable(
    unit: Unit, wf: CompiledWorkflow, record: RecordView, source: str, *, record_failure: bool
) -> str | None:
    """Return the first stage after `source` that applies to the record (None: none does)."""
    ids = [s.id for s in wf.body.stages]
    if source not in ids:
        return None
    for stage in wf.body.stages[ids.index(source) + 1 :]:
        if condition(unit, wf, stage, record, record_failure=record_failure).applies:
            return stage.id
    return None


def skips_to(
    unit: Unit, wf: CompiledWorkflow, record: RecordView, source: str, target: str
) -> bool:
    """Tell whether `forward: next` reaches `target` from `source` by skipping stages.

    It does when every stage between them is conditional and does not apply now.
    """
    ids = [s.id for s in wf.body.stages]
    if wf.body.moves.forward != "next" or source not in ids or target not in ids:
        return False
    between = wf.body.stages[ids.index(source) + 1 : ids.index(target)]
    return bool(between) and all(
        s.only_when is not None and not condition(unit, wf, s, record).applies for s in between
    )


def not_applicable(
    unit: Unit, wf: CompiledWorkflow, record: RecordView, target: str
) -> Problem | None:
    """Return the refusal of a move into a stage whose `only_when` is false, else None."""
    stage = stage_of(wf, target)
    if stage is None or stage.only_when is None:
        return None
    found = condition(unit, wf, stage, record)
    if found.applies:
        return None
    return Problem(
        "stage-not-applicable",
        f"stage '{target}' does not apply to this record: only_when {found.why} is false",
        rule=f"{wf.name}.{target}",
        expression=stage.only_when,
    )


def moves_from(unit: Unit, wf: CompiledWorkflow, record: RecordView, source: str) -> list[str]:
    """Return where the record may move from `source` now: stages that apply, and exits."""
    out = set()
    for s, target in wf.moves:
        if s != source:
            continue
        stage = stage_of(wf, target)
        if stage is None or condition(unit, wf, stage, record, record_failure=False).applies:
            out.add(target)
    if wf.body.moves.forward == "next":
        ahead = next_applicable(unit, wf, record, source, record_failure=False)
        if ahead is not None:
            out.add(ahead)
    return sorted(out)


def _stayed(unit: Unit, record: RecordView) -> set[str]:
    rows = unit.tx.conn.execute(
        select(T_STAY.c.stage).where(
            T_STAY.c.record_id == record.id, T_STAY.c.workflow == record.workflow
        )
    ).all()
    return {row[0] for row in rows}


def path(unit: Unit, wf: CompiledWorkflow, record: RecordView) -> list[dict[str, Any]]:
    """Return every stage in order, then the exits: id, title, state, applies and why.

    Before the current stage a stage is `done` when the record stayed in it, else
    `skipped`; after it, `ahead` when it applies now, else `skipped`. Exits are `exit`
    (or `current` for the one a closed record took). Nothing is recorded.
    """
    ids = [s.id for s in wf.body.stages]
    at = ids.index(record.stage) if record.stage in ids else len(ids)
    stayed = _stayed(unit, record) if at > 0 else set()
    out: list[dict[str, Any]] = []
    for i, stage in enumerate(wf.body.stages):
        found = condition(unit, wf, stage, record, record_failure=False, for_reader=True)
        if i < at:
            state = "done" if stage.id in stayed else "skipped"
        elif i == at:
            state = "current"
        else:
            state = "ahead" if found.applies else "skipped"
        out.append(
            {
                "id": stage.id,
                "title": stage.title or stage.id,
                "state": state,
                "applies": found.applies,
                "why": found.why,
            }
        )
    for exit_ in wf.body.exits:
        out.append(
            {
                "id": exit_.id,
                "title": exit_.title or exit_.id,
                "state": "current" if exit_.id == record.stage else "exit",
                "applies": True,
                "why": None,
            }
        )
    return out


__all__ = [
    "Applicability",
    "condition",
    "moves_from",
    "next_applicable",
    "not_applicable",
    "path",
    "skips_to",
]
