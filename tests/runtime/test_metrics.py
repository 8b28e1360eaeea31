"""Metrics run in SQL and give the same numbers on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from typing import Any

import pytest
from sqlalchemy import Connection, insert

from engine.spec import MetricSpec
from runtime.metrics import MetricCache, MetricRow, compute_metric, stage_dwell
from runtime.store import T_ALERT, T_RECORD, T_STAY, Store

NOW = datetime(2026, 3, 31, 12, 0)
_ids = count(1)


def metric(**fields: Any) -> MetricSpec:
    """Build a metric spec as a definition file would."""
    return MetricSpec.model_validate({"kind": "metric", "version": 1, "name": "m", **fields})


def add_record(
    conn: Connection,
    entity: str,
    data: dict[str, Any],
    *,
    created_at: datetime = NOW - timedelta(days=1),
    **core: Any,
) -> str:
    """Insert one record straight into sf_record."""
    rid = f"r{next(_ids)}"
    conn.execute(
        insert(T_RECORD),
        {
            "id": rid,
            "entity": entity,
            "status": "open",
            "data": data,
            "schema_version": 1,
            "read_only": False,
            "row_version": 1,
            "created_at": created_at,
            "updated_at": created_at,
            **core,
        },
    )
    return rid


def add_stay(
    conn: Connection,
    stage: str,
    entered_hours_ago: float,
    dwell_hours: float | None,
    *,
    workflow: str = "pharmacy_visit",
    **extra: Any,
) -> None:
    """Insert one stay; `dwell_hours` None leaves it open."""
    entered = NOW - timedelta(hours=entered_hours_ago)
    left = None if dwell_hours is None else entered + timedelta(hours=dwell_hours)
    conn.execute(
        insert(T_STAY),
        {
            "record_id": f"s{next(_ids)}",
            "entity": "opportunity",
            "workflow": workflow,
            "stage": stage,
            "entered_at": entered,
            "left_at": left,
            "dwell_seconds": None if dwell_hours is None else dwell_hours * 3600.0,
            "evidence_ids": [],
            **extra,
        },
    )


def add_alert(
    conn: Connection, rule: str, record_id: str | None, response_hours: float | None, **extra: Any
) -> None:
    """Insert one firing alert, acknowledged `response_hours` after it fired (or not)."""
    fired = NOW - timedelta(days=2)
    conn.execute(
        insert(T_ALERT),
        {
            "rule": rule,
            "dedup_key": f"k{next(_ids)}",
            "record_id": record_id,
            "state": "firing",
            "started_at": fired,
            "fired_at": fired,
            "acked_at": None if response_hours is None else fired + timedelta(hours=response_hours),
            "values": {},
            "labels": {},
            **extra,
        },
    )


@pytest.fixture
def opportunities(store: Store) -> Store:
    """Six opportunities in two regions, plus leads that must never count."""
    with store.begin(NOW) as tx:
        c = tx.conn
        add_record(c, "opportunity", {"region": "sichuan", "margin_3m": 10, "tender_round": 1})
        add_record(c, "opportunity", {"region": "sichuan", "margin_3m": 20.0, "tender_round": 2})
        add_record(
            c,
            "opportunity",
            {"region": "sichuan", "margin_3m": 40, "tender_round": 2, "vip": True},
            stage="quote",
        )
        add_record(c, "opportunity", {"region": "chongqing", "margin_3m": 5}, stage="quote")
        add_record(c, "opportunity", {"region": "chongqing", "vip": False}, stage="new")
        add_record(c, "opportunity", {"region": "chongqing", "margin_3m": 15, "vip": False})
        add_record(c, "lead", {"region": "sichuan", "margin_3m": 1000})
        add_record(c, "lead", {"region": "sichuan", "margin_3m": "not a number"})
    return store


def run(store: Store, spec: MetricSpec, **kw: Any) -> list[MetricRow]:
    with store.read() as conn:
        return compute_metric(conn, spec, NOW, **kw)


def by_group(rows: list[MetricRow], column: str) -> dict[Any, tuple[Any, int]]:
    return {r.groups[column]: (r.value, r.count) for r in rows}


@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        ("count", 5.0),  # of: margin_3m counts the five records that have one
        ("count_distinct", 5.0),
        ("sum", 90.0),
        ("avg", 18.0),
        ("min", 5.0),
        ("max", 40.0),
        ("median", 15.0),  # 5 10 15 20 40
        ("p90", 32.0),  # position 3.6: 20 + 0.6 * (40 - 20)
    ],
)
def test_each_measure_over_a_json_field(
    opportunities: Store, measure: str, expected: float
) -> None:
    rows = run(opportunities, metric(entity="opportunity", measure=measure, of="margin_3m"))
    assert len(rows) == 1
    assert rows[0].groups == {}
    assert rows[0].count == 6
    assert rows[0].value == pytest.approx(expected)


def test_count_of_rows_and_distinct_groups(opportunities: Store) -> None:
    rows = run(opportunities, metric(entity="opportunity", measure="count"))
    assert [(r.value, r.count) for r in rows] == [(6.0, 6)]
    distinct = run(
        opportunities, metric(entity="opportunity", measure="count_distinct", of="region")
    )
    assert distinct[0].value == 2.0


def test_group_by_region_with_interpolated_percentiles(opportunities: Store) -> None:
    def grouped(measure: str) -> dict[Any, tuple[Any, int]]:
        spec = metric(entity="opportunity", measure=measure, of="margin_3m", group_by=["region"])
        rows = run(opportunities, spec)
        assert [r.groups["region"] for r in rows] == ["chongqing", "sichuan"]
        return by_group(rows, "region")

    avg = grouped("avg")
    assert avg["sichuan"] == (pytest.approx(70 / 3), 3)
    assert avg["chongqing"] == (pytest.approx(10.0), 3)  # the record without margin counts
    median = grouped("median")
    assert median["sichuan"][0] == pytest.approx(20.0)
    assert median["chongqing"][0] == pytest.approx(10.0)  # halfway between 5 and 15
    p90 = grouped("p90")
    assert p90["sichuan"][0] == pytest.approx(36.0)  # 20 + 0.8 * 20
    assert p90["chongqing"][0] == pytest.approx(14.0)  # 5 + 0.9 * 10


def test_group_by_keeps_json_types_and_null_groups(opportunities: Store) -> None:
    rows = run(
        opportunities, metric(entity="opportunity", measure="count", group_by=["tender_round"])
    )
    assert [(r.groups["tender_round"], r.count) for r in rows] == [(1, 1), (2, 2), (None, 3)]
    flags = run(opportunities, metric(entity="opportunity", measure="count", group_by=["vip"]))
    assert [(r.groups["vip"], r.count) for r in flags] == [(False, 2), (True, 1), (None, 3)]
    two = run(
        opportunities,
        metric(entity="opportunity", measure="count", group_by=["region", "stage"]),
    )
    assert [(r.groups["region"], r.groups["stage"], r.count) for r in two] == [
        ("chongqing", "new", 1),
        ("chongqing", "quote", 1),
        ("chongqing", None, 1),
        ("sichuan", "quote", 1),
        ("sichuan", None, 2),
    ]


@pytest.mark.parametrize(
    ("where", "expected_count", "expected_sum"),
    [
        ({"region": "sichuan"}, 3, 70.0),
        ({"region": ["sichuan", "chongqing"]}, 6, 90.0),
        ({"region": []}, 0, None),
        ({"stage": ["quote", "new"]}, 3, 45.0),
        ({"stage": None}, 3, 45.0),
        ({"stage": ["new", None]}, 4, 45.0),
        ({"tender_round": 2}, 2, 60.0),
        ({"tender_round": [1, 2]}, 3, 70.0),
        ({"vip": True}, 1, 40.0),
        ({"vip": False}, 2, 15.0),
        ({"vip": None}, 3, 35.0),
        ({"region": "chongqing", "stage": "quote"}, 1, 5.0),
    ],
)
def test_where_filters(
    opportunities: Store,
    where: dict[str, Any],
    expected_count: int,
    expected_sum: float | None,
) -> None:
    spec = metric(entity="opportunity", measure="sum", of="margin_3m", where=where)
    [row] = run(opportunities, spec)
    assert row.count == expected_count
    assert row.value == (None if expected_sum is None else pytest.approx(expected_sum))


def test_month_over_month_windows(store: Store) -> None:
    with store.begin(NOW) as tx:
        for days_ago, amount in [(1, 10), (29, 20), (30, 40), (31, 80), (59, 160), (61, 320)]:
            add_record(
                tx.conn,
                "opportunity",
                {"margin_3m": amount},
                created_at=NOW - timedelta(days=days_ago),
            )
    this = metric(entity="opportunity", measure="sum", of="margin_3m", window={"last": "30 days"})
    before = metric(
        entity="opportunity",
        measure="sum",
        of="margin_3m",
        window={"last": "30 days", "offset": "30 days"},
    )
    # (now - 30d, now] takes 1, 29 days ago; exactly 30 days ago belongs to the month before.
    assert run(store, this)[0].value == pytest.approx(30.0)
    assert run(store, before)[0].value == pytest.approx(280.0)  # 30, 31 and 59 days ago


def test_window_on_a_json_date_field(store: Store) -> None:
    with store.begin(NOW) as tx:
        for close, amount in [
            ("2026-03-31", 1),  # midnight today: inside (now is 12:00)
            ("2026-03-25", 2),  # 6.5 days ago: inside
            ("2026-03-24", 32),  # a bare date is its midnight, 7.5 days ago: outside
            ("2026-03-24T12:00:00", 4),  # exactly 7 days ago: outside (lower bound open)
            ("2026-03-24T12:00:01", 8),  # inside
            ("2026-04-01", 16),  # the future: outside
        ]:
            add_record(tx.conn, "opportunity", {"expected_close": close, "margin_3m": amount})
    spec = metric(
        entity="opportunity",
        measure="sum",
        of="margin_3m",
        window={"last": "7 days", "on": "expected_close"},
    )
    assert run(store, spec)[0].value == pytest.approx(11.0)


def test_group_argument_and_metric_cache(opportunities: Store) -> None:
    spec = metric(entity="opportunity", measure="avg", of="margin_3m", group_by=["region"])
    only = run(opportunities, spec, group={"region": "sichuan"})
    found: list[Any] = [(r.groups, r.value, r.count) for r in only]
    assert found == [({"region": "sichuan"}, pytest.approx(70 / 3), 3)]
    assert run(opportunities, spec, group={"region": "tibet"}) == []
    with opportunities.begin(NOW) as tx:
        cache = MetricCache(tx.conn, {"regional_margin": spec}, NOW)
        assert cache.value("regional_margin", "sichuan") == pytest.approx(70 / 3)
        add_record(tx.conn, "opportunity", {"region": "sichuan", "margin_3m": 1000})
        # Computed once per transaction: the new record does not show in this cache.
        assert cache.value("regional_margin", "sichuan") == pytest.approx(70 / 3)
        assert cache.value("regional_margin", "chongqing") == pytest.approx(10.0)
        assert cache.value("regional_margin", "tibet") is None
        assert MetricCache(tx.conn, {"regional_margin": spec}, NOW).value(
            "regional_margin", "sichuan"
        ) == pytest.approx(1070 / 4)
        with pytest.raises(ValueError, match="takes 1 group value"):
            cache.value("regional_margin")
        with pytest.raises(KeyError, match="unknown metric"):
            cache.value("nope", "sichuan")


def test_cache_matches_integer_groups(opportunities: Store) -> None:
    spec = metric(entity="opportunity", measure="count", group_by=["tender_round"])
    with opportunities.read() as conn:
        cache = MetricCache(conn, {"rounds": spec}, NOW)
        assert cache.value("rounds", 2) == 2.0
        assert cache.value("rounds", 2.0) == 2.0
        assert cache.value("rounds", None) == 3.0
        assert cache.value("rounds", 3) is None


def test_empty_results(store: Store) -> None:
    [row] = run(store, metric(entity="opportunity", measure="count"))
    assert (row.value, row.count) == (0.0, 0)
    [row] = run(store, metric(entity="opportunity", measure="median", of="margin_3m"))
    assert (row.value, row.count) == (None, 0)
    grouped = metric(entity="opportunity", measure="avg", of="margin_3m", group_by=["region"])
    assert run(store, grouped) == []


@pytest.fixture
def stays(store: Store) -> Store:
    """Proposal demos of 48h and 96h, one stuck for 100h so far, and short visits."""
    with store.begin(NOW) as tx:
        c = tx.conn
        add_stay(c, "proposal_demo", 300, 48, region="sichuan")
        add_stay(c, "proposal_demo", 200, 96, region="chongqing")
        add_stay(c, "proposal_demo", 100, None, region="sichuan")
        add_stay(c, "visit", 500, 2, region="sichuan")
        add_stay(c, "visit", 400, 4, region="sichuan")
        add_stay(c, "proposal_demo", 1000, 900, workflow="signing_east")
    return store


def test_dwell_counts_open_stays_so_far(stays: Store) -> None:
    spec = metric(
        source="stage_history",
        workflow="pharmacy_visit",
        measure="avg",
        of="dwell_hours",
        group_by=["stage"],
    )
    rows = by_group(run(stays, spec), "stage")
    assert rows["proposal_demo"] == (pytest.approx((48 + 96 + 100) / 3), 3)
    assert rows["visit"] == (pytest.approx(3.0), 2)
    open_only = metric(
        source="stage_history",
        workflow="pharmacy_visit",
        measure="max",
        of="dwell_hours",
        where={"left_at": None},
    )
    assert run(stays, open_only)[0].value == pytest.approx(100.0)
    by_region = metric(
        source="stage_history",
        workflow="pharmacy_visit",
        measure="median",
        of="dwell_hours",
        where={"stage": "proposal_demo"},
        group_by=["region"],
    )
    assert by_group(run(stays, by_region), "region") == {
        "chongqing": (pytest.approx(96.0), 1),
        "sichuan": (pytest.approx(74.0), 2),
    }


def test_stage_dwell_heatmap(stays: Store) -> None:
    with stays.read() as conn:
        rows = stage_dwell(conn, "pharmacy_visit", NOW)
    assert [r["stage"] for r in rows] == ["proposal_demo", "visit"]
    demo, visit = rows
    assert (demo["stays"], demo["open"]) == (3, 1)
    assert demo["avg_hours"] == pytest.approx(244 / 3)
    assert demo["median_hours"] == pytest.approx(96.0)
    assert demo["p90_hours"] == pytest.approx(99.2)  # 96 + 0.8 * (100 - 96)
    assert (visit["stays"], visit["open"]) == (2, 0)
    assert visit["median_hours"] == pytest.approx(3.0)
    assert visit["p90_hours"] == pytest.approx(3.8)


def test_stage_history_window_on_entered_at(stays: Store) -> None:
    spec = metric(
        source="stage_history",
        workflow="pharmacy_visit",
        measure="count",
        window={"last": "250h", "on": "entered_at"},
    )
    assert run(stays, spec)[0].count == 2  # entered 200h and 100h ago


def test_alert_response_hours_by_rule_and_owner(store: Store) -> None:
    with store.begin(NOW) as tx:
        c = tx.conn
        mine = add_record(c, "opportunity", {}, owner="li.wei")
        theirs = add_record(c, "opportunity", {}, owner="zhang.san")
        add_alert(c, "slow_demo", mine, 2)
        add_alert(c, "slow_demo", mine, 6)
        add_alert(c, "slow_demo", theirs, None)
        add_alert(c, "stock_low", theirs, 1, severity="high")
        add_alert(c, "stock_low", None, 3, severity="high")
    by_rule = metric(source="alerts", measure="avg", of="response_hours", group_by=["rule"])
    assert by_group(run(store, by_rule), "rule") == {
        "slow_demo": (pytest.approx(4.0), 3),
        "stock_low": (pytest.approx(2.0), 2),
    }
    by_owner = metric(source="alerts", measure="count", group_by=["owner"])
    assert [(r.groups["owner"], r.count) for r in run(store, by_owner)] == [
        ("li.wei", 2),
        ("zhang.san", 2),
        (None, 1),
    ]
    high = metric(source="alerts", measure="p90", of="response_hours", where={"severity": "high"})
    assert run(store, high)[0].value == pytest.approx(2.8)  # 1 + 0.9 * 2


def test_unknown_or_mistyped_columns_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="no column 'margin'"):
        run(
            store,
            metric(source="stage_history", workflow="w", measure="avg", of="margin"),
        )
    with pytest.raises(ValueError, match="needs a number column"):
        run(store, metric(entity="opportunity", measure="avg", of="stage"))
    with pytest.raises(ValueError, match="must be a date or datetime"):
        run(
            store,
            metric(entity="opportunity", measure="count", window={"last": "1d", "on": "owner"}),
        )


def test_stage_history_reads_how_the_deal_ended(store: Store) -> None:
    """Every stay of a deal carries the record's status now: won and lost paths compare (P8)."""
    with store.begin(NOW) as tx:
        c = tx.conn
        won = add_record(c, "opportunity", {}, status="won", owner="li")
        lost = add_record(c, "opportunity", {}, status="lost", owner="li")
        open_ = add_record(c, "opportunity", {}, owner="li")
        for rid, stages in ((won, ("inventory_count", "quote")), (lost, ("quote",))):
            for stage in stages:
                add_stay(c, stage, 10, 1, record_id=rid, owner="li")
        add_stay(c, "quote", 10, None, record_id=open_, owner="li")
    spec = metric(
        source="stage_history",
        workflow="pharmacy_visit",
        measure="count_distinct",
        of="record_id",
        where={"record_status": ["won", "lost"]},
        group_by=["owner", "record_status", "stage"],
    )
    got = {tuple(r.groups.values()): (r.value, r.count) for r in run(store, spec)}
    assert got == {
        ("li", "lost", "quote"): (1.0, 1),
        ("li", "won", "inventory_count"): (1.0, 1),
        ("li", "won", "quote"): (1.0, 1),
    }
