"""F2: an ingest merges by each field's `on_ingest`: append to the path, keep the first."""

from __future__ import annotations

from datetime import UTC, datetime

from runtime.core import Runtime

LEAD = {"source": "web_form", "external_id": "F2-R1", "pharmacy_name": "Huamei"}


def test_an_ingest_appends_to_the_path_keeps_the_first_and_replaces_the_rest(
    runtime: Runtime,
) -> None:
    first, created = runtime.ingest(
        "lead",
        {
            **LEAD,
            "first_source": "web_form",
            "orders_90d": 2,
            "touchpoints": ["web_form"],
            "touchpoint_times": ["2026-01-05T09:00:00+08:00"],
        },
    )
    again, created_again = runtime.ingest(
        "lead",
        {
            **LEAD,
            "first_source": "campaign",
            "orders_90d": 5,
            "touchpoints": ["email_opened", "demo_booked"],
            "touchpoint_times": ["2026-01-06T10:00:00+08:00", "2026-01-06T11:00:00+08:00"],
        },
    )
    assert (created, created_again, again.id) == (True, False, first.id)
    stored = runtime.get(first.id).data
    assert stored["touchpoints"] == ["web_form", "email_opened", "demo_booked"]
    assert [t.replace(tzinfo=UTC) for t in stored["touchpoint_times"]] == [
        datetime(2026, 1, 5, 1, tzinfo=UTC),
        datetime(2026, 1, 6, 2, tzinfo=UTC),
        datetime(2026, 1, 6, 3, tzinfo=UTC),
    ]  # in order, each with its time (list items are kept as UTC)
    assert stored["first_source"] == "web_form"  # keep: the stored value stays
    assert stored["orders_90d"] == 5  # replace, the default
    # 40 demo + 20/3 one email + 20 x 3/4 steps
    assert round(stored["intent_score"], 2) == 61.67


def test_keep_fills_an_empty_value_and_append_starts_an_empty_path(runtime: Runtime) -> None:
    runtime.ingest("lead", LEAD)
    merged, _ = runtime.ingest(
        "lead", {**LEAD, "first_source": "jd", "touchpoints": ["whitepaper"], "city_tier": None}
    )
    assert merged.data["first_source"] == "jd"
    assert merged.data["touchpoints"] == ["whitepaper"]
    again, _ = runtime.ingest("lead", {**LEAD, "touchpoints": ["web_form"]})
    assert again.data["touchpoints"] == ["whitepaper", "web_form"]
