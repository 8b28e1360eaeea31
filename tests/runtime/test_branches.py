"""Parallel branches inside a stage (runtime/approvals.py), on SQLite and PostgreSQL.

The review stage of tests/runtime/approvals_bundle.py has a legal branch (only over
100000, needing notes and a PDF memo) and a finance branch; `need` is pinned at n - 1
and n, and a branch's `when` decides whether it exists at each check.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bundle import Bundle
from runtime.core import Runtime
from runtime.errors import Refused
from runtime.guide import guide_of
from runtime.store import Store
from tests.runtime.approvals_bundle import approvals_bundle
from tests.runtime.helpers import PDF, make_runtime


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return approvals_bundle(tmp_path_factory.mktemp("branches"))


@pytest.fixture(scope="module")
def two_of_three(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    extra = "        - {id: tax, roles: [finance]}\n  - id: approval\n"
    return approvals_bundle(
        tmp_path_factory.mktemp("two_of_three"),
        **{"need: all": "need: 2", "  - id: approval\n": extra},
    )


def in_review(rt: Runtime, amount: int) -> str:
    record = rt.create("deal", {"amount": amount}, actor="ann")
    rt.transition(record.id, "review", actor="ann")
    return record.id


def codes(rt: Runtime, rid: str, target: str = "approval") -> list[tuple[str, str]]:
    with pytest.raises(Refused) as caught:
        rt.transition(rid, target, actor="ann")
    return [(p.code, p.message) for p in caught.value.problems]


def states(rt: Runtime, rid: str) -> dict[str, str]:
    stage = guide_of(rt, rid, "ann")["stage"]
    return {b["id"]: b["state"] for b in stage["branches"]["items"]}


def test_need_all_waits_for_every_branch_that_exists(
    store: Store, tmp_path: Path, bundle: Bundle
) -> None:
    rt = make_runtime(store, tmp_path, bundle)
    rid = in_review(rt, 200000)
    assert codes(rt, rid) == [
        ("branches-incomplete", "0 of 2 branches complete; open: Legal review, Finance review")
    ]
    rt.complete_branch(rid, "finance", actor="fin")
    assert codes(rt, rid) == [
        ("branches-incomplete", "1 of 2 branches complete; open: Legal review")
    ]
    rt.update(rid, {"legal_notes": "ok"}, actor="ann")
    rt.attach_evidence(rid, "legal_memo", PDF, file_name="m.pdf", media_type="application/pdf")
    rt.complete_branch(rid, "legal", actor="lea", comment="clause 4 fine")
    assert states(rt, rid) == {"legal": "complete", "finance": "complete"}
    assert rt.transition(rid, "approval", actor="ann").stage == "approval"


def test_a_branch_completes_only_with_its_role_and_its_requirements(
    store: Store, tmp_path: Path, bundle: Bundle
) -> None:
    rt = make_runtime(store, tmp_path, bundle)
    rid = in_review(rt, 200000)
    with pytest.raises(Refused) as caught:
        rt.complete_branch(rid, "legal", actor="fin")
    assert [p.code for p in caught.value.problems] == [
        "forbidden",
        "required-field",
        "missing-evidence",
    ]
    rt.update(rid, {"legal_notes": "ok"}, actor="ann")
    with pytest.raises(Refused) as caught:
        rt.complete_branch(rid, "legal", actor="lea")
    assert [p.message for p in caught.value.problems] == [
        "legal_memo: 0 of 1 attached (application/pdf)"
    ]
    rt.attach_evidence(rid, "legal_memo", PDF, file_name="m.pdf", media_type="application/pdf")
    rt.complete_branch(rid, "legal", actor="lea")
    with pytest.raises(Refused) as caught:
        rt.complete_branch(rid, "legal", actor="lea")
    assert caught.value.problems[0].code == "branch-done"
    with pytest.raises(Refused) as caught:
        rt.complete_branch(rid, "tax", actor="fin")
    assert caught.value.problems[0].code == "unknown-branch"


def test_a_branch_when_is_read_at_each_check(store: Store, tmp_path: Path, bundle: Bundle) -> None:
    rt = make_runtime(store, tmp_path, bundle)
    rid = in_review(rt, 100000)  # exactly at the line: legal does not exist
    assert states(rt, rid) == {"legal": "not_applicable", "finance": "open"}
    with pytest.raises(Refused) as caught:
        rt.complete_branch(rid, "legal", actor="lea")
    assert caught.value.problems[0].code == "branch-not-applicable"
    rt.complete_branch(rid, "finance", actor="fin")
    rt.update(rid, {"amount": 100001}, actor="ann")  # now it does, and it is open
    assert codes(rt, rid) == [
        ("branches-incomplete", "1 of 2 branches complete; open: Legal review")
    ]
    rt.update(rid, {"amount": 100000}, actor="ann")
    assert rt.transition(rid, "approval", actor="ann").stage == "approval"


def test_need_n_of_m_at_n_minus_one_and_n(
    store: Store, tmp_path: Path, two_of_three: Bundle
) -> None:
    rt = make_runtime(store, tmp_path, two_of_three)
    rid = in_review(rt, 10)  # legal does not exist: 2 of finance and tax
    rt.complete_branch(rid, "tax", actor="fin")
    assert codes(rt, rid) == [
        ("branches-incomplete", "1 of 2 branches complete; open: Finance review")
    ]
    rt.complete_branch(rid, "finance", actor="fin")
    assert rt.transition(rid, "approval", actor="ann").stage == "approval"


def test_completions_belong_to_the_stay(store: Store, tmp_path: Path, bundle: Bundle) -> None:
    rt = make_runtime(store, tmp_path, bundle)
    rid = in_review(rt, 10)
    rt.complete_branch(rid, "finance", actor="fin")
    rt.transition(rid, "approval", actor="ann")
    rt.decide(rid, "send_back", to="review", actor="dan")
    assert states(rt, rid) == {"legal": "not_applicable", "finance": "open"}
    events = [e for e in rt.events(rid) if e["kind"] == "branch_completed"]
    assert [(e["actor"], e["detail"]["branch"]) for e in events] == [("fin", "finance")]
