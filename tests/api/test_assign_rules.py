"""`POST .../assign {"user"}` obeys the routing rules' hard rules; a manager overrides
them (lead_routing's `override_roles`), and the audit says so."""

from __future__ import annotations

from tests.api.test_queue_visibility import V1, MakeApi, waiting_lead

REP, OTHER_REP, MANAGER, AGENT = "li.wei", "chen.jie", "zhang.min", "zhao.lei"


def test_assigning_against_the_hard_rules_is_refused_unless_overridden(
    make_api: MakeApi,
) -> None:
    api = make_api()
    lead_id = waiting_lead(api)  # a prescription lead: only a GSP-certified rep may take it
    path = f"{V1}/records/lead/{lead_id}/assign"
    # A rep does not see the queue's leads (row access: a rep sees the leads they hold).
    hidden = api.call("POST", path, OTHER_REP, json={"user": OTHER_REP})
    assert hidden.status_code == 404, hidden.text
    # A service agent sees every lead but may not override the hard rules.
    refused = api.call("POST", path, AGENT, json={"user": REP})
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["detail"] == (
        "'li.wei' may not be given this lead: the hard rules of routing rule "
        "'lead_routing' refuse them"
    )
    assert [(e["key"], e["code"]) for e in body["extra"]] == [("user", "not-eligible")]
    assert "roles that may override: manager, director, admin" in body["extra"][0]["message"]

    done = api.call("POST", path, MANAGER, json={"user": REP})
    assert done.status_code == 200 and done.json()["owner"] == REP
    audit = api.call("GET", f"{V1}/records/lead/{lead_id}/audit", MANAGER).json()
    assigned = [e for e in audit if e["kind"] == "assigned"][-1]
    assert assigned["actor"] == MANAGER
    assert assigned["detail"]["override"] is True
    assert assigned["detail"]["overridden_rules"] == ["lead_routing"]
    assert assigned["detail"]["override_by"] == MANAGER
