"""No answer of the API shows a record the caller's row access leaves out (decision 56).

The claims bundle of tests/runtime/assign_bundle.py (reps ann, bob, cid see what they own
or hold, `rows: assigned`) with a workflow that has branches and an approval, an alert,
a metric with snapshots and a piece of evidence. Ann's claim is worked on (moved, its
branch completed, a file attached, an alert raised, a re-evaluation job stopped on it);
then, as bob, the test walks every route of the OpenAPI document: each GET that names a
record, an alert, a file or a listing is called with every value it can take, and no
body may hold ann's or cid's claim id; every GET and command on a hidden claim is a 404,
as if it did not exist. A route added later is walked too: an unknown path parameter
fails the test until the walk knows what to put there.

Each test runs on SQLite and PostgreSQL (make_api).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from runtime.errors import NotFound
from runtime.store import T_REEVAL
from tests.api.conftest import Api
from tests.runtime.assign_bundle import CLAIM, MANIFEST, claims_bundle
from tests.runtime.evalerr_bundle import BIG

V1 = "/api/v1"
MakeApi = Callable[..., Api]
FLOW = """\
kind: workflow
version: 1
name: claim_flow
entity: claim
stages:
  - id: intake
  - id: review
    evidence: [{kind: memo}]
    branches:
      need: all
      items:
        - {id: check, title: Check, roles: [rep]}
  - id: approval
    approval:
      by: {role: senior}
      need: 1
      on_reject: rejected
moves:
  back: any
exits:
  - {id: paid, outcome: won}
  - {id: rejected, outcome: lost}
"""
ALERT = """\
kind: alert
version: 1
name: big_claim
entity: claim
when: "amount > 1000"
severity: warning
---
kind: alert
version: 1
name: busy_claim
metric: claims_by_id
when: "value > 0"
severity: info
"""
METRIC = """\
kind: metric
version: 1
name: claims_by_state
entity: claim
measure: count
group_by: [state]
snapshot: {every: 1d}
keep: 30d
---
kind: metric
version: 1
name: claims_by_id
entity: claim
measure: count
group_by: [id]
snapshot: {every: 1d}
keep: 30d
"""
# A computed field that cannot be evaluated when copies is BIG (an evaluation failure).
FAILING = """\
  copies: {type: integer, default: 1}
  note: {type: string}
  banner: {type: string, computed: "title * copies"}
