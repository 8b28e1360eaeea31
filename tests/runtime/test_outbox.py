"""The outbox: enqueue once per key, deliver after commit, retry, dead-letter, survive crashes."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from runtime.clock import FakeClock
from runtime.outbox import (
    Deliverer,
    DeliveryError,
    LogChannel,
    MailboxChannel,
    Message,
    OutboxWorker,
    WebhookChannel,
    dead_letters,
    enqueue,
    mailbox_file_name,
    pending_count,
    retry_dead,
)
from runtime.store import T_EVENT, T_OUTBOX, Store

T0 = datetime(2026, 1, 5, 9, 0)
NOTE = {"to": ["li.wei"], "subject": "Hi", "body": "line 1\nline 2", "template": "t"}
HOOK = {"url": "https://erp.example/hook", "method": "POST", "headers": {"X-A": "1"}, "body": {}}


class Crash(BaseException):
    """A worker dying mid-batch (not an Exception: the worker must not catch it)."""


def put(store: Store, key: str, channel: str = "log", at: datetime = T0, **extra: Any) -> bool:
    action = "webhook" if channel == "webhook" else "notify"
    payload = dict(HOOK if channel == "webhook" else NOTE, **extra)
    with store.begin(at) as tx:
        return enqueue(tx, action=action, channel=channel, payload=payload, key=key, record_id="r1")


def row(store: Store, key: str) -> dict[str, Any]:
    with store.read() as conn:
        found = conn.execute(select(T_OUTBOX).where(T_OUTBOX.c.idempotency_key == key))
        return dict(found.mappings().one())


def worker(
    store: Store, clock: FakeClock, channels: dict[str, Deliverer], **kw: Any
) -> OutboxWorker:
    return OutboxWorker(store, clock, channels, worker_id=kw.pop("worker_id", "w1"), **kw)


def hook_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


# ---------------------------------------------------------------------------- enqueue


def test_enqueue_is_deduplicated_by_key(store: Store) -> None:
    assert put(store, "k1") is True
    assert put(store, "k1") is False
    assert put(store, "k2") is True
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(T_OUTBOX)).scalar_one() == 2
        assert pending_count(conn) == 2
    first = row(store, "k1")
    assert first["state"] == "pending"
    assert first["next_attempt_at"] == T0
    assert first["payload"] == NOTE
    assert first["record_id"] == "r1"


def test_enqueue_rolls_back_with_its_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError), store.begin(T0) as tx:
        enqueue(tx, action="notify", channel="log", payload=NOTE, key="k1")
        raise RuntimeError("the command failed")
    with store.read() as conn:
        assert pending_count(conn) == 0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"action": "email"}, "unknown outbox action"),
        ({"channel": "sms"}, "unknown outbox channel"),
        ({"key": ""}, "idempotency key"),
        ({"key": "x" * 129}, "idempotency key"),
        ({"payload": {"when": datetime(2026, 1, 1)}}, "not JSON"),
    ],
)
def test_enqueue_rejects_bad_input(store: Store, kw: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"action": "notify", "channel": "log", "payload": NOTE, "key": "k"}
    args.update(kw)
    with pytest.raises(ValueError, match=message), store.begin(T0) as tx:
        enqueue(tx, **args)


# ---------------------------------------------------------------------------- delivery


def test_a_due_row_is_sent_once(store: Store, clock: FakeClock) -> None:
    sent: list[Message] = []
    put(store, "k1")
    put(store, "later", at=T0 + timedelta(hours=1))
    w = worker(store, clock, {"log": LogChannel(sent)})
    report = w.run_once()
    assert (report.sent, report.retried, report.dead) == (1, 0, 0)
    assert [m.key for m in sent] == ["k1"]
    assert sent[0].attempt == 1
    done = row(store, "k1")
    assert (done["state"], done["attempts"], done["sent_at"]) == ("sent", 1, T0)
    assert done["claimed_by"] is None
    assert w.run_once().sent == 0
    assert [m.key for m in sent] == ["k1"]
    clock.advance(hours=1)
    assert w.run_once().sent == 1
    assert [m.key for m in sent] == ["k1", "later"]


def test_only_rows_of_configured_channels_are_claimed(store: Store, clock: FakeClock) -> None:
    put(store, "k1", channel="mailbox")
    report = worker(store, clock, {"log": LogChannel()}).run_once()
    assert (report.sent, report.retried, report.dead) == (0, 0, 0)
    assert row(store, "k1")["claimed_by"] is None


def test_log_channel_writes_one_line_per_message(
    store: Store, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    put(store, "k1")
    put(store, "k2", to="wang.fang")
    with caplog.at_level(logging.INFO, logger="sopflow.notify"):
        worker(store, clock, {"log": LogChannel()}).run_once()
    lines = [r.getMessage() for r in caplog.records if r.name == "sopflow.notify"]
    assert len(lines) == 2
    assert all("\n" not in line for line in lines)
    assert 'key=k1 record=r1 to=li.wei subject="Hi" body="line 1\\nline 2"' in lines[0]
    assert "to=wang.fang subject=" in lines[1]


def test_failing_webhook_backs_off_then_goes_dead(store: Store, clock: FakeClock) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, text="try later")

    put(store, "hook1", channel="webhook")
    w = worker(store, clock, {"webhook": WebhookChannel(hook_client(handler))}, max_attempts=3)
    assert w.run_once().retried == 1
    first = row(store, "hook1")
    assert (first["state"], first["attempts"]) == ("pending", 1)
    assert first["next_attempt_at"] == T0 + timedelta(seconds=2)
    assert "HTTP 503: try later" in first["last_error"]

    assert w.run_once().retried == 0  # not due yet
    clock.advance(seconds=2)
    assert w.run_once().retried == 1
    assert row(store, "hook1")["next_attempt_at"] == clock.now() + timedelta(seconds=4)

    clock.advance(seconds=4)
    report = w.run_once()
    assert (report.sent, report.retried, report.dead) == (0, 0, 1)
    dead = row(store, "hook1")
    assert (dead["state"], dead["attempts"]) == ("dead", 3)
    assert "HTTP 503" in dead["last_error"]
    clock.advance(hours=2)
    assert w.run_once().dead == 0
    assert len(calls) == 3
    assert {c.headers["Idempotency-Key"] for c in calls} == {"hook1"}


def test_backoff_is_capped_and_jitter_is_deterministic(store: Store, clock: FakeClock) -> None:
    plain = worker(store, clock, {}, base_delay=2.0, max_delay=10.0)
    assert [plain.backoff(n) for n in (1, 2, 3, 4, 5)] == [2.0, 4.0, 8.0, 10.0, 10.0]
    a = worker(store, clock, {}, jitter=0.5, rng=random.Random(7))
    b = worker(store, clock, {}, jitter=0.5, rng=random.Random(7))
    delays = [a.backoff(3) for _ in range(5)]
    assert delays == [b.backoff(3) for _ in range(5)]
    assert all(4.0 <= d <= 8.0 for d in delays)
    assert len(set(delays)) > 1


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_client_error_is_dead_at_once(store: Store, clock: FakeClock, status: int) -> None:
    client = hook_client(lambda r: httpx.Response(status, text="bad order"))
    put(store, "hook1", channel="webhook")
    report = worker(store, clock, {"webhook": WebhookChannel(client)}).run_once()
    assert (report.retried, report.dead) == (0, 1)
    dead = row(store, "hook1")
    assert dead["state"] == "dead"
    assert f"HTTP {status}: bad order" in dead["last_error"]
    with store.read() as conn:
        assert [d["idempotency_key"] for d in dead_letters(conn)] == ["hook1"]


@pytest.mark.parametrize("status", [408, 429, 500, 502])
def test_retryable_statuses(store: Store, clock: FakeClock, status: int) -> None:
    client = hook_client(lambda r: httpx.Response(status))
    put(store, "hook1", channel="webhook")
    assert worker(store, clock, {"webhook": WebhookChannel(client)}).run_once().retried == 1


def test_retry_after_is_honoured(store: Store, clock: FakeClock) -> None:
    client = hook_client(lambda r: httpx.Response(429, headers={"Retry-After": "120"}))
    put(store, "hook1", channel="webhook")
    worker(store, clock, {"webhook": WebhookChannel(client)}).run_once()
    assert row(store, "hook1")["next_attempt_at"] == T0 + timedelta(seconds=120)


def test_webhook_request_carries_key_headers_body_and_timeout(
    store: Store, clock: FakeClock
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201)

    put(store, "hook1", channel="webhook", method="PUT", body={"qty": 3}, timeout=2.5)
    worker(store, clock, {"webhook": WebhookChannel(hook_client(handler))}).run_once()
    (request,) = seen
    assert request.method == "PUT"
    assert str(request.url) == "https://erp.example/hook"
    assert request.headers["Idempotency-Key"] == "hook1"
    assert request.headers["X-A"] == "1"
    assert json.loads(request.content) == {"qty": 3}
    assert request.extensions["timeout"]["read"] == 2.5
    assert row(store, "hook1")["state"] == "sent"


def test_webhook_without_body_sends_none_and_default_timeout() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    channel = WebhookChannel(hook_client(handler))
    channel.deliver(Message(1, "k", "webhook", "webhook", dict(HOOK, body=None), None, 1))
    assert seen[0].content == b""
    assert seen[0].extensions["timeout"]["read"] == 10.0


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
)
def test_network_errors_are_retried(store: Store, clock: FakeClock, error: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    put(store, "hook1", channel="webhook")
    w = worker(store, clock, {"webhook": WebhookChannel(hook_client(handler))})
    assert w.run_once().retried == 1
    assert row(store, "hook1")["last_error"].startswith("webhook")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url": "ftp://x/y"}, "not an http"),
        ({"method": "DELETE"}, "method"),
        ({"headers": {"X": 1}}, "headers"),
        ({"timeout": "soon"}, "timeout"),
    ],
)
def test_malformed_webhook_payload_is_permanent(change: dict[str, Any], message: str) -> None:
    channel = WebhookChannel(hook_client(lambda r: httpx.Response(200)))
    with pytest.raises(DeliveryError, match=message) as caught:
        channel.deliver(Message(1, "k", "webhook", "webhook", dict(HOOK, **change), None, 1))
    assert caught.value.permanent


def test_a_broken_channel_is_retried_and_the_error_kept_short(
    store: Store, clock: FakeClock
) -> None:
    class Broken:
        def deliver(self, message: Message) -> None:
            raise RuntimeError("x" * 5000)

    put(store, "k1")
    assert worker(store, clock, {"log": Broken()}).run_once().retried == 1
    error = row(store, "k1")["last_error"]
    assert error.startswith("RuntimeError: xxx")
    assert len(error) == 2000


def test_dead_letter_can_be_requeued(store: Store, clock: FakeClock) -> None:
    class Refuse:
        def deliver(self, message: Message) -> None:
            raise DeliveryError("mailbox full", permanent=True)

    put(store, "k1")
    assert worker(store, clock, {"log": Refuse()}).run_once().dead == 1
    with store.read() as conn:
        (dead,) = dead_letters(conn)
        assert pending_count(conn) == 0
    clock.advance(minutes=5)
    with store.begin(clock.now(), actor="admin") as tx:
        assert retry_dead(tx, dead["id"]) is True
        assert retry_dead(tx, dead["id"]) is False  # no longer dead
        assert retry_dead(tx, 9999) is False
    again = row(store, "k1")
    assert (again["state"], again["attempts"]) == ("pending", 0)
    assert again["next_attempt_at"] == clock.now()
    assert again["last_error"] == "mailbox full"
    with store.read() as conn:
        kinds = conn.execute(select(T_EVENT.c.kind, T_EVENT.c.actor)).all()
    assert [tuple(k) for k in kinds] == [("outbox_requeued", "admin")]
    sent: list[Message] = []
    assert worker(store, clock, {"log": LogChannel(sent)}).run_once().sent == 1
    assert [m.key for m in sent] == ["k1"]


# ---------------------------------------------------------------------------- crashes


def test_crashed_claim_is_redelivered_without_a_second_mail(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    box = tmp_path / "mailbox"
    mailbox = MailboxChannel(box)

    class DeliverThenCrash:
        def deliver(self, message: Message) -> None:
            mailbox.deliver(message)
            raise Crash

    put(store, "visit:r1:remind", channel="mailbox")
    with pytest.raises(Crash):
        worker(store, clock, {"mailbox": DeliverThenCrash()}, worker_id="a").run_once()
    (written,) = box.iterdir()
    inode = written.stat().st_ino
    held = row(store, "visit:r1:remind")
    assert (held["state"], held["claimed_by"]) == ("pending", "a")
    assert held["claimed_until"] == T0 + timedelta(seconds=60)

    b = worker(store, clock, {"mailbox": mailbox}, worker_id="b")
    assert b.run_once().sent == 0  # a's claim still holds
    clock.advance(seconds=61)
    assert b.run_once().sent == 1
    files = sorted(p.name for p in box.iterdir())
    assert files == [mailbox_file_name("visit:r1:remind")]
    assert written.stat().st_ino == inode  # the redelivery did not write it again
    document = json.loads((box / files[0]).read_text(encoding="utf-8"))
    assert document["idempotency_key"] == "visit:r1:remind"
    assert document["payload"] == NOTE
    done = row(store, "visit:r1:remind")
    assert (done["state"], done["attempts"], done["claimed_by"]) == ("sent", 1, None)


def test_a_late_worker_does_not_overwrite_a_stolen_claim(store: Store, clock: FakeClock) -> None:
    class Slow:
        def deliver(self, message: Message) -> None:
            clock.advance(seconds=90)  # the claim expires meanwhile and b takes the row
            with store.begin(clock.now()) as tx:
                tx.conn.execute(update(T_OUTBOX).values(claimed_by="b"))

    put(store, "k1")
    report = worker(store, clock, {"log": Slow()}, worker_id="a").run_once()
    assert report.sent == 0
    assert row(store, "k1")["state"] == "pending"


def test_claim_running_out_releases_the_rest(store: Store, clock: FakeClock) -> None:
    class Slow:
        def __init__(self) -> None:
            self.keys: list[str] = []

        def deliver(self, message: Message) -> None:
            self.keys.append(message.key)
            clock.advance(seconds=45)

    for key in ("k1", "k2", "k3"):
        put(store, key)
    slow = Slow()
    report = worker(store, clock, {"log": slow}, claim_seconds=60).run_once()
    assert (report.sent, report.released) == (2, 1)
    assert slow.keys == ["k1", "k2"]
    rest = row(store, "k3")
    assert (rest["state"], rest["claimed_by"], rest["attempts"]) == ("pending", None, 0)


def test_mailbox_names_are_safe_and_distinct(tmp_path: Path) -> None:
    assert mailbox_file_name("visit-1.remind_2") == "visit-1.remind_2.json"
    odd = [mailbox_file_name(k) for k in ("a/b", "a_b", "../x", "a:b", ".hidden")]
    assert len(set(odd)) == len(odd)
    assert all("/" not in n and not n.startswith(".") for n in odd)
    channel = MailboxChannel(tmp_path)
    message = Message(1, "../escape", "notify", "mailbox", NOTE, None, 1)
    channel.deliver(message)
    channel.deliver(message)
    assert [p.parent for p in tmp_path.iterdir()] == [tmp_path]


def test_mailbox_write_failure_is_retryable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DeliveryError, match="mailbox write failed") as caught:
        MailboxChannel(blocker / "box").deliver(Message(1, "k", "notify", "mailbox", NOTE, None, 1))
    assert not caught.value.permanent


def test_worker_rejects_bad_settings(store: Store, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        worker(store, clock, {}, max_attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        worker(store, clock, {}, jitter=2.0)


@pytest.mark.timeout(60)
def test_postgres_claim_skips_rows_another_worker_holds(pg_store: Store, clock: FakeClock) -> None:
    put(pg_store, "k1")
    put(pg_store, "k2")
    sent: list[Message] = []
    w = worker(pg_store, clock, {"log": LogChannel(sent)})
    with pg_store.engine.connect() as other, other.begin():
        other.execute(
            select(T_OUTBOX).where(T_OUTBOX.c.idempotency_key == "k1").with_for_update()
        ).one()
        assert w.run_once().sent == 1  # would block here without SKIP LOCKED
        assert [m.key for m in sent] == ["k2"]
    assert w.run_once().sent == 1
    assert [m.key for m in sent] == ["k2", "k1"]
