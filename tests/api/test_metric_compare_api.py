"""GET /api/v1/metrics/{name}?compare=<hash>: a KPI before and after a definitions
version (P14), on the default bundle, SQLite and PostgreSQL.

The lead cost is 286 yuan a lead in the 30 days before a version is applied and 167 in
the 30 days after; rows exactly at the version's time count before it, rows older than
the window's span are left out on both sides.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.api.conftest import Api

V1 = "/api/v1"
MakeApi = Callable[..., Api]


def lead(api: Api, cost: float) -> None:
    data = {"source": "web_form", "external_id": uuid.uuid4().hex, "pharmacy_name": "P"}
    answer = api.call(
        "POST", f"{V1}/records/lead", "admin", json={**data, "acquisition_cost": cost}
    )
    assert answer.status_code == 201, answer.text


def apply_new_version(api: Api) -> str:
    """Save a changed metric title and reload; return the new version's hash."""
    rules = api.directory / "rules" / "kpis.yaml"
    rules.write_text(
        rules.read_text(encoding="utf-8").replace("title: Cost per lead", "title: Lead cost"),
        encoding="utf-8",
    )
    answer = api.call("POST", f"{V1}/definitions/reload", "admin")
    assert answer.status_code == 200 and answer.json()["applied"] is True, answer.text
    history = api.call("GET", f"{V1}/definitions/history", "admin", params={"limit": 1}).json()
    newest: str = history[0]["hash"]
    return newest


def compare(api: Api, wanted: str, **params: Any) -> Any:
    return api.call("GET", f"{V1}/metrics/lead_cost", "admin", params={"compare": wanted, **params})


def test_a_kpi_before_and_after_a_version(make_api: MakeApi) -> None:
    api = make_api()
    lead(api, 999)  # 39 days before the version: outside both 30-day spans
    api.clock.advance(days=10)
    lead(api, 300)
    lead(api, 272)
    api.clock.advance(days=29)
    lead(api, 500)  # exactly when the version is applied: counts before it
    version = apply_new_version(api)
    api.clock.advance(hours=1)
    lead(api, 160)
    lead(api, 174)
    answer = compare(api, version[:8])
    assert answer.status_code == 200, answer.text
    found = answer.json()["compare"]
    assert found["version"] == version and found["author"] == "admin"
    assert (found["before"]["value"], found["before"]["count"]) == (1072 / 3, 3)
    assert (found["after"]["value"], found["after"]["count"]) == (167, 2)
    assert found["before"]["to"] == found["applied_at"] == found["after"]["from"]


def test_the_seed_numbers_286_before_and_167_after(make_api: MakeApi) -> None:
    api = make_api()
    lead(api, 300)
    lead(api, 272)
    api.clock.advance(days=2)
    version = apply_new_version(api)
    api.clock.advance(days=1)
    lead(api, 160)
    lead(api, 174)
    found = compare(api, version).json()["compare"]
    assert (found["before"]["value"], found["after"]["value"]) == (286, 167)
    api.clock.advance(days=31)  # the after span ends 30 days after the version
    lead(api, 1)
    again = compare(api, version).json()["compare"]
    assert (again["after"]["value"], again["after"]["count"]) == (167, 2)


def test_an_unknown_or_short_hash_is_refused(make_api: MakeApi) -> None:
    api = make_api()
    for wanted, words in (("ffffffff", "no applied definitions version"), ("ab", "too short")):
        answer = compare(api, wanted)
        assert answer.status_code == 400, answer.text
        [extra] = answer.json()["extra"]
        assert extra["key"] == "compare" and words in extra["message"]
    assert "compare" not in api.call("GET", f"{V1}/metrics/lead_cost", "admin").json()
