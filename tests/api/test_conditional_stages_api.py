"""Conditional stages through the API: a record's stage path, its guide and refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.api.conftest import Api
from tests.runtime.test_conditional_stages import DEFINITIONS

MakeApi = Callable[..., Api]


def _bundle(root: Path) -> Path:
    for name, text in DEFINITIONS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text.lstrip(), encoding="utf-8")
    return root


def _create(api: Api, amount: int) -> str:
    data = {"customer": "Kangle", "label": "x", "copies": 1, "amount": amount}
    answer = api.call("POST", "/api/v1/records/contract", "ann", json=data)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_the_path_lists_every_stage_with_state_applies_and_why(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api = make_api(bundle=_bundle(tmp_path / "stages"))
    rid = _create(api, 5000)
    answer = api.call("GET", f"/api/v1/records/contract/{rid}/path", "ann")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["record"], body["workflow"], body["stage"]) == (rid, "contract_flow", "intake")
    assert [(p["id"], p["state"], p["applies"]) for p in body["path"]] == [
        ("intake", "current", True),
        ("legal_review", "skipped", False),
        ("bulk_check", "skipped", False),
        ("signing", "ahead", True),
        ("signed", "exit", True),
        ("dropped", "exit", True),
    ]
    assert body["path"][1]["why"] == "amount > 100000: amount = 5000"
    guide = api.call("GET", f"/api/v1/records/contract/{rid}/guide", "ann").json()
    assert guide["path"] == body["path"]
    assert guide["stage"]["moves"] == ["dropped", "signing"]
    listing = api.call("GET", "/api/v1/entities", "ann").json()
    stages = listing["workflows"][0]["stages"]
    assert [s.get("only_when") for s in stages] == [
        None,
        "amount > 100000",
        "len(label * copies) > 3",
        None,
    ]


def test_a_move_into_a_skipped_stage_is_refused_with_its_code(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api = make_api(bundle=_bundle(tmp_path / "stages"))
    rid = _create(api, 5000)
    url = f"/api/v1/records/contract/{rid}/transitions"
    refused = api.call("POST", url, "ann", json={"to": "legal_review"})
    assert refused.status_code == 422, refused.text
    problems = refused.json()["extra"]
    assert [p["code"] for p in problems] == ["stage-not-applicable"]
    assert "amount = 5000" in problems[0]["message"]
    moved = api.call("POST", url, "ann", json={"to": "signing"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["stage"] == "signing"
    path = api.call("GET", f"/api/v1/records/contract/{rid}/path", "ann").json()["path"]
    assert [p["state"] for p in path[:4]] == ["done", "skipped", "skipped", "current"]


def test_the_path_needs_a_token_and_a_record_of_that_entity(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api = make_api(bundle=_bundle(tmp_path / "stages"))
    rid = _create(api, 5000)
    assert api.call("GET", f"/api/v1/records/other/{rid}/path", "ann").status_code == 404
    assert api.client.get(f"/api/v1/records/contract/{rid}/path").status_code == 401
