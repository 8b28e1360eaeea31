"""Hot reload: compile, pre-flight against live data, swap atomically (decision 10).

`reload()` compiles the definitions folder; a bundle without errors is checked against
the records the store holds (`runtime.preflight`), and only then swapped in with
`Server.apply` (one reference assignment: a request sees the old or the new Bundle,
never a mix). Compile errors or a refusing pre-flight leave the Bundle being served
untouched. Either way `server.last` keeps every diagnostic and pre-flight finding, and
each of them is also one line of the `sopflow.reload` log.

Alert state, timers and the outbox live in the store, not in the Bundle, so they
survive a reload; the next tick runs them against the new Bundle.

`Watcher` reloads when a definition file changes: watchfiles' `awatch` on the folder
(debounced by `Config.watch_debounce_ms`) as an asyncio task, with the compile in a
worker thread so requests keep being served meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from watchfiles import Change, awatch

from engine.bundle import Bundle
from engine.compiler.pipeline import YAML_SUFFIXES, compile_bundle
from engine.diagnostics import Severity
from runtime.evolve import Change as Migration
from runtime.preflight import Finding, blocking, rehearse

if TYPE_CHECKING:
    from api.server import ReloadResult, Server

log = logging.getLogger("sopflow.reload")

# Bundle attribute per document kind, and what of each document decides "changed".
KINDS: dict[str, str] = {
    "form": "forms",
    "workflow": "workflows",
    "table": "tables",
    "scoring": "scorings",
    "decision_table": "decision_tables",
    "validation": "validations",
    "routing": "routings",
    "alert": "alerts",
    "metric": "metrics",
    "schedule": "schedules",
    "forecast": "forecasts",
    "notification": "notifications",
}


def _identity(kind: str, item: Any) -> Any:
    """Return what is compared to tell whether a document changed."""
    if kind == "workflow":
        return (item.body, dict(item.params), item.template)
    if kind == "validation":
        return item[0]
    return getattr(item, "spec", item)


def changes(old: Bundle | None, new: Bundle) -> dict[str, Any]:
    """Summarise what `new` changes versus `old`: documents by kind, fields, stages, files."""
    out: dict[str, Any] = {"from": old.hash if old else None, "to": new.hash}
    added: dict[str, list[str]] = {}
    removed: dict[str, list[str]] = {}
    changed: dict[str, list[str]] = {}
    for kind, attr in KINDS.items():
        before: Any = getattr(old, attr) if old else {}
        after: Any = getattr(new, attr)
        if names := sorted(set(after) - set(before)):
            added[kind] = names
        if names := sorted(set(before) - set(after)):
            removed[kind] = names
        both = sorted(set(before) & set(after))
        if names := [n for n in both if _identity(kind, before[n]) != _identity(kind, after[n])]:
            changed[kind] = names
    out.update(added=added, removed=removed, changed=changed)
    if old is None:
        return out
    if old.manifest != new.manifest:
        out["manifest"] = True
    if fields := _fields(old, new, changed.get("form", [])):
        out["fields"] = fields
    if stages := _stages(old, new, changed.get("workflow", [])):
        out["stages"] = stages
    files = {
        "added": sorted(set(new.files) - set(old.files)),
        "removed": sorted(set(old.files) - set(new.files)),
    }
    if files["added"] or files["removed"]:
        out["files"] = files
    return out


def _fields(old: Bundle, new: Bundle, forms: list[str]) -> dict[str, Any]:
    out = {}
    for entity in forms:
        before, after = old.forms[entity].spec.fields, new.forms[entity].spec.fields
        part = {
            "added": sorted(set(after) - set(before)),
            "removed": sorted(set(before) - set(after)),
            "changed": sorted(n for n in set(before) & set(after) if before[n] != after[n]),
        }
        if any(part.values()):
            out[entity] = {k: v for k, v in part.items() if v}
    return out


def _stages(old: Bundle, new: Bundle, workflows: list[str]) -> dict[str, Any]:
    out = {}
    for name in workflows:
        before = [s.id for s in old.workflows[name].body.stages]
        after = [s.id for s in new.workflows[name].body.stages]
        part = {
            "added": [s for s in after if s not in before],
            "removed": [s for s in before if s not in after],
        }
        if any(part.values()):
            out[name] = {k: v for k, v in part.items() if v}
    return out


def located(diagnostic: dict[str, Any]) -> dict[str, Any]:
    """Add `where` ("file:line:col") to a diagnostic's JSON form."""
    where = f"{diagnostic.get('path')}:{diagnostic.get('line')}:{diagnostic.get('col')}"
    return {**diagnostic, "where": where}


