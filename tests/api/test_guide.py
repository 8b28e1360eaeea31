"""The record guide (P7) and the definitions catalog through the API."""

from __future__ import annotations

from collections.abc import Callable

from tests.api.conftest import Api

MakeApi = Callable[..., Api]


def _opportunity(api: Api) -> str:
    answer = api.call(
        "POST",
        "/api/v1/records/opportunity",
        "li.wei",
        json={"pharmacy_name": "Renmin", "region": "sichuan", "pharmacy_tier": "chain"},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_a_record_guide_shows_the_stage_and_the_layout(make_api: MakeApi) -> None:
    api = make_api()
    rid = _opportunity(api)
    answer = api.call("GET", f"/api/v1/records/opportunity/{rid}/guide", "li.wei")
    assert answer.status_code == 200, answer.text
    guide = answer.json()
    assert guide["entity_title"] == "Pharmacy opportunity"
    assert guide["workflow"] == {"name": "pharmacy_visit", "title": "Pharmacy visit SOP (P4)"}
    assert guide["stage"] == {
        "id": "appointment",
        "title": "appointment",
        "guidance": "Book a visit with the store manager; confirm the date in the notes.",
        "knowledge": [],
        "insights": [],
        "evidence": [],
        "require": [],
        "moves": ["inventory_count", "lost"],
    }
    assert [p["state"] for p in guide["path"][:3]] == ["current", "ahead", "ahead"]
    assert [t["tab"] for t in guide["layout"]] == [
        "Basics",
        "Quote",
        "Procurement follow-up",
        "Outcome",
    ]


def test_a_guide_needs_a_token_and_a_record_of_that_entity(make_api: MakeApi) -> None:
    api = make_api()
    rid = _opportunity(api)
    missing = api.call("GET", f"/api/v1/records/lead/{rid}/guide", "admin")
    assert missing.status_code == 404
    assert api.client.get(f"/api/v1/records/opportunity/{rid}/guide").status_code == 401


def test_the_catalog_gives_titles_to_those_who_read_definitions(make_api: MakeApi) -> None:
    api = make_api()
    answer = api.call("GET", "/api/v1/definitions/catalog", "admin")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["workflow"]["pharmacy_visit"]["title"] == "Pharmacy visit SOP (P4)"
    assert body["bundle"]["roles"]["rep"]["title"] == "Sales rep"
    assert (
        body["workflow"]["pharmacy_visit"]["stages"]["inventory_count"]["evidence"]["shelf_photo"][
            "title"
        ]
        == "Shelf photos"
    )
    assert api.call("GET", "/api/v1/definitions/catalog", "li.wei").status_code == 403
