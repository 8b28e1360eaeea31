"""The lists console: filters (as the JSON API's), ranges, sorting, paging and CSV export."""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.api.conftest import DEFINITIONS

REP, OTHER, DIRECTOR = "li.wei", "chen.jie", "wang.fang"
V1 = "/api/v1"


def _deals(api: Any, rows: list[dict[str, Any]], actor: str = DIRECTOR) -> list[str]:
    runtime = api.server.runtime
    return [runtime.create("distributor_deal", data, actor=actor).id for data in rows]


def _deal(n: int, **more: Any) -> dict[str, Any]:
    return {"distributor": f"D{n:03d}", "region": "east", "amount": float(n), **more}


def _link(html: str, rel: str) -> set[str]:
    found = re.search(f'href="\\?([^"]*)" rel="{rel}"', html)
    assert found, f"no {rel} link"
    return set(found.group(1).split("&amp;"))


def _csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_the_index_lists_readable_entities_with_counts(console: Callable[..., Any]) -> None:
    api, client = console(REP)
    _deals(api, [_deal(1), _deal(2)])
    page = client.get("/records")
    assert page.status_code == 200
    assert 'href="/records/distributor_deal"' in page.text
    assert ">2</td>" in page.text.replace(" ", "")


def test_range_filters_include_both_ends_in_the_api_and_the_page(
    console: Callable[..., Any],
) -> None:
    api, client = console(REP)
    ids = _deals(api, [_deal(n, expected_close=f"2026-03-{n:02d}") for n in (5, 10, 15, 20)])
    api_rows = api.call(
        "GET", f"{V1}/records/distributor_deal?field.amount.from=10&field.amount.to=15", REP
    ).json()["items"]
    assert {r["id"] for r in api_rows} == {ids[1], ids[2]}
    dates = api.call(
        "GET",
        f"{V1}/records/distributor_deal?field.expected_close.from=2026-03-10"
        "&field.expected_close.to=2026-03-10",
        REP,
    ).json()["items"]
    assert [r["id"] for r in dates] == [ids[1]]
    page = client.get("/records/distributor_deal?field.amount.from=10&field.amount.to=15")
    assert page.status_code == 200
    for shown in ids[1:3]:
        assert f"/records/distributor_deal/{shown}" in page.text
    for hidden in (ids[0], ids[3]):
        assert f"/records/distributor_deal/{hidden}" not in page.text
    lower = client.get("/records/distributor_deal?field.amount.from=20")
    assert f"/records/distributor_deal/{ids[3]}" in lower.text
    assert f"/records/distributor_deal/{ids[2]}" not in lower.text


def test_every_filter_parameter_narrows_the_list(console: Callable[..., Any]) -> None:
    api, client = console(REP)
    east, north = _deals(api, [_deal(1), _deal(2, region="north")])
    for query, wanted, unwanted in [
        ("field.region=north", north, east),
        ("stage=nothing_like_it", None, east),
        ("status=open", east, None),
        ("owner=nobody.at.all", None, east),
        ("queue=no_such_queue", None, east),
        ("created_from=2999-01-01T00:00:00Z", None, east),
        ("updated_to=2000-01-01T00:00:00Z", None, east),
        ("created_from=2999-01-01", None, east),
        ("field.distributor=D001", east, north),
    ]:
        page = client.get(f"/records/distributor_deal?{query}")
        assert page.status_code == 200, (query, page.text)
        if wanted:
            assert f"/records/distributor_deal/{wanted}" in page.text, query
        if unwanted:
            assert f"/records/distributor_deal/{unwanted}" not in page.text, query
        if "-01-01&" not in query + "&":  # a date alone is the console's (its time zone)
            answer = api.call(
                "GET", f"{V1}/records/distributor_deal?{query.replace('+', '%2B')}", REP
            )
            assert answer.status_code == 200, query


def test_bad_filters_show_the_page_with_the_problem_and_400(console: Callable[..., Any]) -> None:
    _api, client = console(REP)
    for query, says in [
        ("field.amount.from=lots", "is not a number"),
        ("field.region.from=1", "has no range"),
        ("created_from=yesterday", "is not a date"),
        ("sort=field.nope", "cannot sort on"),
        ("colour=red", "is not a filter"),
        ("offset=-1", "whole number"),
    ]:
        page = client.get(f"/records/distributor_deal?{query}")
        assert page.status_code == 400, query
        assert says in page.text, (query, page.text)
        assert "<form" in page.text and "Traceback" not in page.text


