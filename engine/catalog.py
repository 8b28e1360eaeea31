"""The bundle's catalog: the readable names and notes people see beside each definition.

Titles, descriptions and notes change nothing a rule decides; their effect is what a
person reads: the console, the API (`GET /api/v1/definitions/catalog`) and reports
show them. The catalog gathers every one of them under the path of its definition,
e.g. `workflow.pharmacy_visit.stages.quote.title`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from engine.bundle import Bundle

# The keys whose only effect is to be read by people.
DESCRIPTIVE = ("title", "description", "note")
_ID_KEYS = ("id", "kind", "name", "entity", "tab", "section")


def _describe(value: Any) -> Any:
    """Return the descriptive keys of a spec (and of the specs inside it), keyed by id."""
    if isinstance(value, BaseModel):
        out: dict[str, Any] = {}
        for name, info in type(value).model_fields.items():
            key = info.alias or name
            item = getattr(value, name)
            if key in DESCRIPTIVE and isinstance(item, str):
                out[key] = item
            elif isinstance(item, (BaseModel, list, tuple, Mapping)):
                inner = _describe(item)
                if inner:
                    out[key] = inner
        return out
    if isinstance(value, (list, tuple)):
        items = {}
        for i, item in enumerate(value):
            inner = _describe(item)
            if inner:
                fields = type(item).model_fields if isinstance(item, BaseModel) else {}
                ids = [getattr(item, k) for k in _ID_KEYS if k in fields and getattr(item, k)]
                label = ids[0] if ids else i
                items[str(label)] = inner
        return items
    if isinstance(value, Mapping):
        return {str(k): d for k, v in value.items() if (d := _describe(v))}
    return {}


def catalog(bundle: Bundle) -> dict[str, Any]:
    """Return every title, description and note of the bundle, by kind and name."""
    out: dict[str, Any] = {"bundle": _describe(bundle.manifest)}
    out["table"] = {n: _describe(t) for n, t in bundle.tables.items()}
    out["form"] = {n: _describe(f.spec) for n, f in bundle.forms.items()}
    workflows: dict[str, Any] = {}
    for name, wf in bundle.workflows.items():
        workflows[name] = _describe(wf.body)
        if wf.template:
            workflows[name]["template"] = wf.template
        if removed := _describe(dict(wf.removed_stages)):  # notes of `removed_stages`
            workflows[name]["removed_stages"] = removed
    out["workflow"] = workflows
    out["scoring"] = {n: _describe(s.spec) for n, s in bundle.scorings.items()}
    out["decision_table"] = {n: _describe(d.spec) for n, d in bundle.decision_tables.items()}
    out["validation"] = {n: _describe(v[0]) for n, v in bundle.validations.items()}
    for kind, specs in (
        ("routing", bundle.routings),
        ("alert", bundle.alerts),
        ("metric", bundle.metrics),
        ("schedule", bundle.schedules),
        ("forecast", bundle.forecasts),
        ("notification", bundle.notifications),
    ):
        out[kind] = {n: _describe(s) for n, s in specs.items()}
    out["workflow_template"] = {n: _describe(t) for n, t in bundle.templates.items()}
    return out


def workflow_outline(bundle: Bundle) -> dict[str, Any]:
    """Return each workflow's template, stages (with evidence, fields and guards) and exits.

    A workflow made from a template shows its own structure, once the template's
    `include_if`s have left parts out for its params.
    """
    out: dict[str, Any] = {}
    for name, wf in bundle.workflows.items():
        out[name] = {
            "template": wf.template,
            "stages": [
                {
                    "id": s.id,
                    "evidence": [e.kind for e in s.evidence],
                    "require": [r if isinstance(r, str) else r.field for r in s.require],
                    "guards": len(s.guards),
                }
                for s in wf.body.stages
            ],
            "exits": [e.id for e in wf.body.exits],
        }
    return out


def lookup(data: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """Return (found, value) at a dotted path of the catalog, e.g. 'workflow.x.title'."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


__all__ = ["DESCRIPTIVE", "catalog", "lookup", "workflow_outline"]
