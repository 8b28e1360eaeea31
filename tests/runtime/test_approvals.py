"""Approvals inside a stage (runtime/approvals.py), on SQLite and PostgreSQL.

The approval stage of tests/runtime/approvals_bundle.py needs 2 of the 3 directors
(dora is on leave 2026-01-06 to 2026-01-08, her manager is max), may send back to
intake or review, and rejects to the `lost` exit.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.bundle import Bundle
from runtime.core import Runtime
from runtime.errors import Conflict, Refused
from runtime.guide import guide_of
from runtime.store import Store
from tests.runtime.approvals_bundle import approvals_bundle
from tests.runtime.helpers import make_runtime


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return approvals_bundle(tmp_path_factory.mktemp("approvals"))


@pytest.fixture(scope="module")
def need_all(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return approvals_bundle(
        tmp_path_factory.mktemp("need_all"), **{"need: 2": "need: all\n      delegate: none"}
    )


def at_approval(rt: Runtime) -> str:
    record = rt.create("deal", {"amount": 10}, actor="ann")
    rt.transition(record.id, "review", actor="ann")
    rt.complete_branch(record.id, "finance", actor="fin")
    rt.transition(record.id, "approval", actor="ann")
    return record.id


def refused(fn: object, *args: object, **kw: object) -> list[str]:
    with pytest.raises(Refused) as caught:
        fn(*args, **kw)  # type: ignore[operator]
    return [p.code for p in caught.value.problems]


def approval(rt: Runtime, rid: str) -> dict[str, object]:
    found: dict[str, object] = guide_of(rt, rid, "ann")["stage"]["approval"]
    return found


def test_n_minus_one_approvals_hold_the_record_and_n_let_it_go(
    store: Store, tmp_path: Path, bundle: Bundle
) -> None:
    rt = make_runtime(store, tmp_path, bundle)
    rid = at_approval(rt)
    rt.decide(rid, "approve", actor="dan", comment="fine")
    with pytest.raises(Refused) as caught:
        rt.transition(rid, "done", actor="ann")
    assert [(p.code, p.message) for p in caught.value.problems] == [
        ("approval-pending", "Tier approval: 1 of 2 approvals (approved by dan)")
    ]
    assert rt.get(rid).data.get("approved") is None  # on_approved has not run
    view = rt.decide(rid, "approve", actor="del")
    assert view.data["approved"] is True
    assert approval(rt, rid)["state"] == "approved"
    kinds = [e["kind"] for e in rt.events(rid)]
    assert kinds.count("approval_vote") == 2 and kinds.count("approval_given") == 1
    assert refused(rt.decide, rid, "approve", actor="dora") == ["approved"]
    assert rt.transition(rid, "done", actor="ann").stage == "done"


def test_one_vote_per_approver_and_only_approvers_vote(
    store: Store, tmp_path: Path, bundle: Bundle
) -> None:
    rt = make_runtime(store, tmp_path, bundle)
    rid = at_approval(rt)
    assert refused(rt.decide, rid, "approve", actor="ann") == ["forbidden"]
    assert refused(rt.decide, rid, "approve", actor=None) == ["forbidden"]
    rt.decide(rid, "approve", actor="dan")
    assert refused(rt.decide, rid, "approve", actor="dan") == ["already-voted"]
    assert refused(rt.decide, rid, "reject", actor="dan") == ["already-voted"]
    assert refused(rt.decide, rid, "maybe", actor="del") == ["invalid"]
    assert refused(rt.decide, rid, "approve", actor="del", to="intake") == ["invalid"]


def test_need_all_counts_every_director(store: Store, tmp_path: Path, need_all: Bundle) -> None:
    rt = make_runtime(store, tmp_path, need_all)
    rid = at_approval(rt)
    rt.decide(rid, "approve", actor="dan")
    rt.decide(rid, "approve", actor="del")
    assert approval(rt, rid)["need"] == 3
    assert refused(rt.transition, rid, "done", actor="ann") == ["approval-pending"]
    rt.decide(rid, "approve", actor="dora")
    assert rt.transition(rid, "done", actor="ann").stage == "done"


@pytest.mark.parametrize(
    ("when", "may"),
    [
        (datetime(2026, 1, 5, 23, 59, tzinfo=UTC), False),  # the day before the leave
        (datetime(2026, 1, 6, 0, 0, tzinfo=UTC), True),  # its first day
        (datetime(2026, 1, 8, 23, 59, tzinfo=UTC), True),  # its last day
        (datetime(2026, 1, 9, 0, 0, tzinfo=UTC), False),  # the day after
    ],
)
def test_the_manager_decides_for_an_approver_on_leave_today(
    store: Store, tmp_path: Path, bundle: Bundle, when: datetime, may: bool
) -> None:
    rt = make_runtime(store, tmp_path, bundle)
    rid = at_approval(rt)
    rt.clock.set(when)  # type: ignore[attr-defined]
    if not may:
        assert refused(rt.decide, rid, "approve", actor="max") == ["forbidden"]
        assert refused(rt.decide, rid, "approve", actor="max", on_behalf_of="dora") == ["forbidden"]
        return
    rt.decide(rid, "approve", actor="max", comment="for dora")
    [vote] = approval(rt, rid)["votes"]  # type: ignore[misc]
    assert (vote["approver"], vote["actor"], vote["on_behalf_of"]) == ("dora", "max", "dora")
    assert refused(rt.decide, rid, "approve", actor="dora") == ["already-voted"]
    assert refused(rt.decide, rid, "approve", actor="dan", on_behalf_of="dora") == ["forbidden"]


def test_no_delegation_when_the_approval_says_none(
    store: Store, tmp_path: Path, need_all: Bundle
) -> None:
    rt = make_runtime(store, tmp_path, need_all)
    rid = at_approval(rt)
    rt.clock.set(datetime(2026, 1, 7, 10, tzinfo=UTC))  # type: ignore[attr-defined]
    assert refused(rt.decide, rid, "approve", actor="max") == ["forbidden"]


def test_a_send_back_returns_the_record_and_resets_votes_and_branches(
    store: Store, tmp_path: Path, bundle: Bundle
) -> None:
    rt = make_runtime(store, tmp_path, bundle)
    rid = at_approval(rt)
    rt.decide(rid, "approve", actor="dan")
    assert refused(rt.decide, rid, "send_back", actor="del", to="done") == ["send-back-not-allowed"]
    assert refused(rt.decide, rid, "send_back", actor="del") == ["send-back-not-allowed"]
    view = rt.decide(rid, "send_back", actor="del", to="intake", comment="wrong customer")
    assert (view.stage, view.status) == ("intake", "open")
    rt.transition(rid, "review", actor="ann")
    assert refused(rt.transition, rid, "approval", actor="ann") == ["branches-incomplete"]
    rt.complete_branch(rid, "finance", actor="fin")
    rt.transition(rid, "approval", actor="ann")
    assert approval(rt, rid)["approved"] == 0 and approval(rt, rid)["votes"] == []
    rt.decide(rid, "approve", actor="dan")  # dan may vote again in the new stay
    assert refused(rt.transition, rid, "done", actor="ann") == ["approval-pending"]


def test_a_reject_takes_the_on_reject_exit(store: Store, tmp_path: Path, bundle: Bundle) -> None:
    rt = make_runtime(store, tmp_path, bundle)
    rid = at_approval(rt)
    rt.decide(rid, "approve", actor="dan")
    view = rt.decide(rid, "reject", actor="del", comment="margin too thin")
    assert (view.stage, view.status) == ("lost", "lost")
    votes = [e["detail"] for e in rt.events(rid) if e["kind"] == "approval_vote"]
    assert [(v["approver"], v["decision"]) for v in votes] == [
        ("dan", "approve"),
        ("del", "reject"),
    ]
    assert votes[1]["comment"] == "margin too thin"
    assert refused(rt.decide, rid, "approve", actor="dora") == ["closed"]


def test_no_approval_in_a_stage_without_one(store: Store, tmp_path: Path, bundle: Bundle) -> None:
    rt = make_runtime(store, tmp_path, bundle)
    record = rt.create("deal", {"amount": 10}, actor="ann")
    assert refused(rt.decide, record.id, "approve", actor="dan") == ["no-approval"]


def test_a_manager_of_two_absent_approvers_says_for_whom(
    store: Store, tmp_path: Path, bundle: Bundle
) -> None:
    users = dict(bundle.manifest.users)
    users["dan"] = users["dan"].model_copy(update={"leave": users["dora"].leave})
    both_away = dataclasses.replace(
        bundle, manifest=bundle.manifest.model_copy(update={"users": users})
    )
    rt = make_runtime(store, tmp_path, both_away)
    rid = at_approval(rt)
    rt.clock.set(datetime(2026, 1, 7, 10, tzinfo=UTC))  # type: ignore[attr-defined]
    assert refused(rt.decide, rid, "approve", actor="max") == ["ambiguous-delegate"]
    rt.decide(rid, "approve", actor="max", on_behalf_of="dan")
    rt.decide(rid, "approve", actor="max")  # the one absent approver left: dora
    votes = [e["detail"] for e in rt.events(rid) if e["kind"] == "approval_vote"]
    assert [v["approver"] for v in votes] == ["dan", "dora"]
    assert rt.transition(rid, "done", actor="ann").stage == "done"


def test_two_votes_at_once_by_one_approver_count_once(
    pg_store: Store, tmp_path: Path, bundle: Bundle
) -> None:
    """On PostgreSQL only, by its fixture: SQLite runs one writer at a time, so two
    votes cannot race there."""
    rt = make_runtime(pg_store, tmp_path, bundle)
    rid = at_approval(rt)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def vote() -> None:
        barrier.wait()
        try:
            rt.decide(rid, "approve", actor="dan")
            outcomes.append("ok")
        except (Conflict, Refused) as exc:  # 409, or already-voted once the first committed
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=vote) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[-1] == "ok" and outcomes.count("ok") == 1
    assert [e["kind"] for e in rt.events(rid)].count("approval_vote") == 1


def test_the_author_may_not_decide_and_need_all_counts_the_others(
    store: Store, tmp_path: Path, need_all: Bundle
) -> None:
    """A director who created the deal may not decide it; `all` is the other two."""
    rt = make_runtime(store, tmp_path, need_all)
    record = rt.create("deal", {"amount": 10}, actor="dan")
    rt.transition(record.id, "review", actor="ann")
    rt.complete_branch(record.id, "finance", actor="fin")
    rt.transition(record.id, "approval", actor="del")  # del moved it in: barred too
    with pytest.raises(Refused) as caught:
        rt.decide(record.id, "approve", actor="dan")
    assert [(p.code, p.message) for p in caught.value.problems] == [
        ("approval-self", "dan created the record: someone else decides the Tier approval")
    ]
    assert refused(rt.decide, record.id, "reject", actor="del") == ["approval-self"]
    assert approval(rt, record.id)["need"] == 1  # dora alone may decide: all = 1
    rt.decide(record.id, "approve", actor="dora")
    assert rt.transition(record.id, "done", actor="ann").stage == "done"


def test_a_manager_may_not_cast_the_vote_of_an_author_on_leave(
    store: Store, tmp_path: Path, bundle: Bundle
) -> None:
    """dora created the deal and is on leave: her manager may not approve in her name (it
    would count a vote the author may not cast), though max decides for dan later."""
    rt = make_runtime(store, tmp_path, bundle)
    rt.clock.set(datetime(2026, 1, 7, 9, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    record = rt.create("deal", {"amount": 10}, actor="dora")
    rt.transition(record.id, "review", actor="ann")
    rt.complete_branch(record.id, "finance", actor="fin")
    rt.transition(record.id, "approval", actor="ann")
    with pytest.raises(Refused) as caught:
        rt.decide(record.id, "approve", actor="max", on_behalf_of="dora")
    assert [(p.code, p.message) for p in caught.value.problems] == [
        ("approval-self", "dora created the record: someone else decides the Tier approval")
    ]
    assert refused(rt.decide, record.id, "approve", actor="max") == ["approval-self"]
    assert approval(rt, record.id)["votes"] == []
    rt.decide(record.id, "approve", actor="dan")
    rt.decide(record.id, "approve", actor="del")
    assert rt.transition(record.id, "done", actor="ann").stage == "done"
