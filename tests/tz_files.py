"""Which test files depend on the machine's time zone (tests/conftest.py marks them `tz`)."""

from __future__ import annotations

# Test files whose results depend on the clock, calendars, cron or date arithmetic: they carry
# the `tz` marker, and `make test-tz` (run by .ci/run) runs them again under
# TZ=America/New_York so that nothing silently relies on the machine running in UTC.
TZ_DEPENDENT = frozenset(
    {
        "tests/runtime/test_time.py",
        "tests/runtime/test_calendar.py",
        "tests/runtime/test_sla_calendar.py",
        "tests/runtime/test_scheduler.py",
        "tests/runtime/test_schedule_failure.py",
        "tests/runtime/test_missed_policy.py",
        "tests/runtime/test_tick_pins.py",
        "tests/runtime/test_tick_timers.py",
        "tests/runtime/test_forecast.py",
        "tests/runtime/test_working_metrics.py",
        "tests/runtime/test_alert_for_actions.py",
        "tests/runtime/test_metrics.py",
        "tests/runtime/test_triggers.py",
        "tests/runtime/test_cov_tick.py",
        "tests/runtime/test_cov_alert_pending.py",
        "tests/test_sopflow_test.py",
        "tests/api/test_times_and_schedules.py",
        "tests/runtime/test_schedule_for_each.py",
        "tests/runtime/test_metric_snapshots.py",
        "tests/api/test_metric_snapshots_api.py",
        "tests/conformance/test_conformance.py",
    }
)
