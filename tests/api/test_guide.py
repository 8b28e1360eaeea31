"""The record guide (P7) and the definitions catalog through the API."""

from __future__ import annotations

from collections.abc import Callable

from tests.api.conftest import Api
from tests.runtime.helpers import JPEG, PDF

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
    assert guide["workflow"] == {"name": "pharmacy_visit", "title": "Pharmacy visit SOP"}
    bands = [k for k in guide["stage"]["knowledge"] if k["title"] == "Competitor price bands"]
    assert [len(k["rows"]) for k in bands] == [3]  # the sichuan bands
    assert guide["stage"] == {
        "id": "appointment",
        "title": "appointment",
        "guidance": "Book a visit with the store manager; confirm the date in the notes.",
        "knowledge": [
            {
                "title": "Top 5 categories of the last 3 months",
                "metric": "purchases_by_category",
                "rows": [],  # no purchase history for this pharmacy
            },
            bands[0],
            # the rep's learning map: no deal of theirs has closed yet
            {"title": "Steps your won deals went through", "metric": "winning_paths", "rows": []},
            {"title": "Steps your lost deals went through", "metric": "winning_paths", "rows": []},
        ],
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
    assert body["workflow"]["pharmacy_visit"]["title"] == "Pharmacy visit SOP"
    assert body["bundle"]["roles"]["rep"]["title"] == "Sales rep"
    assert (
        body["workflow"]["pharmacy_visit"]["stages"]["inventory_count"]["evidence"]["shelf_photo"][
            "title"
        ]
        == "Shelf photos"
    )
    assert api.call("GET", "/api/v1/definitions/catalog", "li.wei").status_code == 403


def _upload(api: Api, rid: str, kind: str, content: bytes, media: str) -> None:
    answer = api.call(
        "POST",
        f"/api/v1/records/opportunity/{rid}/evidence",
        "li.wei",
        data={"kind": kind},
        files={"file": (f"{kind}.bin", content, media)},
    )
    assert answer.status_code in (200, 201), answer.text


def _move(api: Api, rid: str, to: str) -> None:
    answer = api.call(
        "POST", f"/api/v1/records/opportunity/{rid}/transitions", "li.wei", json={"to": to}
    )
    assert answer.status_code == 200, answer.text


def test_the_guide_carries_what_a_client_shows_beside_a_record(make_api: MakeApi) -> None:
    """Layout, guidance, knowledge, the evidence checklist with what is attached, moves (P7)."""
    api = make_api()
    for sku, amount in (("cold-granules", 12000), ("amoxicillin", 15000), ("vitamin-c", 7000)):
        made = api.call(
            "POST",
            "/api/v1/records/pharmacy_purchase",
            "admin",
            json={
                "customer_code": "CD-9",
                "sku": sku,
                "amount": amount,
                "ordered_on": "2025-12-20",
            },
        )
        assert made.status_code == 201, made.text
    answer = api.call(
        "POST",
        "/api/v1/records/opportunity",
        "li.wei",
        json={"pharmacy_name": "Renmin", "region": "sichuan", "customer_code": "CD-9"},
    )
    rid = str(answer.json()["id"])
    base = f"/api/v1/records/opportunity/{rid}/guide"
    guide = api.call("GET", base, "li.wei").json()
    basics, quote = guide["layout"][0], guide["layout"][1]
    assert basics["tab"] == "Basics"
    assert {"field": "customer_code", "title": "Customer code", "type": "string"} in basics[
        "fields"
    ]
    assert [s["section"] for s in quote["sections"]] == ["Pricing", "Margin"]
    assert quote["sections"][0]["fields"][2] == {
        "field": "discount_pct",
        "title": "Discount (%)",
        "type": "decimal",
    }
    [top] = [k for k in guide["stage"]["knowledge"] if k.get("metric") == "purchases_by_category"]
    assert [(r["product_class"], r["value"]) for r in top["rows"]] == [
        ("antibiotics", 15000.0),
        ("cold_and_flu", 12000.0),
        ("vitamins", 7000.0),
    ]
    assert guide["stage"]["moves"] == ["inventory_count", "lost"]

    _move(api, rid, "inventory_count")
    _upload(api, rid, "shelf_photo", JPEG + b"one", "image/jpeg")
    stage = api.call("GET", base, "li.wei").json()["stage"]
    assert stage["guidance"] == "Count the top-20 SKUs; photograph every shelf you count."
    assert stage["evidence"] == [
        {
            "kind": "shelf_photo",
            "title": "Shelf photos",
            "types": ["image/jpeg", "image/png"],
            "min": 3,
            "max": None,
            "attached": 1,
        },
        {
            "kind": "inventory_list",
            "title": "Inventory list screenshot",
            "types": ["image/*", "application/pdf"],
            "min": 1,
            "max": None,
            "attached": 0,
        },
    ]
    assert stage["moves"] == ["competitor_analysis", "lost"]

    for n in (b"two", b"three"):
        _upload(api, rid, "shelf_photo", JPEG + n, "image/jpeg")
    _upload(api, rid, "inventory_list", PDF + b"list", "application/pdf")
    _move(api, rid, "competitor_analysis")
    _upload(api, rid, "price_comparison", PDF + b"prices", "application/pdf")
    _move(api, rid, "proposal_demo")
    # the library of 127 legal-reviewed scripts; a search keeps the rows holding the text,
    # in any column and any case (keywords, objection, script)
    everything = api.call("GET", base, "li.wei").json()["stage"]["knowledge"]
    [listed] = [k for k in everything if k["title"] == "Objection-handling scripts"]
    assert len(listed["rows"]) == 127
    assert all(r["legal_reviewed"] for r in listed["rows"])

    def search(text: str) -> list[str]:
        got = api.call("GET", f"{base}?search={text}", "li.wei").json()["stage"]["knowledge"]
        [found] = [k for k in got if k["title"] == "Objection-handling scripts"]
        return [r["code"] for r in found["rows"]]

    assert search("REBATE") == ["payment-11", "compliance-02"]
    assert search("planogram") == ["display-04"]
    assert search("medical%20insurance") == [
        "payment-07",
        "insurance-01",
        "insurance-02",
        "insurance-04",
        "insurance-05",
        "insurance-06",
        "insurance-08",
        "insurance-11",
    ]
    assert search("herbal%20pieces") == [
        "price-10",
        "competitor-10",
        "stock-10",
        "insurance-09",
        "efficacy-10",
        "delivery-09",
        "display-11",
        "compliance-09",
    ]
    assert search("no-such-objection") == []


def test_winning_paths_per_rep_through_the_metrics_api(make_api: MakeApi) -> None:
    """P8: won against lost deals per rep and stage, read at GET /metrics/{name}."""
    api = make_api()
    made = []
    for name in ("Won", "Lost"):
        answer = api.call(
            "POST",
            "/api/v1/records/opportunity",
            "li.wei",
            json={
                "pharmacy_name": name,
                "region": "sichuan",
                "quote_price": 40,
                "product_class": "antibiotics",
            },
        )
        made.append(str(answer.json()["id"]))
    won, lost = made
    _move(api, won, "inventory_count")
    for n in (b"1", b"2", b"3"):
        _upload(api, won, "shelf_photo", JPEG + n, "image/jpeg")
    _upload(api, won, "inventory_list", PDF + b"l", "application/pdf")
    _move(api, won, "competitor_analysis")
    _upload(api, won, "price_comparison", PDF + b"p", "application/pdf")
    for stage in ("proposal_demo", "quote"):
        _move(api, won, stage)
    for stage in ("payment_tracking", "won"):
        _move(api, won, stage)
    _move(api, lost, "lost")
    answer = api.call("GET", "/api/v1/metrics/winning_paths", "zhang.min")
    assert answer.status_code == 200, answer.text
    groups = {
        (g["owner"], g["record_status"], g["stage"]): g["value"] for g in answer.json()["groups"]
    }
    assert groups[("li.wei", "won", "competitor_analysis")] == 1
    assert groups[("li.wei", "lost", "appointment")] == 1
    assert ("li.wei", "lost", "competitor_analysis") not in groups
    assert api.call("GET", "/api/v1/metrics/winning_paths", "li.wei").status_code == 403
