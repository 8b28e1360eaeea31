"""Times in test files: read in the bundle's time zone unless they carry an offset."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.spec.base import parse_duration

# A Monday at nine: where a case's clock starts unless it says otherwise.
DEFAULT_START = datetime(2026, 1, 5, 9, 0)


def zone_of(name: str) -> ZoneInfo:
    """Return the bundle's time zone (UTC when it names none or an unknown one)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def to_utc(value: datetime | date | str, zone: ZoneInfo) -> datetime:
    """Return a test file's time as naive UTC (the runtime's clock reading).

    Text is ISO 8601 (`2026-01-05 09:00`, `2026-01-05T09:00:00+08:00`, `...Z`); a time
    without an offset, and a date (its midnight), are in the bundle's time zone.
    Raise ValueError for text that is not a time.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise ValueError(
                f"'{text}' is not a time; write e.g. '2026-01-05 09:00' or "
                "'2026-01-05T09:00:00+08:00'"
            ) from None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC).replace(tzinfo=None)


def seconds_of(text: str) -> float:
    """Return the seconds of a duration written like '72h' or '3 days' (ValueError if not)."""
    duration = parse_duration(text)
    if duration.working:
        raise ValueError(f"'{text}': a test's clock moves in calendar time, not working time")
    return duration.seconds


__all__ = ["DEFAULT_START", "seconds_of", "to_utc", "zone_of"]
