"""APScheduler only decides when to tick; one job per bundle schedule, resynced on reload."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from runtime.scheduler import RuntimeScheduler, schedule_trigger
from runtime.store import Store
from tests.runtime.helpers import default_bundle, make_runtime


def test_each_schedule_gets_a_job_on_its_own_trigger(store: Store, tmp_path: Path) -> None:
    runtime = make_runtime(store, tmp_path)
    driver = RuntimeScheduler(runtime, tick_every=3600)
    try:
        assert driver.sync(runtime.bundle) == ["schedule:forecast_recompute"]
        job = driver.scheduler.get_job("schedule:forecast_recompute")
        assert isinstance(job.trigger, IntervalTrigger)
        assert job.trigger.interval.total_seconds() == 72 * 3600
    finally:
        driver.shutdown(wait=False)


def test_a_reloaded_bundle_without_schedules_drops_their_jobs(store: Store, tmp_path: Path) -> None:
    runtime = make_runtime(store, tmp_path)
    driver = RuntimeScheduler(runtime, tick_every=3600)
    driver.sync(runtime.bundle)
    emptier = replace(default_bundle(), hash="other", schedules={})
    assert driver.sync(emptier) == []


def test_cron_schedules_use_the_bundle_time_zone() -> None:
    spec = type("S", (), {"cron": "0 9 * * mon", "every": None})()
    trigger = schedule_trigger(spec, "Asia/Shanghai")
    assert isinstance(trigger, CronTrigger)
    assert str(trigger.timezone) == "Asia/Shanghai"


def test_the_background_thread_ticks_and_delivers(store: Store, tmp_path: Path) -> None:
    runtime = make_runtime(store, tmp_path)
    delivered = threading.Event()
    driver = RuntimeScheduler(runtime, delivered.set, tick_every=0.05, deliver_every=0.05)
    driver.start()
    try:
        assert delivered.wait(10)
    finally:
        driver.shutdown()
    assert not driver.scheduler.running
