"""Requests at once through the server, on SQLite and on PostgreSQL: concurrent updates
of one record lose nothing, a held request does not hold `/healthz`, and a request past
its time answers 503 with nothing of it stored.

No assertion is timed: a request is held on an event the test controls, and the waits
on events have generous limits only so that a broken server fails instead of hanging.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

import api.calls
from runtime import records
from runtime.store import CommitGate, gated
from tests.api.conftest import Api

V1 = "/api/v1"
MakeApi = Callable[..., Api]
# An OTC lead in Jinjiang: routed to li.wei, who acts on it (a rep sees the leads they hold).
LEAD = {
    "source": "meituan",
    "external_id": "A-1",
    "pharmacy_name": "Kang",
    "district": "jinjiang",
    "specialty": "otc",
}
WRITERS = 6
LIMIT = 30.0  # seconds a wait may take before the test fails instead of hanging


def _lead(api: Api, external_id: str = "A-1") -> dict[str, Any]:
    answer = api.call(
        "POST", f"{V1}/records/lead", "li.wei", json={**LEAD, "external_id": external_id}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["owner"] == "li.wei"
    return dict(answer.json())


def _leads(api: Api) -> int:
    return int(api.call("GET", f"{V1}/records/lead", "admin").json()["total"])


def test_concurrent_updates_with_one_version_one_wins_the_rest_conflict(make_api: MakeApi) -> None:
    api = make_api()
    record = _lead(api)["id"]
    path = f"{V1}/records/lead/{record}"
    start = threading.Barrier(WRITERS)

    def update(value: int) -> Any:
        start.wait(LIMIT)
        body = {"row_version": 1, "data": {"orders_90d": value}}
        return api.call("PATCH", path, "li.wei", json=body)

    with ThreadPoolExecutor(WRITERS) as pool:
        answers = list(pool.map(update, range(WRITERS)))
    codes = [a.status_code for a in answers]
    assert sorted(codes) == [200] + [409] * (WRITERS - 1), [a.text for a in answers]
    winner = codes.index(200)
    final = api.call("GET", path, "li.wei").json()
    assert (final["row_version"], final["data"]["orders_90d"]) == (2, winner)
    for answer in answers:
        if answer.status_code == 409:
            current = answer.json()["current"]
            assert (current["row_version"], current["data"]["orders_90d"]) == (2, winner)


def test_concurrent_read_modify_write_loses_no_update(make_api: MakeApi) -> None:
    """Each writer adds 1 to a count, reading again after a 409: the count ends at N."""
    api = make_api()
    record = _lead(api)["id"]
    path = f"{V1}/records/lead/{record}"
    start = threading.Barrier(WRITERS)
    conflicts: list[int] = []

    def add_one(_: int) -> int:
        start.wait(LIMIT)
        for attempt in range(100):
            seen = api.call("GET", path, "li.wei").json()
            count = seen["data"]["orders_90d"] or 0
            body = {"row_version": seen["row_version"], "data": {"orders_90d": count + 1}}
            answer = api.call("PATCH", path, "li.wei", json=body)
            if answer.status_code == 200:
                return attempt
            assert answer.status_code == 409, answer.text
            conflicts.append(1)
        raise AssertionError("a writer never got through")

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(add_one, range(WRITERS)))
    final = api.call("GET", path, "li.wei").json()
    assert (final["data"]["orders_90d"], final["row_version"]) == (WRITERS, WRITERS + 1)
    history = api.call("GET", f"{path}/audit", "admin").json()
    updates = [e for e in history if e["kind"] == "updated"]
    assert len(updates) == WRITERS


def test_concurrent_creates_of_one_key_make_one_record_and_name_it(make_api: MakeApi) -> None:
    api = make_api()
    api.headers("li.wei")
    start = threading.Barrier(WRITERS)

    def create(_: int) -> Any:
        start.wait(LIMIT)
        return api.call("POST", f"{V1}/records/lead", "li.wei", json=LEAD)

    with ThreadPoolExecutor(WRITERS) as pool:
        answers = list(pool.map(create, range(WRITERS)))
    codes = [a.status_code for a in answers]
    assert sorted(codes) == [201] + [409] * (WRITERS - 1), [a.text for a in answers]
    winner = answers[codes.index(201)].json()["id"]
    assert {a.json()["existing"] for a in answers if a.status_code == 409} == {winner}
    assert _leads(api) == 1


def test_healthz_answers_while_a_request_is_held(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api()
    api.headers("li.wei")
    runtime = api.server.runtime
    assert runtime is not None
    real = runtime.create
    entered, release = threading.Event(), threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(LIMIT)
        return real(*args, **kwargs)

    monkeypatch.setattr(runtime, "create", held)
    answers: list[Any] = []
    worker = threading.Thread(
        target=lambda: answers.append(api.call("POST", f"{V1}/records/lead", "li.wei", json=LEAD))
    )
    worker.start()
    try:
        assert entered.wait(LIMIT)
        health = api.client.get("/healthz")
        # Answered while the create is still held (on the event loop, it would wait).
        assert (health.status_code, answers, release.is_set()) == (200, [], False)
        ready = api.client.get("/readyz")
        assert ready.status_code == 200 and answers == []
    finally:
        release.set()
        worker.join(LIMIT)
    assert [a.status_code for a in answers] == [201]
    assert _leads(api) == 1


@contextmanager
def _ended(monkeypatch: pytest.MonkeyPatch, ended: threading.Event) -> Iterator[None]:
    """Set `ended` when a call's work has left its transactions (committed or rolled back)."""

    @contextmanager
    def watched(gate: CommitGate) -> Iterator[CommitGate]:
        try:
            with gated(gate):
                yield gate
        finally:
            ended.set()

    monkeypatch.setattr(api.calls, "gated", watched)
    yield


