"""What a person working on a record sees: its form's layout and its stage's guide (P7).

The guide of a record gathers what the definitions say to show beside it: the form's
tabs and sections (as the reader's roles may see them), the record's readable name
(`title_field`), the stage path, and for the current stage its title, guidance,
knowledge (links and the table rows they pick), insights (values computed now) and the
evidence checklist with what is already attached. A requirement whose `when` is false
for the record now is left out of the checklist (it does not apply); one whose `when`
cannot be evaluated is listed (it applies, as at the move). The path says of every
stage whether it is done, current, ahead or skipped, whether it applies and why
(runtime/stage_path.py); the moves offered are those open now.
"""

from __future__ import annotations

from typing import Any

from engine.expr import EvaluationError
from engine.spec.form import FormSpec
from engine.spec.workflow import KnowledgeLink, StageSpec, required_name
from runtime import records, rows, stage_path
from runtime.approvals import stage_state
from runtime.data import shareable, to_json
from runtime.metrics import MetricCache, group_key
from runtime.people import allowed, roles_of
from runtime.records import RecordView
from runtime.stages import applies, evidence_counts
from runtime.unit import Unit, safe_render


def layout(unit: Unit, form: FormSpec) -> list[dict[str, Any]]:
    """Return the form's tabs the reader's roles may see, with field titles (hidden left out)."""

    def shown(names: list[str]) -> list[dict[str, Any]]:
        out = []
        for name in names:
            spec = form.fields.get(name)
            if spec is None or not allowed(unit.bundle, unit.actor, spec.read):
                continue
            item = {"field": name, "title": spec.title or name, "type": spec.type}
            if spec.description:
                item["description"] = spec.description
            out.append(item)
        return out

    tabs = []
    for tab in form.layout:
        if not allowed(unit.bundle, unit.actor, tab.roles):
            continue
        tabs.append(
            {
                "tab": tab.tab,
                "fields": shown(tab.fields),
                "sections": [
                    {"section": s.section, "fields": shown(s.fields)} for s in tab.sections
                ],
            }
        )
    return tabs


def _metric_rows(
    unit: Unit, link: KnowledgeLink, scope: dict[str, Any], c: dict[str, Any]
) -> list[dict[str, Any]]:
    """Return the groups of a link's metric that match the record, highest value first."""
    name = link.metric or ""
    wanted = {}
    for column in link.match:
        try:
            wanted[column] = group_key(unit.bundle.expr(link, f"match.{column}").fn(scope, c))
        except EvaluationError:
            return []
    cache = MetricCache(unit.tx.conn, unit.bundle.metrics, unit.now, unit.bundle)
    picked = [
        row
        for row in cache.rows(name)
        if all(group_key(row.groups.get(col)) == value for col, value in wanted.items())
    ]
    ids = [c for c in cache.metrics[name].group_by if c in rows.ID_COLUMNS]
    if ids:  # grouped by record: a record the reader's rows leave out is not shown
        values = [row.groups.get(c) for row in picked for c in ids]
        roles = roles_of(unit.bundle, unit.actor)
        out = rows.hidden_among(unit.tx.conn, unit.bundle, values, unit.actor, roles)
        picked = [row for row in picked if not any(row.groups.get(c) in out for c in ids)]
    picked.sort(key=lambda row: (row.value is None, -(row.value or 0.0)))
    return [
        to_json({**row.groups, "value": row.value, "count": row.count})
        for row in picked[: link.top]
    ]


def _found(row: dict[str, Any], search: str) -> bool:
    """Whether any value of a row contains the searched text (any case)."""
    return any(search in str(value).casefold() for value in row.values() if value is not None)


def _knowledge(
    unit: Unit, stage: StageSpec, scope: dict[str, Any], search: str | None = None
) -> list[dict[str, Any]]:
    out = []
    c = unit.context(scope)
    for link in stage.knowledge:
        item: dict[str, Any] = {"title": link.title}
        if link.url:
            item["url"] = link.url
        if link.metric:
            item.update(metric=link.metric, rows=_metric_rows(unit, link, scope, c))
        if link.table:
            table = unit.bundle.tables[link.table]
            where = unit.bundle.expr(link, "where").fn if link.where else None
            picked_rows = []
            for row in table.rows:
                try:
                    if where is None or where(scope, {**c, "row": row}):
                        picked_rows.append(to_json(dict(row)))
                except EvaluationError:
                    continue
            item.update(table=link.table, rows=picked_rows[: link.top])
        if search and "rows" in item:  # the rows the link picks that hold the text
            item["rows"] = [row for row in item["rows"] if _found(row, search.casefold())]
        out.append(item)
    return out


