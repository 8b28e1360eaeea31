"""examples/claims over HTTP, as a client walks it: one workflow written once holds a
stage only large claims take, a document only thefts need, legal and finance reviewing
at once, the approval by the manager routed as the claim's approver, a second reviewer,
and each adjuster sees only the claims they work on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.api.conftest import Api
from tests.runtime.helpers import JPEG, PDF

V1 = "/api/v1"
CLAIMS = Path(__file__).resolve().parents[2] / "examples" / "claims"
MakeApi = Callable[..., Api]


def upload(
    api: Api, base: str, user: str, kind: str, name: str, content: bytes, media: str
) -> None:
    done = api.call(
        "POST",
        f"{base}/evidence",
        user,
        data={"kind": kind},
        files={"file": (name, content, media)},
    )
    assert done.status_code == 201, done.text


def move(api: Api, base: str, user: str, to: str) -> Any:
    return api.call("POST", f"{base}/transitions", user, json={"to": to})


def test_a_large_theft_takes_every_conditional_part_and_is_approved(make_api: MakeApi) -> None:
    api = make_api(bundle=CLAIMS)
    made = api.call(
        "POST",
        f"{V1}/records/claim",
        "anna.k",
        json={"policy_no": "P-9", "cause": "theft", "amount": 150000},
    )
    assert made.status_code == 201, made.text
    claim = made.json()
    base = f"{V1}/records/claim/{claim['id']}"
    assert claim["owner"] == "anna.k"
    assert claim["assignments"]["reviewer"]["user"] == "ben.o"
    assert claim["assignments"]["second_reviewer"]["user"] == "clara.s"

    # each adjuster sees the claims they work on; a manager their team's
    seen = {
        user: [i["id"] for i in api.call("GET", f"{V1}/records/claim", user).json()["items"]]
        for user in ("anna.k", "ben.o", "clara.s", "dora.w", "max.b")
    }
    assert seen == {
        "anna.k": [claim["id"]],
        "ben.o": [claim["id"]],
        "clara.s": [claim["id"]],
        "dora.w": [],
        "max.b": [claim["id"]],
    }
    assert api.call("GET", base, "dora.w").status_code == 404

    for name in ("door.jpg", "safe.jpg"):
        upload(api, base, "anna.k", "damage_photos", name, JPEG + name.encode(), "image/jpeg")
    refused = move(api, base, "anna.k", "investigation")
    assert refused.status_code == 422
    assert [p["code"] for p in refused.json()["extra"]] == ["missing-evidence"]
    upload(api, base, "anna.k", "police_report", "report.pdf", PDF, "application/pdf")
    assert move(api, base, "anna.k", "investigation").status_code == 200

    path = api.call("GET", f"{base}/path", "anna.k").json()
    states = {p["id"]: (p["state"], p["applies"]) for p in path["path"] if "id" in p}
    assert states["investigation"] == ("current", True)
    assert states["review"] == ("ahead", True)

    current = api.call("GET", base, "anna.k").json()
    changed = api.call(
        "PATCH",
        base,
        "anna.k",
        json={"row_version": current["row_version"], "data": {"assessment": "forced entry"}},
    )
    assert changed.status_code == 200, changed.text
    upload(api, base, "anna.k", "site_report", "site.pdf", PDF + b"site", "application/pdf")
    assert move(api, base, "anna.k", "review").status_code == 200

    guide = api.call("GET", f"{base}/guide", "anna.k").json()["stage"]["branches"]
    assert [(b["id"], b["state"]) for b in guide["items"]] == [
        ("legal", "open"),
        ("finance", "open"),
    ]
    early = move(api, base, "anna.k", "approval")
    assert [p["code"] for p in early.json()["extra"]] == ["branches-incomplete"]
    upload(api, base, "lena.r", "legal_memo", "memo.pdf", PDF + b"memo", "application/pdf")
    legal = api.call("POST", f"{base}/branches/legal/complete", "lena.r", json={})
    assert legal.status_code == 200, legal.text
    current = api.call("GET", base, "finn.h").json()
    api.call(
        "PATCH",
        base,
        "finn.h",
        json={"row_version": current["row_version"], "data": {"settlement": 140000}},
    )
    assert api.call("POST", f"{base}/branches/finance/complete", "finn.h").status_code == 200
    assert move(api, base, "anna.k", "approval").status_code == 200
    # entering the approval routed the approver, a manager, who alone decides
    assert api.call("GET", base, "anna.k").json()["assignments"]["approver"]["user"] == "eva.m"
    pending = move(api, base, "anna.k", "payout")
    assert [p["code"] for p in pending.json()["extra"]] == ["approval-pending"]
    step = api.call("GET", f"{base}/guide", "anna.k").json()["stage"]["approval"]
    assert (step["state"], step["approvers"]) == ("pending", ["eva.m"])
    other = api.call("POST", f"{base}/approval", "max.b", json={"decision": "approve"})
    assert other.status_code == 403, other.text
    assert other.json()["detail"] == (
        "only the holder of approver (eva.m) may decide on this approval"
    )
    voted = api.call("POST", f"{base}/approval", "eva.m", json={"decision": "approve"})
    assert voted.status_code == 200, voted.text
    assert move(api, base, "anna.k", "payout").status_code == 200
    audit = [e["kind"] for e in api.call("GET", f"{base}/audit", "max.b").json()]
    assert audit.count("branch_completed") == 2
    assert "approval_given" in audit
