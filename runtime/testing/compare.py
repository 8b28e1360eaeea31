"""How a test's values compare with the runtime's, and how both read in failure messages."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from runtime.data import to_json

if TYPE_CHECKING:
    from runtime.errors import CommandError

Loc = tuple[str | int, ...]


def same(expected: Any, got: Any) -> bool:
    """Compare a test file's value with the runtime's: numbers closely, the rest as JSON."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got or (expected == got and type(expected) is type(got))
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        return math.isclose(expected, got, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(map(same, expected, got))
    if isinstance(expected, dict) and isinstance(got, dict):
        return expected.keys() == got.keys() and all(same(v, got[k]) for k, v in expected.items())
    return bool(_plain(expected) == _plain(got))


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return to_json({"v": value})["v"]


def shown(value: Any) -> str:
    """Show a value in a failure message."""
    if isinstance(value, str):
        return f"'{value}'"
    if value is None:
        return "nothing"
    return str(_plain(value))


def guide_view(guide: Mapping[str, Any]) -> dict[str, Any]:
    """Return a guide in the shape a test's `guide:` expectation writes it."""
    stage = guide.get("stage") or {}
    tabs: dict[str, list[str]] = {}
    for tab in guide.get("layout") or []:
        titles = [f["title"] for f in tab["fields"]]
        for section in tab["sections"]:
            titles += [f"{section['section']} / {f['title']}" for f in section["fields"]]
        tabs[tab["tab"]] = titles
    knowledge: dict[str, Any] = {}
    for link in stage.get("knowledge", []):
        knowledge[link["title"]] = len(link["rows"]) if "rows" in link else link.get("url")
    return {
        "name": guide.get("name"),
        "entity_title": guide.get("entity_title"),
        "workflow_title": (guide.get("workflow") or {}).get("title"),
        "stage": stage.get("id"),
        "stage_title": stage.get("title"),
        "guidance": stage.get("guidance"),
        "knowledge": knowledge,
        "insights": {i["title"]: i["value"] for i in stage.get("insights", [])},
        "knowledge_rows": {
            link["title"]: link["rows"] for link in stage.get("knowledge", []) if "rows" in link
        },
        "evidence": {
            e["kind"]: f"{e['title']}: {e['attached']}/{e['min']}"
            for e in stage.get("evidence", [])
        },
        "path": {p["id"]: f"{p['title']}: {p['state']}" for p in guide.get("path", [])},
        "why": {p["id"]: p.get("why") for p in guide.get("path", [])},
        "moves": stage.get("moves"),
        "branches": {b["id"]: b["state"] for b in (stage.get("branches") or {}).get("items", [])},
        "approval": _approval(stage.get("approval")),
        "layout": tabs,
    }


def _approval(approval: Mapping[str, Any] | None) -> str | None:
    if approval is None:
        return None
    return f"{approval['state']} {approval['approved']}/{approval['need']}"


def problem_matches(want: Mapping[str, Any], got: Mapping[str, Any]) -> bool:
    for key, value in want.items():
        if key == "contains":
            if value not in str(got.get("message", "")):
                return False
        elif got.get(key) != value:
            return False
    return True


def all_text(exc: CommandError) -> str:
    return " | ".join([exc.message, *(p.message for p in exc.problems)])


def notes(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "none"
    shown_rows = [f"{r['payload'].get('template')} to {r['payload'].get('to')}" for r in rows[:8]]
    more = f" and {len(rows) - 8} more" if len(rows) > 8 else ""
    return ", ".join(shown_rows) + more


__all__ = ["all_text", "guide_view", "notes", "problem_matches", "same", "shown"]
