"""Alerts and metrics over HTTP: real records driven through the runtime, read by the API.

Each test runs on SQLite and PostgreSQL (make_api). Records are created by bundle users
through `api.server.runtime` with the fake clock moving, so alerts fire, stays get known
dwell times and forecasts get snapshots exactly as in production.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from runtime.clock import iso
from runtime.core import Runtime
from tests.api.conftest import Api
from tests.runtime.scenarios.support import START, walk_visit
from tests.runtime.scenarios.test_f8_forecast import advance as advance_deal

V1 = "/api/v1"
REP, MANAGER, DIRECTOR, AGENT, ADMIN = "li.wei", "zhang.min", "wang.fang", "zhao.lei", "admin"
EAST, NORTH, TEA, JASMINE = "hangzhou-lianhua", "tianjin-jiajia", "green-tea-500", "jasmine-250"
HOUR = timedelta(hours=1)
MakeApi = Callable[..., Api]


def runtime_of(api: Api) -> Runtime:
    runtime = api.server.runtime
    assert runtime is not None
    return runtime


def get(api: Api, path: str, user: str = MANAGER, status: int = 200) -> Any:
    response = api.call("GET", f"{V1}{path}", user)
    assert response.status_code == status, response.text
    return response.json()


def post(api: Api, path: str, user: str = MANAGER, status: int = 200, **kw: Any) -> Any:
    response = api.call("POST", f"{V1}{path}", user, **kw)
    assert response.status_code == status, response.text
    return response.json()


def stock(api: Api, distributor: str, on_hand: int, daily_sales: float, sku: str = TEA) -> str:
    """A distributor's stock report (F9): below 7 days of sales fires stock_below_safety."""
    data = {"distributor": distributor, "sku": sku, "on_hand": on_hand, "daily_sales": daily_sales}
    record, _ = runtime_of(api).ingest("distributor_stock", data, actor=AGENT)
    return record.id


