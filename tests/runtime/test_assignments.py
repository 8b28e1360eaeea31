"""Named assignments beside the owner: filled at their moment, once, by their routing rule.

The claims bundle (tests/runtime/assign_bundle.py): a reviewer routed when a claim is
created, a second reviewer when its amount reaches 100000 (never the reviewer), an
approver on entering `approval`, an account manager set by hand. Each counts in its
holder's load while the claim is open and `state == 'open'`; one nobody may take waits
in its routing rule's queue. Checked on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.bundle import Bundle
from runtime import queries
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.errors import Invalid, Refused
from runtime.people import loads
from runtime.store import T_DECISION, Store
from tests.runtime.assign_bundle import claims_bundle

START = datetime(2026, 3, 2, 9, 0)
PEOPLE = ["ann", "bob", "cid", "rita", "sam", "tom"]


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return claims_bundle(tmp_path / "defs")


@pytest.fixture
def rt(bundle: Bundle, store: Store, tmp_path: Path) -> Runtime:
    return Runtime(bundle, store, FakeClock(START), evidence_dir=tmp_path / "evidence")


def load_of(rt: Runtime) -> dict[str, int]:
    with rt.store.read() as conn:
        found = loads(conn, PEOPLE)
    return {user: n for user, (n, _) in found.items() if n}


def held(rt: Runtime, rid: str) -> dict[str, str | None]:
    view = rt.get(rid)
    assert view.assignments is not None
    return {
        name: a["user"] or (a["queue"] and f"queue:{a['queue']}")
        for name, a in view.assignments.items()
    }


def test_the_reviewer_is_routed_when_the_claim_is_created(rt: Runtime) -> None:
    view = rt.create("claim", {"title": "dent", "amount": 500})
    assert view.owner == "ann"  # the owner's own routing rule
    assert held(rt, view.id) == {
        "reviewer": "rita",  # least loaded reviewer (rita, sam at 0: by id)
        "second_reviewer": None,
        "approver": None,
        "account_manager": None,
    }
    assert load_of(rt) == {"ann": 1, "rita": 1}
    second = rt.create("claim", {"title": "scratch"})
    assert held(rt, second.id)["reviewer"] == "sam"  # rita has one now
    assert load_of(rt) == {"ann": 1, "bob": 1, "rita": 1, "sam": 1}


def test_a_when_moment_fills_the_first_time_it_holds_exactly_at_the_threshold(rt: Runtime) -> None:
    rid = rt.create("claim", {"title": "flood", "amount": 99999.99}).id
    assert held(rt, rid)["second_reviewer"] is None  # just below: not yet
    rt.update(rid, {"amount": 100000})  # exactly at the threshold: filled
    assert held(rt, rid)["second_reviewer"] == "sam"
    rt.update(rid, {"amount": 10})
    rt.update(rid, {"amount": 200000})  # holds again: filled once, never again by itself
    assert held(rt, rid)["second_reviewer"] == "sam"
    events = [e for e in rt.events(rid) if e["kind"] == "assigned"]
    assert [e["detail"]["assignment"] for e in events] == ["reviewer", "second_reviewer"]


def test_a_claim_created_above_the_threshold_gets_its_second_reviewer_at_once(rt: Runtime) -> None:
    rid = rt.create("claim", {"title": "fire", "amount": 250000}).id
    assert held(rt, rid)["second_reviewer"] == "sam"


def test_not_same_as_skips_whoever_holds_the_other_assignment(rt: Runtime) -> None:
    rid = rt.create("claim", {"title": "hail"}).id
    rt.assign(rid, user="sam", as_="reviewer")  # by hand: sam reviews
    assert held(rt, rid)["reviewer"] == "sam"
    rt.update(rid, {"amount": 150000})
    assert held(rt, rid)["second_reviewer"] == "tom"  # sam (least loaded) is skipped
    with rt.store.read() as conn:
        detail = conn.execute(
            select(T_DECISION.c.detail).where(
                T_DECISION.c.record_id == rid, T_DECISION.c.rule == "senior_routing"
            )
        ).scalar_one()
    assert detail["assignment"] == "second_reviewer"
    cols = detail["candidates"]
    assert cols["user"] == ["sam", "tom"]
    reasons = cols["reasons"]
    assert reasons[cols["excluded"][0]] == "holds assignment 'reviewer' (not_same_as)"


def test_entering_a_stage_fills_the_approver(rt: Runtime) -> None:
    rid = rt.create("claim", {"title": "theft"}).id
    assert held(rt, rid)["approver"] is None
    rt.transition(rid, "approval")
    assert held(rt, rid)["approver"] == "sam"  # seniors: sam 0/3, tom 0/1 -> ratio, then id
    rt.transition(rid, "intake")
    rt.transition(rid, "approval")  # entering again: still sam, routed once
    assert held(rt, rid)["approver"] == "sam"


def test_an_assignment_nobody_may_take_waits_in_its_rules_queue(rt: Runtime) -> None:
    # seniors hold 4 between them (sam 3, tom 1): the fifth approval finds nobody
    ids = []
    for i in range(5):
        rid = rt.create("claim", {"title": f"claim {i}"}).id
        rt.assign(rid, user="rita", as_="reviewer")  # keep sam's load to approvals
        rt.transition(rid, "approval")
        ids.append(rid)
    assert [held(rt, r)["approver"] for r in ids] == [
        "sam",
        "tom",
        "sam",
        "sam",
        "queue:senior_queue",
    ]
    with rt.store.read() as conn:
        page = queries.waiting(conn, rt.bundle, "senior_queue", ["claim"])
        sizes = queries.queue_sizes(conn, ["senior_queue", "intake"], ["claim"])
    assert [v.id for v in page.items] == [ids[4]]
    assert page.items[0].assignments["approver"]["queue"] == "senior_queue"  # type: ignore[index]
    assert sizes == {"senior_queue": 1, "intake": 0}
    rt.assign(ids[4], user="tom", as_="approver", actor=None)  # by hand, over capacity
    with rt.store.read() as conn:
        assert queries.waiting(conn, rt.bundle, "senior_queue", ["claim"]).total == 0


def test_each_assignment_counts_in_its_holders_load_while_the_claim_is_open_work(
    rt: Runtime,
) -> None:
    rid = rt.create("claim", {"title": "hail", "amount": 100000}).id
    rt.assign(rid, user="cid", as_="account_manager")
    assert held(rt, rid) == {
        "reviewer": "rita",
        "second_reviewer": "sam",
        "approver": None,
        "account_manager": "cid",
    }
    assert load_of(rt) == {"ann": 1, "rita": 1, "sam": 1, "cid": 1}
    rt.update(rid, {"state": "settled"})  # counts_while no longer holds: nobody's work
    assert load_of(rt) == {}
    rt.update(rid, {"state": "open"})
    assert load_of(rt) == {"ann": 1, "rita": 1, "sam": 1, "cid": 1}
    rt.assign(rid, as_="account_manager")  # cleared by hand
    assert held(rt, rid)["account_manager"] is None
    assert load_of(rt) == {"ann": 1, "rita": 1, "sam": 1}
    rt.assign(rid, user="bob", as_="reviewer")  # moved: the count moves with it
    assert load_of(rt) == {"ann": 1, "bob": 1, "sam": 1}
    rt.transition(rid, "paid")  # closed: every count falls, once
    assert load_of(rt) == {}
    with pytest.raises(Refused, match="no longer change"):
        rt.assign(rid, user="cid", as_="account_manager")


def test_assigning_an_unknown_assignment_or_user_is_refused(rt: Runtime) -> None:
    rid = rt.create("claim", {"title": "x"}).id
    with pytest.raises(Invalid, match="no assignment 'auditor'"):
        rt.assign(rid, user="cid", as_="auditor")
    with pytest.raises(Invalid, match="user 'zed' does not exist"):
        rt.assign(rid, user="zed", as_="reviewer")
    rt.assign(rid, queue="review_queue", as_="reviewer")
    assert held(rt, rid)["reviewer"] == "queue:review_queue"
    rt.assign(rid, routing="reviewer_routing", as_="reviewer")  # routed again by its rule
    assert held(rt, rid)["reviewer"] == "rita"


def test_the_owners_routing_leaves_assignment_rules_alone(rt: Runtime) -> None:
    # reviewer_routing reacts to `created` too, but it is the reviewer's rule: the owner
    # is routed by owner_routing only (reps), whichever rule comes first
    owners = [rt.create("claim", {"title": f"c{i}"}).owner for i in range(3)]
    assert owners == ["ann", "bob", "cid"]


def test_entering_the_first_stage_fills_on_creation_and_not_same_as_may_name_the_owner(
    tmp_path: Path, store: Store
) -> None:
    from tests.runtime import assign_bundle as a

    form = a.CLAIM.replace(
        "  account_manager:\n    title: Account manager\n",
        "  account_manager:\n    title: Account manager\n"
        "  intake_check:\n    routing: any_routing\n    at: {entering: intake}\n"
        "    not_same_as: [owner]\n",
    )
    any_routing = a.REVIEWER_ROUTING.replace("reviewer_routing", "any_routing").replace(
        "{role: reviewer}", "{role: rep}"
    )
    bundle = claims_bundle(
        tmp_path / "defs", **{"forms/claim.yaml": form, "rules/any.yaml": any_routing}
    )
    rt = Runtime(bundle, store, FakeClock(START), evidence_dir=tmp_path / "evidence")
    view = rt.create("claim", {"title": "first"})
    assert view.owner == "ann"
    assert held(rt, view.id)["intake_check"] == "bob"
    with rt.store.read() as conn:
        detail = conn.execute(
            select(T_DECISION.c.detail).where(
                T_DECISION.c.record_id == view.id, T_DECISION.c.rule == "any_routing"
            )
        ).scalar_one()
    cols = detail["candidates"]
    assert cols["user"] == ["ann", "bob", "cid"]
    assert cols["reasons"][cols["excluded"][0]] == "holds assignment 'owner' (not_same_as)"
