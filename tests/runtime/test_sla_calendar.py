"""SLA deadlines and reminders in working time: holiday tables, weekends, DST, the machine's TZ."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from runtime import reports, timers
from runtime.calendar import working_time
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import Store

BERLIN = "Europe/Berlin"  # CET/CEST: summer time from 2026-03-29 to 2026-10-25

FILES = {
    "bundle.yaml": """
kind: bundle
version: 1
name: sla-calendar
timezone: Europe/Berlin
roles: [agent]
users:
  ana: {roles: [agent]}
calendars:
  office:
    hours: "09:00-18:00"
    holidays_table: closures
tables:
  closures:
    columns: {date: date, why: string}
    key: [date]
    rows:
      - {date: 2026-04-03, why: Good Friday}
      - {date: 2026-04-06, why: Easter Monday}
""",
    "forms/case.yaml": """
kind: form
version: 1
entity: case
fields:
  subject: {type: string}
""",
    "workflows/case_flow.yaml": """
kind: workflow
version: 1
name: case_flow
entity: case
stages:
  - id: intake
    sla:
      within: 2 working days
      calendar: office
      remind_before: [1 working day, 4 working hours, 1h]
  - id: done
moves:
  forward: next
""",
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    root = tmp_path_factory.mktemp("sla_calendar")
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text.lstrip(), encoding="utf-8")
    result = compile_bundle(root)
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return result.bundle


def berlin(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """Return a 2026 wall time in Berlin as naive UTC."""
    wall = datetime(2026, month, day, hour, minute, tzinfo=ZoneInfo(BERLIN))
    return wall.astimezone(UTC).replace(tzinfo=None)


def sla_timers(store: Store, bundle: Bundle, tmp: Path, created: datetime) -> dict[str, Any]:
    """Create a case at `created`; return its breach time and its reminders, by `before`."""
    rt = Runtime(bundle, store, FakeClock(created), evidence_dir=tmp / "evidence")
    record = rt.create("case", {"subject": "printer"})
    with store.read() as conn:
        rows = timers.pending(conn, record.id)
    found: dict[str, Any] = {}
    for row in rows:
        key = "breach" if row.kind == "sla_breach" else row.payload["before"]
        found[key] = row.due_at.replace(tzinfo=None)
    return found


def test_holidays_of_the_table_count_for_deadline_and_reminders(
    store: Store, bundle: Bundle, tmp_path: Path
) -> None:
    # Thursday before Easter: Friday 3 and Monday 6 April are holidays of `closures`.
    got = sla_timers(store, bundle, tmp_path, berlin(4, 2, 10))
    assert got == {
        "breach": berlin(4, 8, 10),  # Tue 7 is working day 1, Wed 8 day 2
        "1 working day": berlin(4, 7, 10),
        "4 working hours": berlin(4, 7, 15),  # Wed 09:00-10:00, then Tue 18:00 back to 15:00
        "1h": berlin(4, 8, 9),  # a clock duration stays clock time
    }


def test_a_reminder_in_working_days_skips_the_weekend(
    store: Store, bundle: Bundle, tmp_path: Path
) -> None:
    # Thursday 10:00 + 2 working days = Monday 10:00; one working day before is Friday.
    got = sla_timers(store, bundle, tmp_path, berlin(3, 5, 10))
    assert got["breach"] == berlin(3, 9, 10)
    assert got["1 working day"] == berlin(3, 6, 10)
    assert got["4 working hours"] == berlin(3, 6, 15)
    assert got["1h"] == berlin(3, 9, 9)


def test_deadline_and_reminders_across_the_switch_to_summer_time(
    store: Store, bundle: Bundle, tmp_path: Path
) -> None:
    # Thursday 26 March (CET, UTC+1) -> Monday 30 March (CEST, UTC+2), 10:00 local both.
    got = sla_timers(store, bundle, tmp_path, berlin(3, 26, 10))
    assert got["breach"] == datetime(2026, 3, 30, 8, 0)  # 10:00 CEST
    assert got["1 working day"] == datetime(2026, 3, 27, 9, 0)  # Friday 10:00 CET
    assert got["4 working hours"] == datetime(2026, 3, 27, 14, 0)  # Friday 15:00 CET


def test_created_exactly_at_closing_time_counts_from_the_next_opening(
    store: Store, bundle: Bundle, tmp_path: Path
) -> None:
    # Friday 18:00 is not working time: counting starts Monday 09:00.
    got = sla_timers(store, bundle, tmp_path, berlin(3, 6, 18))
    assert got["breach"] == berlin(3, 11, 9)  # Wednesday 09:00
    assert got["1 working day"] == berlin(3, 10, 9)
    assert got["4 working hours"] == berlin(3, 10, 14)  # Tuesday 18:00 back 4 hours


def test_created_exactly_at_opening_time(store: Store, bundle: Bundle, tmp_path: Path) -> None:
    got = sla_timers(store, bundle, tmp_path, berlin(3, 9, 9))  # Monday 09:00
    assert got["breach"] == berlin(3, 11, 9)
    assert got["1 working day"] == berlin(3, 10, 9)


@pytest.fixture
def new_york_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run a test on a machine whose local time zone is America/New_York."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    assert time.tzname[0] == "EST"
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york_machine")
def test_the_machine_time_zone_changes_nothing(
    store: Store, bundle: Bundle, tmp_path: Path
) -> None:
    got = sla_timers(store, bundle, tmp_path, berlin(4, 2, 10))
    assert got["breach"] == berlin(4, 8, 10)
    assert got["1 working day"] == berlin(4, 7, 10)
    assert got["4 working hours"] == berlin(4, 7, 15)


def test_dwell_report_in_working_time_gives_the_limit_in_working_seconds(
    store: Store, bundle: Bundle, tmp_path: Path
) -> None:
    created = berlin(3, 5, 10)  # Thursday 10:00
    rt = Runtime(bundle, store, FakeClock(created), evidence_dir=tmp_path / "evidence")
    record = rt.create("case", {"subject": "printer"})
    rt.clock.set(berlin(3, 6, 12))  # type: ignore[attr-defined]
    rt.transition(record.id, "done")
    wf = bundle.workflows["case_flow"]
    office = working_time(bundle, "office")
    with store.read() as conn:
        [working, _] = reports.dwell(conn, wf, berlin(3, 6, 12), office)
        [clock, _] = reports.dwell(conn, wf, berlin(3, 6, 12))
    assert working["sla_seconds"] == 2 * 9 * 3600  # two 9-hour days
    assert working["mean_seconds"] == (8 + 3) * 3600  # Thursday 10-18, Friday 09-12
    assert clock["sla_seconds"] == 2 * 86400
    assert clock["mean_seconds"] == 26 * 3600
