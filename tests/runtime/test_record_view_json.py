"""A record view as JSON-ready data: the same keys, order and values as walking it whole."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from runtime.data import to_json
from runtime.records import CORE, RecordView


def _walked_whole(view: RecordView) -> dict[str, Any]:
    """The record as JSON-ready data by converting the fields, then the whole dict again."""
    out = {k: getattr(view, k) for k in CORE}
    out.update(
        row_version=view.row_version,
        read_only=view.read_only,
        dedup_key=view.dedup_key,
        created_by=view.created_by,
        data=to_json(view.data),
    )
    if view.warnings:
        out["warnings"] = view.warnings
    if view.assignments is not None:
        out["assignments"] = view.assignments
    return to_json(out)


def _view(**extra: Any) -> RecordView:
    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    data = {
        "name": "Anna",
        "due": date(2026, 2, 1),
        "seen": at,
        "tags": ("a", "b"),
        "nested": {"when": at, "list": [date(2026, 3, 1), {"deep": (1, 2)}]},
        "score": 12.5,
        "none": None,
    }
    return RecordView(
        id="r1",
        entity="lead",
        data=data,
        workflow="sales",
        stage="qualify",
        owner="rep.1",
        created_at=at,
        updated_at=at,
        stage_entered_at=at,
        row_version=3,
        created_by="rep.1",
        **extra,
    )


def test_to_dict_matches_walking_the_record_whole() -> None:
    at = datetime(2026, 1, 6, tzinfo=UTC)
    for view in (
        _view(),
        _view(warnings=[{"code": "late", "at": at}]),
        _view(assignments={"reviewer": {"user": "rep.2", "queue": None, "filled_at": at}}),
    ):
        got, expected = view.to_dict(), _walked_whole(view)
        assert got == expected
        assert json.dumps(got) == json.dumps(expected)  # same keys in the same order
        assert got["data"]["tags"] == ["a", "b"] and got["data"]["due"] == "2026-02-01"
        assert got["data"]["nested"]["list"][1] == {"deep": [1, 2]}
        assert got["created_at"] == "2026-01-05T09:30:00+00:00"


def test_to_dict_leaves_the_view_as_it_was() -> None:
    view = _view()
    before = dict(view.data)
    out = view.to_dict()
    out["data"]["name"] = "changed"
    out["data"]["nested"]["list"].append("x")
    assert view.data == before
