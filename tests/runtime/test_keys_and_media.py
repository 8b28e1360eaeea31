"""Natural keys stay one record's under concurrent writers; what an upload is comes
from its bytes (magic numbers), never from its name or declared type."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from api.downloads import ascii_name, download_headers
from runtime.core import Runtime
from runtime.errors import Taken
from runtime.evidence import Media, markup, read_media, sniff
from runtime.store import T_RECORD, Store
from tests.runtime.helpers import count, make_runtime

LEAD = {"source": "jd_health", "external_id": "A-17", "pharmacy_name": "Kang"}


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Runtime:
    return make_runtime(store, tmp_path)


def _together(work: list[threading.Thread]) -> None:
    for thread in work:
        thread.start()
    for thread in work:
        thread.join()


def test_concurrent_ingests_of_one_new_key_make_one_record(rt: Runtime, store: Store) -> None:
    barrier = threading.Barrier(4)
    created: list[bool] = []

    def ingest(orders: int) -> None:
        barrier.wait()
        created.append(rt.ingest("lead", {**LEAD, "orders_90d": orders})[1])

    _together([threading.Thread(target=ingest, args=(n,)) for n in (1, 2, 3, 4)])
    assert sorted(created) == [False, False, False, True]
    assert count(store, T_RECORD) == 1


def test_concurrent_changes_onto_one_key_leave_it_to_one_record(rt: Runtime) -> None:
    ids = [rt.create("lead", {**LEAD, "external_id": f"B-{n}"}).id for n in range(3)]
    barrier = threading.Barrier(3)
    outcomes: dict[str, str] = {}

    def move(record_id: str) -> None:
        barrier.wait()
        try:
            rt.update(record_id, {"external_id": "A-17"})
            outcomes[record_id] = "ok"
        except Taken as exc:
            outcomes[record_id] = str(exc.problems[0].detail["record"])

    _together([threading.Thread(target=move, args=(i,)) for i in ids])
    winner = next(i for i, o in outcomes.items() if o == "ok")
    assert sorted(outcomes.values()) == sorted(["ok", winner, winner])
    keys = sorted(str(rt.get(i).dedup_key) for i in ids)
    assert keys.count("jd_health\x1fA-17") == 1 and len(set(keys)) == 3


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"GIF87a", "image/gif"),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
        (b"RIFF\x00\x00\x00\x00WEBP", "image/webp"),
        (b"RIFF\x00\x00\x00\x00WAVE", None),
        (b"BM" + bytes(26), "image/bmp"),
        (b"BM" + bytes(3), None),  # too short for a bitmap header
        (b"BMxxxxyyyy" + bytes(20), None),  # its reserved bytes are not zero
        (b"\x00\x00\x00\x18ftypheix", "image/heic"),
        (b"\x00\x00\x00\x18ftypmif1", "image/heif"),
        (b"\x00\x00\x00\x18ftypavif", "image/avif"),
        (b"\x00\x00\x00\x18ftypisom", None),  # an MP4 video
        (b"%PDF-1.7", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"plain words", None),
    ],
)
def test_the_sniffer_knows_these_magic_numbers(content: bytes, found: str | None) -> None:
    assert sniff(content) == found


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"<svg/onload=alert(1)>", "image/svg+xml"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
        (b'<?xml version="1.0"?><note/>', "application/xml"),
        (b"\n\t <!doctype html><p>hi", "text/html"),
        (b"\xef\xbb\xbf<html>", "text/html"),
        ("<svg>".encode("utf-16-le").join([b"\xff\xfe", b""]), "image/svg+xml"),
        ("<html>".encode("utf-16-be").join([b"\xfe\xff", b""]), "text/html"),
        (b"x" * 1024 + b"<svg>", None),
        (b"hello <script>alert(1)</script>", None),  # no browser reads this as HTML
        (b"", None),
    ],
)
def test_markup_is_found_past_marks_and_white_space(content: bytes, found: str | None) -> None:
    assert markup(content) == found


def test_the_bytes_decide_what_an_upload_is() -> None:
    jpeg = b"\xff\xd8\xff\xe0photo"
    assert read_media(jpeg, "image/png") == Media("image/jpeg", True, "image/png")
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert read_media(b"PK\x03\x04x", docx) == Media(docx, True, docx)
    assert read_media(b"PK\x03\x04x", "image/png") == Media("application/zip", True, "image/png")
    svg = read_media(b"<svg/>", "image/png")
    assert svg == Media("image/svg+xml", False, "image/png", "an SVG image, which can hold scripts")
    assert read_media(b"words", "Text/Plain; charset=UTF-8") == Media(
        "text/plain", False, "text/plain"
    )
    for claimed in ("image/heic", "application/pdf", "text/html", "application/xhtml+xml", ""):
        assert read_media(b"words", claimed) == Media("application/octet-stream", False, claimed)
    assert read_media(b"words", "text/javascript").type == "application/octet-stream"


def test_download_names_in_both_rfc_6266_forms() -> None:
    assert ascii_name("Café.jpg") == "Cafe.jpg"
    assert ascii_name('a"b\\c\td.pdf') == "a_b_c_d.pdf"
    assert ascii_name("照片") == "__"
    assert ascii_name("  ") == "file"
    headers = download_headers("a/b\r\nX-Evil: 1.txt")
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"a/bX-Evil: 1.txt\"; filename*=UTF-8''a%2FbX-Evil%3A%201.txt"
    )
    assert download_headers("x" * 300)["Content-Disposition"].count("x") == 2 * 200
    assert download_headers("")["X-Content-Type-Options"] == "nosniff"
    assert download_headers("")["Content-Disposition"] == (
        "attachment; filename=\"file\"; filename*=UTF-8''file"
    )
