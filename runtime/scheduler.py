"""APScheduler 3.x drives time: it decides *when* to call tick and the outbox worker.

It holds no business state (decision 4): schedules' last and next runs live in the
store, so a restart or a second process neither loses nor repeats a run. Each bundle
schedule also gets an APScheduler job on its own trigger, so a cron run happens at its
minute rather than at the next periodic tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from engine.bundle import Bundle
from runtime.core import Runtime

log = logging.getLogger("sopflow.scheduler")
TICK_JOB = "sopflow-tick"
DELIVER_JOB = "sopflow-outbox"
REEVALUATE_JOB = "sopflow-reevaluate"


def schedule_trigger(spec: Any, timezone: str) -> CronTrigger | IntervalTrigger:
    """Return the APScheduler trigger of a bundle schedule."""
    tz = ZoneInfo(timezone)
    if spec.cron is not None:
        return CronTrigger.from_crontab(spec.cron, timezone=tz)
    return IntervalTrigger(seconds=max(int(spec.every.seconds), 1), timezone=tz)


class RuntimeScheduler:
    """Calls Runtime.tick every `tick_every` seconds and at each schedule's own times."""

    def __init__(
        self,
        runtime: Runtime,
        deliver: Callable[[], Any] | None = None,
        *,
        tick_every: float = 5.0,
        deliver_every: float = 2.0,
    ) -> None:
        self.runtime = runtime
        self.deliver = deliver
        self.tick_every = tick_every
        self.deliver_every = deliver_every
        self.scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )
        self._bundle_hash: str | None = None

    def start(self) -> None:
        """Start the background thread and its jobs."""
        self.scheduler.add_job(self._tick, "interval", seconds=self.tick_every, id=TICK_JOB)
        if self.deliver is not None:
            self.scheduler.add_job(
                self._deliver, "interval", seconds=self.deliver_every, id=DELIVER_JOB
            )
        # Re-evaluation jobs run here, batch by batch, each batch its own transaction:
        # requests go on between batches (runtime/reevaluate.py).
        self.scheduler.add_job(
            self._reevaluate, "interval", seconds=self.tick_every, id=REEVALUATE_JOB
        )
        self.sync(self.runtime.bundle)
        self.scheduler.start()

    def sync(self, bundle: Bundle) -> list[str]:
        """Make one job per bundle schedule (after a reload); return their ids."""
        if bundle.hash == self._bundle_hash:
            return self.schedule_jobs()
        for job in self.scheduler.get_jobs():
            if job.id.startswith("schedule:"):
                job.remove()
        for name, spec in bundle.schedules.items():
            trigger = schedule_trigger(spec, bundle.manifest.timezone)
            self.scheduler.add_job(self._tick, trigger, id=f"schedule:{name}")
        self._bundle_hash = bundle.hash
        return self.schedule_jobs()

    def schedule_jobs(self) -> list[str]:
        """Return the ids of the jobs that wake the runtime for bundle schedules."""
        return sorted(j.id for j in self.scheduler.get_jobs() if j.id.startswith("schedule:"))

    def shutdown(self, wait: bool = True) -> None:
        """Stop the jobs (waiting for a running tick or delivery to finish)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    def _tick(self) -> None:
        # Why no sync() here: shutdown() holds the job store's lock while it waits for
        # running jobs, and sync() needs that lock. Whoever swaps the bundle calls
        # sync(); until then a stale schedule job only wakes tick, which reads the
        # schedules of the bundle it runs on, so nothing runs twice or is lost.
        try:
            self.runtime.tick()
        except Exception:
            log.exception("tick failed")

    def _deliver(self) -> None:
        try:
            assert self.deliver is not None
            self.deliver()
        except Exception:
            log.exception("outbox delivery failed")

    def _reevaluate(self) -> None:
        try:
            self.runtime.reevaluate()
        except Exception:
            log.exception("re-evaluation failed; the job resumes from its last batch")
