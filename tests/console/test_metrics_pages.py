"""The console's funnel, dwell heatmap and forecast pages: the JSON API's numbers, for a
person; filters narrow them; bad filters are a 400 page naming the parameter."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from runtime.people import team_members
from tests.api.test_ops import opportunity, runtime_of, walk
from tests.console.conftest import give_password, sign_in
from tests.runtime.scenarios.support import START

V1 = "/api/v1"
REP, MANAGER, ANALYST = "li.wei", "zhang.min", "ma.lin"
HOUR = timedelta(hours=1)


def api_get(api: Any, path: str, user: str = MANAGER) -> Any:
    answer = api.call("GET", f"{V1}{path}", user)
    assert answer.status_code == 200, answer.text
    return answer.json()


def cells(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>|\s+", " ", c).strip()
        for c in re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)
    ]


def visits(api: Any) -> list[str]:
    """Three visits of li.wei (one reaches the proposal demo) and one of chen.jie."""
    ids = [opportunity(api, n) for n in "ABC"]
    walk(api, ids[1], "inventory_count")
    walk(api, ids[2], "proposal_demo")
    other = runtime_of(api).create(
        "opportunity",
        {"pharmacy_name": "D", "region": "chongqing", "pharmacy_tier": "single"},
        actor="chen.jie",
    )
    return [*ids, other.id]


@pytest.mark.parametrize("path", ["/funnel", "/dwell", "/forecast", "/dwell/records"])
def test_a_rep_gets_a_403_page(console: Callable[..., Any], path: str) -> None:
    _, client = console(REP)
    page = client.get(path)
    assert page.status_code == 403
    assert "text/html" in page.headers["content-type"]
    assert "may not see metrics" in page.text


def test_the_funnel_page_shows_the_api_numbers_and_filters_narrow_them(
    console: Callable[..., Any],
) -> None:
    api, client = console(ANALYST)
    ids = visits(api)
    owners = {runtime_of(api).get(i).owner for i in ids}
    assert len(owners) >= 1
    found = api_get(api, "/metrics/funnel?workflow=pharmacy_visit")
    page = client.get("/funnel")  # the first workflow with records
    assert page.status_code == 200, page.text
    assert 'value="pharmacy_visit" selected' in page.text
    shown = cells(page.text)
    for stage in found["stages"]:
        assert f"{stage['reached']} records" in page.text
        if stage["conversion"] is not None:
            assert f"{round(stage['conversion'] * 100, 1)}%" in shown
    assert f"{found['entered']} records entered" in page.text
    assert 'class="bar" style="width: 100.0%"' in page.text  # the chart, labelled in text

    region = api_get(api, "/metrics/funnel?workflow=pharmacy_visit&region=chongqing")
    assert region["entered"] == 1 < found["entered"]
    narrowed = client.get("/funnel?workflow=pharmacy_visit&region=chongqing")
    assert "1 records entered" in narrowed.text and "region chongqing" in narrowed.text

    rep = runtime_of(api).get(ids[0]).owner
    by_rep = api_get(api, f"/metrics/funnel?workflow=pharmacy_visit&rep={rep}")
    by_team = api_get(api, "/metrics/funnel?workflow=pharmacy_visit&team=west-otc")
    mine = sum(1 for i in ids if runtime_of(api).get(i).owner == rep)
    assert by_rep["entered"] == mine
    team_owned = sum(1 for i in ids if runtime_of(api).get(i).owner in ("li.wei", "chen.jie"))
    assert by_team["entered"] == team_owned
    page = client.get(f"/funnel?workflow=pharmacy_visit&rep={rep}")
    assert f"{by_rep['entered']} records entered" in page.text


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-02-01&to=2026-01-01", "to"),
        ("team=nobody", "team"),
        ("rep=no.one", "rep"),
        ("region=atlantis", "region"),
        ("workflow=pharmacy", "workflow"),
    ],
)
def test_bad_funnel_filters_give_the_page_back_with_400(
    console: Callable[..., Any], query: str, key: str
) -> None:
    _, client = console(MANAGER)
    page = client.get(f"/funnel?{query}")
    assert page.status_code == 400, page.text
    assert f"<strong>{key}</strong>" in page.text
    assert '<form class="filters"' in page.text  # the page, with its form, comes back


def test_the_funnel_api_refuses_an_unknown_team_or_rep(console: Callable[..., Any]) -> None:
    api, _ = console()
    for query, key in (("team=westotc", "team"), ("rep=li.we", "rep")):
        answer = api.call("GET", f"{V1}/metrics/funnel?workflow=pharmacy_visit&{query}", MANAGER)
        assert answer.status_code == 400
        assert answer.json()["extra"][0]["key"] == key
    schema = api.call("GET", "/schema/openapi.json", MANAGER).json()
    params = schema["paths"][f"{V1}/metrics/funnel"]["get"]["parameters"]
    assert {"team", "rep", "region", "from", "to"} <= {p["name"] for p in params}


def test_the_dwell_heatmap_marks_cells_over_the_limit_and_links_their_records(
    console: Callable[..., Any],
) -> None:
    api, client = console(MANAGER)
    runtime = runtime_of(api)
    ids = [opportunity(api, n) for n in "AB"]
    walk(api, ids[0], "proposal_demo")
    api.clock.advance(HOUR * 2)
    walk(api, ids[1], "inventory_count")
    api.clock.set(START + timedelta(days=4))  # A sits 96 h in the demo: over the 72 h alert
    sign_in(client, MANAGER)  # the session of four days ago has expired
    found = api_get(
        api, "/metrics/dwell/heatmap?workflow=pharmacy_visit&from=2026-01-05&to=2026-01-11"
    )
    assert [c["key"] for c in found["columns"]] == ["2026-01-05"]
    stages = {s["stage"]: s for s in found["stages"]}
    demo = stages["proposal_demo"]["cells"][0]
    assert demo["stays"] == 1 and demo["over"] and demo["over_by"] == ["alert:proposal_demo_slow"]
    assert demo["median_seconds"] == pytest.approx(4 * 24 * 3600, abs=1)
    appointment = stages["appointment"]["cells"][0]
    assert appointment["stays"] == 2 and not appointment["over"]

    page = client.get("/dwell?workflow=pharmacy_visit&from=2026-01-05&to=2026-01-11")
    assert page.status_code == 200, page.text
    over = re.findall(r'<td class="num over">(.*?)</td>', page.text, re.S)
    assert len(over) == 1 and "over alert limit" in over[0] and "96.0 h / 96.0 h" in over[0]
    hours = f"{round(appointment['median_seconds'] / 3600, 1)} h / "
    assert hours in page.text
    link = re.search(r'href="(/dwell/records\?[^"]*stage=proposal_demo[^"]*)"', page.text)
    assert link is not None
    listing = client.get(link.group(1).replace("&amp;", "&"))
    assert listing.status_code == 200, listing.text
    assert f'href="/records/opportunity/{ids[0]}"' in listing.text
    assert ids[1] not in listing.text and "1 stay in" in listing.text

    # 14-day SLA of the appointment: B's open stay of 15 days is over, in the team view
    api.clock.set(START + timedelta(days=15))
    runtime.tick()
    sign_in(client, MANAGER)
    team = api_get(api, "/metrics/dwell/heatmap?workflow=pharmacy_visit&by=team&from=2026-01-05")
    west = [c["key"] for c in team["columns"]].index("west-otc")
    stages = {s["stage"]: s for s in team["stages"]}
    assert stages["appointment"]["cells"][west]["stays"] == 2
    page = client.get("/dwell?workflow=pharmacy_visit&view=team&from=2026-01-05")
    assert page.status_code == 200 and "West OTC" in page.text
    inventory = stages["inventory_count"]["cells"][west]
    assert inventory["over_by"] == ["sla"] or not inventory["over"]


def test_a_dwell_cell_says_how_many_of_its_stays_the_viewer_cannot_see(
    console: Callable[..., Any],
) -> None:
    """The manager of West OTC sees their team's visits; the cell also counts another
    team's visit, which the list behind it leaves out and says so; the analyst sees all."""
    api, client = console(MANAGER)
    runtime = runtime_of(api)
    bundle = runtime.bundle
    outsider = next(
        u
        for u, person in sorted(bundle.manifest.users.items())
        if "rep" in person.roles and u not in ("li.wei", "chen.jie")
    )
    mine = opportunity(api, "A")
    data = {"pharmacy_name": "Z", "region": "sichuan", "pharmacy_tier": "chain"}
    theirs = runtime.create("opportunity", data, actor=outsider)
    assert theirs.owner == outsider
    query = "workflow=pharmacy_visit&stage=appointment&from=2026-01-05&to=2026-01-11"
    cell = api_get(
        api, "/metrics/dwell/heatmap?workflow=pharmacy_visit&from=2026-01-05&to=2026-01-11"
    )
    appointment = {s["stage"]: s for s in cell["stages"]}["appointment"]["cells"][0]
    assert appointment["stays"] == 2
    listing = client.get(f"/dwell/records?{query}")
    assert listing.status_code == 200, listing.text
    assert f'href="/records/opportunity/{mine}"' in listing.text and theirs.id not in listing.text
    assert "1 stay in" in listing.text
    assert "also counts 1 stay of records your role does not show you" in listing.text

    give_password(api, ANALYST)
    assert sign_in(client, ANALYST).status_code == 303
    everything = client.get(f"/dwell/records?{query}")
    assert "2 stays in" in everything.text and theirs.id in everything.text
    assert "does not show you" not in everything.text


