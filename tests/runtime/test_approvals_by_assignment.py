"""Approvals by named assignments, and notifications to one, on SQLite and PostgreSQL.

The claims bundle of tests/runtime/assign_bundle.py with its workflow replaced: the
`approval` stage is decided by whoever holds the record's `approver` (routed by
senior_routing on entering it: sam 0/3, tom 0/1; a fifth finds nobody and waits in
senior_queue), `sign` by the reviewer and the second reviewer (`need: all`). Entering
`approval` tells the second reviewer (`assignment:second_reviewer`); `secret` is
readable by seniors only.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.bundle import Bundle
from runtime import alerts
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.errors import Refused
from runtime.guide import guide_of
from runtime.store import T_EVENT, T_OUTBOX, Store
from tests.runtime.assign_bundle import CLAIM, MANIFEST, claims_bundle

START = datetime(2026, 3, 2, 9, 0)  # a Monday
FLOW = """\
kind: workflow
version: 1
name: claim_flow
entity: claim
stages:
  - id: intake
  - id: approval
    on_enter:
      - notify: {to: "assignment:second_reviewer", template: to_review}
    approval:
      title: Settlement approval
      by: {assignment: approver}
      on_reject: denied
      send_back_to: [intake]
  - id: sign
    approval:
      title: Sign-off
      by: {assignment: [reviewer, second_reviewer]}
      need: NEED
      on_reject: denied
  - id: payout
exits:
  - {id: denied, outcome: lost}
"""
ALERT = """\
kind: alert
version: 1
name: huge_claim
entity: claim
when: "amount >= 1000000"
actions:
  - notify: {to: "assignment:reviewer", template: to_review}
