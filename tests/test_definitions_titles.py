"""The default bundle's user-visible text reads as a business user would read it.

Scenario IDs (P1-P14, F1-F12, "issue 12") belong in YAML comments and the docs, never in
a title, description, guidance, message, template or table cell a user sees.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle

DEFINITIONS = Path(__file__).resolve().parents[1] / "definitions"

# The keys whose text a user reads: titles, help, guidance, messages and notification
# templates. Names, expressions and ids are not among them.
VISIBLE = {
    "title",
    "description",
    "guidance",
    "message",
    "subject",
    "body",
    "label",
    "labels",
    "reason",
    "help",
    "placeholder",
}
SCENARIO_ID = re.compile(r"\b[PF]\d{1,2}\b|\b[Ii]ssue \d+")


def _children(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield name, getattr(node, name)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            yield f.name, getattr(node, f.name)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield str(key), value
    elif isinstance(node, list | tuple | set | frozenset):
        for value in node:
            yield "", value


def _texts(node: Any, path: str, visible: bool, seen: dict[int, Any]) -> Iterator[tuple[str, str]]:
    """Every string under a user-visible key, with where it is."""
    if isinstance(node, str):
        if visible:
            yield path, node
        return
    if id(node) in seen or isinstance(node, int | float | bool | bytes) or node is None:
        return
    seen[id(node)] = node  # kept alive, so no other object reuses its id
    for key, value in _children(node):
        where = f"{path}.{key}" if key else f"{path}[]"
        yield from _texts(value, where, visible or key in VISIBLE, seen)


def _bundle() -> Bundle:
    bundle = compile_bundle(DEFINITIONS).bundle
    assert bundle is not None
    return bundle


def visible_texts(bundle: Bundle) -> list[tuple[str, str]]:
    """The default bundle's user-visible strings: specs' texts and every table cell."""
    seen: dict[int, Any] = {}
    parts: dict[str, Any] = {
        "manifest": bundle.manifest,
        "forms": {n: f.spec for n, f in bundle.forms.items()},
        "workflows": {n: w.body for n, w in bundle.workflows.items()},
        "templates": bundle.templates,
        "scorings": {n: s.spec for n, s in bundle.scorings.items()},
        "decision_tables": {n: d.spec for n, d in bundle.decision_tables.items()},
        "validations": {n: v for n, (v, _) in bundle.validations.items()},
        "routings": bundle.routings,
        "alerts": bundle.alerts,
        "metrics": bundle.metrics,
        "schedules": bundle.schedules,
        "forecasts": bundle.forecasts,
        "notifications": bundle.notifications,
    }
    found = [t for name, part in parts.items() for t in _texts(part, name, False, seen)]
    for name, table in bundle.tables.items():  # a table's cells show in the guide
        found.extend(_texts(table.title, f"tables.{name}.title", True, seen))
        found.extend(_texts(table.description, f"tables.{name}.description", True, seen))
        found.extend(_texts(list(table.rows), f"tables.{name}.rows", True, seen))
    return found


def test_the_walk_reaches_the_texts_users_read() -> None:
    """The walk is not vacuous: it sees titles of every kind, guidance and messages."""
    found = visible_texts(_bundle())
    texts = {text for _, text in found}
    paths = {path for path, _ in found}
    assert "Pharmacy visit SOP" in texts
    assert "Count the top-20 SKUs; photograph every shelf you count." in texts
    assert "Leads no rep may take" in texts
    assert any(p.startswith("notifications.") for p in paths)
    assert any(p.startswith("alerts.") for p in paths)
    assert any(p.startswith("tables.objection_scripts.rows") for p in paths)
    assert len(found) > 300


def test_no_scenario_id_in_what_users_see() -> None:
    bad = [
        f"{path}: {text!r}" for path, text in visible_texts(_bundle()) if SCENARIO_ID.search(text)
    ]
    assert not bad, "scenario IDs in user-visible text:\n" + "\n".join(bad)


def test_the_pattern_catches_what_it_must() -> None:
    for text in ("Pharmacy visit SOP (P4)", "Rule F12 audit", "Demo staff (issue 12)", "Issue 3"):
        assert SCENARIO_ID.search(text), text
    for text in ("Top 5 categories", "PF3 grade", "P100 filter", "SKU-F123", "FP7", "promo p1"):
        assert not SCENARIO_ID.search(text), text