@pytest.mark.parametrize(
    ("query", "key"),
    [("view=month", "view"), ("from=2026-1-5x", "from"), ("from=2020-01-01&to=2026-01-01", "to")],
)
def test_bad_dwell_filters_give_a_400_page(
    console: Callable[..., Any], query: str, key: str
) -> None:
    _, client = console(ANALYST)
    page = client.get(f"/dwell?workflow=pharmacy_visit&{query}")
    assert page.status_code == 400
    assert f"<strong>{key}</strong>" in page.text
    listing = client.get(
        "/dwell/records?workflow=pharmacy_visit&stage=nowhere&from=2026-01-05&to=2026-01-11"
    )
    assert listing.status_code == 400 and "<strong>stage</strong>" in listing.text


def test_the_forecast_page_shows_coefficients_and_the_error_of_past_weeks(
    console: Callable[..., Any],
) -> None:
    api, client = console(ANALYST)
    runtime = runtime_of(api)
    base = {
        "distributor": "hangzhou-lianhua",
        "region": "east",
        "amount": 1000,
        "expected_close": "2026-01-14",
    }
    runtime.create("distributor_deal", base, actor=REP)
    north = {
        **base,
        "distributor": "tianjin-jiajia",
        "region": "north",
        "amount": 2000,
        "expected_close": "2026-02-10",
    }
    runtime.create("distributor_deal", north, actor=REP)
    with runtime.unit() as unit:
        runtime.recompute_forecast_in(unit, "distributor_pipeline")
    api.clock.set(START + timedelta(weeks=2))
    sign_in(client, ANALYST)

    found = api_get(api, "/metrics/forecast/distributor_pipeline")
    page = client.get("/forecast")
    assert page.status_code == 200, page.text
    assert "x1.23" in page.text  # the weeks before Spring Festival
    assert f"{found['expected']:,.2f}" in page.text
    [judged] = found["accuracy"]
    assert judged["coefficient"] == pytest.approx(1.0)
    assert judged["actual"] == 0 and judged["pct_error"] is None  # nothing was won
    assert f"{judged['error']:,.2f}" in page.text and "— (nothing won)" in page.text
    assert "Forecast against actual" in page.text

    east = api_get(api, "/metrics/forecast/distributor_pipeline?region=east")
    assert east["region"] == "east" and east["expected"] == 0  # the east deal's week has passed
    north_only = api_get(api, "/metrics/forecast/distributor_pipeline?region=north")
    assert north_only["expected"] == pytest.approx(found["expected"])
    page = client.get("/forecast?region=east")
    assert page.status_code == 200 and "region east" in page.text
    bad = client.get("/forecast?region=mars")
    assert bad.status_code == 400 and "<strong>region</strong>" in bad.text


