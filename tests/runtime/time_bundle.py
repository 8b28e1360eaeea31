"""The default bundle plus a form with datetime fields and two schedules (time zone tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from tests.runtime.helpers import ROOT

SHIPMENT = """\
kind: form
version: 1
entity: shipment
title: Shipment (datetimes with offsets)
fields:
  ref: {type: string, required: true}
  promised_at:
    type: datetime
    required: true
    min: "2026-01-01T00:00:00+08:00"
    max: 2026-12-31T23:59:59Z
  delivered_at: {type: datetime}
  window_end: {type: datetime, default: "2026-01-05T17:00:00+08:00"}
  hours_late: {type: decimal, computed: "hours_between(promised_at, delivered_at)"}
  days_left: {type: decimal, computed: "days_between(window_end, promised_at)"}
  promised_day: {type: date, computed: "date(promised_at)"}
  late: {type: boolean, computed: "delivered_at > promised_at"}
permissions:
  create: [rep, manager, admin]
  read: [rep, manager, director, analyst, admin]
  write: [rep, manager]
"""

SCHEDULES = """\
kind: schedule
version: 1
name: morning_shipment
title: A shipment every morning at 09:00 in the bundle's time zone
cron: "0 9 * * *"
missed: run_late
actions:
  - create_record: {entity: shipment, data: {ref: "'daily'", promised_at: "now + days(2)"}}
---
kind: schedule
version: 1
name: far_shipment
title: Fails every run (its date is past the field's max)
every: 24h
missed: mark_late
actions:
  - create_record: {entity: shipment, data: {ref: "'far'", promised_at: "now + days(400)"}}
"""


def time_definitions(tmp: Path, timezone: str | None = None) -> Path:
    """Return a copy of the definitions with the shipment form and the two schedules."""
    directory = tmp / "time-definitions"
    shutil.copytree(ROOT / "definitions", directory)
    (directory / "forms" / "shipment.yaml").write_text(SHIPMENT)
    (directory / "rules" / "shipment_schedules.yaml").write_text(SCHEDULES)
    if timezone is not None:
        manifest = directory / "bundle.yaml"
        text = manifest.read_text().replace("timezone: Asia/Shanghai", f"timezone: {timezone}")
        manifest.write_text(text)
    return directory


def time_bundle(tmp: Path, timezone: str | None = None) -> Bundle:
    """Compile the definitions of `time_definitions`."""
    result = compile_bundle(time_definitions(tmp, timezone))
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return result.bundle