"""
NOTE = """\
kind: notification
version: 1
name: to_review
subject: "Review {{ record.title }}"
body: "secret={{ record.secret }}"
"""


def bundle_with(root: Path, need: str = "all") -> Bundle:
    return claims_bundle(
        root,
        **{
            "bundle.yaml": MANIFEST.replace(
                "tom: {name: Tom, roles: [senior], capacity: 1}",
                "tom: {name: Tom, roles: [senior], capacity: 1, manager: mia,\n"
                "         leave: [{from: 2026-03-03, to: 2026-03-03}]}",
            ),
            "forms/claim.yaml": CLAIM.replace(
                "  state:", "  secret: {type: string, read: [senior]}\n  state:"
            ),
            "workflows/claim.yaml": FLOW.replace("NEED", need),
            "notifications/to_review.yaml": NOTE,
            "rules/alert.yaml": ALERT,
        },
    )


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Runtime:
    return Runtime(
        bundle_with(tmp_path / "defs"), store, FakeClock(START), evidence_dir=tmp_path / "ev"
    )


def refusal(fn: Any, *args: Any, **kw: Any) -> list[tuple[str, str]]:
    with pytest.raises(Refused) as caught:
        fn(*args, **kw)
    return [(p.code, p.message) for p in caught.value.problems]


def approval(rt: Runtime, rid: str) -> dict[str, Any]:
    found: dict[str, Any] = guide_of(rt, rid, "mia")["stage"]["approval"]
    return found


def sent(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(select(T_OUTBOX.c.payload).order_by(T_OUTBOX.c.id)).all()
    return [row.payload for row in rows if row.payload.get("template") == "to_review"]


def skipped(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(
            select(T_EVENT.c.detail).where(T_EVENT.c.kind == "notification_skipped")
        ).all()
    return [row.detail for row in rows]


def test_the_routed_approver_decides_and_no_one_else(rt: Runtime) -> None:
    rid = rt.create("claim", {"title": "hail"}).id
    rt.transition(rid, "approval")
    assert approval(rt, rid)["approvers"] == ["sam"]
    assert approval(rt, rid)["assignments"] == {"approver": {"user": "sam", "queue": None}}
    assert refusal(rt.decide, rid, "approve", actor="tom") == [
        ("forbidden", "only the holder of approver (sam) may decide on this approval")
    ]
    assert refusal(rt.transition, rid, "sign") == [
        ("approval-pending", "Settlement approval: 0 of 1 approvals")
    ]
    rt.decide(rid, "approve", actor="sam")
    assert approval(rt, rid)["state"] == "approved"
    assert rt.transition(rid, "sign").stage == "sign"


def test_an_approver_waiting_in_a_queue_blocks_the_approval_until_filled(rt: Runtime) -> None:
    ids = []
    for i in range(5):  # seniors hold 4 approvals between them: the fifth waits
        rid = rt.create("claim", {"title": f"c{i}"}).id
        rt.assign(rid, user="rita", as_="reviewer")
        rt.transition(rid, "approval")
        ids.append(rid)
    rid = ids[4]
    message = (
        "Settlement approval cannot be decided: assignment 'approver' "
        "(waiting in queue senior_queue) is not filled"
    )
    assert refusal(rt.transition, rid, "sign") == [("approval-unassigned", message)]
    assert refusal(rt.decide, rid, "approve", actor="sam") == [("approval-unassigned", message)]
    state = approval(rt, rid)
    assert (state["state"], state["need"], state["unassigned"]) == ("unassigned", 1, message)
    rt.assign(rid, user="tom", as_="approver")
    assert approval(rt, rid)["state"] == "pending"
    rt.decide(rid, "approve", actor="tom")
    assert rt.transition(rid, "sign").stage == "sign"


def test_a_cleared_approver_blocks_again_and_a_new_one_decides(rt: Runtime) -> None:
    rid = rt.create("claim", {"title": "roof"}).id
    rt.transition(rid, "approval")
    rt.assign(rid, as_="approver")  # cleared by hand
    assert [c for c, _ in refusal(rt.transition, rid, "sign")] == ["approval-unassigned"]
    rt.assign(rid, user="tom", as_="approver")
    assert [c for c, _ in refusal(rt.decide, rid, "approve", actor="sam")] == ["forbidden"]
    rt.decide(rid, "approve", actor="tom")
    assert rt.transition(rid, "sign").stage == "sign"


def test_need_all_counts_every_holder_once_both_are_filled(rt: Runtime) -> None:
    rid = rt.create("claim", {"title": "flood", "amount": 10}).id  # reviewer: rita
    rt.transition(rid, "approval")
    rt.decide(rid, "approve", actor="sam")
    rt.transition(rid, "sign")
    assert refusal(rt.transition, rid, "payout") == [
        (
            "approval-unassigned",
            "Sign-off cannot be decided: assignment 'second_reviewer' is not filled",
        )
    ]
    rt.update(rid, {"amount": 100000})  # fills the second reviewer: tom (sam holds 1/3)
    assert approval(rt, rid)["approvers"] == ["rita", "tom"]
    rt.decide(rid, "approve", actor="rita")
    assert refusal(rt.transition, rid, "payout") == [
        ("approval-pending", "Sign-off: 1 of 2 approvals (approved by rita)")
    ]
    assert approval(rt, rid)["state"] == "pending"
    rt.decide(rid, "approve", actor="tom")
    assert approval(rt, rid)["state"] == "approved"
    assert rt.transition(rid, "payout").stage == "payout"


def test_one_person_holding_both_is_one_approver(store: Store, tmp_path: Path) -> None:
    for need, expected in (("all", "approved"), ("2", "unassigned")):
        bundle = bundle_with(tmp_path / need, need)
        rt = Runtime(bundle, store, FakeClock(START), evidence_dir=tmp_path / "ev")
        rid = rt.create("claim", {"title": need}).id
        rt.assign(rid, user="sam", as_="approver")
        rt.transition(rid, "approval")
        rt.decide(rid, "approve", actor="sam")
        rt.transition(rid, "sign")
        rt.assign(rid, user="sam", as_="reviewer")
        rt.assign(rid, user="sam", as_="second_reviewer")
        if need == "2":
            assert refusal(rt.decide, rid, "approve", actor="sam") == [
                (
                    "approval-unassigned",
                    "Sign-off cannot be decided: it needs 2 approvers, and "
                    "reviewer, second_reviewer are held by sam",
                )
            ]
        else:
            rt.decide(rid, "approve", actor="sam")
        assert approval(rt, rid)["state"] == expected


def test_the_manager_decides_for_an_assigned_approver_on_leave_today(rt: Runtime) -> None:
    rid = rt.create("claim", {"title": "storm"}).id
    rt.assign(rid, user="tom", as_="approver")
    rt.transition(rid, "approval")
    assert [c for c, _ in refusal(rt.decide, rid, "approve", actor="mia")] == ["forbidden"]
    rt.clock.set(datetime(2026, 3, 3, 0, 0))  # tom's day of leave  # type: ignore[attr-defined]
    rt.decide(rid, "approve", actor="mia")
    votes = approval(rt, rid)["votes"]
    assert [(v["approver"], v["actor"], v["on_behalf_of"]) for v in votes] == [
        ("tom", "mia", "tom")
    ]


def test_a_notification_to_an_assignment_reaches_its_holder_or_says_why_not(
    rt: Runtime, store: Store
) -> None:
    quiet = rt.create("claim", {"title": "small", "secret": "s1"}).id
    rt.transition(quiet, "approval")  # nobody holds second_reviewer
    assert sent(store) == []
    [why] = skipped(store)
    assert (why["to"], why["reason"]) == (
        ["assignment:second_reviewer"],
        "assignment second_reviewer not filled",
    )
    big = rt.create("claim", {"title": "big", "amount": 200000, "secret": "s2"}).id
    rt.transition(big, "approval")
    rita = rt.create("claim", {"title": "odd", "secret": "s3"}).id
    rt.assign(rita, user="rita", as_="second_reviewer")
    rt.transition(rita, "approval")
    assert [(m["to"], m["subject"], m["body"]) for m in sent(store)] == [
        ("tom", "Review big", "secret=s2"),  # a senior reads the secret
        ("rita", "Review odd", "secret="),  # a reviewer does not
    ]
    assert len(skipped(store)) == 1


def test_an_alert_to_an_assignment_notifies_and_is_seen_by_its_holder_now(
    rt: Runtime, store: Store
) -> None:
    rid = rt.create("claim", {"title": "mansion", "amount": 1000000, "secret": "x"}).id
    assert [(m["to"], m["body"]) for m in sent(store)] == [("rita", "secret=")]
    [alert] = rt.alerts(rule="huge_claim")
    with store.read() as conn:
        assert alerts.notified(conn, rt.bundle, alert) == ["rita"]
    rt.assign(rid, user="sam", as_="reviewer")
    with store.read() as conn:
        assert alerts.notified(conn, rt.bundle, alert) == ["sam"]
    rt.assign(rid, as_="reviewer")  # cleared: the alert notifies nobody
    with store.read() as conn:
        assert alerts.notified(conn, rt.bundle, alert) == []


def test_a_reassigned_holders_vote_lapses_and_the_new_holder_decides(rt: Runtime) -> None:
    rid = rt.create("claim", {"title": "quake", "amount": 100000}).id  # rita, sam
    rt.assign(rid, user="tom", as_="approver")
    rt.transition(rid, "approval")
    rt.decide(rid, "approve", actor="tom")
    rt.transition(rid, "sign")
    rt.decide(rid, "approve", actor="rita")
    assert (approval(rt, rid)["approved"], approval(rt, rid)["need"]) == (1, 2)
    rt.assign(rid, user="cid", as_="reviewer")  # rita no longer reviews: her vote lapses
    assert (approval(rt, rid)["approved"], approval(rt, rid)["state"]) == (0, "pending")
    assert [c for c, _ in refusal(rt.decide, rid, "approve", actor="rita")] == ["forbidden"]
    rt.decide(rid, "approve", actor="sam")
    assert refusal(rt.transition, rid, "payout") == [
        ("approval-pending", "Sign-off: 1 of 2 approvals (approved by sam)")
    ]
    rt.decide(rid, "approve", actor="cid")
    assert approval(rt, rid)["state"] == "approved"
    assert rt.transition(rid, "payout").stage == "payout"