def reload(server: Server, trigger: str, author: str | None) -> ReloadResult:
    """Compile the folder, pre-flight the new bundle, swap it in if nothing refuses."""
    from api.server import ReloadResult  # noqa: PLC0415  (api.server imports this module)

    started = time.perf_counter()
    with server.lock:
        directory = server.config.directory
        result = compile_bundle(directory, display_root=str(directory))
        for diag in result.diagnostics:
            level = logging.ERROR if diag.severity is Severity.ERROR else logging.WARNING
            log.log(level, "%s", diag.render())
        old, bundle = server.bundle, result.bundle
        findings: list[Finding] = []
        planned: list[Migration] = []
        summary: dict[str, Any] = {}
        swap = False
        if bundle is not None and old is not None and old.hash == bundle.hash:
            summary = {"from": old.hash, "to": bundle.hash, "unchanged": True}
        elif bundle is not None:
            findings, planned = _preflight(server, old, bundle)
            if not blocking(findings):
                summary = changes(old, bundle)
                swap = True

        def outcome(applied: bool) -> ReloadResult:
            return ReloadResult(
                server.clock.now(),
                trigger,
                author,
                applied,
                bundle.hash if bundle else None,
                [located(d.to_dict()) for d in result.diagnostics],
                [f.to_dict() for f in findings],
                summary,
                duration_ms=(time.perf_counter() - started) * 1000,
                migration=[c.to_dict() for c in planned],
            )

        # The report is in place before the swap: whoever sees the new behaviour finds
        # the report that explains it (replaced right after, with the apply's outcome).
        server.last = outcome(swap)
        if swap and bundle is not None:
            applied, migrated = _apply(server, bundle, author, trigger, summary, findings)
            if applied:
                planned = migrated  # what was done, not what was planned
            server.last = outcome(applied)  # now with the time the swap took
        final = server.last
    _log_outcome(final, old)
    return final


def _preflight(
    server: Server, old: Bundle | None, bundle: Bundle
) -> tuple[list[Finding], list[Migration]]:
    planned: list[Migration] = []
    try:
        findings, planned = rehearse(server.store, old, bundle)
    except Exception as exc:  # a database failure must not swap an unchecked bundle
        log.exception("pre-flight failed")
        findings = [
            Finding(
                "preflight-failed",
                f"the live data could not be checked: {type(exc).__name__}",
                "",
                0,
                hint="see the server log; the bundle being served stays",
            )
        ]
    for finding in findings:
        log.log(
            logging.ERROR if finding.severity == "error" else logging.WARNING,
            "%s",
            finding.render(),
        )
    for change in planned:
        log.info("planned: %s", change.render())
    return findings, planned


def _apply(
    server: Server,
    bundle: Bundle,
    author: str | None,
    trigger: str,
    summary: dict[str, Any],
    findings: list[Finding],
) -> tuple[bool, list[Migration]]:
    migrated: list[Migration] = []
    try:
        migrated = server.apply(bundle, author, trigger, summary)
    except Exception as exc:  # the migration rolled back with the version row
        log.exception("applying the new bundle failed")
        findings.append(
            Finding(
                "apply-failed",
                f"applying the bundle failed: {type(exc).__name__}; nothing was migrated",
                "",
                0,
            )
        )
    return server.bundle is bundle, migrated