# -- alerts ---------------------------------------------------------------------------
def test_alerts_fire_filter_page_acknowledge_and_rate_into_precision(make_api: MakeApi) -> None:
    """F9/F10: three stock alerts fire, one resolves; the list filters and pages them
    newest first; acknowledging tracks response time (a KPI); feedback gives precision."""
    api = make_api()
    east = stock(api, EAST, 100, 25)  # 4 days of sales: firing
    api.clock.advance(HOUR)
    stock(api, NORTH, 20, 5)  # 4 days
    api.clock.advance(HOUR)
    stock(api, NORTH, 5, 2, sku=JASMINE)  # 2.5 days
    api.clock.advance(HOUR)
    stock(api, EAST, 300, 25)  # 12 days: the east alert resolves

    listed = get(api, "/alerts")
    assert listed["total"] == 3 and (listed["limit"], listed["offset"]) == (50, 0)
    newest, middle, oldest = listed["items"]
    assert [a["dedup_key"] for a in listed["items"]] == [
        f"stock_below_safety:{NORTH}/{JASMINE}",
        f"stock_below_safety:{NORTH}/{TEA}",
        f"stock_below_safety:{EAST}/{TEA}",
    ]
    assert oldest["record_id"] == east and oldest["state"] == "resolved"
    assert oldest["values"] == {"stock_days": 4.0} and oldest["severity"] == "high"
    assert oldest["title"] == "Distributor stock below safety level"

    def ids(query: str) -> list[int]:
        return [a["id"] for a in get(api, f"/alerts?{query}")["items"]]

    assert ids("state=firing") == [newest["id"], middle["id"]]
    assert ids("state=resolved") == [oldest["id"]]
    assert ids("state=pending") == []
    assert ids(f"record_id={east}") == [oldest["id"]]
    assert ids("rule=stock_below_safety&severity=high") == [
        newest["id"],
        middle["id"],
        oldest["id"],
    ]
    assert ids("severity=info") == [] and ids("rule=proposal_demo_slow") == []
    page = get(api, "/alerts?limit=2&offset=1")
    assert [a["id"] for a in page["items"]] == [middle["id"], oldest["id"]] and page["total"] == 3
    assert get(api, "/alerts?limit=2&offset=3")["items"] == []
    assert get(api, f"/alerts/{middle['id']}", user=AGENT) == middle

    # F9: the response time runs from firing to the first acknowledgement.
    api.clock.advance(3 * HOUR)  # 5 hours after the middle alert fired
    acked = post(api, f"/alerts/{middle['id']}/acknowledge", user=AGENT)
    assert (acked["acked_by"], acked["acked_at"]) == (AGENT, iso(START + 6 * HOUR))
    api.clock.advance(HOUR)
    again = post(api, f"/alerts/{middle['id']}/acknowledge", user=MANAGER)
    assert (again["acked_by"], again["acked_at"]) == (AGENT, acked["acked_at"])
    kpi = get(api, "/metrics/stock_alert_response_hours")
    assert (kpi["kpi"], kpi["value"], kpi["count"]) == (True, pytest.approx(5.0), 3)
    board = {m["name"]: m["value"] for m in get(api, "/metrics?kpi=true")["metrics"]}
    assert board["stock_alert_response_hours"] == pytest.approx(5.0)
    assert sorted(board) == [  # with the six KPIs of P14
        "invalid_calls_per_day",
        "lead_cost",
        "new_rep_close_rate",
        "revenue_per_rep_month",
        "sales_cycle_days",
        "stage_visibility",
        "stock_alert_response_hours",
    ]

    # F10: two useful, one false positive: precision 2/3.
    for alert, verdict in ((oldest, "useful"), (middle, "false_positive"), (newest, "useful")):
        rated = post(
            api, f"/alerts/{alert['id']}/feedback", json={"verdict": verdict, "note": "checked"}
        )
        assert (rated["feedback"], rated["feedback_by"]) == (verdict, MANAGER)
        assert rated["feedback_note"] == "checked"
    precision = get(api, "/alerts/precision", user=DIRECTOR)
    rules = {r["rule"]: r for r in precision["rules"]}
    assert set(rules) == set(runtime_of(api).bundle.alerts)
    assert rules["stock_below_safety"] | {"title": ""} == {
        "rule": "stock_below_safety",
        "title": "",
        "severity": "high",
        "declared": True,
        "fired": 3,
        "judged": 3,
        "useful": 2,
        "false_positive": 1,
        "precision": pytest.approx(0.6667),
    }
    assert rules["proposal_demo_slow"]["fired"] == 0
    assert rules["proposal_demo_slow"]["precision"] is None
    assert precision["overall"]["precision"] == pytest.approx(0.6667)
    assert precision["verdicts"] == ["useful", "false_positive"]

    # A changed mind replaces the verdict.
    post(api, f"/alerts/{middle['id']}/feedback", json={"verdict": "useful"})
    assert get(api, "/alerts/precision")["overall"]["precision"] == 1.0


def test_alert_errors_and_roles(make_api: MakeApi) -> None:
    """Unknown alerts are 404, a bad verdict or filter is refused in the error shape, and
    roles outside `access.alerts` get 403 on every alert route but the list (where they
    see only the alerts notifying them: this one notifies chen.jie, not li.wei)."""
    api = make_api()
    stock(api, NORTH, 20, 5)
    [alert] = get(api, "/alerts")["items"]
    for method, path in (
        ("GET", "/alerts/999"),
        ("POST", "/alerts/999/acknowledge"),
    ):
        response = api.call(method, f"{V1}{path}", MANAGER)
        assert response.status_code == 404, response.text
        assert "alert 999 does not exist" in response.json()["detail"]
    missing = post(api, "/alerts/999/feedback", status=404, json={"verdict": "useful"})
    assert missing["detail"] == "alert 999 does not exist"

    bad = post(api, f"/alerts/{alert['id']}/feedback", status=422, json={"verdict": "meh"})
    assert bad["detail"] == "feedback is one of useful, false_positive"
    assert bad["extra"][0]["key"] == "bad-feedback"
    shape = post(api, f"/alerts/{alert['id']}/feedback", status=400, json={"note": "x"})
    assert shape["status_code"] == 400 and shape["extra"]
    unknown_field = post(
        api, f"/alerts/{alert['id']}/feedback", status=400, json={"verdict": "useful", "x": 1}
    )
    assert unknown_field["status_code"] == 400
    state = get(api, "/alerts?state=burning", status=400)
    assert state["extra"] == [
        {"key": "state", "message": "'burning' is not one", "source": "query"}
    ]
    assert get(api, "/alerts?limit=0", status=400)["extra"][0]["key"] == "limit"
    assert get(api, "/alerts?limit=501", status=400)["extra"][0]["key"] == "limit"
    assert get(api, "/alerts?offset=-1", status=400)["extra"][0]["key"] == "offset"
    assert get(api, "/alerts?severity=loud", status=400)["status_code"] == 400

    assert get(api, "/alerts", user=REP)["items"] == []
    for path in (f"/alerts/{alert['id']}", "/alerts/precision"):
        denied = get(api, path, user=REP, status=403)
        assert denied["detail"].startswith("your roles may not see or handle alerts")
    post(api, f"/alerts/{alert['id']}/acknowledge", user=REP, status=403)
    post(api, f"/alerts/{alert['id']}/feedback", user=REP, status=403, json={"verdict": "useful"})
    assert get(api, f"/alerts/{alert['id']}")["acked_at"] is None  # nothing was written
    assert api.client.get(f"{V1}/alerts").status_code == 401