def test_sorting_by_a_column_header(console: Callable[..., Any]) -> None:
    api, client = console(REP)
    ids = _deals(api, [_deal(n) for n in (3, 1, 2)])
    up = client.get("/records/distributor_deal?sort=field.amount")
    order = [up.text.index(f"/records/distributor_deal/{i}") for i in (ids[1], ids[2], ids[0])]
    assert order == sorted(order)
    assert 'aria-sort="ascending"' in up.text
    assert 'href="?sort=-field.amount"' in up.text  # clicking again reverses
    down = client.get("/records/distributor_deal?sort=-field.amount")
    order = [down.text.index(f"/records/distributor_deal/{i}") for i in (ids[0], ids[2], ids[1])]
    assert order == sorted(order)
    assert 'aria-sort="descending"' in down.text


def test_paging_keeps_the_filters(console: Callable[..., Any]) -> None:
    api, client = console(REP)
    _deals(api, [_deal(n) for n in range(1, 56)] + [_deal(99, region="north")])
    first = client.get("/records/distributor_deal?field.region=east&sort=field.amount")
    assert "Records 1\u201350 of 55" in first.text
    assert _link(first.text, "next") == {"field.region=east", "sort=field.amount", "offset=50"}
    second = client.get("/records/distributor_deal?field.region=east&sort=field.amount&offset=50")
    assert "Records 51\u201355 of 55" in second.text
    assert "Next 50" not in second.text
    assert _link(second.text, "prev") == {"field.region=east", "sort=field.amount", "offset=0"}


def test_csv_equals_the_api_and_keeps_hidden_fields_out(console: Callable[..., Any]) -> None:
    api, client = console(REP)
    _deals(api, [_deal(n, credit_limit=1000.0 + n, tier="A") for n in range(1, 8)])
    _deals(api, [_deal(50, distributor='=HYPERLINK("x")'), _deal(60, distributor="成都医药")])
    answer = client.get(
        "/records/distributor_deal/export.csv?field.amount.from=3&sort=field.amount"
    )
    assert answer.status_code == 200
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["content-type"].startswith("text/csv")
    rows = _csv(answer.content.decode("utf-8"))
    api_rows = api.call(
        "GET", f"{V1}/records/distributor_deal?field.amount.from=3&sort=field.amount&limit=500", REP
    ).json()["items"]
    assert [r["id"] for r in rows] == [r["id"] for r in api_rows]
    assert "credit_limit" not in rows[0]  # a rep may not read it
    for row, item in zip(rows, api_rows, strict=True):
        assert row["stage"] == item["stage"] and row["owner"] == (item["owner"] or "")
        assert float(row["amount"]) == item["data"]["amount"]
        assert row["distributor"] in (
            item["data"]["distributor"],
            "'" + item["data"]["distributor"],
        )
    assert rows[-2]["distributor"] == '\'=HYPERLINK("x")'
    assert rows[-1]["distributor"] == "成都医药"
    manager_api, manager = console("zhang.min")
    del manager_api
    assert "credit_limit" in manager.get("/records/distributor_deal/export.csv").text


def test_a_reps_list_and_export_hold_only_their_rows(
    console: Callable[..., Any], tmp_path: Path
) -> None:
    bundle = tmp_path / "rows-bundle"
    shutil.copytree(DEFINITIONS, bundle)
    form = bundle / "forms" / "distributor_deal.yaml"
    form.write_text(
        form.read_text(encoding="utf-8").replace(
            "  write: [rep, manager, director]",
            "  write: [rep, manager, director]\n  rows: {rep: assigned}",
        ),
        encoding="utf-8",
    )
    api, client = console(REP, bundle=bundle)
    mine = _deals(api, [_deal(1)], actor=REP)
    theirs = _deals(api, [_deal(2)], actor=OTHER)
    runtime = api.server.runtime
    assert runtime.get(mine[0]).owner == REP and runtime.get(theirs[0]).owner == OTHER
    rows = _csv(client.get("/records/distributor_deal/export.csv").content.decode("utf-8"))
    assert [r["id"] for r in rows] == mine
    page = client.get("/records/distributor_deal")
    assert mine[0] in page.text and theirs[0] not in page.text
    assert ">1</td>" in client.get("/records").text.replace(" ", "")