def _log_outcome(outcome: ReloadResult, old: Bundle | None) -> None:
    errors = sum(1 for d in outcome.diagnostics if d.get("severity") == "error")
    refused = [p for p in outcome.preflight if p.get("severity") == "error"]
    took = f"{outcome.duration_ms:.0f} ms"
    if outcome.applied:
        log.info(
            "reload (%s) applied %s by %s in %s",
            outcome.trigger,
            (outcome.hash or "")[:12],
            outcome.author or "-",
            took,
        )
    elif outcome.changes.get("unchanged"):
        log.info("reload (%s): the definitions did not change", outcome.trigger)
    else:
        why = f"{errors} error(s)" if errors else f"{len(refused)} pre-flight problem(s)"
        keep = f"still serving {old.hash[:12]}" if old else "nothing is served"
        log.error("reload (%s) refused: %s; %s (%s)", outcome.trigger, why, keep, took)


# -- watching the folder ---------------------------------------------------------------


def definition_file(root: Path, path: str) -> bool:
    """Tell whether `path` is a definition file of the folder (not an editor's temp file).

    The same rule as the compiler's: a .yaml/.yml file outside hidden folders; swap
    files, backups (`~`), `.#lock` files and vim's `4913` probe do not count.
    """
    where = Path(path)
    if where.suffix not in YAML_SUFFIXES:
        return False
    try:
        parts = where.relative_to(root).parts
    except ValueError:
        parts = where.parts[-1:]
    return not any(p.startswith((".", "#")) for p in parts)


AUTHOR_MAX = 64  # the length of sf_definition_version.author


def file_author(paths: list[Path], configured: str | None) -> str:
    """Return who a reload after a file save is recorded as (F12).

    The configured author (`--watch-author`, `$SOPFLOW_WATCH_AUTHOR`) if set; otherwise
    the OS user owning the most recently modified changed file, as `os:<login>`
    (`os:uid-<n>` without a login name, `os:unknown` when no file is left, e.g. a delete).
    """
    if configured:
        return configured[:AUTHOR_MAX]
    stats = []
    for path in paths:
        with contextlib.suppress(OSError):
            stats.append(path.stat())
    if not stats:
        return "os:unknown"
    newest = max(stats, key=lambda st: st.st_mtime_ns)
    try:
        import pwd  # noqa: PLC0415  (POSIX only)

        login = pwd.getpwuid(newest.st_uid).pw_name
    except (ImportError, KeyError):
        login = f"uid-{newest.st_uid}"
    return f"os:{login}"[:AUTHOR_MAX]


class Watcher:
    """Reloads when a definition file changes (an asyncio task running `awatch`)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.root = Path(server.config.directory).resolve()
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.reloads = 0

    def _filter(self, _: Change, path: str) -> bool:
        return definition_file(self.root, path)

    def start(self) -> None:
        """Start watching (call from a running event loop: the app's startup)."""
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sopflow-watch")

    async def _run(self) -> None:
        assert self._stop is not None
        debounce = max(1, self.server.config.watch_debounce_ms)
        try:
            async for found in awatch(
                self.root,
                watch_filter=self._filter,
                debounce=debounce,
                step=min(debounce, 50),
                stop_event=self._stop,
            ):
                if found:
                    await self._reload(found)
        except Exception:
            log.exception("watching %s stopped; POST /admin/reload still works", self.root)

    async def _reload(self, found: set[tuple[Change, str]]) -> None:
        names = sorted({Path(p).name for _, p in found})
        author = file_author(sorted({Path(p) for _, p in found}), self.server.config.watch_author)
        log.info("definitions changed (%s) by %s: reloading", ", ".join(names[:5]), author)
        try:
            await anyio.to_thread.run_sync(self.server.reload, "watch", author)
        except Exception:  # a bug in reload must not end the watching
            log.exception("reload after a file change failed")
        self.reloads += 1

    async def stop(self) -> None:
        """Stop watching; wait for a running reload to finish."""
        if self._stop is None or self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=5.0)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
