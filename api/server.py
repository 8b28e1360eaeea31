"""What one server process holds: the store, the runtime, the current bundle, its workers.

`Server` is built by `create_app` and lives in the app's state. The Bundle is swapped
whole on reload (`apply`); every request reads `server.runtime.bundle` once and works
with that object, so a reload never changes a request halfway.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import insert, select

from api.auth import TokenCache
from api.config import Config
from engine.bundle import Bundle
from engine.compiler.pipeline import CompileResult, compile_bundle
from engine.diagnostics import errors
from runtime import evolve
from runtime import reevaluate as reevaluation
from runtime.clock import Clock, SystemClock, iso
from runtime.core import Runtime
from runtime.outbox import LogChannel, MailboxChannel, OutboxWorker, WebhookChannel
from runtime.preflight import Finding, blocking
from runtime.preflight import rehearse as check_live_data
from runtime.scheduler import RuntimeScheduler
from runtime.store import T_BUNDLE, Store

log = logging.getLogger("sopflow.server")


@dataclass
class ReloadResult:
    """The last attempt to load the definitions: when, by whom, and what it found."""

    at: datetime
    trigger: str  # startup | watch | api
    author: str | None
    applied: bool
    hash: str | None
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    preflight: list[dict[str, Any]] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    # The definition migration (runtime/evolve.py): planned, or applied when `applied`.
    migration: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "at": iso(self.at),
            "trigger": self.trigger,
            "author": self.author,
            "applied": self.applied,
            "hash": self.hash,
            "errors": sum(1 for d in self.diagnostics if d.get("severity") == "error"),
            "diagnostics": self.diagnostics,
            "preflight": self.preflight,
            "changes": self.changes,
            "duration_ms": round(self.duration_ms, 1),
            "migration": self.migration,
        }


class NoBundle(Exception):
    """The definitions on disk have errors and no good version was ever loaded."""


class StartRefused(Exception):
    """The definitions contradict the live data: the server does not start (decision 10)."""

    def __init__(self, result: ReloadResult) -> None:
        self.result = result
        refused = [p for p in result.preflight if p.get("severity") == "error"]
        super().__init__(f"the definitions contradict the live data ({len(refused)} problem(s))")

    def report(self) -> list[str]:
        """Return the pre-flight report as lines (the same findings a reload reports)."""
        lines = []
        for finding in self.result.preflight:
            where = "/".join(
                str(finding[k]) for k in ("entity", "workflow", "stage", "field") if finding.get(k)
            )
            text = f"preflight {finding.get('severity')}[{finding['code']}] {where}: "
            text += finding["message"]
            if finding.get("hint"):
                text += f" ({finding['hint']})"
            if finding.get("examples"):
                text += f"; records: {', '.join(finding['examples'])}"
            lines.append(text)
        return lines


class Server:
    """The store, the runtime on the current bundle, the scheduler and the outbox worker."""

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.store = Store.open(config.database_url, schema=config.database_schema)
        self.lock = threading.Lock()  # one reload at a time
        self.runtime: Runtime | None = None
        self.last: ReloadResult | None = None
        self.scheduler: RuntimeScheduler | None = None
        self._http = httpx.Client(timeout=10.0)
        self.outbox = OutboxWorker(
            self.store,
            self.clock,
            {
                "log": LogChannel(),
                "mailbox": MailboxChannel(config.mailbox_dir),
                "webhook": WebhookChannel(self._http),
            },
            worker_id="server",
        )
        self.listeners: list[Any] = []  # called with the new Bundle after each swap
        self.tokens = TokenCache()
        self.watcher: Any = None
        result = compile_bundle(config.directory, display_root=str(config.directory))
        self._first(result)

    # -- the bundle ----------------------------------------------------------------------
    @property
    def bundle(self) -> Bundle | None:
        """Return the bundle being served (None until a good one was compiled)."""
        return self.runtime.bundle if self.runtime else None

    def _first(self, result: CompileResult) -> None:
        now = self.clock.now()
        diagnostics = [d.to_dict() for d in result.diagnostics]
        bundle = result.bundle if not errors(result.diagnostics) else None
        findings: list[Finding] = []
        migrated: list[evolve.Change] = []
        started: list[dict[str, Any]] = []
        if bundle is not None:
            # The same pre-flight as a reload, against everything the store holds (there
            # is no Bundle to compare with); the data is read only when the bundle is
            # not the one last applied to this store (that one was checked then).
            findings, planned = check_live_data(self.store, None, bundle, fields=self._new(bundle))
            for finding in findings:
                level = logging.ERROR if finding.severity == "error" else logging.WARNING
                log.log(level, "%s", finding.render())
            if blocking(findings):
                raise self._refuse_start(now, bundle, diagnostics, findings, planned)
            try:
                applied: dict[str, Any] = {}
                migrated = self.record_version(bundle, None, "startup", applied, reevaluate=True)
            except Exception as exc:  # nothing was written: the transaction rolled back
                log.exception("the definition migration failed at start-up")
                findings.append(
                    Finding(
                        "migration-failed",
                        f"the definition migration failed: {type(exc).__name__}; "
                        "nothing was changed",
                        "",
                        0,
                        hint="see the server log",
                    )
                )
                raise self._refuse_start(now, bundle, diagnostics, findings, planned) from exc
            self.runtime = Runtime(
                bundle, self.store, self.clock, evidence_dir=self.config.evidence_dir
            )
            started = applied.get("reevaluations", [])
        else:
            for diagnostic in result.diagnostics:
                log.error("definitions: %s", diagnostic.render())
            log.error("the definitions have errors; nothing is served until they are fixed")
        self.last = ReloadResult(
            now,
            "startup",
            None,
            bundle is not None,
            bundle.hash if bundle else None,
            diagnostics,
            [f.to_dict() for f in findings],
            {"reevaluations": started} if bundle is not None and started else {},
            migration=[c.to_dict() for c in migrated],
        )

    def _new(self, bundle: Bundle) -> bool:
        """Tell whether `bundle` is not the version last applied to this store."""
        with self.store.read() as conn:
            last = conn.execute(
                select(T_BUNDLE.c.hash).order_by(T_BUNDLE.c.id.desc()).limit(1)
            ).scalar()
        return last != bundle.hash

    def apply(
        self, bundle: Bundle, author: str | None, trigger: str, changes: dict[str, Any]
    ) -> list[evolve.Change]:
        """Serve `bundle` from the next request on; record the version; tell the workers.

        All or nothing: if a step after the swap fails (scheduler, listeners, the version
        row with the definition migration), the old bundle is swapped back and the error
        raised, so a reload is never reported applied while half of it is missing.
        Returns the definition migration's changes (runtime/evolve.py).
        """
        old = self.runtime.bundle if self.runtime is not None else None
        if self.runtime is None:
            self.runtime = Runtime(
                bundle, self.store, self.clock, evidence_dir=self.config.evidence_dir
            )
        else:
            self.runtime.swap(bundle)
        try:
            self._follow(bundle)
            # Rules with `reevaluate` whose version is new get a background job, queued
            # in the transaction of the version row (none if it rolls back); the jobs
            # show in the reload answer and the version's history (changes).
            migrated = self.record_version(bundle, author, trigger, changes, reevaluate=True)
        except Exception:
            if old is None:
                self.runtime = None
            else:
                self.runtime.swap(old)
                self._follow(old)
            raise
        if self.config.background and self.scheduler is None:
            self.start_background()
        return migrated

    def _follow(self, bundle: Bundle) -> None:
        """Bring the scheduler's jobs and the listeners (OpenAPI) to `bundle`."""
        if self.scheduler is not None:
            self.scheduler.sync(bundle)
        for listener in self.listeners:
            listener(bundle)

    def _refuse_start(
        self, now: Any, bundle: Bundle, diagnostics: Any, findings: Any, planned: Any
    ) -> StartRefused:
        """Keep the refused start-up as the last result, close the store; return the error."""
        self.last = ReloadResult(
            now,
            "startup",
            None,
            False,
            bundle.hash,
            diagnostics,
            [f.to_dict() for f in findings],
            migration=[c.to_dict() for c in planned],
        )
        self._http.close()
        self.store.dispose()
        return StartRefused(self.last)

    def record_version(
        self,
        bundle: Bundle,
        author: str | None,
        trigger: str,
        changes: dict[str, Any],
        *,
        reevaluate: bool = False,
    ) -> list[evolve.Change]:
        """Migrate the data to `bundle` and keep it in sf_bundle_version, in one transaction.

        The definition migration (runtime/evolve.py) runs first and commits with the
        version row or not at all; it is read from the data, so a restart on the same
        hash migrates nothing (and is not a new version). With `reevaluate`, the
        re-evaluation jobs the bundle calls for (runtime/reevaluate.py) are queued in the
        same transaction and, once it committed, added to `changes["reevaluations"]`.
        Returns what was migrated.
        """
        queued: list[dict[str, Any]] = []
        original = changes
        with self.store.begin(self.clock.now(), author, bundle.hash) as tx:
            migrated = evolve.apply(tx, bundle)
            for change in migrated:
                log.info("%s", change.render())
            if migrated:
                changes = {**changes, "migration": [c.to_dict() for c in migrated]}
            if reevaluate and (queued := reevaluation.queue_in(tx, bundle)):
                changes = {**changes, "reevaluations": queued}
            last = tx.conn.execute(
                select(T_BUNDLE.c.hash).order_by(T_BUNDLE.c.id.desc()).limit(1)
            ).scalar()
            if last != bundle.hash:
                tx.conn.execute(
                    insert(T_BUNDLE).values(
                        hash=bundle.hash,
                        name=bundle.manifest.name,
                        applied_at=tx.now,
                        author=author,
                        summary=f"{trigger}: {bundle.summary()}"[:2000],
                        changes=changes,
                    )
                )
                tx.event("definitions_applied", None, None, hash=bundle.hash, trigger=trigger)
        if queued:  # committed: the reload answer shows them
            original["reevaluations"] = queued
        return migrated

    def versions(self, limit: int = 20) -> list[dict[str, Any]]:
        """Return the applied bundle versions, newest first."""
        with self.store.read() as conn:
            rows = conn.execute(select(T_BUNDLE).order_by(T_BUNDLE.c.id.desc()).limit(limit))
            return [{**dict(r._mapping), "applied_at": iso(r.applied_at)} for r in rows.all()]

    # -- workers -------------------------------------------------------------------------
    def start_background(self) -> None:
        """Start the scheduler (tick, schedules) and the outbox worker in this process."""
        if self.runtime is None or not self.config.background:
            return
        self.scheduler = RuntimeScheduler(
            self.runtime,
            self.outbox.run_once,
            tick_every=self.config.tick_every,
            deliver_every=self.config.deliver_every,
        )
        self.scheduler.start()

    def reload(self, trigger: str, author: str | None = None) -> ReloadResult:
        """Compile the folder again, pre-flight it against live data, swap if it is good."""
        from api.reload import reload  # noqa: PLC0415  (reload imports this module)

        return reload(self, trigger, author)

    def start_watching(self, app: Any) -> None:
        """Reload whenever a file in the definitions folder changes (config.watch)."""
        if not self.config.watch:
            return
        from api.reload import Watcher  # noqa: PLC0415

        self.watcher = Watcher(self)
        self.watcher.start()

    async def stop_watching(self) -> None:
        """Stop watching the folder."""
        if self.watcher is not None:
            await self.watcher.stop()
            self.watcher = None

    def close(self) -> None:
        """Stop the workers (finishing a running tick or delivery), then the store."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        self._http.close()
        self.store.dispose()

    def ready(self) -> tuple[bool, str]:
        """Tell whether requests can be served, and if not why."""
        if self.runtime is None:
            return False, "the definitions have errors and no good version is loaded"
        try:
            with self.store.read() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception as exc:  # any database failure means not ready
            return False, f"the database does not answer: {type(exc).__name__}"
        return True, "ready"
