"""Named assignments and row-level access over HTTP: the record shows its assignments,
`assign` with `as` sets and clears one, and no listing, record, queue or alert shows a
claim the caller's `permissions.rows` leave out (404 for one record, as if missing).

The claims bundle of tests/runtime/assign_bundle.py: claims go round robin to ann, bob,
cid (reps, `rows: assigned`); mia leads team north (ann, bob; `rows: team`); olga is an
auditor (no `rows` entry: every claim).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.api.conftest import Api
from tests.runtime.assign_bundle import claims_bundle

V1 = "/api/v1"
MakeApi = Callable[..., Api]
ALERT = """\
kind: alert
version: 1
name: big_claim
entity: claim
when: "amount > 1000"
severity: warning
"""


def start(make_api: MakeApi, tmp_path: Path) -> tuple[Api, dict[str, str]]:
    root = tmp_path / "claims"
    claims_bundle(root, **{"rules/alert.yaml": ALERT})  # compiles, and leaves the files
    api = make_api(bundle=root)
    ids = {}
    for owner in ("ann", "bob", "cid"):
        made = api.call("POST", f"{V1}/records/claim", owner, json={"title": owner, "amount": 5000})
        assert made.status_code == 201, made.text
        assert made.json()["owner"] == owner
        ids[owner] = made.json()["id"]
    return api, ids


def test_the_record_shows_its_assignments_and_assign_as_sets_and_clears_one(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api, ids = start(make_api, tmp_path)
    claim = f"{V1}/records/claim/{ids['bob']}"
    shown = api.call("GET", claim, "bob").json()
    assert shown["assignments"]["reviewer"]["user"] == "sam"  # rita has ann's
    assert shown["assignments"]["account_manager"] == {
        "user": None,
        "queue": None,
        "filled_at": None,
    }
    done = api.call("POST", f"{claim}/assign", "bob", json={"as": "account_manager", "user": "cid"})
    assert done.status_code == 200, done.text
    assert done.json()["assignments"]["account_manager"]["user"] == "cid"
    assert done.json()["owner"] == "bob"  # the owner stays
    mine = api.call("GET", f"{V1}/records/claim?assignee=me", "cid").json()
    assert {i["id"]: i["held_as"] for i in mine["items"]} == {
        ids["bob"]: ["account_manager"],
        ids["cid"]: ["owner"],
    }
    made = api.call("POST", f"{V1}/records/claim", "ann", json={"title": "new"}).json()
    assert made["assignments"]["reviewer"]["user"] in ("rita", "sam")  # the answer shows them
    cleared = api.call("POST", f"{claim}/assign", "bob", json={"as": "account_manager"})
    assert cleared.json()["assignments"]["account_manager"]["user"] is None
    unknown = api.call("POST", f"{claim}/assign", "bob", json={"as": "auditor", "user": "cid"})
    assert unknown.status_code == 422
    audit = api.call("GET", f"{claim}/audit", "bob").json()
    named = [e for e in audit if e["kind"] == "assigned"]
    assert [(e["detail"]["assignment"], e["detail"]["user"]) for e in named] == [
        ("reviewer", "sam"),
        ("account_manager", "cid"),
        ("account_manager", None),
    ]


def test_no_listing_shows_a_claim_the_callers_rows_leave_out(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api, ids = start(make_api, tmp_path)
    for user, expected in (("ann", {"ann"}), ("mia", {"ann", "bob"}), ("olga", set(ids))):
        listed = api.call("GET", f"{V1}/records/claim?limit=1", user).json()
        assert listed["total"] == len(expected), user  # the total counts only visible rows
        every = api.call("GET", f"{V1}/records/claim", user).json()
        assert {i["data"]["title"] for i in every["items"]} == expected, user
        alerts = api.call("GET", f"{V1}/alerts", user).json()
        assert {a["record_id"] for a in alerts["items"]} == {ids[o] for o in expected}, user
        assert alerts["total"] == len(expected)


def test_a_claim_out_of_reach_is_missing_for_reading_and_changing(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api, ids = start(make_api, tmp_path)
    theirs = f"{V1}/records/claim/{ids['cid']}"
    missing = f"{V1}/records/claim/0123456789abcdef0123456789abcdef"
    for path in (theirs, f"{theirs}/history", f"{theirs}/audit", f"{theirs}/explain"):
        assert api.call("GET", path, "ann").status_code == 404, path
    assert api.call("GET", missing, "ann").status_code == 404
    assert api.call("GET", theirs, "mia").status_code == 404  # cid is not in north
    assert api.call("GET", theirs, "olga").status_code == 200
    patched = api.call("PATCH", theirs, "ann", json={"row_version": 1, "data": {"amount": 1}})
    assert patched.status_code == 404
    moved = api.call("POST", f"{theirs}/transitions", "ann", json={"to": "approval"})
    assert moved.status_code == 404
    assign = api.call("POST", f"{theirs}/assign", "ann", json={"user": "ann"})
    assert assign.status_code == 404
    assert api.call("GET", theirs, "cid").json()["data"]["amount"] == 5000


def test_a_queue_lists_what_waits_in_it_and_says_which_assignment(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api, ids = start(make_api, tmp_path)
    for rid in ids.values():
        api.call(
            "POST",
            f"{V1}/records/claim/{rid}/assign",
            "olga",
            json={"as": "reviewer", "queue": "review_queue"},
        )
    seen = api.call("GET", f"{V1}/queues/review_queue", "olga").json()
    assert seen["total"] == 3
    assert {tuple(i["waiting_for"]) for i in seen["items"]} == {("reviewer",)}
    ann = api.call("GET", f"{V1}/queues/review_queue", "ann").json()
    assert [i["id"] for i in ann["items"]] == [ids["ann"]]
    sizes = {q["name"]: q["waiting"] for q in api.call("GET", f"{V1}/queues", "mia").json()}
    assert sizes["review_queue"] == 2


def test_the_openapi_schema_describes_assignments(make_api: MakeApi, tmp_path: Path) -> None:
    api, _ = start(make_api, tmp_path)
    schema = api.call("GET", "/schema/openapi.json", "olga").json()
    record = schema["components"]["schemas"]["Claim"]
    assert set(record["properties"]["assignments"]["properties"]) == {
        "reviewer",
        "second_reviewer",
        "approver",
        "account_manager",
    }
