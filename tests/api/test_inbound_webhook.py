"""Signed inbound webhooks (F6): contact changes pushed by another system, HMAC-signed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.routes.inbound import SIGNATURE, TIMESTAMP, sign
from tests.api.conftest import Api
from tests.api.test_ops import MakeApi

V1 = "/api/v1"
SECRET = "s3cret-for-tests"
URL = f"{V1}/inbound/customer"
CUSTOMER = {
    "customer_code": "PH-1001",
    "name": "Jinjiang Kangning Pharmacy",
    "kind": "pharmacy",
    "contact_name": "Liu Yang",
}


def push(
    api: Api, data: Any, *, at: int | None = None, secret: str = SECRET, blank: str = ""
) -> Any:
    body = json.dumps(data).encode()
    timestamp = str(int(api.clock.now().timestamp()) if at is None else at)
    signed = {TIMESTAMP: timestamp, SIGNATURE: sign(secret, timestamp, body)}
    sent = {"Content-Type": "application/json", **signed}
    sent.pop(blank, None)  # a header left out
    return api.client.post(URL, content=body, headers=sent)


@pytest.fixture
def api(make_api: MakeApi, monkeypatch: pytest.MonkeyPatch) -> Api:
    monkeypatch.setenv("SOPFLOW_INBOUND_SECRET_CUSTOMER", SECRET)
    return make_api()


def test_a_signed_contact_change_creates_then_merges_and_is_audited(api: Api) -> None:
    created = push(api, CUSTOMER)
    assert created.status_code == 201, created.text
    assert created.json()["outcome"] == "created"
    record_id = created.json()["id"]
    merged = push(api, {"customer_code": "PH-1001", "contact_name": "Sun Qing"})
    assert merged.status_code == 200, merged.text
    assert merged.json() == {"outcome": "merged", "id": record_id}
    record = api.call("GET", f"{V1}/records/customer/{record_id}", "admin").json()
    assert (record["data"]["contact_name"], record["data"]["name"]) == (
        "Sun Qing",
        "Jinjiang Kangning Pharmacy",
    )
    audit = api.call("GET", f"{V1}/records/customer/{record_id}/audit", "admin")
    assert audit.status_code == 200, audit.text
    assert [e["kind"] for e in audit.json()].count("ingested") == 1


def test_a_wrong_or_missing_signature_is_refused_401_and_changes_nothing(api: Api) -> None:
    wrong = push(api, CUSTOMER, secret="guessed")
    assert wrong.status_code == 401
    assert "signature does not match" in wrong.json()["detail"]
    missing = push(api, CUSTOMER, blank=SIGNATURE)
    assert missing.status_code == 401
    assert "not signed" in missing.json()["detail"]
    no_time = push(api, CUSTOMER, blank=TIMESTAMP)
    assert no_time.status_code == 401
    tampered_body = json.dumps({**CUSTOMER, "contact_name": "Mallory"}).encode()
    timestamp = str(int(api.clock.now().timestamp()))
    forged = api.client.post(
        URL,
        content=tampered_body,
        headers={
            "Content-Type": "application/json",
            TIMESTAMP: timestamp,
            SIGNATURE: sign(SECRET, timestamp, json.dumps(CUSTOMER).encode()),
        },
    )
    assert forged.status_code == 401  # the original body's signature on another body
    odd = api.client.post(
        URL,
        content=json.dumps(CUSTOMER).encode(),
        headers={
            "Content-Type": "application/json",
            TIMESTAMP: timestamp,
            SIGNATURE: "sha256=\u00e9".encode("latin-1"),  # a byte past ASCII
        },
    )
    assert odd.status_code == 401, odd.text  # refused, not a 500
    assert "not 'sha256=' and hex digits" in odd.json()["detail"]
    listed = api.call("GET", f"{V1}/records/customer", "admin").json()
    assert listed["items"] == []


def test_a_replayed_request_outside_five_minutes_is_refused(api: Api) -> None:
    now = int(api.clock.now().timestamp())
    assert push(api, CUSTOMER, at=now - 300).status_code == 201  # exactly 5 minutes: taken
    stale = push(api, CUSTOMER, at=now - 301)
    assert stale.status_code == 401
    assert "more than 300 seconds" in stale.json()["detail"]
    assert push(api, CUSTOMER, at=now + 301).status_code == 401  # from the future too


def test_an_entity_without_a_secret_takes_no_webhook(api: Api) -> None:
    answer = api.client.post(f"{V1}/inbound/ticket", json={"severity": 1})
    assert answer.status_code == 404
    assert "SOPFLOW_INBOUND_SECRET_TICKET" in answer.json()["detail"]
