"""Datetimes over HTTP: any offset in, UTC with `+00:00` out; schedules and their runs.

Each test runs on SQLite and PostgreSQL (make_api) with the default bundle plus a
`shipment` form with datetime fields and two schedules (tests/runtime/time_bundle.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from runtime.core import Runtime
from tests.api.conftest import Api
from tests.runtime.time_bundle import time_definitions

V1 = "/api/v1"
REP, MANAGER, AGENT = "li.wei", "zhang.min", "zhao.lei"
MakeApi = Callable[..., Api]


def runtime_of(api: Api) -> Runtime:
    runtime = api.server.runtime
    assert runtime is not None
    return runtime


def call(api: Api, method: str, path: str, user: str, status: int, **kw: Any) -> Any:
    answer = api.call(method, f"{V1}{path}", user, **kw)
    assert answer.status_code == status, answer.text
    return answer.json()


def test_a_datetime_given_with_an_offset_comes_back_in_utc_with_its_offset(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api = make_api(time_definitions(tmp_path))
    body = {"ref": "S-1", "promised_at": "2026-01-07T10:00:00+01:00"}
    made = call(api, "POST", "/records/shipment", REP, 201, json=body)
    assert made["data"]["promised_at"] == "2026-01-07T09:00:00+00:00"
    assert made["data"]["window_end"] == "2026-01-05T09:00:00+00:00"  # YAML default, +08:00
    assert made["created_at"] == made["updated_at"] == "2026-01-05T09:00:00+00:00"
    changed = call(
        api,
        "PATCH",
        f"/records/shipment/{made['id']}",
        REP,
        200,
        json={"row_version": made["row_version"], "data": {"delivered_at": "2026-01-07T12:00:00Z"}},
    )
    assert (changed["data"]["delivered_at"], changed["data"]["hours_late"]) == (
        "2026-01-07T12:00:00+00:00",
        3.0,
    )
    # Filtering on a datetime field matches the instant, whatever offset it is written in.
    for given in (
        "2026-01-07T09:00:00Z",
        quote("2026-01-07T17:00:00+08:00"),
        "2026-01-07T09:00:00",
    ):
        listed = call(api, "GET", f"/records/shipment?field.promised_at={given}", REP, 200)
        assert [r["id"] for r in listed["items"]] == [made["id"]]
    history = call(api, "GET", f"/records/shipment/{made['id']}/history", REP, 200)
    assert all(row["at"].endswith("+00:00") for row in history)
    audit = call(api, "GET", f"/records/shipment/{made['id']}/audit", MANAGER, 200)
    created = next(e for e in audit if e["kind"] == "created")
    assert created["detail"]["data"]["promised_at"] == "2026-01-07T09:00:00+00:00"


def test_a_datetime_out_of_bounds_is_a_422_naming_the_bound_in_utc(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api = make_api(time_definitions(tmp_path))
    body = {"ref": "S-2", "promised_at": "2025-12-31T23:59:59+08:00"}  # min: 01-01 00:00 +08:00
    answer = call(api, "POST", "/records/shipment", REP, 422, json=body)
    assert [e["message"] for e in answer["extra"]] == [
        "promised_at: Input should be greater than or equal to 2025-12-31T16:00:00+00:00"
    ]


def test_schedules_list_their_next_run_and_how_their_last_runs_ended(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api = make_api(time_definitions(tmp_path))
    runtime = runtime_of(api)
    runtime.tick()  # 2026-01-05 09:00 UTC: first sight of each schedule
    api.clock.set(datetime(2026, 1, 6, 9, 0, tzinfo=timezone(timedelta(hours=8))))
    runtime.tick()  # 01:00 UTC: morning_shipment on time
    api.clock.advance(timedelta(days=2))
    runtime.tick()  # 01-08 01:00 UTC: morning late by a day; far_shipment (due 01-06 09:00) late

    answer = call(api, "GET", "/schedules", MANAGER, 200)
    assert answer["computed_at"] == "2026-01-08T01:00:00+00:00"
    found = {s["name"]: s for s in answer["schedules"]}
    assert list(found) == ["forecast_recompute", "morning_shipment", "far_shipment"]
    morning = found["morning_shipment"]
    assert (morning["cron"], morning["timezone"], morning["next_run"]) == (
        "0 9 * * *",
        "Asia/Shanghai",
        "2026-01-09T01:00:00+00:00",
    )
    assert (morning["runs"], morning["missed"]) == (2, 1)
    assert [
        (r["due"], r["outcome"], r["late"], r["late_by_seconds"]) for r in morning["last_runs"]
    ] == [
        ("2026-01-07T01:00:00+00:00", "ok", True, 86400.0),
        ("2026-01-06T01:00:00+00:00", "ok", False, None),
    ]
    far = found["far_shipment"]
    assert (far["every_seconds"], far["timezone"], far["missed_policy"]) == (
        86400.0,
        None,
        "mark_late",
    )
    [missed] = far["last_runs"]
    assert (missed["outcome"], missed["late"], missed["late_by_seconds"], missed["started_at"]) == (
        "missed",
        True,
        40 * 3600.0,
        None,
    )
    one = call(api, "GET", "/schedules?runs=1", MANAGER, 200)
    assert [len(s["last_runs"]) for s in one["schedules"]] == [0, 1, 1]


def test_schedules_need_a_role_the_access_block_names(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api(time_definitions(tmp_path))
    refused = call(api, "GET", "/schedules", AGENT, 403)  # agent: not in access.schedules
    assert "see schedules" in refused["detail"]
    assert call(api, "GET", "/schedules", MANAGER, 200)["schedules"][0]["last_runs"] == []
    bad = call(api, "GET", "/schedules?runs=51", MANAGER, 400)
    assert bad["extra"][0]["key"] == "runs"
