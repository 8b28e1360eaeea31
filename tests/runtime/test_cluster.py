"""Several processes on one database: every due timer fires once, a schedule runs once.

Each "process" is its own Store (its own connection pool) and Runtime on the same
database; they tick at the same moment from threads. On PostgreSQL due timers are
claimed with FOR UPDATE SKIP LOCKED and schedules under an advisory lock plus a
conditional update; on SQLite writers are serialised. Either way nothing fires twice
and nothing is lost.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import T_EVENT, T_OUTBOX, T_TIMER, Store
from tests.runtime.helpers import count, default_bundle

PROCESSES = 3
RECORDS = 24


def test_due_work_fires_once_across_processes(
    db_url: tuple[str, str | None], tmp_path: Path
) -> None:
    url, schema = db_url
    stores = [Store.open(url, schema=schema) for _ in range(PROCESSES)]
    clock = FakeClock()
    runtimes = [
        Runtime(default_bundle(), s, clock, evidence_dir=tmp_path / "ev", worker_id=f"p{i}")
        for i, s in enumerate(stores)
    ]
    try:
        first = runtimes[0]
        for i in range(RECORDS):  # appointment stage: SLA 14 days, breach notifies
            first.create(
                "opportunity", {"pharmacy_name": f"P{i}", "region": "sichuan"}, actor="li.wei"
            )
        first.tick()  # first sight of the 72-hour forecast schedule
        clock.advance(timedelta(days=15))
        outbox_before = count(stores[0], T_OUTBOX)
        start = threading.Barrier(PROCESSES)
        errors: list[BaseException] = []

        fired: list[int] = []

        def tick(rt: Runtime) -> None:
            try:
                start.wait()
                fired.append(rt.tick().timers)
            except BaseException as exc:  # collected and re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=tick, args=(rt,)) for rt in runtimes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        assert sum(fired) == RECORDS, fired  # the processes shared the due timers out
        store = stores[0]
        assert count(store, T_EVENT, T_EVENT.c.kind == "sla_breached") == RECORDS
        assert count(store, T_EVENT, T_EVENT.c.kind == "schedule_due") == 1
        assert (
            count(store, T_TIMER, T_TIMER.c.fired.is_(False), T_TIMER.c.due_at <= clock.now()) == 0
        )
        # Each breach notified the owner's manager once: no duplicate outbox rows.
        assert count(store, T_OUTBOX) - outbox_before == RECORDS
        for rt in runtimes:  # nothing left for anyone
            report = rt.tick()
            assert (report.schedules, report.timers) == ([], 0), report
    finally:
        for s in stores:
            s.dispose()