# -- funnel ---------------------------------------------------------------------------
def opportunity(api: Api, name: str) -> str:
    data = {"pharmacy_name": name, "region": "sichuan", "pharmacy_tier": "chain"}
    return runtime_of(api).create("opportunity", data, actor=REP).id


def walk(api: Api, record_id: str, target: str) -> None:
    runtime = runtime_of(api)
    quote = {"quote_price": 30.0, "product_class": "herbal_pieces"}
    walk_visit(runtime, runtime.get(record_id), target, quote=quote)


def test_funnel_counts_reached_current_conversion_and_exits(make_api: MakeApi) -> None:
    """Six visits: each stage counts the records that reached it and those in it now, with
    the conversion from the stage before; won and lost exits count too; `from`/`to`
    keep the records that entered on those days (bundle timezone)."""
    api = make_api()
    runtime = runtime_of(api)
    a, b, c, d, e = (opportunity(api, n) for n in "ABCDE")
    walk(api, b, "inventory_count")
    walk(api, c, "competitor_analysis")
    walk(api, d, "proposal_demo")
    walk(api, e, "payment_tracking")
    runtime.transition(e, "won", actor=REP)
    api.clock.advance(timedelta(days=2))  # 2026-01-07 17:00 in Shanghai
    f = opportunity(api, "F")
    runtime.transition(f, "lost", actor=REP)
    walk(api, d, "quote")  # d moves on after a back move: counted once per stage
    runtime.transition(d, "proposal_demo", actor=REP)

    found = get(api, "/metrics/funnel?workflow=pharmacy_visit", user=DIRECTOR)
    assert (found["workflow"], found["entity"], found["entered"]) == (
        "pharmacy_visit",
        "opportunity",
        6,
    )
    table = [(s["stage"], s["reached"], s["current"], s["conversion"]) for s in found["stages"]]
    assert table == [
        ("appointment", 6, 1, None),
        ("inventory_count", 4, 1, pytest.approx(4 / 6, abs=1e-4)),
        ("competitor_analysis", 3, 1, 0.75),
        ("proposal_demo", 2, 1, pytest.approx(2 / 3, abs=1e-4)),
        ("quote", 2, 0, 1.0),
        ("payment_tracking", 1, 0, 0.5),
    ]
    assert [(x["exit"], x["outcome"], x["records"]) for x in found["exits"]] == [
        ("won", "won", 1),
        ("lost", "lost", 1),
    ]
    assert found["exits"][0]["share"] == pytest.approx(1 / 6, abs=1e-4)
    assert runtime.get(a).stage == "appointment"  # the one record there now

    later = get(api, "/metrics/funnel?workflow=pharmacy_visit&from=2026-01-07")
    assert later["entered"] == 1 and later["from"] == "2026-01-07"
    assert [s["reached"] for s in later["stages"]] == [1, 0, 0, 0, 0, 0]
    assert [s["current"] for s in later["stages"]] == [0] * 6
    assert [x["records"] for x in later["exits"]] == [0, 1]
    first = get(api, "/metrics/funnel?workflow=pharmacy_visit&from=2026-01-05&to=2026-01-06")
    assert first["entered"] == 5 and [x["records"] for x in first["exits"]] == [1, 0]
    assert [s["current"] for s in first["stages"]] == [1, 1, 1, 1, 0, 0]
    none = get(api, "/metrics/funnel?workflow=pharmacy_visit&to=2026-01-04")
    assert none["entered"] == 0 and none["stages"][1]["conversion"] is None

    missing = get(api, "/metrics/funnel?workflow=pharmacy_vist", status=404)
    assert (
        missing["detail"]
        == "workflow 'pharmacy_vist' does not exist; did you mean 'pharmacy_visit'?"
    )
    assert missing["extra"][0]["source"] == "query"
    backwards = get(
        api, "/metrics/funnel?workflow=pharmacy_visit&from=2026-01-07&to=2026-01-06", status=400
    )
    assert backwards["extra"][0]["key"] == "to"
    assert get(api, "/metrics/funnel", status=400)["status_code"] == 400
    assert get(api, "/metrics/funnel?workflow=pharmacy_visit&from=soon", status=400)


