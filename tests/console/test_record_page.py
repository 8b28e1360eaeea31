"""The record page: what a rep sees of their record, evidence upload, moves and refusals.

Every test runs on SQLite and PostgreSQL (the `make_api` fixture under `console`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from api.console.record import number, record_url
from tests.api.conftest import Api
from tests.console.conftest import csrf_of
from tests.runtime.helpers import JPEG, PDF

V1 = "/api/v1"
Console = Callable[..., tuple[Api, TestClient[Any]]]


def opportunity(api: Api, user: str = "li.wei", **data: Any) -> str:
    body = {"pharmacy_name": "Kang Pharmacy", "region": "sichuan", "pharmacy_tier": "chain"}
    answer = api.call("POST", f"{V1}/records/opportunity", user, json={**body, **data})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def move(api: Api, record: str, to: str) -> None:
    answer = api.call(
        "POST", f"{V1}/records/opportunity/{record}/transitions", "li.wei", json={"to": to}
    )
    assert answer.status_code == 200, answer.text


def attach(api: Api, record: str, kind: str, content: bytes, name: str) -> None:
    answer = api.call(
        "POST",
        f"{V1}/records/opportunity/{record}/evidence",
        "li.wei",
        data={"kind": kind},
        files={"file": (name, content, "application/octet-stream")},
    )
    assert answer.status_code == 201, answer.text


def walk(api: Api, record: str, until: str) -> None:
    """Move a new opportunity on to `until`, attaching the evidence each stage asks for."""
    move(api, record, "inventory_count")
    for i in range(3):
        attach(api, record, "shelf_photo", JPEG + bytes([i]), f"shelf{i}.jpg")
    attach(api, record, "inventory_list", PDF, "list.pdf")
    move(api, record, "competitor_analysis")
    attach(api, record, "price_comparison", PDF, "prices.pdf")
    for stage in ("proposal_demo", "quote"):
        move(api, record, stage)
        if stage == until:
            return


def text_of(page: str) -> str:
    """The page's text as a person reads it: tags out, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def upload(client: TestClient[Any], url: str, kind: str, content: bytes, name: str) -> Any:
    token = csrf_of(client.get(url).text)
    media = "application/pdf" if name.endswith(".pdf") else "image/jpeg"
    return client.post(
        f"{url}/evidence",
        data={"_csrf_token": token, "kind": kind},
        files={"file": (name, content, media)},
        follow_redirects=False,
    )


def test_a_rep_sees_path_checklist_guidance_and_fields(console: Console) -> None:
    api, client = console("li.wei")
    record = opportunity(api, customer_code="C-17")
    move(api, record, "inventory_count")
    answer = client.get(f"/records/opportunity/{record}")
    assert answer.status_code == 200, answer.text
    text = text_of(answer.text)
    assert "<h1>Kang Pharmacy</h1>" in answer.text
    assert "Status open" in text and "Stage inventory_count (Pharmacy visit SOP)" in text
    assert "Owner Li Wei" in text
    # the path, in order, each stage saying its state in words
    path = re.search(r'<ol class="path">(.*?)</ol>', answer.text, re.S)
    assert path is not None
    steps = text_of(path.group(1))
    assert steps.startswith(
        "appointment (done) inventory_count (current) competitor_analysis (next) "
        "proposal_demo (ahead)"
    )
    assert "won (exit) lost (exit)" in steps
    # the checklist: what is required and what is attached
    assert "Shelf photos 0 3 missing 3 image/jpeg, image/png" in text
    assert "Inventory list screenshot 0 1 missing 1" in text
    assert "Count the top-20 SKUs; photograph every shelf you count." in text
    # the upload form: the phone's camera and a plain file input, each labelled
    assert (
        'capture="environment"' in answer.text and 'accept="image/*,application/pdf"' in answer.text
    )
    assert '<label for="camera">' in answer.text and '<label for="file">' in answer.text
    assert '<option value="shelf_photo">Shelf photos</option>' in answer.text
    # the moves open now
    assert "Move to competitor_analysis" in text and "Move to lost" in text
    # fields as the layout groups them
    assert "Basics" in text and "Customer code C-17" in text and "Quote: Pricing" in text
    # the timeline, newest first, in the bundle's time zone
    timeline = re.search(r'<ol class="timeline">(.*?)</ol>', answer.text, re.S)
    assert timeline is not None
    items = [text_of(li) for li in re.findall(r"<li>(.*?)</li>", timeline.group(1), re.S)]
    assert items[0].endswith("Li Wei: Moved from appointment to inventory_count")
    assert items[-1].startswith("2026-01-05 17:00 +0800") and "Created" in items[-1]


