"""Evidence over HTTP: multipart upload with a size limit, media type read from the
content, bytes stored once by sha256, listing and download.

Every test runs on SQLite and on PostgreSQL (the `make_api` fixture).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.api.conftest import DEFINITIONS, Api
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


# -- hostile uploads ----------------------------------------------------------------------
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"\xef\xbb\xbf \r\n<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 16
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 16


def _nothing_stored(api: Api, record: str, tmp_path: Path) -> None:
    """No evidence row, no file in the evidence folder, the record unchanged."""
    assert api.call("GET", f"{V1}/records/opportunity/{record}/evidence", "li.wei").json() == []
    assert [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()] == []
    after = api.call("GET", f"{V1}/records/opportunity/{record}", "li.wei").json()
    assert (after["row_version"], after["data"]["shelf_photos"]) == (1, None)
    audit = api.call("GET", f"{V1}/records/opportunity/{record}/audit", "li.wei").json()
    assert "evidence_attached" not in [e["kind"] for e in audit]


def test_active_content_is_never_image_evidence(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api()
    record = opportunity(api)
    svg = upload(api, record, "shelf_photos", "shelf.svg", SVG, "image/svg+xml")
    assert svg.status_code == 422
    assert svg.json() == {
        "status_code": 422,
        "detail": "the file is an SVG image, which can hold scripts; shelf_photos takes "
        "image/*, and never active content",
        "extra": [
            {
                "key": "active-content",
                "message": "accepted: image/*",
                "source": "rules",
                "code": "active-content",
                "detail": {"got": "image/svg+xml", "declared": "image/svg+xml"},
            }
        ],
    }
    # HTML that calls itself a HEIC photo (a byte-order mark and blank lines first).
    html = upload(api, record, "shelf_photos", "shelf.heic", HTML, "image/heic")
    assert html.status_code == 422
    assert html.json()["detail"] == (
        "the file is an HTML page; shelf_photos takes image/*, and never active content"
    )
    assert html.json()["extra"][0]["detail"] == {"got": "text/html", "declared": "image/heic"}
    # The same HTML offered where a stage asks for PDFs or images.
    listed = upload(api, record, "inventory_list", "list.pdf", HTML, "application/pdf")
    assert listed.status_code == 422 and listed.json()["extra"][0]["code"] == "active-content"
    _nothing_stored(api, record, tmp_path)


def test_bytes_the_sniffer_does_not_know_are_refused(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api()
    record = opportunity(api)
    kept = {  # declared -> stored: only a type that claims no image or markup is kept
        "image/heic": "application/octet-stream",
        "image/x-anything": "application/octet-stream",
        "text/html": "application/octet-stream",
        "application/pdf": "application/octet-stream",
        "text/plain": "text/plain",
    }
    for declared, got in kept.items():
        answer = upload(api, record, "shelf_photos", "p.heic", b"\x00\x01 no magic", declared)
        assert answer.status_code == 422, (declared, answer.text)
        assert answer.json()["extra"] == [
            {
                "key": "unrecognised-content",
                "message": "accepted: image/*",
                "source": "rules",
                "code": "unrecognised-content",
                "detail": {"got": got, "declared": declared},
            }
        ]
    assert answer.json()["detail"] == (
        "the file's content is not of a type the server recognises, whatever its name or "
        "declared type (text/plain); shelf_photos takes image/*"
    )
    _nothing_stored(api, record, tmp_path)


def test_photos_the_sniffer_confirms_are_kept_as_their_type(make_api: MakeApi) -> None:
    api = make_api()
    record = opportunity(api)
    heic = upload(api, record, "shelf_photos", "IMG_1.HEIC", HEIC, "application/octet-stream")
    assert heic.status_code == 201, heic.text
    assert heic.json()["media_type"] == "image/heic"
    api.clock.advance(seconds=1)
    webp = upload(api, record, "shelf_photos", "s.webp", WEBP, "image/png")
    assert webp.status_code == 201 and webp.json()["media_type"] == "image/webp"


def _with_untyped_kind(tmp_path: Path) -> Path:
    """The default bundle with an evidence field that lists no media types."""
    bundle = tmp_path / "untyped"
    shutil.copytree(DEFINITIONS, bundle)
    form = bundle / "forms" / "opportunity.yaml"
    text = form.read_text()
    typed = '  shelf_photos: {type: evidence, accept: ["image/*"]}\n'
    assert typed in text
    form.write_text(text.replace(typed, typed + "  attachments: {type: evidence}\n"))
    return bundle


def test_downloads_are_attachments_the_browser_does_not_sniff(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api = make_api(_with_untyped_kind(tmp_path))
    record = opportunity(api)
    # A kind that lists no types takes any file, markup too, kept as what its bytes are.
    page = upload(api, record, "attachments", '报价 "final".html', HTML, "image/png")
    assert page.status_code == 201, page.text
    assert page.json()["media_type"] == "text/html"
    mail = b"From: a@b.example\r\nSubject: ok\r\n"
    api.clock.advance(seconds=1)
    eml = upload(api, record, "attachments", "ok.eml", mail, "message/rfc822")
    assert eml.status_code == 201 and eml.json()["media_type"] == "message/rfc822"
    path = f"{V1}/records/opportunity/{record}/evidence/{page.json()['id']}/content"
    got = api.call("GET", path, "li.wei")
    assert got.status_code == 200 and got.content == HTML
    assert got.headers["content-type"].startswith("text/html")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert got.headers["content-disposition"] == (
        'attachment; filename="__ _final_.html"; '
        "filename*=UTF-8''%E6%8A%A5%E4%BB%B7%20%22final%22.html"
    )
    photo = upload(api, record, "shelf_photos", "Café.jpg", JPEG, "image/jpeg")
    path = f"{V1}/records/opportunity/{record}/evidence/{photo.json()['id']}/content"
    got = api.call("GET", path, "li.wei")
    assert (got.headers["content-type"], got.headers["x-content-type-options"]) == (
        "image/jpeg",
        "nosniff",
    )
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"Cafe.jpg\"; filename*=UTF-8''Caf%C3%A9.jpg"
    )
