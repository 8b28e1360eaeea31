"""Conditional requirements through the API: the workflow listing and a record's guide."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.api.conftest import Api
from tests.runtime.test_conditional_requirements import DEFINITIONS

MakeApi = Callable[..., Api]


def _bundle(root: Path) -> Path:
    for name, text in DEFINITIONS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text.lstrip(), encoding="utf-8")
    return root


def test_the_listing_names_long_form_fields_and_the_guide_only_what_applies(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api = make_api(bundle=_bundle(tmp_path / "conditional"))
    listing = api.call("GET", "/api/v1/entities", "ann").json()
    stages = listing["workflows"][0]["stages"]
    assert stages[0]["require"] == ["owner_note", "reason"]
    assert stages[0]["evidence"] == ["nda", "tally"]
    data = {"owner_note": "ok", "label": "x", "copies": 1, "work": "visit"}
    for amount, kinds, fields in (
        (5, [], ["owner_note"]),
        (500000, ["nda"], ["owner_note", "reason"]),
    ):
        answer = api.call("POST", "/api/v1/records/deal", "ann", json={**data, "amount": amount})
        assert answer.status_code == 201, answer.text
        rid = answer.json()["id"]
        stage = api.call("GET", f"/api/v1/records/deal/{rid}/guide", "ann").json()["stage"]
        assert [e["kind"] for e in stage["evidence"]] == kinds
        assert [r["field"] for r in stage["require"]] == fields
