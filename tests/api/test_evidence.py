"""Evidence over HTTP: multipart upload with a size limit, media type read from the
content, bytes stored once by sha256, listing and download.

Every test runs on SQLite and on PostgreSQL (the `make_api` fixture).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.api.conftest import Api
from tests.runtime.helpers import JPEG, PDF

V1 = "/api/v1"
MakeApi = Callable[..., Api]


def opportunity(api: Api) -> str:
    answer = api.call(
        "POST",
        f"{V1}/records/opportunity",
        "li.wei",
        json={"pharmacy_name": "Kang Pharmacy", "region": "sichuan"},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def upload(api: Api, record_id: str, kind: str, name: str, content: bytes, media: str) -> Any:
    return api.call(
        "POST",
        f"{V1}/records/opportunity/{record_id}/evidence",
        "li.wei",
        data={"kind": kind},
        files={"file": (name, content, media)},
    )


def test_upload_list_and_download_stored_once(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api()
    record = opportunity(api)
    first = upload(api, record, "shelf_photo", "a.jpg", JPEG, "image/jpeg")
    assert first.status_code == 201, first.text
    row = first.json()
    assert row["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert (row["media_type"], row["size"], row["uploader"]) == ("image/jpeg", len(JPEG), "li.wei")
    assert (row["kind"], row["stage"], row["file_name"]) == ("shelf_photo", "appointment", "a.jpg")
    api.clock.advance(seconds=1)
    # Declared as a PNG named .bin: the content says JPEG, and that is what is kept.
    second = upload(api, record, "shelf_photo", "b.bin", JPEG, "image/png")
    assert second.status_code == 201 and second.json()["media_type"] == "image/jpeg"
    assert second.json()["sha256"] == row["sha256"] and second.json()["id"] != row["id"]
    stored = [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in stored] == [JPEG]
    listed = api.call("GET", f"{V1}/records/opportunity/{record}/evidence", "li.wei").json()
    assert [e["id"] for e in listed] == [row["id"], second.json()["id"]]
    content = api.call(
        "GET", f"{V1}/records/opportunity/{record}/evidence/{row['id']}/content", "li.wei"
    )
    assert content.status_code == 200 and content.content == JPEG
    assert content.headers["content-type"] == "image/jpeg"
    assert "a.jpg" in content.headers["content-disposition"]
    missing = api.call("GET", f"{V1}/records/opportunity/{record}/evidence/nope/content", "li.wei")
    assert missing.status_code == 404
    history = api.call("GET", f"{V1}/records/opportunity/{record}/audit", "li.wei").json()
    assert [e["kind"] for e in history].count("evidence_attached") == 2


def test_the_content_decides_the_media_type(make_api: MakeApi) -> None:
    api = make_api()
    record = opportunity(api)
    pdf = upload(api, record, "shelf_photo", "photo.jpg", PDF, "image/jpeg")
    assert pdf.status_code == 422
    assert pdf.json()["extra"][0]["detail"] == {"got": "application/pdf"}
    fake = upload(api, record, "shelf_photo", "photo.jpg", b"not a picture", "image/jpeg")
    assert fake.status_code == 422
    unknown = upload(api, record, "selfie", "me.jpg", JPEG, "image/jpeg")
    assert unknown.status_code == 422 and unknown.json()["extra"][0]["key"] == "unknown-evidence"
    empty = upload(api, record, "shelf_photo", "a.jpg", b"", "image/jpeg")
    assert empty.status_code == 422
    assert api.call("GET", f"{V1}/records/opportunity/{record}/evidence", "li.wei").json() == []


def test_size_limit_and_bad_requests(make_api: MakeApi) -> None:
    api = make_api(max_upload_bytes=64)
    record = opportunity(api)
    big = upload(api, record, "shelf_photo", "big.jpg", JPEG + b"x" * 100, "image/jpeg")
    assert big.status_code == 413
    body = big.json()
    assert body["status_code"] == 413 and "64 bytes" in body["detail"]
    assert body["extra"] == [{"key": "file", "message": "at most 64 bytes", "source": "body"}]
    assert upload(api, record, "shelf_photo", "ok.jpg", JPEG, "image/jpeg").status_code == 201
    no_file = api.call(
        "POST",
        f"{V1}/records/opportunity/{record}/evidence",
        "li.wei",
        data={"kind": "shelf_photo"},
        files={"other": ("x", b"x", "text/plain")},
    )
    assert no_file.status_code == 400
    wrong_entity = api.call(
        "POST",
        f"{V1}/records/ticket/{record}/evidence",
        "li.wei",
        data={"kind": "shelf_photo"},
        files={"file": ("a.jpg", JPEG, "image/jpeg")},
    )
    assert wrong_entity.status_code == 404
