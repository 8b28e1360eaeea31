"""`field.<name>.from` / `.to` on the list route: ranges both ends included, documented."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

V1 = "/api/v1"
REP, DIRECTOR = "li.wei", "wang.fang"
DEALS = f"{V1}/records/distributor_deal"


def test_ranges_filter_numbers_and_dates_both_ends_included(make_api: Callable[..., Any]) -> None:
    api = make_api()
    runtime = api.server.runtime
    made = [
        runtime.create(
            "distributor_deal",
            {
                "distributor": f"D{n}",
                "region": "east",
                "amount": n,
                "expected_close": f"2026-04-{n:02d}",
            },
            actor=DIRECTOR,
        ).id
        for n in (1, 2, 3)
    ]

    def ids(query: str) -> list[str]:
        answer = api.call("GET", f"{DEALS}?{query}&sort=field.amount", REP)
        assert answer.status_code == 200, answer.text
        return [r["id"] for r in answer.json()["items"]]

    assert ids("field.amount.from=2") == made[1:]
    assert ids("field.amount.to=2") == made[:2]
    assert ids("field.amount.from=2&field.amount.to=2") == [made[1]]
    assert ids("field.expected_close.from=2026-04-03") == [made[2]]
    assert ids("field.expected_close.to=2026-04-01&field.region=east") == [made[0]]
    total = api.call("GET", f"{DEALS}?field.amount.from=2", REP).json()["total"]
    assert total == 2


def test_bad_ranges_are_a_400_naming_each(make_api: Callable[..., Any]) -> None:
    api = make_api()
    answer = api.call("GET", f"{DEALS}?field.amount.from=x&field.region.to=a&sort=nope", REP)
    assert answer.status_code == 400
    messages = [e["message"] for e in answer.json()["extra"]]
    assert any("field.amount.from: 'x' is not a number" in m for m in messages)
    assert any("field.region: a enum field has no range" in m for m in messages)
    assert any("cannot sort on 'nope'" in m for m in messages)
    unknown = api.call("GET", f"{DEALS}?field.amount.by=1", REP)
    assert unknown.status_code == 400
    assert "'field.amount.by' is not a filter" in unknown.json()["extra"][0]["message"]


def test_the_ranges_are_in_the_openapi_document(make_api: Callable[..., Any]) -> None:
    api = make_api()
    document = api.call("GET", "/schema/openapi.json", "admin").json()
    params = {p["name"]: p for p in document["paths"][DEALS]["get"]["parameters"]}
    assert params["field.amount.from"]["schema"]["type"] == "number"
    assert params["field.expected_close.to"]["schema"] == {"type": "string", "format": "date"}
    assert "included" in params["field.amount.to"]["description"]
    assert "field.region.from" not in params
