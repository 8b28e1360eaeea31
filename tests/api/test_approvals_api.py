"""Branches and approvals through the API: commands under the record, refusals, guide, audit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.api.conftest import Api
from tests.runtime.approvals_bundle import DEFINITIONS

MakeApi = Callable[..., Api]


def _bundle(root: Path) -> Path:
    for name, text in DEFINITIONS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text.lstrip(), encoding="utf-8")
    return root


def test_branches_and_votes_go_through_the_record_routes(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api(bundle=_bundle(tmp_path / "approvals"))
    rid = api.call("POST", "/api/v1/records/deal", "ann", json={"amount": 10}).json()["id"]
    base = f"/api/v1/records/deal/{rid}"
    assert api.call("POST", f"{base}/transitions", "ann", json={"to": "review"}).status_code == 200
    refused = api.call("POST", f"{base}/transitions", "ann", json={"to": "approval"})
    assert refused.status_code == 422
    assert [p["code"] for p in refused.json()["extra"]] == ["branches-incomplete"]
    wrong = api.call("POST", f"{base}/branches/finance/complete", "lea", json={})
    assert wrong.status_code == 403 and [p["code"] for p in wrong.json()["extra"]] == ["forbidden"]
    unknown = api.call("POST", f"{base}/branches/tax/complete", "fin")
    assert unknown.status_code == 422, unknown.text
    done = api.call("POST", f"{base}/branches/finance/complete", "fin", json={"comment": "ok"})
    assert done.status_code == 200, done.text
    guide = api.call("GET", f"{base}/guide", "ann").json()["stage"]
    assert [(b["id"], b["state"]) for b in guide["branches"]["items"]] == [
        ("legal", "not_applicable"),
        ("finance", "complete"),
    ]
    assert (
        api.call("POST", f"{base}/transitions", "ann", json={"to": "approval"}).status_code == 200
    )
    vote = api.call(
        "POST", f"{base}/approval", "dan", json={"decision": "approve", "comment": "ok"}
    )
    assert vote.status_code == 200, vote.text
    again = api.call("POST", f"{base}/approval", "dan", json={"decision": "approve"})
    assert again.status_code == 422 and again.json()["extra"][0]["code"] == "already-voted"
    bad = api.call("POST", f"{base}/approval", "del", json={"decision": "maybe"})
    assert bad.status_code == 400
    approval = api.call("GET", f"{base}/guide", "ann").json()["stage"]["approval"]
    assert (approval["state"], approval["approved"], approval["need"]) == ("pending", 1, 2)
    assert approval["votes"][0]["approver"] == "dan"
    assert approval["votes"][0]["comment"] == "ok"
    back = api.call(
        "POST", f"{base}/approval", "del", json={"decision": "send_back", "to": "intake"}
    )
    assert back.status_code == 200 and back.json()["stage"] == "intake"
    audit = api.call("GET", f"{base}/audit", "ann").json()
    kinds = [e["kind"] for e in (audit["items"] if isinstance(audit, dict) else audit)]
    assert kinds.count("approval_vote") == 2 and "branch_completed" in kinds


def test_a_delegate_votes_for_the_absent_approver_and_a_reject_closes(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api = make_api(bundle=_bundle(tmp_path / "approvals"))
    api.clock.set(api.clock.now().replace(year=2026, month=1, day=7, hour=10))
    rid = api.call("POST", "/api/v1/records/deal", "ann", json={"amount": 10}).json()["id"]
    base = f"/api/v1/records/deal/{rid}"
    api.call("POST", f"{base}/transitions", "ann", json={"to": "review"})
    api.call("POST", f"{base}/branches/finance/complete", "fin")
    api.call("POST", f"{base}/transitions", "ann", json={"to": "approval"})
    vote = api.call("POST", f"{base}/approval", "max", json={"decision": "approve", "for": "dora"})
    assert vote.status_code == 200, vote.text
    votes = api.call("GET", f"{base}/guide", "ann").json()["stage"]["approval"]["votes"]
    assert votes[0]["approver"] == "dora" and votes[0]["actor"] == "max"
    assert votes[0]["on_behalf_of"] == "dora"
    rejected = api.call("POST", f"{base}/approval", "dan", json={"decision": "reject"})
    assert rejected.status_code == 200
    assert (rejected.json()["stage"], rejected.json()["status"]) == ("lost", "lost")


def test_an_approval_by_assignment_waits_for_its_holder_over_the_api(make_api: MakeApi) -> None:
    conformance = Path(__file__).resolve().parents[1] / "conformance" / "approvals"
    api = make_api(bundle=conformance)
    rid = api.call("POST", "/api/v1/records/claim", "max", json={"title": "hail"}).json()["id"]
    base = f"/api/v1/records/claim/{rid}"
    assert api.call("POST", f"{base}/transitions", "max", json={"to": "check"}).status_code == 200
    early = api.call("POST", f"{base}/approval", "sen", json={"decision": "approve"})
    assert early.status_code == 422, early.text
    assert early.json()["extra"][0]["code"] == "approval-unassigned"
    assert early.json()["detail"] == "Check cannot be decided: assignment 'approver' is not filled"
    step = api.call("GET", f"{base}/guide", "max").json()["stage"]["approval"]
    assert (step["state"], step["assignments"]) == (
        "unassigned",
        {"approver": {"user": None, "queue": None}},
    )
    filled = api.call("POST", f"{base}/assign", "max", json={"as": "approver", "user": "sen"})
    assert filled.status_code == 200, filled.text
    wrong = api.call("POST", f"{base}/approval", "sal", json={"decision": "approve"})
    assert wrong.status_code == 403, wrong.text
    vote = api.call("POST", f"{base}/approval", "sen", json={"decision": "approve"})
    assert vote.status_code == 200, vote.text
    step = api.call("GET", f"{base}/guide", "max").json()["stage"]["approval"]
    assert (step["state"], step["approvers"]) == ("approved", ["sen"])
