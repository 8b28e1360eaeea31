"""The outbox: effects that leave the system (notifications, webhooks), sent after commit.

A producer calls `enqueue` inside the transaction that decided the effect, so the effect
exists exactly when the decision committed. An `OutboxWorker` later claims due rows in a
short transaction, delivers each outside any transaction, and records the outcome in a
new one: sent, retried with exponential backoff, or dead (out of attempts, or a
permanent failure). A worker that crashes leaves a claim that expires; the row is then
claimed again. Every attempt carries the row's idempotency key, so receivers (and the
mailbox channel) recognise a repeat.

Payload conventions (what the producer stores in `payload`, already rendered):

- action 'notify' (channel 'log' or 'mailbox'):
  {"to": [user ids or addresses] (or one as a string), "subject": str, "body": str,
   "template": <notification name>, "channel": <channel>}; other keys are kept as is
- action 'webhook' (channel 'webhook'):
  {"url": str, "method": "POST"|"PUT"|"PATCH", "headers": {str: str},
   "body": <JSON value or null>, "timeout": <seconds (float) or null>}
- action 'suggest' (channel 'log'): table rows suggested on a record (P5, F5),
  {"table": <table name>, "title": str, "rows": [row, ...]}

Idempotency keys are at most 128 characters and unique across the outbox; enqueueing a
key that exists does nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import tempfile
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any, Protocol

import httpx
from sqlalchemy import Connection, and_, func, insert, or_, select, update

from runtime.clock import Clock
from runtime.store import T_OUTBOX, Store, Tx

ACTIONS = ("notify", "webhook", "suggest")
CHANNELS = ("log", "mailbox", "webhook")
METHODS = ("POST", "PUT", "PATCH")
MAX_KEY = 128
MAX_ERROR = 2000
DEFAULT_TIMEOUT = 10.0
RETRYABLE_STATUS = frozenset({408, 429})

log = logging.getLogger("sopflow.outbox")


@dataclass(frozen=True)
class Message:
    """One outbox row as handed to a channel."""

    id: int
    key: str
    action: str
    channel: str
    payload: dict[str, Any]
    record_id: str | None
    attempt: int  # 1 for the first delivery


class DeliveryError(Exception):
    """A delivery failed; `permanent` failures are not retried."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Deliverer(Protocol):
    """A channel: delivers one message or raises DeliveryError."""

    def deliver(self, message: Message) -> None:
        """Deliver `message`; delivering the same key twice must not duplicate it."""
        ...


