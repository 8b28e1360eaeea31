"""Hostile input against record integrity: a natural key is never shared, and a caller
cannot start a workflow whose `applies_when` does not hold for the record.

Every test runs on SQLite and on PostgreSQL (the `make_api` fixture).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.api.conftest import Api

V1 = "/api/v1"
LEADS = f"{V1}/records/lead"
# An OTC lead in Jinjiang is routed to li.wei, who acts on it: a rep sees the leads they hold.
LEAD = {
    "source": "jd_health",
    "external_id": "A-17",
    "pharmacy_name": "Kang",
    "district": "jinjiang",
    "specialty": "otc",
}
DEAL = {"distributor": "Huayuan", "region": "north"}

MakeApi = Callable[..., Api]


def created(api: Api, path: str, data: dict[str, Any]) -> dict[str, Any]:
    answer = api.call("POST", path, "li.wei", json=data)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def stored(api: Api, record_id: str) -> dict[str, Any]:
    answer = api.call("GET", f"{LEADS}/{record_id}", "li.wei")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ingest(api: Api, data: dict[str, Any]) -> Any:
    return api.call("POST", f"{LEADS}/ingest", "li.wei", json=data)


def taken(other: str, external_id: str) -> dict[str, Any]:
    """The 409 answer of a save whose key lead record `other` holds."""
    return {
        "status_code": 409,
        "existing": other,
        "detail": f"lead record '{other}' already has the key source=jd_health, "
        f"external_id={external_id}; two records never share a key (change the other "
        "record, or ingest to merge)",
        "extra": [
            {
                "key": "duplicate-key",
                "message": f"lead record '{other}' has this key",
                "source": "rules",
                "code": "duplicate-key",
                "detail": {
                    "record": other,
                    "key": {"source": "jd_health", "external_id": external_id},
                },
            }
        ],
    }


def test_changing_a_key_field_moves_the_dedup_key(make_api: MakeApi) -> None:
    api = make_api()
    lead = created(api, LEADS, LEAD)
    assert lead["dedup_key"] == "jd_health\x1fA-17"
    path = f"{LEADS}/{lead['id']}"
    patch = {"row_version": 1, "data": {"external_id": "A-18"}}
    changed = api.call("PATCH", path, "li.wei", json=patch)
    assert changed.status_code == 200, changed.text
    assert changed.json()["dedup_key"] == "jd_health\x1fA-18"
    assert stored(api, lead["id"])["dedup_key"] == "jd_health\x1fA-18"
    # The new key finds the record; the old one is free for a new lead.
    merged = ingest(api, {**LEAD, "external_id": "A-18", "orders_90d": 4})
    assert merged.status_code == 200 and merged.json()["outcome"] == "merged"
    assert merged.json()["record"]["id"] == lead["id"]
    fresh = ingest(api, LEAD)
    assert fresh.status_code == 201 and fresh.json()["record"]["id"] != lead["id"]
    assert fresh.json()["record"]["dedup_key"] == "jd_health\x1fA-17"


def test_a_patch_onto_another_records_key_is_409_and_changes_nothing(make_api: MakeApi) -> None:
    api = make_api()
    first = created(api, LEADS, LEAD)
    second = created(api, LEADS, {**LEAD, "external_id": "B-2", "district": "wuhou"})
    before = stored(api, second["id"])
    audit = f"{LEADS}/{second['id']}/audit"
    events = api.call("GET", audit, "li.wei").json()
    assert [e["kind"] for e in events] == ["routed", "created"]
    patch = {"row_version": 1, "data": {"external_id": "A-17", "district": "jinjiang"}}
    clash = api.call("PATCH", f"{LEADS}/{second['id']}", "li.wei", json=patch)
    assert clash.status_code == 409
    assert clash.json() == taken(first["id"], "A-17")
    assert stored(api, second["id"]) == before
    assert before["row_version"] == 1 and before["data"]["district"] == "wuhou"
    assert api.call("GET", audit, "li.wei").json() == events
    # Its own key again (a change of another field) is no clash.
    same = {"row_version": 1, "data": {"external_id": "B-2", "district": "jinjiang"}}
    fine = api.call("PATCH", f"{LEADS}/{second['id']}", "li.wei", json=same)
    assert fine.status_code == 200 and fine.json()["dedup_key"] == "jd_health\x1fB-2"


def test_creating_a_second_record_with_a_taken_key_is_409(make_api: MakeApi) -> None:
    api = make_api()
    first = created(api, LEADS, LEAD)
    again = api.call("POST", LEADS, "li.wei", json={**LEAD, "pharmacy_name": "Other"})
    assert again.status_code == 409
    assert again.json() == taken(first["id"], "A-17")
    listed = api.call("GET", LEADS, "li.wei").json()
    assert [r["id"] for r in listed["items"]] == [first["id"]]


def test_a_chosen_workflow_must_apply_to_the_record(make_api: MakeApi) -> None:
    api = make_api()
    deals = f"{V1}/records/distributor_deal"
    refused = api.call("POST", f"{deals}?workflow=signing_east", "li.wei", json=DEAL)
    assert refused.status_code == 422
    assert refused.json() == {
        "status_code": 422,
        "detail": "workflow 'signing_east' does not apply to this distributor_deal record: "
        "its applies_when (region == params.region) is false",
        "extra": [
            {
                "key": "workflow-not-applicable",
                "message": "'signing_east' applies only when region == params.region",
                "source": "signing_east",
                "code": "workflow-not-applicable",
                "expression": "region == params.region",
            }
        ],
    }
    assert api.call("GET", deals, "wang.fang").json()["total"] == 0
    chosen = api.call("POST", f"{deals}?workflow=signing_north", "li.wei", json=DEAL)
    assert chosen.status_code == 201, chosen.text
    assert (chosen.json()["workflow"], chosen.json()["stage"]) == (
        "signing_north",
        "needs_confirmation",
    )
    east = {**DEAL, "region": "east"}
    assert created(api, deals, east)["workflow"] == "signing_east"  # chosen by applies_when
    unknown = api.call("POST", f"{deals}?workflow=pharmacy_visit", "li.wei", json=east)
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == "workflow 'pharmacy_visit' does not run on distributor_deal"
    assert api.call("GET", deals, "wang.fang").json()["total"] == 2
