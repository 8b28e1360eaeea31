"""Signed inbound webhooks (F6): a system the bundle declares (`inbound:`) pushes records.

The default bundle declares `wecom_contacts`: the chat tool may set a customer's contact
fields, keyed on customer_code, signed with SOPFLOW_INBOUND_SECRET_WECOM_CONTACTS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from api.routes.inbound import SIGNATURE, TIMESTAMP, sign
from tests.api.conftest import Api
from tests.api.test_ops import MakeApi

V1 = "/api/v1"
SECRET = "s3cret-for-tests"
NAME = "wecom_contacts"
VARIABLE = "SOPFLOW_INBOUND_SECRET_WECOM_CONTACTS"
CUSTOMER = {
    "customer_code": "PH-1001",
    "name": "Jinjiang Kangning Pharmacy",
    "kind": "pharmacy",
    "contact_name": "Liu Yang",
}
CHANGE = {"customer_code": "PH-1001", "contact_name": "Sun Qing", "contact_phone": "13900000002"}


def push(
    api: Api,
    data: Any,
    *,
    at: int | None = None,
    secret: str = SECRET,
    blank: str = "",
    name: str = NAME,
) -> Any:
    body = json.dumps(data).encode()
    timestamp = str(int(api.clock.now().timestamp()) if at is None else at)
    signed = {TIMESTAMP: timestamp, SIGNATURE: sign(secret, timestamp, body)}
    sent = {"Content-Type": "application/json", **signed}
    sent.pop(blank, None)  # a header left out
    return api.client.post(f"{V1}/inbound/{name}", content=body, headers=sent)


def customers(api: Api) -> list[dict[str, Any]]:
    listed = api.call("GET", f"{V1}/records/customer", "admin")
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


@pytest.fixture
def api(make_api: MakeApi, monkeypatch: pytest.MonkeyPatch) -> Api:
    monkeypatch.setenv(VARIABLE, SECRET)
    return make_api()


@pytest.fixture
def customer(api: Api) -> str:
    made = api.call("POST", f"{V1}/records/customer", "admin", json=CUSTOMER)
    assert made.status_code == 201, made.text
    record_id: str = made.json()["id"]
    return record_id


def test_a_signed_contact_change_merges_and_is_audited_as_its_sender(
    api: Api, customer: str
) -> None:
    merged = push(api, CHANGE)
    assert merged.status_code == 200, merged.text
    assert merged.json() == {"outcome": "merged", "id": customer}
    record = api.call("GET", f"{V1}/records/customer/{customer}", "admin").json()
    assert (record["data"]["contact_name"], record["data"]["name"]) == (
        "Sun Qing",
        "Jinjiang Kangning Pharmacy",
    )
    audit = api.call("GET", f"{V1}/records/customer/{customer}/audit", "admin")
    assert audit.status_code == 200, audit.text
    actors = {e["kind"]: e["actor"] for e in audit.json()}
    assert actors["ingested"] == "inbound:wecom_contacts"  # who sent it, not "the system"
    assert actors["created"] == "admin"


def test_a_field_the_declaration_does_not_list_is_422_and_nothing_is_stored(
    api: Api, customer: str
) -> None:
    answer = push(api, {**CHANGE, "name": "Renamed", "tier": "VIP"})
    assert answer.status_code == 422, answer.text
    assert "inbound 'wecom_contacts' may not set 'name', 'tier'" in answer.json()["detail"]
    problems = answer.json()["extra"]
    assert [(p["key"], p["code"]) for p in problems] == [
        ("name", "undeclared-field"),
        ("tier", "undeclared-field"),
    ]
    record = api.call("GET", f"{V1}/records/customer/{customer}", "admin").json()
    assert record["data"]["name"] == "Jinjiang Kangning Pharmacy"
    assert record["data"]["contact_name"] == "Liu Yang"  # the declared part is not kept either
    assert record["row_version"] == 1


def test_a_push_for_a_customer_nobody_created_needs_its_required_fields(api: Api) -> None:
    # The chat tool may not set name and kind, so it cannot create a customer: 422, nothing.
    answer = push(api, {"customer_code": "BY-9999", "contact_name": "Nobody"})
    assert answer.status_code == 422, answer.text
    assert customers(api) == []


def test_a_declaration_that_lists_every_required_field_creates_then_merges(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bundle = tmp_path / "erp_bundle"
    (bundle / "forms").mkdir(parents=True)
    (bundle / "bundle.yaml").write_text(
        "kind: bundle\nversion: 1\nname: erp\ntimezone: Asia/Shanghai\n"
        "roles: [admin]\nusers: {admin: {roles: [admin]}}\n"
        "inbound:\n  erp_accounts:\n    entity: account\n    fields: [code, name]\n"
        "    secret_env: SOPFLOW_INBOUND_SECRET_ERP_PUSH\n",
        encoding="utf-8",
    )
    (bundle / "forms" / "account.yaml").write_text(
        "kind: form\nversion: 1\nentity: account\nkey: [code]\n"
        "fields:\n  code: {type: string, required: true}\n  name: {type: string, required: true}\n"
        "permissions: {create: [admin], read: [admin], write: [admin]}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SOPFLOW_INBOUND_SECRET_ERP_PUSH", SECRET)
    api = make_api(bundle)
    created = push(api, {"code": "A-1", "name": "Acme"}, name="erp_accounts")
    assert created.status_code == 201, created.text
    assert created.json()["outcome"] == "created"
    merged = push(api, {"code": "A-1", "name": "Acme Ltd"}, name="erp_accounts")
    assert merged.json() == {"outcome": "merged", "id": created.json()["id"]}
    record_id = created.json()["id"]
    record = api.call("GET", f"{V1}/records/account/{record_id}", "admin").json()
    assert record["data"]["name"] == "Acme Ltd"
    assert record["created_by"] == "inbound:erp_accounts"
    audit = api.call("GET", f"{V1}/records/account/{record_id}/audit", "admin").json()
    assert {e["actor"] for e in audit} == {"inbound:erp_accounts"}


def test_a_wrong_or_missing_signature_is_refused_401_and_changes_nothing(
    api: Api, customer: str
) -> None:
    wrong = push(api, CHANGE, secret="guessed")
    assert wrong.status_code == 401
    assert "signature does not match" in wrong.json()["detail"]
    missing = push(api, CHANGE, blank=SIGNATURE)
    assert missing.status_code == 401
    assert "not signed" in missing.json()["detail"]
    no_time = push(api, CHANGE, blank=TIMESTAMP)
    assert no_time.status_code == 401
    tampered_body = json.dumps({**CHANGE, "contact_name": "Mallory"}).encode()
    timestamp = str(int(api.clock.now().timestamp()))
    url = f"{V1}/inbound/{NAME}"
    forged = api.client.post(
        url,
        content=tampered_body,
        headers={
            "Content-Type": "application/json",
            TIMESTAMP: timestamp,
            SIGNATURE: sign(SECRET, timestamp, json.dumps(CHANGE).encode()),
        },
    )
    assert forged.status_code == 401  # the original body's signature on another body
    odd = api.client.post(
        url,
        content=json.dumps(CHANGE).encode(),
        headers={
            "Content-Type": "application/json",
            TIMESTAMP: timestamp,
            SIGNATURE: "sha256=\u00e9".encode("latin-1"),  # a byte past ASCII
        },
    )
    assert odd.status_code == 401, odd.text  # refused, not a 500
    assert "not 'sha256=' and hex digits" in odd.json()["detail"]
    record = api.call("GET", f"{V1}/records/customer/{customer}", "admin").json()
    assert (record["data"]["contact_name"], record["row_version"]) == ("Liu Yang", 1)


def test_a_replayed_request_outside_five_minutes_is_refused(api: Api, customer: str) -> None:
    now = int(api.clock.now().timestamp())
    assert push(api, CHANGE, at=now - 300).status_code == 200  # exactly 5 minutes: taken
    assert push(api, CHANGE, at=now + 300).status_code == 200  # 5 minutes ahead: taken
    stale = push(api, CHANGE, at=now - 301)
    assert stale.status_code == 401
    assert "more than 300 seconds" in stale.json()["detail"]
    assert push(api, CHANGE, at=now + 301).status_code == 401  # from the future too


def test_an_undeclared_name_is_404_even_an_entity_with_a_secret(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The old per-entity path is gone: 'customer' is an entity, not a declaration.
    monkeypatch.setenv("SOPFLOW_INBOUND_SECRET_CUSTOMER", SECRET)
    answer = push(api, CUSTOMER, name="customer")
    assert answer.status_code == 404, answer.text
    assert answer.json()["detail"] == "no inbound 'customer' is declared in the bundle"
    assert customers(api) == []


def test_a_declaration_whose_secret_is_unset_takes_no_push(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    api = make_api()
    answer = push(api, CHANGE)
    assert answer.status_code == 404, answer.text
    assert VARIABLE in answer.json()["detail"]
    assert customers(api) == []
