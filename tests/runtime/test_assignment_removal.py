"""A named assignment dropped from a form while records hold it (runtime/evolve.py).

The claims bundle of tests/runtime/assign_bundle.py: each claim gets a reviewer (rita
or sam, least loaded), one of 100000 or more a second reviewer (a senior). The next
bundle drops `reviewer` (or the whole `assignments` key): the pre-flight plans the
removal with its count and writes nothing, the migration takes the count out of each
holder's load, keeps who held it in the record's history (`assignment_removed`) and
removes the rows; a second run changes nothing. Every test runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.bundle import Bundle
from runtime import evolve
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.people import loads
from runtime.preflight import blocking, rehearse
from runtime.store import T_ASSIGNMENT, Store
from runtime.testing.reload import reload_to
from tests.runtime.assign_bundle import CLAIM, WITHOUT_REVIEWER, claims_bundle

START = datetime(2026, 3, 2, 9, 0)
PEOPLE = ["ann", "bob", "cid", "rita", "sam", "tom"]
WITHOUT_ANY = (
    CLAIM.split("assignments:\n", 1)[0] + "permissions:\n" + CLAIM.split("permissions:\n", 1)[1]
)


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Runtime:
    bundle = claims_bundle(tmp_path / "v1")
    return Runtime(bundle, store, FakeClock(START), evidence_dir=tmp_path / "evidence")


def load_of(rt: Runtime) -> dict[str, int]:
    with rt.store.read() as conn:
        found = loads(conn, PEOPLE)
    return {user: n for user, (n, _) in found.items() if n}


def stored(rt: Runtime) -> list[tuple[str, str]]:
    with rt.store.read() as conn:
        rows = conn.execute(select(T_ASSIGNMENT.c.name, T_ASSIGNMENT.c.user_id)).all()
    return sorted((name, user or "") for name, user in rows)


def claims(rt: Runtime) -> list[str]:
    """Three claims: rita and sam review, one is big (tom second reviewer), one settled."""
    ids = [
        rt.create("claim", {"title": "a", "amount": 10}).id,
        rt.create("claim", {"title": "b", "amount": 100000}).id,
        rt.create("claim", {"title": "c", "amount": 10}).id,
    ]
    rt.update(ids[2], {"state": "settled"})  # its reviewer no longer counts
    return ids


def test_dropping_an_assignment_recounts_loads_and_keeps_the_holders_in_history(
    rt: Runtime, tmp_path: Path
) -> None:
    ids = claims(rt)
    assert stored(rt) == [
        ("reviewer", "rita"),
        ("reviewer", "rita"),
        ("reviewer", "sam"),
        ("second_reviewer", "tom"),
    ]
    assert load_of(rt) == {"ann": 1, "bob": 1, "rita": 1, "sam": 1, "tom": 1}
    after: Bundle = claims_bundle(tmp_path / "v2", **{"forms/claim.yaml": WITHOUT_REVIEWER})

    findings, planned = rehearse(rt.store, rt.bundle, after)
    assert not blocking(findings)
    assert [c.to_dict() for c in planned] == [
        {"kind": "assignment-removed", "entity": "claim", "from": "reviewer", "count": 3}
    ]
    assert len(stored(rt)) == 4  # rehearsed: nothing written

    done = reload_to(rt, after)
    assert [c.describe() for c in done] == [
        "claim: assignment 'reviewer' removed (holders kept in history), 3 record(s)"
    ]
    assert stored(rt) == [("second_reviewer", "tom")]
    assert load_of(rt) == {"ann": 1, "bob": 1, "tom": 1}  # rita's open one left her load
    gone = [
        (e["record_id"], e["detail"]["user"], e["detail"]["counted"])
        for rid in ids
        for e in rt.events(rid)
        if e["kind"] == "assignment_removed"
    ]
    assert gone == [(ids[0], "rita", True), (ids[1], "sam", True), (ids[2], "rita", False)]
    assert rt.get(ids[0]).assignments == {
        "second_reviewer": {"user": None, "queue": None, "filled_at": None},
        "approver": {"user": None, "queue": None, "filled_at": None},
        "account_manager": {"user": None, "queue": None, "filled_at": None},
    }
    assert evolve.migrate(rt.store, after, rt.clock.now()) == []  # a second start: nothing


def test_dropping_every_assignment_and_a_waiting_one(rt: Runtime, tmp_path: Path) -> None:
    rid = rt.create("claim", {"title": "a", "amount": 100000}).id
    rt.assign(rid, queue="review_queue", as_="reviewer")  # the reviewer waits in a queue
    assert stored(rt) == [("reviewer", ""), ("second_reviewer", "sam")]
    assert load_of(rt) == {"ann": 1, "sam": 1}
    after = claims_bundle(tmp_path / "v2", **{"forms/claim.yaml": WITHOUT_ANY})
    _, planned = rehearse(rt.store, rt.bundle, after)
    assert sorted((c.old, c.count) for c in planned) == [("reviewer", 1), ("second_reviewer", 1)]
    reload_to(rt, after)
    assert stored(rt) == []
    assert load_of(rt) == {"ann": 1}
    removed = [e["detail"] for e in rt.events(rid) if e["kind"] == "assignment_removed"]
    assert [(d["assignment"], d["user"], d["queue"]) for d in removed] == [
        ("reviewer", None, "review_queue"),
        ("second_reviewer", "sam", None),
    ]
    assert rt.get(rid).assignments is None  # the entity declares none now


def test_a_bundle_that_keeps_its_assignments_migrates_nothing(rt: Runtime, tmp_path: Path) -> None:
    claims(rt)
    same = claims_bundle(tmp_path / "v2", **{"forms/claim.yaml": CLAIM + "# edited\n"})
    with rt.store.read() as conn:
        assert not evolve.needed(conn, same)
    assert rehearse(rt.store, rt.bundle, same)[1] == []
    assert reload_to(rt, same) == []
    assert len(stored(rt)) == 4