def test_upload_evidence_then_advance(console: Console) -> None:
    api, client = console("li.wei")
    record = opportunity(api)
    move(api, record, "inventory_count")
    url = f"/records/opportunity/{record}"
    for i in range(3):
        sent = upload(client, url, "shelf_photo", JPEG + bytes([i]), f"shelf{i}.jpg")
        assert sent.status_code == 303, sent.text
        assert sent.headers["location"] == f"{url}?done=uploaded"
    shown = client.get(f"{url}?done=uploaded")
    assert "The file was attached." in shown.text
    assert "Shelf photos 3 3 complete" in text_of(shown.text)
    assert "shelf2.jpg" in shown.text
    listed = api.call("GET", f"{V1}/records/opportunity/{record}/evidence", "li.wei").json()
    assert sorted(e["file_name"] for e in listed) == ["shelf0.jpg", "shelf1.jpg", "shelf2.jpg"]
    pdf = upload(client, url, "inventory_list", PDF, "stock.pdf")
    assert pdf.status_code == 303
    token = csrf_of(client.get(url).text)
    moved = client.post(
        f"{url}/move",
        data={"_csrf_token": token, "to": "competitor_analysis"},
        follow_redirects=False,
    )
    assert moved.status_code == 303, moved.text
    page = client.get(moved.headers["location"])
    assert "The record moved." in page.text
    assert "Stage competitor_analysis" in text_of(page.text)
    record_json = api.call("GET", f"{V1}/records/opportunity/{record}", "li.wei").json()
    assert record_json["stage"] == "competitor_analysis"


def test_a_refused_upload_shows_why_and_stores_nothing(console: Console, tmp_path: Path) -> None:
    api, client = console("li.wei")
    record = opportunity(api)
    move(api, record, "inventory_count")
    url = f"/records/opportunity/{record}"
    fake = upload(client, url, "shelf_photo", b"not a picture at all", "photo.jpg")
    assert fake.status_code == 422
    assert "The file was not attached" in fake.text
    assert "not of a type the server recognises" in html.unescape(fake.text)
    pdf = upload(client, url, "shelf_photo", PDF, "photo.jpg")
    assert pdf.status_code == 422 and "application/pdf" in pdf.text
    none = client.post(
        f"{url}/evidence",
        data={"_csrf_token": csrf_of(client.get(url).text), "kind": "shelf_photo"},
        files={"file": ("", b"", "application/octet-stream")},
        follow_redirects=False,
    )
    assert none.status_code == 422 and "choose a file or take a photo" in none.text
    assert api.call("GET", f"{V1}/records/opportunity/{record}/evidence", "li.wei").json() == []
    assert not [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()]


def test_an_upload_past_the_limit_is_refused(console: Console) -> None:
    api, client = console("li.wei", max_upload_bytes=64)
    record = opportunity(api)
    move(api, record, "inventory_count")
    url = f"/records/opportunity/{record}"
    big = upload(client, url, "shelf_photo", JPEG + b"x" * 100, "big.jpg")
    assert big.status_code == 413 and "upload limit of 64 bytes" in big.text
    assert api.call("GET", f"{V1}/records/opportunity/{record}/evidence", "li.wei").json() == []


def test_a_refused_move_lists_every_missing_item(console: Console) -> None:
    api, client = console("li.wei")
    record = opportunity(api)
    move(api, record, "inventory_count")
    url = f"/records/opportunity/{record}"
    token = csrf_of(client.get(url).text)
    refused = client.post(f"{url}/move", data={"_csrf_token": token, "to": "competitor_analysis"})
    assert refused.status_code == 422
    assert "text/html" in refused.headers["content-type"]
    text = text_of(refused.text)
    assert "The move was refused" in text
    items = re.findall(
        r"<li>(.*?)</li>", refused.text.split('class="problems"')[1].split("</ul>")[0]
    )
    assert [html.unescape(i) for i in items] == [
        "Shelf photos: 0 of 3 attached (image/jpeg, image/png)",
        "Inventory list screenshot: 0 of 1 attached (image/*, application/pdf)",
    ]
    # the page is still the record page, and nothing moved
    assert "Stage inventory_count" in text
    assert api.call("GET", f"{V1}/records/opportunity/{record}", "li.wei").json()["stage"] == (
        "inventory_count"
    )