# -- dwell ----------------------------------------------------------------------------
def test_dwell_median_p90_and_sla_breaches_per_stage(make_api: MakeApi) -> None:
    """Stays of 1, 3, 4 and 11 hours in appointment, and one of 14 days + 1 hour that
    breached the 14-day SLA: median 4 h, p90 interpolated like percentile_cont; open
    stays count their time so far."""
    api = make_api()
    runtime = runtime_of(api)
    ids = [opportunity(api, n) for n in ("A", "B", "C", "D", "E")]
    for record_id, hours in zip(ids[:4], (1, 2, 1, 7), strict=True):
        api.clock.advance(hours * HOUR)
        runtime.transition(record_id, "inventory_count", actor=REP)
    # the four stays lasted 1, 3, 4 and 11 hours; the fifth stays on
    api.clock.set(START + timedelta(days=14, hours=1))
    runtime.tick()  # the fifth record's SLA timer fires: a breach
    runtime.transition(ids[4], "inventory_count", actor=REP)
    api.clock.advance(HOUR)

    found = get(api, "/metrics/dwell?workflow=pharmacy_visit")
    stages = {s["stage"]: s for s in found["stages"]}
    assert [s["stage"] for s in found["stages"]][:2] == ["appointment", "inventory_count"]
    appointment = stages["appointment"]
    dwell = sorted([1.0, 3.0, 4.0, 11.0, 14 * 24 + 1.0])
    p90 = dwell[3] + 0.6 * (dwell[4] - dwell[3])
    assert (appointment["stays"], appointment["open"]) == (5, 0)
    assert appointment["median_seconds"] == pytest.approx(4 * 3600)
    assert appointment["p90_seconds"] == pytest.approx(p90 * 3600)
    assert appointment["mean_seconds"] == pytest.approx(sum(dwell) / 5 * 3600)
    assert (appointment["sla_seconds"], appointment["sla_breaches"]) == (14 * 86400, 1)
    inventory = stages["inventory_count"]
    assert (inventory["stays"], inventory["open"], inventory["sla_breaches"]) == (5, 5, 0)
    assert inventory["median_seconds"] == pytest.approx((14 * 24 + 1 - 4 + 1) * 3600)
    assert stages["quote"]["stays"] == 0 and stages["quote"]["median_seconds"] is None

    assert get(api, "/metrics/dwell?workflow=nope", status=404)["detail"].startswith(
        "workflow 'nope' does not exist"
    )


def test_dwell_in_working_time_of_a_calendar(make_api: MakeApi) -> None:
    """`?calendar=office` counts only office hours (Asia/Shanghai, 09-12 and 13-18):
    START is Monday 17:00 there; stays end Tuesday 10:00 and 14:00."""
    api = make_api()
    runtime = runtime_of(api)
    first, second = opportunity(api, "A"), opportunity(api, "B")
    api.clock.advance(17 * HOUR)  # Tuesday 10:00 in Shanghai
    runtime.transition(first, "inventory_count", actor=REP)
    api.clock.advance(4 * HOUR)  # Tuesday 14:00
    runtime.transition(second, "inventory_count", actor=REP)

    found = get(api, "/metrics/dwell?workflow=pharmacy_visit&calendar=office")
    assert found["calendar"] == "office"
    stages = {s["stage"]: s for s in found["stages"]}
    appointment = stages["appointment"]
    # Monday 17-18 plus Tuesday 09-10: 2 h; plus 10-12 and 13-14: 5 h.
    assert (appointment["stays"], appointment["open"]) == (2, 0)
    assert appointment["mean_seconds"] == pytest.approx(3.5 * 3600)
    assert appointment["median_seconds"] == pytest.approx(3.5 * 3600)
    assert appointment["p90_seconds"] == pytest.approx((2 + 0.9 * 3) * 3600)
    inventory = stages["inventory_count"]  # open: 3 working hours and none so far
    assert (inventory["stays"], inventory["open"]) == (2, 2)
    assert inventory["mean_seconds"] == pytest.approx(1.5 * 3600)
    clock = get(api, "/metrics/dwell?workflow=pharmacy_visit")
    assert clock["calendar"] is None
    assert {s["stage"]: s for s in clock["stages"]}["appointment"]["mean_seconds"] == (
        pytest.approx(19 * 3600)
    )
    missing = get(api, "/metrics/dwell?workflow=pharmacy_visit&calendar=ofice", status=404)
    assert missing["detail"] == "calendar 'ofice' does not exist; did you mean 'office'?"