@dataclass
class DeliveryReport:
    """What one `run_once` did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0  # claimed but not attempted (the claim ran out of time)


# ---------------------------------------------------------------------------- enqueue


def _check(action: str, channel: str, payload: Any, key: str) -> str:
    """Check an effect; return its payload as JSON text."""
    if action not in ACTIONS:
        raise ValueError(f"unknown outbox action '{action}' (one of: {', '.join(ACTIONS)})")
    if channel not in CHANNELS:
        raise ValueError(f"unknown outbox channel '{channel}' (one of: {', '.join(CHANNELS)})")
    if not key or len(key) > MAX_KEY:
        raise ValueError(f"an outbox idempotency key has 1 to {MAX_KEY} characters")
    if not isinstance(payload, dict):
        raise ValueError("an outbox payload is a mapping")
    try:
        return json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the outbox payload is not JSON: {exc}") from None


# Insert-or-ignore, written once (SQLite >= 3.35 and PostgreSQL share the syntax).
_ENQUEUE = (
    "INSERT INTO sf_outbox (idempotency_key, action, channel, payload, record_id, state, "
    "attempts, next_attempt_at, created_at) VALUES (:idempotency_key, :action, :channel, "
    ":payload, :record_id, :state, :attempts, :next_attempt_at, :created_at) "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)


def enqueue(
    tx: Tx,
    *,
    action: str,
    channel: str,
    payload: dict[str, Any],
    key: str,
    record_id: str | None = None,
) -> bool:
    """Add a pending effect in the caller's transaction, due at `tx.now`.

    Return False (and change nothing) if an effect with this idempotency key exists.
    Raises ValueError for an unknown action or channel, a bad key or a non-JSON payload.
    """
    text = _check(action, channel, payload, key)
    row = {
        "idempotency_key": key,
        "action": action,
        "channel": channel,
        "payload": payload,
        "record_id": record_id,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": tx.now,
        "created_at": tx.now,
    }
    if tx.conn.dialect.name in ("postgresql", "sqlite"):
        at = tx.time(tx.now)
        params = {**row, "payload": text, "next_attempt_at": at, "created_at": at}
        return tx.sql(_ENQUEUE, params).fetchone() is not None
    found = tx.conn.execute(select(T_OUTBOX.c.id).where(T_OUTBOX.c.idempotency_key == key)).first()
    if found is not None:
        return False
    tx.conn.execute(insert(T_OUTBOX), row)
    return True


# ---------------------------------------------------------------------------- admin helpers


def pending_count(conn: Connection) -> int:
    """Return how many effects wait to be delivered."""
    stmt = select(func.count()).select_from(T_OUTBOX).where(T_OUTBOX.c.state == "pending")
    return int(conn.execute(stmt).scalar_one())


def dead_letters(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    """Return dead effects (newest first) with their last error."""
    stmt = (
        select(T_OUTBOX)
        .where(T_OUTBOX.c.state == "dead")
        .order_by(T_OUTBOX.c.id.desc())
        .limit(limit)
    )
    return [dict(row) for row in conn.execute(stmt).mappings()]


def retry_dead(tx: Tx, outbox_id: int) -> bool:
    """Put a dead effect back in the queue, due now, with a fresh set of attempts.

    Return False if there is no dead effect with this id. The last error is kept.
    """
    result = tx.conn.execute(
        update(T_OUTBOX)
        .where(T_OUTBOX.c.id == outbox_id, T_OUTBOX.c.state == "dead")
        .values(
            state="pending",
            attempts=0,
            next_attempt_at=tx.now,
            claimed_by=None,
            claimed_until=None,
        )
    )
    if result.rowcount != 1:
        return False
    tx.event("outbox_requeued", None, None, outbox_id=outbox_id)
    return True


# ---------------------------------------------------------------------------- channels


def _one_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _recipients(to: Any) -> str:
    if isinstance(to, (list, tuple)):
        return ",".join(str(t) for t in to)
    return "" if to is None else str(to)


class LogChannel:
    """Write each message as one line to the `sopflow.notify` logger."""

    def __init__(
        self, capture: list[Message] | None = None, logger: logging.Logger | None = None
    ) -> None:
        self.capture = capture
        self.logger = logger or logging.getLogger("sopflow.notify")

    def deliver(self, message: Message) -> None:
        """Log `message` on one line (and keep it in `capture`, if given)."""
        p = message.payload
        if message.action == "notify":
            self.logger.info(
                "notify key=%s record=%s to=%s subject=%s body=%s",
                message.key,
                message.record_id,
                _recipients(p.get("to")),
                _one_line(p.get("subject", "")),
                _one_line(p.get("body", "")),
            )
        else:
            self.logger.info(
                "%s key=%s record=%s payload=%s",
                message.action,
                message.key,
                message.record_id,
                _one_line(p),
            )
        if self.capture is not None:
            self.capture.append(message)


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


def mailbox_file_name(key: str) -> str:
    """Return the file name of a message: `<key>.json`, made safe if the key is not."""
    if _SAFE_NAME.match(key):
        return f"{key}.json"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", key).lstrip(".")[:100]
    return f"{safe}-{sha256(key.encode()).hexdigest()[:16]}.json"


class MailboxChannel:
    """Write each message as a JSON file `<idempotency key>.json` in a directory.

    Writing is atomic (temporary file, then rename) and a message whose file exists is
    not written again, so a redelivery after a crash never makes a second message.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def deliver(self, message: Message) -> None:
        """Write `message` to the mailbox unless it is already there."""
        target = self.directory / mailbox_file_name(message.key)
        if target.exists():
            return
        document = {
            "idempotency_key": message.key,
            "action": message.action,
            "record_id": message.record_id,
            "payload": message.payload,
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(document, handle, ensure_ascii=False, indent=2, default=str)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        except OSError as exc:
            raise DeliveryError(f"mailbox write failed: {exc}") from None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


class WebhookChannel:
    """Call the payload's URL with an `Idempotency-Key` header.

    2xx is success; 408, 429, 5xx, timeouts and connection errors are retried; any other
    status (and a malformed payload or URL) is permanent.
    """

    def __init__(self, client: httpx.Client, default_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.client = client
        self.default_timeout = default_timeout

    def deliver(self, message: Message) -> None:
        """Send the webhook described by `message.payload`."""
        p = message.payload
        url, method = p.get("url"), str(p.get("method") or "POST").upper()
        headers, timeout = p.get("headers") or {}, p.get("timeout")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise DeliveryError(f"webhook url {url!r} is not an http(s) URL", permanent=True)
        if method not in METHODS:
            raise DeliveryError(f"webhook method {method!r} is not allowed", permanent=True)
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise DeliveryError("webhook headers must map text to text", permanent=True)
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
        ):
            raise DeliveryError(f"webhook timeout {timeout!r} is not seconds", permanent=True)
        sent_headers = httpx.Headers(headers)
        sent_headers["Idempotency-Key"] = message.key
        body = p.get("body")
        try:
            response = self.client.request(
                method,
                url,
                headers=sent_headers,
                json=body if body is not None else None,
                timeout=float(timeout) if timeout is not None else self.default_timeout,
            )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise DeliveryError(f"webhook url {url!r}: {exc}", permanent=True) from None
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"webhook timed out: {exc or type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook failed: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = f"webhook answered HTTP {status}: {response.text[:500]}"
        retryable = status >= 500 or status in RETRYABLE_STATUS
        raise DeliveryError(
            detail,
            permanent=not retryable,
            retry_after=_retry_after(response) if retryable else None,
        )


# ---------------------------------------------------------------------------- worker


@dataclass
class OutboxWorker:
    """Deliver due outbox rows through their channels, with retries and dead letters.

    Only rows whose channel is in `channels` are claimed; others wait for a worker that
    has their channel. Backoff after the n-th failure (n from 1) is
    min(max_delay, base_delay * 2**(n-1)), shortened by up to `jitter` (a fraction) at
    random, and never shorter than a receiver's Retry-After (capped at max_delay).
    """

    store: Store
    clock: Clock
    channels: Mapping[str, Deliverer]
    _: KW_ONLY
    worker_id: str
    max_attempts: int = 8
    base_delay: float = 2.0
    max_delay: float = 3600.0
    claim_seconds: float = 60.0
    jitter: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.claim_seconds <= 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("claim_seconds must be positive and delays not negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")

    def run_once(self, limit: int = 50) -> DeliveryReport:
        """Claim up to `limit` due rows, deliver them and record each outcome."""
        report = DeliveryReport()
        messages, deadline = self._claim(limit)
        for index, message in enumerate(messages):
            if self.clock.now() >= deadline:
                report.released = self._release([m.id for m in messages[index:]])
                break
            outcome = self._deliver(message)
            if self._record(message, outcome):
                setattr(report, outcome[0], getattr(report, outcome[0]) + 1)
        return report

    def backoff(self, attempts: int) -> float:
        """Return the delay in seconds after the `attempts`-th failed attempt."""
        delay = min(self.max_delay, self.base_delay * 2.0 ** max(0, attempts - 1))
        if self.jitter:
            delay *= 1.0 - self.jitter * self.rng.random()
        return delay

    def _claim(self, limit: int) -> tuple[list[Message], datetime]:
        now = self.clock.now()
        until = now + timedelta(seconds=self.claim_seconds)
        o = T_OUTBOX.c
        stmt = (
            select(T_OUTBOX)
            .where(
                o.state == "pending",
                o.next_attempt_at <= now,
                or_(o.claimed_until.is_(None), o.claimed_until < now),
                o.channel.in_(list(self.channels)),
            )
            .order_by(o.next_attempt_at, o.id)
            .limit(limit)
        )
        with self.store.begin(now) as tx:
            if tx.postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = tx.conn.execute(stmt).mappings().all()
            if rows:
                tx.conn.execute(
                    update(T_OUTBOX)
                    .where(o.id.in_([r["id"] for r in rows]))
                    .values(claimed_by=self.worker_id, claimed_until=until)
                )
        messages = [
            Message(
                id=r["id"],
                key=r["idempotency_key"],
                action=r["action"],
                channel=r["channel"],
                payload=dict(r["payload"] or {}),
                record_id=r["record_id"],
                attempt=r["attempts"] + 1,
            )
            for r in rows
        ]
        return messages, until

    def _deliver(self, message: Message) -> tuple[str, DeliveryError | None]:
        try:
            self.channels[message.channel].deliver(message)
        except DeliveryError as exc:
            failure = exc
        except Exception as exc:  # a channel bug must not stop the worker
            log.exception("outbox channel %s failed on %s", message.channel, message.key)
            failure = DeliveryError(f"{type(exc).__name__}: {exc}")
        else:
            return "sent", None
        if failure.permanent or message.attempt >= self.max_attempts:
            return "dead", failure
        return "retried", failure

    def _record(self, message: Message, outcome: tuple[str, DeliveryError | None]) -> bool:
        state, failure = outcome
        now = self.clock.now()
        values: dict[str, Any] = {
            "attempts": message.attempt,
            "claimed_by": None,
            "claimed_until": None,
        }
        if state == "sent":
            values.update(state="sent", sent_at=now)
        else:
            assert failure is not None
            values["last_error"] = str(failure)[:MAX_ERROR]
            if state == "dead":
                values["state"] = "dead"
                log.warning("outbox %s is dead: %s", message.key, values["last_error"])
            else:
                delay = self.backoff(message.attempt)
                if failure.retry_after is not None:
                    delay = max(delay, min(failure.retry_after, self.max_delay))
                values["next_attempt_at"] = now + timedelta(seconds=delay)
        o = T_OUTBOX.c
        with self.store.begin(now) as tx:
            result = tx.conn.execute(
                update(T_OUTBOX)
                .where(
                    and_(o.id == message.id, o.state == "pending", o.claimed_by == self.worker_id)
                )
                .values(**values)
            )
        return bool(result.rowcount == 1)

    def _release(self, ids: list[int]) -> int:
        o = T_OUTBOX.c
        with self.store.begin(self.clock.now()) as tx:
            result = tx.conn.execute(
                update(T_OUTBOX)
                .where(o.id.in_(ids), o.claimed_by == self.worker_id, o.state == "pending")
                .values(claimed_by=None, claimed_until=None)
            )
        return int(result.rowcount)
