"""runtime/home.py: SLA countdowns (clock and working time), overdue counts, queue
counts by entity and the median alert response time per rule (F9)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime import home, queries
from runtime.alerts import listing
from tests.api.conftest import DEFINITIONS, Api, make_api  # noqa: F401
from tests.api.test_ops import AGENT, EAST, HOUR, NORTH, REP, opportunity, runtime_of, stock
from tests.api.test_queue_visibility import QUEUE, waiting_lead
from tests.runtime.conftest import backend, db_url  # noqa: F401

MakeApi = Callable[..., Api]
WORKFLOW = "pharmacy_visit"


def _working_bundle(tmp_path: Path) -> Path:
    """The default bundle with the appointment SLA in working time of the office calendar."""
    target = tmp_path / "working"
    shutil.copytree(DEFINITIONS, target)
    path = target / "workflows" / "pharmacy_visit.yaml"
    text = path.read_text()
    assert "within: 14 days" in text
    path.write_text(
        text.replace("within: 14 days", "within: 16 working hours\n      calendar: office")
    )
    return target


def _left(api: Api) -> Any:
    runtime = runtime_of(api)
    with runtime.store.read() as conn:
        (mine,) = home.my_records(conn, REP, ["opportunity"])
    return home.countdown(runtime.bundle, WORKFLOW, mine["stage"], mine["sla_due"], api.clock.now())


def test_a_clock_sla_counts_down_in_clock_hours(make_api: MakeApi) -> None:  # noqa: F811
    api = make_api()
    opportunity(api, "A")
    left = _left(api)
    assert (left.seconds, left.working) == (14 * 24 * 3600, False)
    api.clock.advance(14 * 24 * HOUR + HOUR)
    assert _left(api).seconds == -3600
    runtime = runtime_of(api)
    with runtime.store.read() as conn:
        assert home.overdue_count(conn, [REP], ["opportunity"], api.clock.now()) == 1
        assert home.overdue_count(conn, [REP], ["lead"], api.clock.now()) == 0
        assert home.stage_counts(conn, REP, ["opportunity"]) == [
            {"entity": "opportunity", "workflow": WORKFLOW, "stage": "appointment", "records": 1}
        ]


def test_a_working_sla_counts_working_hours_only(make_api: MakeApi, tmp_path: Path) -> None:  # noqa: F811
    # The fake clock starts Monday 2026-01-05 17:00 in Shanghai: one working hour left that
    # day (09-12, 13-18), so 16 working hours end on Wednesday at 17:00.
    api = make_api(bundle=_working_bundle(tmp_path))
    opportunity(api, "A")
    left = _left(api)
    assert (left.seconds, left.working) == (16 * 3600, True)
    assert left.due.isoformat() == "2026-01-07T09:00:00"  # UTC
    api.clock.advance(HOUR)  # Monday 18:00: the day's working time is over
    assert _left(api).seconds == 15 * 3600
    api.clock.advance(15 * HOUR)  # Tuesday 09:00: no working time passed overnight
    assert _left(api).seconds == 15 * 3600
    api.clock.advance(33 * HOUR)  # Thursday 09:00, a working hour after the deadline
    assert _left(api).seconds == -3600


def test_queue_counts_by_entity_add_up_to_the_queue_sizes(make_api: MakeApi) -> None:  # noqa: F811
    api = make_api()
    waiting_lead(api, 1)
    waiting_lead(api, 2)
    runtime = runtime_of(api)
    with runtime.store.read() as conn:
        found = home.queue_entities(conn, [QUEUE, "general_service"], ["lead", "ticket"])
        sizes = queries.queue_sizes(conn, [QUEUE, "general_service"], ["lead", "ticket"])
    assert found == {QUEUE: {"lead": 2}}
    assert sizes[QUEUE] == 2


def test_the_median_response_time_per_rule(make_api: MakeApi) -> None:  # noqa: F811
    api = make_api()
    runtime = runtime_of(api)
    ids = []
    for n, where in enumerate((EAST, NORTH, EAST, NORTH)):
        stock(api, where, 10, 5, sku=f"sku-{n}")
        with runtime.store.read() as conn:
            ids.append(max(int(a["id"]) for a in listing(conn)))
    with runtime.store.read() as conn:
        assert home.response_times(conn) == {}
    for alert_id, hours in zip(ids[:3], (1, 3, 2), strict=True):
        api.clock.advance(HOUR * hours)
        runtime.acknowledge_alert(alert_id, actor=AGENT)
    with runtime.store.read() as conn:
        found = home.response_times(conn)["stock_below_safety"]
    # fired at the same time: acknowledged after 1, 4 and 6 hours
    assert found == {"acknowledged": 3, "median_seconds": 4 * 3600.0}
    api.clock.advance(2 * HOUR)
    runtime.acknowledge_alert(ids[3], actor=AGENT)  # after 8 hours
    with runtime.store.read() as conn:
        assert home.response_times(conn)["stock_below_safety"]["median_seconds"] == 5 * 3600.0