# -- forecast and metrics --------------------------------------------------------------
def test_forecast_now_snapshots_and_accuracy(make_api: MakeApi) -> None:
    """F8: the weighted pipeline now (stage weight x amount x seasonal coefficient), the
    kept snapshots and each past bucket's forecast against what was won."""
    api = make_api()
    runtime = runtime_of(api)
    data = {"distributor": EAST, "region": "east", "amount": 1000, "expected_close": "2026-01-14"}
    soon = runtime.create("distributor_deal", data, actor=REP).id
    later = {
        **data,
        "distributor": "ningbo-sanjiang",
        "amount": 2000,
        "expected_close": "2026-02-10",
    }
    runtime.create("distributor_deal", later, actor=REP)
    with runtime.unit() as unit:  # what the forecast_recompute schedule does (F8)
        runtime.recompute_forecast_in(unit, "distributor_pipeline")

    now = get(api, "/metrics/forecast/distributor_pipeline", user=ADMIN)
    assert now["expected"] == pytest.approx(1000 * 0.3 + 2000 * 0.3 * 1.23)
    assert (now["pipeline"], now["open_records"], now["workflow"]) == (
        3000,
        2,
        "distributor_signing",
    )
    assert now["workflows"][:3] == ["signing_east", "signing_north", "signing_west"]
    assert len(now["workflows"]) == 12  # F8: every region
    assert now["stage_weights"] == {
        "needs_confirmation": 0.3,
        "contract_draft": 0.5,
        "approval": 0.8,
    }
    assert len(now["buckets"]) == 13 and now["buckets"][0]["start"] == "2026-01-05T00:00:00+00:00"
    [snapshot] = now["snapshots"]
    assert snapshot["computed_at"] == iso(START)
    assert snapshot["expected"] == pytest.approx(now["expected"])
    assert now["accuracy"] == [] and now["mean_abs_pct_error"] is None

    api.clock.advance(timedelta(days=1))
    for target in ("contract_draft", "approval", "signed"):
        advance_deal(runtime, soon, target)
    api.clock.set(START + timedelta(weeks=2))  # the week of 12 January has ended
    after = get(api, "/metrics/forecast/distributor_pipeline")
    [judged] = after["accuracy"]
    assert (judged["bucket_start"], judged["computed_at"]) == (
        "2026-01-12T00:00:00+00:00",
        iso(START),
    )
    assert (judged["expected"], judged["actual"]) == (pytest.approx(300.0), 1000.0)
    assert judged["pct_error"] == pytest.approx(70.0)
    assert after["mean_abs_pct_error"] == pytest.approx(70.0)
    assert after["expected"] == pytest.approx(2000 * 0.3 * 1.23) and after["open_records"] == 1

    missing = get(api, "/metrics/forecast/distributor_pipelin", status=404)
    assert "did you mean 'distributor_pipeline'?" in missing["detail"]


