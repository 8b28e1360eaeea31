"""F8 evidence-backed forecast: stage weights 0.3/0.5/0.8, recomputed every 72h, seasonality."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.errors import Refused
from runtime.forecast import forecast_accuracy
from runtime.store import T_FORECAST
from tests.runtime.scenarios.support import REP, START, pdf, png

DIRECTOR = "wang.fang"  # F11: approves the tier in the approval stage

EVERY = timedelta(hours=72)
MONDAY = datetime(2026, 1, 5)


def deal(runtime: Runtime, name: str, amount: int, close: str, region: str = "east") -> str:
    data = {"distributor": name, "region": region, "amount": amount, "expected_close": close}
    return runtime.create("distributor_deal", data, actor=REP).id


def advance(runtime: Runtime, record_id: str, target: str) -> None:
    """Attach the evidence the current stage asks for, then move on (F8)."""
    stage = runtime.get(record_id).stage
    if stage == "needs_confirmation":
        runtime.attach_evidence(record_id, "signed_needs", pdf(), file_name="needs.pdf", actor=REP)
    elif stage == "contract_draft":
        runtime.attach_evidence(record_id, "review_screenshot", png(), file_name="r.png", actor=REP)
        runtime.update(
            record_id, {"accepted_clauses": ["exclusive_area", "return_policy"]}, actor=REP
        )
    elif stage == "approval":
        mail = b"From: finance@customer.example\r\nSubject: budget approved\r\n"
        runtime.attach_evidence(
            record_id,
            "budget_approval",
            mail,
            file_name="approval.eml",
            media_type="message/rfc822",
            actor=REP,
        )
        runtime.decide(record_id, "approve", actor=DIRECTOR)  # F11: the tier approval
    runtime.transition(record_id, target, actor=REP)


def snapshots(runtime: Runtime) -> dict[datetime, list[dict[str, Any]]]:
    """Every kept forecast snapshot: computed_at -> its buckets."""
    with runtime.store.read() as conn:
        rows = conn.execute(
            select(T_FORECAST)
            .where(T_FORECAST.c.forecast == "distributor_pipeline")
            .order_by(T_FORECAST.c.computed_at, T_FORECAST.c.bucket_start)
        ).all()
    found: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        found[row.computed_at].append(dict(row._mapping))
    return dict(found)


def total(buckets: list[dict[str, Any]]) -> float:
    return sum(float(b["expected"]) for b in buckets)


def test_a_stage_change_needs_its_evidence(runtime: Runtime) -> None:
    """F8: leaving a stage without its objective evidence is refused, naming it."""
    record_id = deal(runtime, "hangzhou-lianhua", 100000, "2026-02-10")
    with pytest.raises(Refused) as refused:
        runtime.transition(record_id, "contract_draft", actor=REP)
    assert [p.message for p in refused.value.problems] == [
        "Signed needs confirmation: 0 of 1 attached (application/pdf)"
    ]
    advance(runtime, record_id, "contract_draft")
    with pytest.raises(Refused) as again:
        runtime.transition(record_id, "approval", actor=REP)
    assert [p.message for p in again.value.problems] == [
        "Review screenshot: 0 of 1 attached (image/*)",
        "The draft lacks clauses required in east.",
    ]


def test_the_schedule_recomputes_the_weighted_seasonal_forecast_every_72_hours(
    runtime: Runtime, clock: FakeClock
) -> None:
    """F8: every 72 hours the schedule recomputes amount x stage weight (0.3 / 0.5 / 0.8) x
    the seasonal coefficient (1.23 in the 3 weeks before Spring Festival) over a rolling
    12 weeks; each run is kept, and past buckets are compared with what was won."""
    deal(runtime, "hangzhou-lianhua", 100000, "2026-02-10")  # before Spring Festival
    middle = deal(runtime, "ningbo-sanjiang", 200000, "2026-03-10")
    late = deal(runtime, "wenzhou-meida", 50000, "2026-02-20")
    deal(runtime, "far-future", 70000, "2026-05-20")  # beyond the 12-week horizon
    deal(runtime, "tianjin-jiajia", 80000, "2026-02-10", region="north")  # every region: 29 520
    advance(runtime, middle, "contract_draft")
    advance(runtime, late, "contract_draft")
    advance(runtime, late, "approval")

    assert runtime.tick().schedules == []  # first sight: due in 72 hours
    clock.advance(EVERY - timedelta(minutes=1))
    assert runtime.tick().schedules == []
    clock.advance(minutes=1)
    assert runtime.tick().schedules == ["forecast_recompute"]

    first_at = START + EVERY
    first = snapshots(runtime)[first_at]
    north = 80000 * 0.3 * 1.23  # the forecast covers every region's signing workflow
    assert total(first) == pytest.approx(100000 * 0.3 * 1.23 + 200000 * 0.5 + 50000 * 0.8 + north)
    starts = [b["bucket_start"] for b in first]
    assert starts == [MONDAY + timedelta(weeks=w) for w in range(13)]  # 12 weeks ahead
    by_start = {b["bucket_start"]: b for b in first}
    spring = by_start[datetime(2026, 2, 9)]
    assert (spring["expected"], spring["coefficient"]) == (
        pytest.approx(36900.0 + north),
        pytest.approx(1.23),
    )
    assert by_start[datetime(2026, 2, 16)]["expected"] == pytest.approx(40000.0)
    assert by_start[datetime(2026, 2, 16)]["coefficient"] == pytest.approx(1.0)
    assert by_start[datetime(2026, 3, 9)]["expected"] == pytest.approx(100000.0)

    clock.advance(days=1)
    advance(runtime, middle, "approval")  # a later stage weighs more at the next run
    clock.advance(EVERY - timedelta(days=1))
    assert runtime.tick().schedules == ["forecast_recompute"]
    second = snapshots(runtime)[first_at + EVERY]
    assert total(second) == pytest.approx(36900 + north + 200000 * 0.8 + 40000)

    # Six weeks on (a run every 72 hours), 'late' is signed during its close week.
    for _ in range(12):
        clock.advance(EVERY)
        assert runtime.tick().schedules == ["forecast_recompute"]
    assert clock.now() == datetime(2026, 2, 16, 9)
    advance(runtime, late, "signed")
    for _ in range(3):
        clock.advance(EVERY)
        runtime.tick()

    kept = snapshots(runtime)
    assert sorted(kept) == [START + EVERY * n for n in range(1, 18)]  # every run is kept
    with runtime.store.read() as conn:
        spec = runtime.bundle.forecasts["distributor_pipeline"]
        covered = runtime.bundle.forecast_workflows(spec)
        found = forecast_accuracy(conn, spec, clock.now(), covered)
        accuracy = {row["bucket_start"]: row for row in found}
    week = accuracy[datetime(2026, 2, 16)]  # forecast of Feb 13 vs the 50 000 won
    assert week["computed_at"] == datetime(2026, 2, 13, 9)
    assert (week["expected"], week["actual"]) == (pytest.approx(40000.0), 50000.0)
    assert week["pct_error"] == pytest.approx(20.0)
    assert accuracy[datetime(2026, 2, 9)]["error"] == pytest.approx(36900.0 + north)  # never won