def test_a_request_past_its_time_is_503_and_its_writes_roll_back(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(request_timeout=1.0)
    api.call("GET", f"{V1}/me", "li.wei")  # the token is looked up (and cached) now
    real = records.insert_record
    inserted, release, ended = threading.Event(), threading.Event(), threading.Event()

    def slow_insert(*args: Any, **kwargs: Any) -> Any:
        row = real(*args, **kwargs)  # the row is written in the open transaction
        inserted.set()
        release.wait(LIMIT)
        return row

    monkeypatch.setattr(records, "insert_record", slow_insert)
    with _ended(monkeypatch, ended):
        try:
            answer = api.call("POST", f"{V1}/records/lead", "li.wei", json=LEAD)
        finally:
            release.set()
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        assert answer.json() == {
            "status_code": 503,
            "detail": "the request did not finish within 1 s; nothing it would have changed "
            "was stored, try again",
            "extra": [
                {
                    "key": "request_timeout",
                    "message": "a request may work for at most 1 s",
                    "source": "server",
                }
            ],
        }
        assert ended.wait(LIMIT) and inserted.is_set()
    monkeypatch.setattr(records, "insert_record", real)
    assert _leads(api) == 0
    audit = api.server.store
    with audit.read() as conn:
        kinds = [r[0] for r in conn.exec_driver_sql("SELECT kind FROM sf_event").fetchall()]
    assert "created" not in kinds
    # The writer's place (SQLite's lock) was given back: the next create goes through.
    assert _lead(api)["data"]["external_id"] == "A-1"


def test_a_request_whose_commit_began_before_its_time_ran_out_gets_its_answer(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(request_timeout=1.0)
    api.call("GET", f"{V1}/me", "li.wei")
    real_commit, real_close = CommitGate.enter_commit, CommitGate.close
    closing, release = threading.Event(), threading.Event()

    def slow_commit(gate: CommitGate) -> None:
        real_commit(gate)  # through the gate: the commit happens whatever comes next
        release.wait(LIMIT)

    def close(gate: CommitGate) -> bool:
        refused = real_close(gate)
        closing.set()
        return refused

    monkeypatch.setattr(CommitGate, "enter_commit", slow_commit)
    monkeypatch.setattr(CommitGate, "close", close)
    answers: list[Any] = []
    worker = threading.Thread(
        target=lambda: answers.append(api.call("POST", f"{V1}/records/lead", "li.wei", json=LEAD))
    )
    worker.start()
    try:
        assert closing.wait(LIMIT)  # the deadline passed while the commit was under way
    finally:
        release.set()
        worker.join(LIMIT)
    assert [a.status_code for a in answers] == [201]
    monkeypatch.setattr(CommitGate, "enter_commit", real_commit)
    assert _leads(api) == 1