def _insights(unit: Unit, stage: StageSpec, scope: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    c = unit.context(scope)
    for insight in stage.insights:
        try:
            value = unit.bundle.expr(insight, "value").fn(scope, c)
            out.append({"title": insight.title, "value": to_json({"v": value})["v"]})
        except EvaluationError as exc:
            out.append({"title": insight.title, "value": None, "error": str(exc)})
    return out


def record_guide(unit: Unit, view: RecordView, search: str | None = None) -> dict[str, Any]:
    """Return what to show beside a record: layout, name, stage path and the stage's guide.

    With `search`, each knowledge link keeps only the rows it picks that hold that text
    in any column (any case): the objection-handling scripts about "price" (P7).
    """
    bundle = unit.bundle
    form = bundle.forms[view.entity].spec
    scope = view.scope()
    shown = shareable(bundle, view.entity, scope)
    guide: dict[str, Any] = {
        "record": view.id,
        "entity": view.entity,
        "entity_title": form.title or view.entity,
        "name": to_json({"v": shown.get(form.title_field)})["v"] if form.title_field else None,
        "layout": layout(unit, form),
        "workflow": None,
        "stage": None,
    }
    wf = bundle.workflows.get(view.workflow or "")
    if wf is None:
        return guide
    guide["workflow"] = {"name": wf.name, "title": wf.body.title or wf.name}
    guide["path"] = stage_path.path(unit, wf, view)
    stage = next((s for s in wf.body.stages if s.id == view.stage), None)
    if stage is None:
        return guide
    counts = evidence_counts(unit, view.id, stage)
    params = dict(wf.params)
    names = {**shown, "record": shown, "params": params, "now": unit.now}
    rule = f"{wf.name}.{stage.id}"

    def now_applies(part: Any) -> bool:
        return applies(unit, part, view, params, rule, record_failure=False)

    guide["stage"] = {
        "id": stage.id,
        "title": stage.title or stage.id,
        "guidance": safe_render(stage.guidance, names) if stage.guidance else "",
        "knowledge": _knowledge(unit, stage, scope, search),
        "insights": _insights(unit, stage, scope),
        "evidence": [
            {
                "kind": need.kind,
                "title": need.title or need.kind,
                "types": list(need.types),
                "min": need.min,
                "max": need.max,
                "attached": counts.get(need.kind, 0),
            }
            for need in stage.evidence
            if now_applies(need)
        ],
        "require": [
            {"field": name, "filled": view.data.get(name) not in (None, "", [])}
            for name in (
                required_name(item)
                for item in stage.require
                if isinstance(item, str) or now_applies(item)
            )
        ],
        "moves": stage_path.moves_from(unit, wf, view, stage.id),
    }
    guide["stage"].update(stage_state(unit, wf, view, stage))  # branches, approval
    return guide


def guide_of(
    runtime: Any, record_id: str, actor: str | None = None, search: str | None = None
) -> dict[str, Any]:
    """Return a record's guide as `actor` sees it (nothing is written)."""
    with runtime.unit(actor) as unit:
        view = records.load(unit.tx.conn, unit.bundle, record_id)
        guide = record_guide(unit, view, search)
        unit.tx.conn.rollback()
        return guide


def path_of(runtime: Any, record_id: str, actor: str | None = None) -> dict[str, Any]:
    """Return a record's stage path: every stage with state, applies and why (read only)."""
    with runtime.unit(actor) as unit:
        view = records.load(unit.tx.conn, unit.bundle, record_id)
        wf = unit.bundle.workflows.get(view.workflow or "")
        steps = stage_path.path(unit, wf, view) if wf is not None else []
        unit.tx.conn.rollback()
        return {
            "record": view.id,
            "workflow": view.workflow,
            "stage": view.stage,
            "status": view.status,
            "path": steps,
        }


__all__ = ["guide_of", "layout", "path_of", "record_guide"]
