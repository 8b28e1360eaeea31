"""GET /api/v1/metrics/{name}/snapshots: stored snapshots, times in the bundle's zone,
filters, pages and 400s with their location (SQLite and PostgreSQL, via make_api)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from runtime.store import T_SNAPSHOT
from tests.api.conftest import DEFINITIONS, Api

V1 = "/api/v1"
MANAGER, REP = "zhang.min", "li.wei"
MakeApi = Callable[..., Api]
METRIC = """kind: metric
version: 1
name: open_by_region
entity: opportunity
measure: count
group_by: [region]
snapshot: {every: 1d}
keep: 30d
"""


def definitions(tmp: Path) -> Path:
    directory = tmp / "snap-definitions"
    shutil.copytree(DEFINITIONS, directory)
    (directory / "rules" / "snapshot_metric.yaml").write_text(METRIC)
    return directory


def stored(api: Api, rows: list[tuple[str, datetime, float]]) -> None:
    runtime = api.server.runtime
    assert runtime is not None
    with runtime.store.begin(datetime(2026, 1, 1)) as tx:
        tx.conn.execute(
            insert(T_SNAPSHOT),
            [
                {
                    "metric": "open_by_region",
                    "group_key": f'["{region}"]',
                    "groups": {"region": region},
                    "at": at,
                    "value": value,
                    "count": int(value),
                }
                for region, at, value in rows
            ],
        )


def get(api: Api, query: str, status: int = 200, user: str = MANAGER) -> Any:
    answer = api.call("GET", f"{V1}/metrics/open_by_region/snapshots{query}", user)
    assert answer.status_code == status, answer.text
    return answer.json()


def test_snapshots_answer_in_the_bundle_zone_filtered_and_paged(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api = make_api(definitions(tmp_path))
    day = datetime(2026, 1, 5, 0, 0)  # 08:00 in Asia/Shanghai
    stored(
        api,
        [
            (r, day + timedelta(days=d), d + i)
            for d in range(3)
            for i, r in enumerate(["east", "west"])
        ],
    )
    page = get(api, "")
    assert page["timezone"] == "Asia/Shanghai" and page["next"] is None
    assert [(i["at"], i["group"], i["value"]) for i in page["items"][:2]] == [
        ("2026-01-05T08:00:00+08:00", {"region": "east"}, 0.0),
        ("2026-01-05T08:00:00+08:00", {"region": "west"}, 1.0),
    ]
    assert page["snapshot"] == {"every": "1d", "cron": None} and page["keep"] == "30d"
    # from is included, to excluded; a time without offset is read in the bundle's zone
    east = get(api, "?group=east&from=2026-01-06T08:00:00&to=2026-01-07T00:00:00Z")
    assert [(i["at"], i["value"]) for i in east["items"]] == [("2026-01-06T08:00:00+08:00", 1.0)]
    exactly_to = get(api, "?group=east&to=2026-01-06T00:00:00Z")
    assert len(exactly_to["items"]) == 1
    first = get(api, "?limit=4")
    assert len(first["items"]) == 4 and first["next"] is not None
    rest = get(api, f"?limit=4&cursor={first['next']}")
    assert len(rest["items"]) == 2 and rest["next"] is None
    exact = get(api, "?limit=6")
    assert len(exact["items"]) == 6 and exact["next"] is None


def test_bad_parameters_are_400s_naming_the_parameter(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api(definitions(tmp_path))
    for query, key in (
        ("?from=yesterday", "from"),
        ("?to=2026-13-01", "to"),
        ("?from=2026-01-06T00:00:00Z&to=2026-01-05T00:00:00Z", "to"),
        ("?group=east&group=quote", "group"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?cursor=-1", "cursor"),
    ):
        answer = get(api, query, 400)
        assert key in str(answer.get("extra")), (query, answer)
    assert get(api, "?from=0001-01-01T00:00:00Z", 400)["extra"][0]["key"] == "from"


def test_unknown_metric_is_404_and_the_metrics_role_is_needed(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api = make_api(definitions(tmp_path))
    answer = api.call("GET", f"{V1}/metrics/open_by_regon/snapshots", MANAGER)
    assert answer.status_code == 404 and "open_by_region" in answer.text
    get(api, "", 403, user=REP)


FIGURES = """kind: schedule
version: 1
name: region_figures
every: 1h
for_each: {metric: open_by_region}
actions:
  - notify: {to: "role:manager", template: figure_line}
---
kind: notification
version: 1
name: figure_line
subject: "{{ group }}: {{ value }}"
body: "-"
---
kind: schedule
version: 1
name: plain_hourly
every: 1h
actions:
  - notify: {to: "role:manager", template: plain_line}
---
kind: notification
version: 1
name: plain_line
subject: "hourly"
body: "-"
"""


def test_a_for_each_run_lists_its_item_counts_at_schedules(
    make_api: MakeApi, tmp_path: Path
) -> None:
    directory = definitions(tmp_path)
    (directory / "rules" / "region_figures.yaml").write_text(FIGURES)
    api = make_api(directory)
    runtime = api.server.runtime
    assert runtime is not None
    now = api.clock.now()
    runtime.tick(now)
    for i, region in enumerate(("sichuan", "chongqing")):
        runtime.create("opportunity", {"pharmacy_name": f"P{i}", "region": region}, actor=REP)
    runtime.tick(now + timedelta(hours=1))
    listed = api.call("GET", f"{V1}/schedules", MANAGER).json()["schedules"]
    figures = next(s for s in listed if s["name"] == "region_figures")
    assert figures["last_runs"][0]["items"] == {"total": 2, "ran": 2, "filtered": 0, "failed": 0}
    plain = next(s for s in listed if s["name"] == "plain_hourly")
    assert plain["last_runs"][0]["outcome"] == "ok" and plain["last_runs"][0]["items"] is None
