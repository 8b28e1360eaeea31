"""Records over HTTP: create, read, list (filters, sorting, pages), update with row
versions, ingestion with dedup (P1), transitions that list every unmet requirement,
history, audit, explanations, assignment and queues (P3), read permissions.

Every test runs on SQLite and on PostgreSQL (the `make_api` fixture).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.api.conftest import DEFINITIONS, Api
from tests.runtime.helpers import JPEG

V1 = "/api/v1"
OPPORTUNITY = {"pharmacy_name": "Kang Pharmacy", "region": "sichuan"}
# An OTC lead in Jinjiang is routed to li.wei, who acts on it: a rep sees the leads they hold.
LEAD = {
    "source": "jd_health",
    "external_id": "A-17",
    "pharmacy_name": "Kang",
    "district": "jinjiang",
    "specialty": "otc",
}

MakeApi = Callable[..., Api]


def create(api: Api, entity: str, data: dict[str, Any], user: str = "li.wei") -> dict[str, Any]:
    answer = api.call("POST", f"{V1}/records/{entity}", user, json=data)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def error_keys(answer: Any) -> list[str]:
    body = answer.json()
    assert set(body) >= {"status_code", "detail", "extra"}, body
    assert body["status_code"] == answer.status_code
    return [e["key"] for e in body["extra"]]


# -- entities ---------------------------------------------------------------------------
def test_entities_list_fields_types_and_workflows(make_api: MakeApi) -> None:
    api = make_api()
    body = api.call("GET", f"{V1}/entities", "li.wei").json()
    entities = {e["name"]: e for e in body["entities"]}
    assert set(entities) == {
        "call_day",
        "coaching_visit",
        "customer",
        "distributor_deal",
        "distributor_stock",
        "lead",
        "opportunity",
        "pharmacy_purchase",
        "replenishment_request",
        "ticket",
    }
    lead = {f["name"]: f for f in entities["lead"]["fields"]}
    assert lead["source"]["type"] == "enum" and lead["source"]["required"] is True
    assert lead["source"]["values"] == ["meituan", "jd_health", "web_form"]
    assert lead["quality_score"]["writable"] is False  # write: [admin]
    assert entities["lead"]["key"] == ["source", "external_id"]
    opportunity = {f["name"]: f for f in entities["opportunity"]["fields"]}
    assert opportunity["product_class"]["values"]  # values_from a table column
    assert opportunity["margin_3m"]["computed"] is True
    assert entities["opportunity"]["workflows"] == ["pharmacy_visit"]
    visit = next(w for w in body["workflows"] if w["name"] == "pharmacy_visit")
    assert [s["id"] for s in visit["stages"]][:2] == ["appointment", "inventory_count"]
    assert {e["id"] for e in visit["exits"]} == {"won", "lost"}
    assert api.client.get(f"{V1}/entities").status_code == 401


# -- create, read, update -----------------------------------------------------------------
def test_create_then_read_and_a_record_only_under_its_own_entity(make_api: MakeApi) -> None:
    api = make_api()
    record = create(api, "opportunity", OPPORTUNITY)
    assert record["entity"] == "opportunity" and record["stage"] == "appointment"
    assert record["row_version"] == 1 and record["created_by"] == "li.wei"
    got = api.call("GET", f"{V1}/records/opportunity/{record['id']}", "li.wei")
    assert got.status_code == 200 and got.json() == record
    wrong = api.call("GET", f"{V1}/records/lead/{record['id']}", "li.wei")
    assert wrong.status_code == 404
    missing = api.call("GET", f"{V1}/records/opportunity/nope", "li.wei")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    unknown = api.call("GET", f"{V1}/records/oportunity", "li.wei")
    assert unknown.status_code == 404
    assert "did you mean 'opportunity'" in unknown.json()["detail"]


def test_bad_payloads_are_400_and_invalid_data_lists_every_field(make_api: MakeApi) -> None:
    api = make_api()
    invalid = api.call(
        "POST",
        f"{V1}/records/opportunity",
        "li.wei",
        json={"region": "tibet", "quote_price": "cheap", "colour": "red"},
    )
    assert invalid.status_code == 422
    assert set(error_keys(invalid)) == {"pharmacy_name", "region", "quote_price", "colour"}
    not_an_object = api.call("POST", f"{V1}/records/opportunity", "li.wei", json=[1, 2])
    assert not_an_object.status_code == 400
    error_keys(not_an_object)
    forbidden = api.call("POST", f"{V1}/records/opportunity", "zhao.lei", json=OPPORTUNITY)
    assert forbidden.status_code == 403  # create: [rep, manager]
    field_role = api.call("POST", f"{V1}/records/lead", "li.wei", json={**LEAD, "quality_score": 9})
    assert field_role.status_code == 403 and error_keys(field_role) == ["quality_score"]


def test_update_needs_the_row_version_and_a_stale_one_gets_the_current_record(
    make_api: MakeApi,
) -> None:
    api = make_api()
    record = create(api, "opportunity", OPPORTUNITY)
    path = f"{V1}/records/opportunity/{record['id']}"
    changed = api.call(
        "PATCH", path, "li.wei", json={"row_version": 1, "data": {"quote_price": 10}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["row_version"] == 2 and changed.json()["data"]["quote_price"] == 10
    stale = api.call("PATCH", path, "li.wei", json={"row_version": 1, "data": {"quote_price": 12}})
    assert stale.status_code == 409
    current = stale.json()["current"]
    assert current["row_version"] == 2 and current["data"]["quote_price"] == 10
    no_version = api.call("PATCH", path, "li.wei", json={"data": {"quote_price": 12}})
    assert no_version.status_code == 400
    invalid = api.call("PATCH", path, "li.wei", json={"row_version": 2, "data": {"region": "x"}})
    assert invalid.status_code == 422 and error_keys(invalid) == ["region"]
    elsewhere = api.call(
        "PATCH",
        f"{V1}/records/ticket/{record['id']}",
        "li.wei",
        json={"row_version": 2, "data": {}},
    )
    assert elsewhere.status_code == 404
    assert api.call("GET", path, "li.wei").json()["data"]["quote_price"] == 10


# -- ingestion ---------------------------------------------------------------------------
def test_ingest_creates_then_merges_on_the_dedup_key(make_api: MakeApi) -> None:
    """P1: a lead arriving twice (from two channels' retries) is one record."""
    api = make_api()
    path = f"{V1}/records/lead/ingest"
    first = api.call("POST", path, "li.wei", json={**LEAD, "orders_90d": 3})
    assert first.status_code == 201 and first.json()["outcome"] == "created"
    again = api.call("POST", path, "li.wei", json={**LEAD, "orders_90d": 9, "district": "wuhou"})
    assert again.status_code == 200 and again.json()["outcome"] == "merged"
    assert again.json()["record"]["id"] == first.json()["record"]["id"]
    assert again.json()["record"]["data"]["orders_90d"] == 9
    listed = api.call("GET", f"{V1}/records/lead", "li.wei").json()
    assert listed["total"] == 1
    other = api.call("POST", path, "li.wei", json={**LEAD, "external_id": "B-1"})
    assert other.status_code == 201
    no_key = api.call("POST", f"{V1}/records/ticket/ingest", "li.wei", json={"severity": 1})
    assert no_key.status_code == 422 and error_keys(no_key) == ["no-key"]
    missing_key = api.call("POST", path, "li.wei", json={"source": "web_form"})
    assert missing_key.status_code == 422 and "external_id" in error_keys(missing_key)


# -- listing ---------------------------------------------------------------------------
def _tickets(api: Api) -> list[dict[str, Any]]:
    made = []
    for i in range(7):
        tier = ["VIP", "normal", "trial"][i % 3]
        made.append(create(api, "ticket", {"customer_tier": tier, "severity": i % 3 + 1}))
        api.clock.advance(minutes=1)
    return made


def test_list_filters_on_columns_and_fields_and_sorts(make_api: MakeApi) -> None:
    api = make_api()
    made = _tickets(api)
    path = f"{V1}/records/ticket"

    def ids(query: str) -> list[str]:
        answer = api.call("GET", f"{path}?{query}", "zhao.lei")
        assert answer.status_code == 200, answer.text
        return [r["id"] for r in answer.json()["items"]]

    newest_first = ids("")
    assert newest_first == [r["id"] for r in reversed(made)]
    assert ids("sort=created_at") == [r["id"] for r in made]
    vip = ids("field.customer_tier=VIP")
    assert vip == [made[6]["id"], made[3]["id"], made[0]["id"]]
    assert ids("field.severity=1&field.customer_tier=VIP&sort=created_at") == [
        made[0]["id"],
        made[3]["id"],
        made[6]["id"],
    ]
    assert set(ids("field.severity=2&field.severity=3")) == {r["id"] for r in made} - set(vip)
    by_severity = api.call("GET", f"{path}?sort=-field.severity,created_at", "zhao.lei").json()
    severities = [r["data"]["severity"] for r in by_severity["items"]]
    assert severities == sorted(severities, reverse=True)
    assert ids("stage=triage") == newest_first and ids("stage=resolved") == []
    assert ids("status=open&workflow=ticket_handling") == newest_first
    since = made[4]["created_at"]
    assert since == "2026-01-05T09:04:00+00:00"  # UTC, with its offset
    # A `+` in a query string must be encoded (%2B); `Z` needs nothing; naive means UTC.
    for given in (quote(since), "2026-01-05T09:04:00Z", "2026-01-05T17:04:00%2B08:00"):
        assert ids(f"created_from={given}&sort=created_at") == [r["id"] for r in made[4:]]
        assert ids(f"created_to={given}&sort=created_at") == [r["id"] for r in made[:4]]
    assert ids("created_from=2026-01-05T09:04:00&sort=created_at") == [r["id"] for r in made[4:]]
    assert ids("created_to=2026-01-05T09:03:59.999999Z") == [r["id"] for r in made[3::-1]]


def test_bad_filters_and_sort_keys_are_400_naming_them(make_api: MakeApi) -> None:
    api = make_api()
    path = f"{V1}/records/ticket"

    def bad(query: str) -> dict[str, Any]:
        answer = api.call("GET", f"{path}?{query}", "zhao.lei")
        assert answer.status_code == 400, answer.text
        body: dict[str, Any] = answer.json()
        return body

    unknown = bad("field.severty=1")
    assert unknown["extra"][0]["key"] == "severty"
    assert "did you mean 'severity'" in unknown["extra"][0]["message"]
    assert bad("field.severity=high")["extra"][0]["message"] == (
        "field.severity: 'high' is not an integer"
    )
    assert "VIP, normal, trial" in bad("field.customer_tier=gold")["extra"][0]["message"]
    assert len(bad("field.nope=1&field.severity=x")["extra"]) == 2
    assert "did you mean 'stage'" in bad("stag=triage")["extra"][0]["message"]
    assert "did you mean 'created_at'" in bad("sort=-created")["extra"][0]["message"]
    assert bad("limit=0")["status_code"] == 400
    assert bad("limit=100000")["status_code"] == 400
    assert bad("created_from=yesterday")["status_code"] == 400


def test_pages_walk_every_record_once(make_api: MakeApi) -> None:
    api = make_api()
    made = {create(api, "ticket", {"customer_tier": "VIP", "severity": 2})["id"] for _ in range(11)}
    # Same created_at for all: the order still is total (the id breaks ties).
    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = api.call("GET", f"{V1}/records/ticket?limit=4&offset={offset}", "li.wei").json()
        assert page["total"] == 11
        seen += [r["id"] for r in page["items"]]
        offset = page["next"]
        pages += 1
    assert pages == 3 and len(seen) == 11 and set(seen) == made
    by_field: list[str] = []
    offset = 0
    while offset is not None:
        page = api.call(
            "GET", f"{V1}/records/ticket?limit=5&offset={offset}&sort=field.severity", "li.wei"
        ).json()
        by_field += [r["id"] for r in page["items"]]
        offset = page["next"]
    assert sorted(by_field) == sorted(made) and len(by_field) == 11


# -- transitions ---------------------------------------------------------------------------
def test_a_refused_move_lists_every_unmet_requirement(make_api: MakeApi) -> None:
    """P4: leaving inventory count with one shelf photo names both missing pieces."""
    api = make_api()
    record = create(api, "opportunity", OPPORTUNITY)
    path = f"{V1}/records/opportunity/{record['id']}"
    moved = api.call("POST", f"{path}/transitions", "li.wei", json={"to": "inventory_count"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["stage"] == "inventory_count"
    upload = api.call(
        "POST",
        f"{path}/evidence",
        "li.wei",
        data={"kind": "shelf_photo"},
        files={"file": ("a.jpg", JPEG, "image/jpeg")},
    )
    assert upload.status_code == 201, upload.text
    refused = api.call("POST", f"{path}/transitions", "li.wei", json={"to": "competitor_analysis"})
    assert refused.status_code == 422
    messages = [e["message"] for e in refused.json()["extra"]]
    assert messages == [
        "Shelf photos: 1 of 3 attached (image/jpeg, image/png)",
        "Inventory list screenshot: 0 of 1 attached (image/*, application/pdf)",
    ]
    dry = api.call("GET", f"{path}/transitions/competitor_analysis", "li.wei").json()
    assert dry["allowed"] is False and [p["message"] for p in dry["problems"]] == messages
    assert api.call("GET", f"{path}/transitions/lost", "li.wei").json()["allowed"] is True
    roles = api.call("POST", f"{path}/transitions", "zhao.lei", json={"to": "quote"})
    assert roles.status_code == 403  # a refusal for roles is a 403, listing everything else too
    codes = [e["code"] for e in roles.json()["extra"]]
    assert codes == ["move-not-allowed", "forbidden", "missing-evidence", "missing-evidence"]
    stale = api.call("POST", f"{path}/transitions", "li.wei", json={"to": "lost", "row_version": 1})
    assert stale.status_code == 409 and stale.json()["current"]["stage"] == "inventory_count"
    assert api.call("POST", f"{path}/transitions", "li.wei", json={}).status_code == 400


# -- history, audit, explain ----------------------------------------------------------------
def test_history_audit_and_explanations(make_api: MakeApi) -> None:
    api = make_api()
    record = create(api, "opportunity", OPPORTUNITY)
    path = f"{V1}/records/opportunity/{record['id']}"
    api.clock.advance(hours=2)
    api.call("POST", f"{path}/transitions", "zhang.min", json={"to": "inventory_count"})
    history = api.call("GET", f"{path}/history", "li.wei").json()
    assert [(h["stage"], h["to_stage"]) for h in history] == [
        ("appointment", "inventory_count"),
        ("inventory_count", None),
    ]
    assert history[0]["dwell_seconds"] == 7200 and history[0]["left_by"] == "zhang.min"
    audit = api.call("GET", f"{path}/audit", "li.wei").json()
    kinds = [(e["kind"], e["actor"]) for e in audit]
    assert ("created", "li.wei") in kinds and ("stage_changed", "zhang.min") in kinds
    assert all(e["at"] and e["bundle_hash"] for e in audit)
    lead = create(api, "lead", {**LEAD, "orders_90d": 6})
    # Nobody takes it now (its routing explanation says why): it waits in unmatched_leads,
    # which its creator (a rep) does not see, and the manager does.
    assert lead["owner"] is None
    explained = api.call("GET", f"{V1}/records/lead/{lead['id']}/explain", "zhang.min").json()
    assert {d["kind"] for d in explained} >= {"score", "routing"}
    scores = api.call("GET", f"{V1}/records/lead/{lead['id']}/explain?kind=score", "zhang.min")
    assert {d["kind"] for d in scores.json()} == {"score"}
    assert api.call("GET", f"{V1}/records/ticket/{record['id']}/audit", "li.wei").status_code == 404


# -- assignment and queues --------------------------------------------------------------------
def test_queues_show_to_their_roles_and_assignment_takes_records_out(make_api: MakeApi) -> None:
    """P3: a lead no rep may take waits, visibly, in the fallback queue."""
    api = make_api()
    lead = create(api, "lead", {**LEAD, "specialty": "devices", "district": "elsewhere"})
    assert (lead["owner"], lead["queue"]) == (None, None)  # the rep does not see the queue
    seen = api.call("GET", f"{V1}/records/lead/{lead['id']}", "zhang.min").json()
    assert (seen["owner"], seen["queue"]) == (None, "unmatched_leads")
    manager = {q["name"]: q for q in api.call("GET", f"{V1}/queues", "zhang.min").json()}
    assert manager["unmatched_leads"]["waiting"] == 1
    assert manager["general_service"]["waiting"] == 0  # lists no roles: everyone sees it
    rep = [q["name"] for q in api.call("GET", f"{V1}/queues", "li.wei").json()]
    assert rep == ["general_service"]
    # a queue the rep may not see is answered as one that does not exist
    assert api.call("GET", f"{V1}/queues/unmatched_leads", "li.wei").status_code == 404
    unknown = api.call("GET", f"{V1}/queues/unmatched", "zhang.min")
    assert unknown.status_code == 404 and "unmatched_leads" in unknown.json()["detail"]
    waiting = api.call("GET", f"{V1}/queues/unmatched_leads", "zhang.min").json()
    assert [r["id"] for r in waiting["items"]] == [lead["id"]] and waiting["total"] == 1
    path = f"{V1}/records/lead/{lead['id']}/assign"
    both = api.call("POST", path, "zhang.min", json={"user": "li.wei", "queue": "general_service"})
    assert both.status_code == 400
    nobody = api.call("POST", path, "zhang.min", json={"user": "nobody"})
    assert nobody.status_code == 422 and error_keys(nobody) == ["unknown-user"]
    taken = api.call("POST", path, "zhang.min", json={"user": "li.wei", "row_version": 1})
    assert taken.status_code == 200, taken.text
    assert (taken.json()["owner"], taken.json()["queue"]) == ("li.wei", None)
    assert api.call("GET", f"{V1}/queues/unmatched_leads", "zhang.min").json()["total"] == 0
    stale = api.call("POST", path, "zhang.min", json={"queue": "unmatched_leads", "row_version": 1})
    assert stale.status_code == 409 and stale.json()["current"]["owner"] == "li.wei"
    deal = create(api, "opportunity", OPPORTUNITY)
    agent = api.call(
        "POST", f"{V1}/records/opportunity/{deal['id']}/assign", "zhao.lei", json={"user": "li.wei"}
    )
    assert agent.status_code == 403  # write: [rep, manager]


# -- read permissions ------------------------------------------------------------------------
def _restricted(tmp_path: Path) -> Path:
    """The default bundle, with leads readable by sales roles and the score by managers."""
    folder = tmp_path / "restricted"
    shutil.copytree(DEFINITIONS, folder)
    form = folder / "forms" / "lead.yaml"
    text = form.read_text()
    text = text.replace(
        "quality_score: {type: decimal, min: 0, max: 100, write: [admin]}",
        "quality_score: {type: decimal, min: 0, max: 100, write: [admin], read: [manager]}",
    )
    assert "\npermissions:\n" in text
    text = text.replace("\npermissions:\n", "\npermissions:\n  read: [rep, manager, director]\n")
    form.write_text(text)
    return folder


def test_read_permissions_hide_entities_and_fields(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api(_restricted(tmp_path))
    lead = create(api, "lead", {**LEAD, "orders_90d": 6}, user="zhang.min")
    assert lead["data"]["quality_score"] > 0  # the manager sees the score
    path = f"{V1}/records/lead/{lead['id']}"
    # An agent may not read leads at all.
    assert api.call("GET", f"{V1}/records/lead", "zhao.lei").status_code == 403
    assert api.call("GET", path, "zhao.lei").status_code == 403
    names = [e["name"] for e in api.call("GET", f"{V1}/entities", "zhao.lei").json()["entities"]]
    assert "lead" not in names and "ticket" in names
    # A rep reads leads, never the score: not in a record, a list, a conflict, the audit.
    assert "quality_score" not in api.call("GET", path, "li.wei").json()["data"]
    items = api.call("GET", f"{V1}/records/lead", "li.wei").json()["items"]
    assert items and all("quality_score" not in r["data"] for r in items)
    fields = next(
        e["fields"]
        for e in api.call("GET", f"{V1}/entities", "li.wei").json()["entities"]
        if e["name"] == "lead"
    )
    assert "quality_score" not in {f["name"] for f in fields}
    hidden_filter = api.call("GET", f"{V1}/records/lead?field.quality_score=1", "li.wei")
    assert hidden_filter.status_code == 400
    assert (
        api.call("GET", f"{V1}/records/lead?sort=field.quality_score", "li.wei").status_code == 400
    )
    api.call("PATCH", path, "zhang.min", json={"row_version": 1, "data": {"orders_90d": 7}})
    stale = api.call("PATCH", path, "li.wei", json={"row_version": 1, "data": {"orders_90d": 8}})
    assert stale.status_code == 409 and "quality_score" not in stale.json()["current"]["data"]
    audit = api.call("GET", f"{path}/audit", "li.wei").json()
    created = next(e for e in audit if e["kind"] == "created")
    assert "quality_score" not in created["detail"]["data"]
    assert "orders_90d" in created["detail"]["data"]
    explained = api.call("GET", f"{path}/explain", "li.wei").json()
    assert "lead_quality" not in {d["rule"] for d in explained}
    assert "lead_quality" in {
        d["rule"] for d in api.call("GET", f"{path}/explain", "zhang.min").json()
    }
    # Whoever may create but not read gets the record back without its fields.
    made = api.call("POST", f"{V1}/records/lead", "zhao.lei", json={**LEAD, "external_id": "Z"})
    assert made.status_code == 201 and made.json()["data"] == {}