def test_metric_values_grouping_and_roles(make_api: MakeApi) -> None:
    """P14: the declared metrics with their values; one metric overall and per group;
    grouping only by the metric's own columns; 404 for an unknown one; 403 for roles
    outside `access.metrics` on every metrics route."""
    api = make_api()
    runtime = runtime_of(api)
    for region, revenue, cost in (
        ("sichuan", 100, 60),
        ("sichuan", 100, 80),
        ("chongqing", 50, 20),
    ):
        data = {"pharmacy_name": "P", "region": region, "revenue_3m": revenue, "cost_3m": cost}
        runtime.create("opportunity", data, actor=REP)

    margin = get(api, "/metrics/regional_margin", user=DIRECTOR)
    assert (margin["value"], margin["count"], margin["group_by"]) == (30.0, 3, ["region"])
    assert margin["groups"] == [
        {"region": "chongqing", "value": 30.0, "count": 1},
        {"region": "sichuan", "value": 30.0, "count": 2},
    ]
    assert get(api, "/metrics/regional_margin?group=region")["groups"] == margin["groups"]
    overall = get(api, "/metrics/regional_margin?group=")
    assert overall["groups"] == [] and overall["value"] == 30.0
    wrong = get(api, "/metrics/regional_margin?group=stage", status=400)
    assert wrong["extra"] == [{"key": "group", "message": "allowed: region", "source": "query"}]

    listed = {m["name"]: m for m in get(api, "/metrics")["metrics"]}
    assert set(listed) == set(runtime.bundle.metrics)
    assert listed["regional_margin"]["value"] == 30.0
    assert listed["regional_margin"]["group_by"] == ["region"]
    assert listed["stock_alert_response_hours"]["kpi"] is True

    missing = get(api, "/metrics/regional_margn", status=404)
    assert (
        missing["detail"]
        == "metric 'regional_margn' does not exist; did you mean 'regional_margin'?"
    )
    assert missing["extra"][0]["source"] == "path"

    for user in (REP, AGENT):
        for path in (
            "/metrics",
            "/metrics/regional_margin",
            "/metrics/funnel?workflow=pharmacy_visit",
            "/metrics/dwell?workflow=pharmacy_visit",
            "/metrics/forecast/distributor_pipeline",
        ):
            denied = get(api, path, user=user, status=403)
            assert denied["detail"].startswith("your roles may not see metrics")
    assert get(api, "/metrics", user=ADMIN)["computed_at"] == iso(START)


def test_alerts_follow_what_the_caller_may_read(make_api: MakeApi, tmp_path: Any) -> None:
    """F12: an alert watching an entity the caller may not read is not theirs to see or
    handle, and its values hide the fields the caller may not read."""
    import shutil

    from tests.api.conftest import DEFINITIONS

    bundle = tmp_path / "restricted"
    shutil.copytree(DEFINITIONS, bundle)
    form = bundle / "forms" / "distributor_stock.yaml"
    text = form.read_text(encoding="utf-8")
    computed = (
        '  stock_days: {type: decimal, computed: "on_hand / daily_sales if daily_sales else 999"'
    )
    assert computed in text
    text = text.replace(computed, computed + ", read: [director]")
    form.write_text(text + "\npermissions: {read: [manager, director]}\n", encoding="utf-8")
    api = make_api(bundle)
    stock(api, EAST, 100, 25)  # 4 days of sales: fires stock_below_safety
    alert = get(api, "/alerts", DIRECTOR)["items"][0]
    assert alert["rule"] == "stock_below_safety" and alert["values"] == {"stock_days": 4.0}
    shown = get(api, f"/alerts/{alert['id']}", MANAGER)
    assert shown["values"] == {} and shown["rule"] == "stock_below_safety"
    assert get(api, "/alerts", AGENT) == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert api.call("GET", f"{V1}/alerts/{alert['id']}", AGENT).status_code == 404
    assert api.call("POST", f"{V1}/alerts/{alert['id']}/acknowledge", AGENT).status_code == 404
    verdict = {"verdict": "useful"}
    assert (
        api.call("POST", f"{V1}/alerts/{alert['id']}/feedback", AGENT, json=verdict).status_code
        == 404
    )
    assert get(api, f"/alerts/{alert['id']}", DIRECTOR)["acked_at"] is None  # nothing changed
    assert shown["dedup_key"] is None  # made of field values; the manager has a hidden field
    # The rule is renamed: its old alerts still follow the record they are about.
    rules = api.directory / "rules" / "alerts.yaml"
    renamed = rules.read_text(encoding="utf-8").replace(
        "name: stock_below_safety\n", "name: stock_below_safety_v2\n"
    )
    assert "stock_below_safety_v2" in renamed
    rules.write_text(renamed, encoding="utf-8")
    assert api.server.reload("api", ADMIN).applied
    assert get(api, "/alerts", AGENT)["total"] == 0
    assert api.call("GET", f"{V1}/alerts/{alert['id']}", AGENT).status_code == 404
    old = get(api, f"/alerts/{alert['id']}", DIRECTOR)
    assert (old["declared"], old["values"], old["dedup_key"]) == (False, {}, None)