"""
# What a command's body says (a valid body, so that only the row check can refuse it).
BODIES: dict[str, Any] = {
    "transitions": {"to": "review"},
    "assign": {"user": "bob"},
    "approval": {"decision": "approve"},
    "complete": {},
    "feedback": {"verdict": "useful"},
    "acknowledge": {},
    "evidence": None,  # multipart, below
}


def setting(make_api: MakeApi, tmp_path: Path) -> tuple[Api, dict[str, str]]:
    root = tmp_path / "claims"
    claims_bundle(
        root,
        **{
            # reps and the auditor read the definitions too: the re-evaluation jobs
            "bundle.yaml": MANIFEST + "access: {definitions: [rep, auditor], users: [rep]}\n",
            "forms/claim.yaml": CLAIM.replace("fields:\n", "fields:\n" + FAILING, 1),
            "workflows/claim.yaml": FLOW,
            "rules/alert.yaml": ALERT,
            "rules/metric.yaml": METRIC,
        },
    )
    api = make_api(bundle=root)
    ids = {}
    for owner in ("ann", "bob", "cid"):
        made = api.call(
            "POST", f"{V1}/records/claim", owner, json={"title": owner, "amount": 5000, "note": "n"}
        )
        assert made.status_code == 201, made.text
        assert made.json()["owner"] == owner
        ids[owner] = made.json()["id"]
    for owner in ("ann", "bob"):  # both have a stay in review, a branch done, a file
        claim = f"{V1}/records/claim/{ids[owner]}"
        moved = api.call("POST", f"{claim}/transitions", owner, json={"to": "review"})
        assert moved.status_code == 200, moved.text
        done = api.call("POST", f"{claim}/branches/check/complete", owner, json={})
        assert done.status_code == 200, done.text
        files = {"file": ("memo.txt", b"memo of " + owner.encode(), "text/plain")}
        sent = api.call("POST", f"{claim}/evidence", owner, data={"kind": "memo"}, files=files)
        assert sent.status_code == 201, sent.text
    runtime = api.server.runtime
    assert runtime is not None
    runtime.tick()  # alerts, and the snapshots' cadence starts
    runtime.tick(api.clock.now() + timedelta(days=1, minutes=1))  # the metrics' snapshots
    with runtime.store.begin(
        api.clock.now()
    ) as tx:  # a re-evaluation job that stopped on ann's claim
        tx.conn.execute(
            insert(T_REEVAL).values(
                kind="scoring",
                rule="claim_fit",
                entity="claim",
                version="abc",
                records="all",
                state="running",
                total=3,
                done=1,
                cursor=ids["ann"],
                queued_at=api.clock.now(),
            )
        )
    # a reload that drops `note`: its pre-flight warning names the claims holding one
    form = api.directory / "forms" / "claim.yaml"
    form.write_text(form.read_text("utf-8").replace("  note: {type: string}\n", ""), "utf-8")
    reloaded = api.call("POST", f"{V1}/definitions/reload", "olga")
    assert reloaded.status_code == 200, reloaded.text
    [finding] = reloaded.json()["preflight"]
    assert (finding["code"], finding["count"]) == ("field-removed", 3)
    assert sorted(finding["examples"]) == sorted(ids.values())  # olga sees every claim
    return api, ids


def known_values(api: Api, user: str, ids: dict[str, str]) -> dict[str, list[str]]:
    """Return, per path parameter, the values to call a route with as `user`."""
    bundle = api.server.bundle
    assert bundle is not None
    alerts = api.call("GET", f"{V1}/alerts", "olga").json()["items"]
    evidence = {
        owner: api.call("GET", f"{V1}/records/claim/{ids[owner]}/evidence", owner).json()
        for owner in ("ann", "bob")
    }
    assert all(evidence.values()), evidence
    return {
        "entity": ["claim"],
        "record_id": list(ids.values()),
        "target": ["approval", "intake", "paid"],
        "evidence_id": [str(f["id"]) for files in evidence.values() for f in files],
        "alert_id": [str(a["id"]) for a in alerts],
        "name": sorted({*bundle.manifest.queues, *bundle.metrics, *bundle.forecasts}),
        "branch": ["check"],
        "token_id": [],
    }


def test_no_answer_shows_a_claim_the_callers_rows_leave_out(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api, ids = setting(make_api, tmp_path)
    hidden = {ids["ann"], ids["cid"]}
    alerts = api.call("GET", f"{V1}/alerts", "olga").json()["items"]
    assert {a["record_id"] for a in alerts} - {None} == set(ids.values())  # olga: every claim
    about = {str(a["id"]): a["record_id"] or a["values"].get("id") for a in alerts}
    hidden_alerts = {i for i, record in about.items() if record in hidden}
    assert len(hidden_alerts) == 4  # big_claim and busy_claim (metric: claims_by_id) each
    mine = api.call("GET", f"{V1}/alerts?rule=busy_claim", "bob").json()
    assert ([a["values"]["id"] for a in mine["items"]], mine["total"]) == ([ids["bob"]], 1)
    jobs = api.call("GET", f"{V1}/reevaluations", "olga").json()
    assert jobs[0]["cursor"] == ids["ann"]  # shown to whom the record is visible
    # a metric grouped by record, its snapshots, and one whose value is a record id
    by_id = api.call("GET", f"{V1}/metrics/claims_by_id", "olga").json()["groups"]
    assert {g["id"] for g in by_id} == set(ids.values())
    taken = api.call("GET", f"{V1}/metrics/claims_by_id/snapshots", "olga").json()["items"]
    assert {i["group"]["id"] for i in taken} == set(ids.values())
    shown = api.call("GET", f"{V1}/metrics/claims_by_id", "bob").json()["groups"]
    assert [g["id"] for g in shown] == [ids["bob"]]  # bob's own stays
    [finding] = api.call("GET", f"{V1}/definitions/reload", "bob").json()["preflight"]
    assert (finding["examples"], finding["count"]) == ([ids["bob"]], 3)  # the count stays

    [memo] = api.call("GET", f"{V1}/records/claim/{ids['ann']}/evidence", "ann").json()
    content = f"{V1}/records/claim/{ids['ann']}/evidence/{memo['id']}/content"
    assert api.call("GET", content, "ann").text == "memo of ann"  # what the walk looks for

    document = api.call("GET", "/schema/openapi.json", "bob").json()
    values = known_values(api, "bob", ids)
    walked: list[str] = []
    for template, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "patch", "put", "delete"):
                continue
            names = re.findall(r"{(\w+)}", template)
            unknown = [n for n in names if n not in values]
            assert not unknown, f"{method} {template}: the walk knows no values of {unknown}"
            if method != "get" and not {"record_id", "alert_id"} & set(names):
                continue  # commands on records and alerts only: the rest touch no record
            query = _query(operation)
            for path, used in _paths(template, names, values):
                on_hidden = used.get("record_id") in hidden or used.get("alert_id") in (
                    hidden_alerts
                )
                if method == "get":
                    answer = api.call("GET", path + query, "bob")
                else:
                    answer = _command(api, method, path, template)
                walked.append(f"{method} {path}")
                assert answer.status_code < 500, (path, answer.text)
                if on_hidden and template.startswith(V1):
                    assert answer.status_code == 404, (method, path, answer.text)
                for record_id in hidden - set(used.values()):  # a 404 names what was asked
                    assert record_id not in answer.text, (method, path, answer.text)
                assert "memo of ann" not in answer.text, path  # nor a file of a hidden claim
    # the walk reached what matters (a route left out would show here)
    for part in ("/approval", "/branches/check/complete", "/content", "/path", "/guide",
                 "/acknowledge", "/feedback"):  # fmt: skip
        assert any(w.endswith(ids["ann"] + part) or part in w for w in walked), part
    for listing in ("/queues/", "/alerts", "/reevaluations", "/metrics/", "/schedules"):
        assert any(listing in w for w in walked), listing


def _paths(
    template: str, names: list[str], values: dict[str, list[str]]
) -> list[tuple[str, dict[str, str]]]:
    """Return every path the template makes with the known values (and what it used)."""
    found: list[tuple[str, dict[str, str]]] = [(template, {})]
    for name in names:
        found = [
            (path.replace(f"{{{name}}}", value), {**used, name: value})
            for path, used in found
            for value in values[name]
        ]
    return found


def _query(operation: dict[str, Any]) -> str:
    """Return a query string with every required query parameter the walk can fill."""
    fill = {"workflow": "claim_flow"}
    wanted = [
        p["name"]
        for p in operation.get("parameters", [])
        if p.get("in") == "query" and p.get("required")
    ]
    missing = [name for name in wanted if name not in fill]
    assert not missing, f"the walk knows no value of the query parameters {missing}"
    return ("?" + "&".join(f"{n}={fill[n]}" for n in wanted)) if wanted else ""


def _command(api: Api, method: str, path: str, template: str) -> Any:
    """Send a valid command on a record as bob (the row check alone may refuse it)."""
    last = template.rstrip("/").rsplit("/", 1)[-1]
    if last == "evidence":
        files = {"file": ("memo.txt", b"bob's memo", "text/plain")}
        return api.call("POST", path, "bob", data={"kind": "memo"}, files=files)
    if method == "patch":
        return api.call("PATCH", path, "bob", json={"row_version": 1, "data": {"amount": 6000}})
    return api.call(method.upper(), path, "bob", json=BODIES.get(last, {}))


def test_a_command_on_a_hidden_claim_is_a_404_before_anything_else(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api, ids = setting(make_api, tmp_path)
    ann = f"{V1}/records/claim/{ids['ann']}"
    moved = api.call("POST", f"{ann}/transitions", "ann", json={"to": "approval"})
    assert moved.status_code == 200, moved.text
    # bob may not see it: 404; sam (senior) may decide, and does
    for user, status in (("bob", 404), ("sam", 200)):
        answer = api.call("POST", f"{ann}/approval", user, json={"decision": "approve"})
        assert answer.status_code == status, answer.text
    again = api.call("POST", f"{ann}/approval", "bob", json={"decision": "reject"})
    assert again.status_code == 404  # not 'approved' (422): that would confirm it exists
    runtime = api.server.runtime
    assert runtime is not None
    cid = ids["cid"]
    runtime.transition(cid, "review", actor="cid")
    with pytest.raises(NotFound):  # the runtime's answer, not only the API's
        runtime.complete_branch(cid, "check", actor="bob")
    with pytest.raises(NotFound):  # before 'no-approval': that would confirm it exists
        runtime.decide(cid, "approve", actor="bob")


def test_the_evaluation_failure_counts_name_no_record(make_api: MakeApi, tmp_path: Path) -> None:
    """The counts per rule are an aggregate (decision 62): hidden records count, and no
    record id is in the answer, JSON or Prometheus."""
    api, ids = setting(make_api, tmp_path)
    made = api.call("POST", f"{V1}/records/claim", "olga", json={"title": "x", "copies": BIG})
    assert made.status_code == 201, made.text
    assert made.json()["owner"] == "ann"  # round robin: ann's, which bob does not see
    ids["failing"] = made.json()["id"]
    counts = api.call("GET", f"{V1}/metrics/evaluation-failures", "bob").json()["items"]
    assert [(i["kind"], i["rule"], i["failures"]) for i in counts] == [
        ("computed", "claim.banner", 1)
    ]
    for fmt in ("json", "prometheus"):
        answer = api.call("GET", f"{V1}/metrics/evaluation-failures?format={fmt}", "bob")
        assert answer.status_code == 200, answer.text
        assert not any(i in answer.text for i in ids.values())
