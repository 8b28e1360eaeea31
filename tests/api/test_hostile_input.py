"""Hostile input is answered 4xx in the one error shape, never 500, on both databases:
a second create of an existing key, JSON nested 1,000 deep, a NUL in an upload's file
name, lists past their cap, JSON bodies past theirs, a body of 100,000 unknown fields.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from runtime.data import MAX_ITEMS, MAX_PROBLEMS
from tests.api.conftest import Api
from tests.runtime.helpers import JPEG

V1 = "/api/v1"
MakeApi = Callable[..., Api]
# An OTC lead in Jinjiang is routed to li.wei, who acts on it: a rep sees the leads they hold.
LEAD = {
    "source": "meituan",
    "external_id": "A-1",
    "pharmacy_name": "Kang",
    "district": "jinjiang",
    "specialty": "otc",
}


def _leads(api: Api) -> int:
    listed = api.call("GET", f"{V1}/records/lead", "admin")
    assert listed.status_code == 200
    return int(listed.json()["total"])


def test_a_second_create_with_an_existing_key_is_409_naming_the_record(
    make_api: MakeApi,
) -> None:
    api = make_api()
    first = api.call("POST", f"{V1}/records/lead", "li.wei", json=LEAD)
    assert first.status_code == 201, first.text
    # The key (source, external_id) after normalising: the same record.
    again = api.call("POST", f"{V1}/records/lead", "li.wei", json={**LEAD, "pharmacy_name": "K2"})
    assert again.status_code == 409, again.text
    body = again.json()
    existing = first.json()["id"]
    assert body["existing"] == existing
    assert body["detail"] == (
        f"lead record '{existing}' already has the key source=meituan, external_id=A-1; "
        "two records never share a key (change the other record, or ingest to merge)"
    )
    assert [(e["code"], e["detail"]) for e in body["extra"]] == [
        ("duplicate-key", {"record": existing, "key": {"source": "meituan", "external_id": "A-1"}})
    ]
    assert _leads(api) == 1
    # Another key is another record; ingest still merges into the existing one.
    other = api.call("POST", f"{V1}/records/lead", "li.wei", json={**LEAD, "external_id": "A-2"})
    assert other.status_code == 201
    merged = api.call("POST", f"{V1}/records/lead/ingest", "li.wei", json={**LEAD, "district": "x"})
    assert merged.status_code == 200 and merged.json()["record"]["id"] == existing


@pytest.mark.parametrize("nested", ["[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000])
def test_json_nested_1000_deep_is_400_without_a_traceback(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture, nested: str
) -> None:
    api = make_api()
    record = api.call("POST", f"{V1}/records/lead", "li.wei", json=LEAD).json()["id"]
    headers = {**api.headers("li.wei"), "content-type": "application/json"}
    caplog.set_level(logging.DEBUG)
    for method, path in [
        ("POST", f"{V1}/records/lead"),
        ("POST", f"{V1}/records/lead/ingest"),
        ("PATCH", f"{V1}/records/lead/{record}"),
    ]:
        answer = api.client.request(method, path, content=nested, headers=headers)
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json() == {
            "status_code": 400,
            "detail": "the JSON body is nested too deeply",
            "extra": [
                {
                    "key": "",
                    "message": "the JSON is nested too deeply to decode "
                    "(about 1,000 levels or more)",
                    "source": "body",
                }
            ],
        }
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= 40] == []
    assert _leads(api) == 1


def test_a_nul_in_an_upload_file_name_is_400(make_api: MakeApi) -> None:
    api = make_api()
    answer = api.call(
        "POST",
        f"{V1}/records/opportunity",
        "li.wei",
        json={"pharmacy_name": "Kang Pharmacy", "region": "sichuan"},
    )
    record = answer.json()["id"]
    path = f"{V1}/records/opportunity/{record}/evidence"
    # Written by hand: httpx would escape the NUL as %00, a hostile client need not.
    boundary = "b0undary"
    content = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nshelf_photo\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a\x00.jpg"'
            f"\r\nContent-Type: image/jpeg\r\n\r\n"
        ).encode()
        + JPEG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {
        **api.headers("li.wei"),
        "content-type": f"multipart/form-data; boundary={boundary}",
    }
    bad = api.client.post(path, content=content, headers=headers)
    assert bad.status_code == 400, bad.text
    assert [(e["key"], e["message"]) for e in bad.json()["extra"]] == [
        ("file", "the file name may not contain a NUL character (\\u0000)")
    ]
    assert api.call("GET", path, "li.wei").json() == []
    good = api.call(
        "POST",
        path,
        "li.wei",
        data={"kind": "shelf_photo"},
        files={"file": ("a.jpg", JPEG, "image/jpeg")},
    )
    assert good.status_code == 201, good.text


def test_a_list_past_the_default_cap_is_refused(make_api: MakeApi) -> None:
    api = make_api()
    full = {**LEAD, "touchpoints": ["web_form"] * MAX_ITEMS}
    assert api.call("POST", f"{V1}/records/lead", "li.wei", json=full).status_code == 201
    over = {**LEAD, "external_id": "A-2", "touchpoints": ["web_form"] * (MAX_ITEMS + 1)}
    answer = api.call("POST", f"{V1}/records/lead", "li.wei", json=over)
    assert answer.status_code == 422
    assert [(e["key"], e["message"]) for e in answer.json()["extra"]] == [
        (
            "touchpoints",
            f"touchpoints: List should have at most {MAX_ITEMS} items after validation, "
            f"not {MAX_ITEMS + 1}",
        )
    ]
    assert _leads(api) == 1


def test_a_json_body_past_its_cap_is_413_before_it_is_decoded(make_api: MakeApi) -> None:
    api = make_api(max_json_bytes=2000)
    small = api.call("POST", f"{V1}/records/lead", "li.wei", json=LEAD)
    assert small.status_code == 201
    big = {**LEAD, "external_id": "A-2", "district": "x" * 2000}
    answer = api.call("POST", f"{V1}/records/lead", "li.wei", json=big)
    assert answer.status_code == 413
    body = answer.json()
    assert body["detail"] == "the JSON body is too large"
    assert body["extra"][0]["message"].startswith("a JSON body may hold at most 2000 bytes")
    assert _leads(api) == 1


def test_a_body_of_many_unknown_fields_lists_a_hundred_problems(make_api: MakeApi) -> None:
    api = make_api()
    body = {**LEAD, **{f"k{i}": 1 for i in range(100_000)}}
    answer = api.call("POST", f"{V1}/records/lead", "li.wei", json=body)
    assert answer.status_code == 422
    extra = answer.json()["extra"]
    assert len(extra) == MAX_PROBLEMS + 1
    assert extra[0]["message"] == "k0: is not a field of this form"
    assert extra[-1]["message"] == f"and {100_000 - MAX_PROBLEMS} more problems, not listed"
    assert _leads(api) == 0