def test_the_quote_asks_for_its_fields_and_the_guard_refuses(console: Console) -> None:
    api, client = console("li.wei")
    record = opportunity(api)
    walk(api, record, "quote")
    url = f"/records/opportunity/{record}"
    page = client.get(url)
    text = text_of(page.text)
    assert "Fields this stage needs filled: quote_price missing , product_class missing" in text
    refused = client.post(
        f"{url}/move", data={"_csrf_token": csrf_of(page.text), "to": "payment_tracking"}
    )
    assert refused.status_code == 422
    listed = text_of(refused.text.split('class="problems"')[1].split("</ul>")[0])
    assert "quote_price" in listed and "product_class" in listed
    # fill them through the page's form: a bad number is refused per field
    bad = client.post(
        f"{url}/fields",
        data={"_csrf_token": csrf_of(page.text), "f.quote_price": "cheap"},
    )
    assert bad.status_code == 422 and "quote_price: &#39;cheap&#39; is not a valid decimal" in (
        bad.text
    )
    # the price cap's guard refuses a save above the cap, with its message
    over = client.post(
        f"{url}/fields",
        data={
            "_csrf_token": csrf_of(page.text),
            "f.quote_price": "60",
            "f.product_class": "antibiotics",
        },
    )
    assert over.status_code == 422
    assert "The fields were not saved" in over.text
    assert "Quote 60.0 is above the sichuan cap for antibiotics." in html.unescape(over.text)
    assert 'value="60"' in over.text  # what the person typed is kept
    saved = client.post(
        f"{url}/fields",
        data={
            "_csrf_token": csrf_of(page.text),
            "f.quote_price": "45.5",
            "f.product_class": "antibiotics",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    data = api.call("GET", f"{V1}/records/opportunity/{record}", "li.wei").json()["data"]
    assert (data["quote_price"], data["product_class"]) == (45.5, "antibiotics")
    shown = client.get(saved.headers["location"])
    assert "The fields were saved." in shown.text
    moved = client.post(
        f"{url}/move",
        data={"_csrf_token": csrf_of(shown.text), "to": "payment_tracking"},
        follow_redirects=False,
    )
    assert moved.status_code == 303, moved.text
    assert "Stage payment_tracking" in text_of(client.get(moved.headers["location"]).text)


def test_the_score_and_owner_match_the_json_explain(console: Console) -> None:
    api, client = console("li.wei")
    created = api.call(
        "POST",
        f"{V1}/records/lead",
        "admin",
        json={
            "source": "meituan",
            "external_id": "x1",
            "pharmacy_name": "Kang",
            "district": "wuhou",
            "specialty": "otc",
            "orders_90d": 7,
            "turnover_rate": 2.5,
            "policy_change": True,
            "daily_visitors": 180,
        },
    )
    assert created.status_code == 201, created.text
    lead = created.json()
    assert lead["owner"] == "li.wei"
    page = client.get(f"/records/lead/{lead['id']}")
    assert page.status_code == 200, page.text
    explain = api.call("GET", f"{V1}/records/lead/{lead['id']}/explain", "li.wei").json()
    score = next(d for d in explain if d["rule"] == "lead_quality")
    text = text_of(page.text)
    assert f"Lead quality score: {number(score['detail']['score'])}" in text
    assert number(score["detail"]["score"]) != "0"
    for feature in score["detail"]["features"]:
        row = (
            f"{feature['title']} {number(feature['value'])} {number(feature['weight'])} "
            f"{number(feature['contribution'])}"
        )
        assert row in text, row
    routing = next(d for d in explain if d["kind"] == "routing")
    assert "Chosen by the routing rule lead_routing on" in text
    assert routing["detail"]["reason"] in text
    assert "Li Wei" in text and "chosen" in text
    # a lead has no workflow: no path, no moves
    assert '<ol class="path">' not in page.text and "Move to" not in page.text


def test_records_one_may_not_see_are_404_pages(console: Console) -> None:
    # The default bundle's opportunities: rows {rep: assigned, manager: team}.
    api, client = console("li.wei")
    theirs = opportunity(api, user="chen.jie")
    mine = opportunity(api)
    assert client.get(f"/records/opportunity/{mine}").status_code == 200
    hidden = client.get(f"/records/opportunity/{theirs}")
    api_answer = api.call("GET", f"{V1}/records/opportunity/{theirs}", "li.wei")
    assert hidden.status_code == api_answer.status_code == 404
    assert "text/html" in hidden.headers["content-type"]
    assert "does not exist" in hidden.text and "Kang" not in hidden.text
    # commands on it are 404 pages too, and change nothing
    token = csrf_of(client.get(f"/records/opportunity/{mine}").text)
    refused = client.post(
        f"/records/opportunity/{theirs}/move", data={"_csrf_token": token, "to": "lost"}
    )
    assert refused.status_code == 404
    assert api.call("GET", f"{V1}/records/opportunity/{theirs}", "chen.jie").json()["status"] == (
        "open"
    )


def test_bad_ids_and_entities_are_404_pages(console: Console) -> None:
    api, client = console("li.wei")
    record = opportunity(api)
    for path in (
        "/records/opportunity/nope",
        f"/records/lead/{record}",
        f"/records/opportunty/{record}",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "text/html" in answer.headers["content-type"]
        assert "Traceback" not in answer.text


def test_the_search_keeps_matching_scripts(console: Console) -> None:
    api, client = console("li.wei")
    record = opportunity(api)
    walk(api, record, "proposal_demo")
    url = f"/records/opportunity/{record}"
    everything = client.get(url).text
    found = client.get(f"{url}?search=price").text
    guide = api.call(
        "GET", f"{V1}/records/opportunity/{record}/guide?search=price", "li.wei"
    ).json()
    scripts = next(k for k in guide["stage"]["knowledge"] if k["title"].startswith("Objection"))
    assert 0 < len(scripts["rows"]) < 127
    assert f"Objection-handling scripts ({len(scripts['rows'])} rows)" in found
    assert "Objection-handling scripts (127 rows)" in everything
    assert 'value="price"' in found


def test_other_pages_can_link_to_a_record() -> None:
    assert record_url("opportunity", "a b") == "/records/opportunity/a%20b"