CELL = "workflow=pharmacy_visit&stage=appointment&from=2026-01-05&to=2026-01-11"


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("stage=appointment&from=2026-01-05&to=2026-01-11", "workflow"),
        ("workflow=nowhere&stage=appointment&from=2026-01-05&to=2026-01-11", "workflow"),
        ("workflow=pharmacy_visit&from=2026-01-05&to=2026-01-11", "stage"),
        ("workflow=pharmacy_visit&stage=appointment&to=2026-01-11", "from"),
        ("workflow=pharmacy_visit&stage=appointment&from=2026-01-05", "from"),
        (f"{CELL}&team=nobody", "team"),
        (f"{CELL}&offset=ten", "offset"),
        (f"{CELL}&offset=-50", "offset"),
    ],
)
def test_bad_cell_filters_give_the_records_page_with_400(
    console: Callable[..., Any], query: str, key: str
) -> None:
    _, client = console(ANALYST)
    page = client.get(f"/dwell/records?{query}")
    assert page.status_code == 400, page.text
    assert f"<strong>{key}</strong>" in page.text
    assert "Records behind a dwell cell" in page.text


def test_a_team_cell_lists_the_teams_stays_and_the_no_team_cell_the_others(
    console: Callable[..., Any],
) -> None:
    api, client = console(ANALYST)
    runtime = runtime_of(api)
    mine = opportunity(api, "A")  # li.wei, of West OTC
    bundle = runtime.bundle
    in_teams = {m for t in bundle.manifest.teams for m in team_members(bundle, t)}
    assert MANAGER not in in_teams  # a team's lead is not one of its members
    outsider = MANAGER
    data = {"pharmacy_name": "Z", "region": "sichuan", "pharmacy_tier": "chain"}
    theirs = runtime.create("opportunity", data, actor=outsider).id
    west = client.get(f"/dwell/records?{CELL}&team=west-otc")
    assert west.status_code == 200, west.text
    assert "1 stay in" in west.text and ", team West OTC;" in west.text
    assert mine in west.text and theirs not in west.text
    nobody = client.get(f"/dwell/records?{CELL}&team=")
    assert nobody.status_code == 200, nobody.text
    assert "1 stay in" in nobody.text and ", team No team;" in nobody.text
    assert theirs in nobody.text and mine not in nobody.text
    later = client.get(f"/dwell/records?{CELL}&offset=50")
    assert later.status_code == 200 and "2 stays in" in later.text
    assert mine not in later.text and "Previous 50" in later.text


def test_an_unknown_forecast_gives_the_page_with_400(console: Callable[..., Any]) -> None:
    _, client = console(ANALYST)
    page = client.get("/forecast?forecast=nowhere")
    assert page.status_code == 400, page.text
    assert "<strong>forecast</strong>" in page.text and "unknown forecast" in page.text
