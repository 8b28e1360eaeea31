"""P3 lead routing: specialty and territory, a match of at least 82, hard rules, the queue."""

from __future__ import annotations

from typing import Any

import pytest

from engine.bundle import Bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.errors import NotFound, Refused
from runtime.people import candidate
from runtime.rules import score
from tests.runtime.scenarios.support import AGENT, MANAGER, OTHER_REP, REP, START, outbox

HARD_RULE = "not eligible: specialty in candidate.specialty and (specialty != 'prescription' or candidate.gsp_certified)"


def lead(external_id: str, specialty: str, district: str) -> dict[str, Any]:
    return {
        "source": "meituan",
        "external_id": external_id,
        "pharmacy_name": f"Pharmacy {external_id}",
        "district": district,
        "specialty": specialty,
        "orders_90d": 6,
    }


def routing_of(runtime: Runtime, record_id: str) -> dict[str, Any]:
    [decision] = runtime.explain(record_id, kind="routing")
    assert decision["rule"] == "lead_routing"
    return decision


def candidates(decision: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["user"]: row for row in decision["detail"]["candidates"]}


def model_match(bundle: Bundle, record: dict[str, Any], user: str) -> float | None:
    """The match score alone, as if no hard rule existed."""
    pair = {"candidate": candidate(bundle, user, 0, START)}
    return score(bundle.scorings["lead_rep_match"], record, pair).score


def test_the_rep_whose_specialty_and_territory_match_gets_the_lead_and_why(
    runtime: Runtime,
) -> None:
    """P3: an OTC lead in Jinjiang goes to li.wei (match 100); explain says who and why."""
    record, created = runtime.ingest("lead", lead("M-1", "otc", "jinjiang"))
    assert created
    assert (record.owner, record.queue) == (REP, None)

    decision = routing_of(runtime, record.id)
    assert decision["outcome"] == REP
    assert decision["detail"]["reason"] == "least loaded: 0 open records"
    rows = candidates(decision)
    assert rows[REP]["match"] == 100.0 and rows[REP]["chosen"] is True
    assert [f["feature"] for f in rows[REP]["features"]] == ["specialty", "territory"]
    assert rows[OTHER_REP]["excluded"] == HARD_RULE  # no OTC in chen.jie's specialties
    assert "match" not in rows[OTHER_REP] and rows[OTHER_REP]["chosen"] is False

    [note] = outbox(runtime, template="lead_assigned")
    assert note["payload"]["to"] == REP and note["record_id"] == record.id
    assert note["payload"]["subject"] == "New lead: Pharmacy M-1"


def test_the_hard_rule_refuses_a_rep_whose_match_score_passes(
    runtime: Runtime, bundle: Bundle
) -> None:
    """P3: both checks must pass: li.wei matches a prescription lead at 100, but only a
    GSP-certified rep may take it, so it goes to chen.jie."""
    data = lead("M-2", "prescription", "jinjiang")
    assert model_match(bundle, data, REP) == 100.0  # the model alone would let him have it

    record = runtime.create("lead", data)

    assert record.owner == OTHER_REP
    rows = candidates(routing_of(runtime, record.id))
    assert rows[REP]["excluded"] == HARD_RULE
    assert rows[OTHER_REP]["match"] == 100.0 and rows[OTHER_REP]["chosen"] is True
    assert [n["payload"]["to"] for n in outbox(runtime, template="lead_assigned")] == [OTHER_REP]


def test_a_lead_nobody_may_take_waits_visibly_in_the_named_queue(
    runtime: Runtime, bundle: Bundle, clock: FakeClock
) -> None:
    """P3: in Wuhou the certified rep would match only 60 (< 82: Wuhou is not hers, so
    matching on territory does not even consider her) and the rep who matches 100 is
    refused by the hard rule: the lead waits in `unmatched_leads`, not lost, until a
    manager hands it out."""
    data = lead("M-3", "prescription", "wuhou")
    assert model_match(bundle, data, REP) == 100.0
    assert model_match(bundle, data, OTHER_REP) == 60.0

    record = runtime.create("lead", data)

    assert (record.owner, record.queue) == (None, "unmatched_leads")
    decision = routing_of(runtime, record.id)
    assert decision["outcome"] == "queue:unmatched_leads"
    assert decision["detail"]["reason"] == "no candidate passed; waiting in queue 'unmatched_leads'"
    reps = sum("rep" in u.roles for u in bundle.manifest.users.values())
    assert decision["detail"]["narrowed"] == {
        "matching": {"territory": "wuhou"},
        "of": reps,
        "kept": 1,
    }
    rows = candidates(decision)
    assert list(rows) == [REP]  # the only rep covering Wuhou
    assert rows[REP]["excluded"] == HARD_RULE
    assert outbox(runtime, template="lead_assigned") == []
    routed = [e for e in runtime.events(record.id) if e["kind"] == "routed"]
    assert routed[0]["detail"]["queue"] == "unmatched_leads"
    assert "unmatched_leads" in bundle.manifest.queues
    assert bundle.manifest.queues["unmatched_leads"].visible_to == ["manager", "director"]

    # Still there a week later, and a manager can hand it out from the queue.
    clock.advance(days=7)
    assert runtime.get(record.id).queue == "unmatched_leads"
    taken = runtime.assign(record.id, user=OTHER_REP, actor=MANAGER)
    assert (taken.owner, taken.queue) == (OTHER_REP, None)


def test_a_lead_outside_every_territory_goes_to_the_queue(runtime: Runtime, bundle: Bundle) -> None:
    """P3: a device lead outside every territory: chen.jie would pass the hard rule but
    match only 60 (< 82); nobody covers Chenghua, so matching on territory keeps nobody
    and the lead waits, saying why."""
    data = lead("M-4", "devices", "chenghua")
    assert model_match(bundle, data, OTHER_REP) == 60.0
    record = runtime.create("lead", data)

    assert (record.owner, record.queue) == (None, "unmatched_leads")
    decision = routing_of(runtime, record.id)
    reps = sum("rep" in u.roles for u in bundle.manifest.users.values())
    assert decision["detail"]["reason"] == (
        f"no candidate matches: none of the {reps} has territory 'chenghua'; "
        "waiting in queue 'unmatched_leads'"
    )
    assert decision["detail"]["narrowed"]["kept"] == 0
    assert candidates(decision) == {}


def _assigned(runtime: Runtime, record_id: str) -> dict[str, Any]:
    return [e for e in runtime.events(record_id) if e["kind"] == "assigned"][-1]["detail"]


def test_assigning_by_hand_obeys_the_hard_rules(runtime: Runtime) -> None:
    """P3: a prescription lead may not be handed to an uncertified rep by someone who may
    not override (a service agent: it sees every lead); the refusal names the rule and who
    may override it. A certified rep is fine. A rep does not see the queue's leads at all
    (row access: a rep sees the leads they hold)."""
    record = runtime.create("lead", lead("M-5", "prescription", "wuhou"))
    assert record.queue == "unmatched_leads"
    with pytest.raises(NotFound, match="does not exist"):
        runtime.assign(record.id, user=OTHER_REP, actor=OTHER_REP)
    with pytest.raises(Refused) as refused:
        runtime.assign(record.id, user=REP, actor=AGENT)
    assert refused.value.message == (
        "'li.wei' may not be given this lead: the hard rules of routing rule "
        "'lead_routing' refuse them"
    )
    (problem,) = refused.value.problems
    assert (problem.code, problem.rule, problem.field) == ("not-eligible", "lead_routing", "user")
    assert problem.message == (
        f"routing rule 'lead_routing': {HARD_RULE} "
        "(roles that may override: manager, director, admin)"
    )
    assert runtime.get(record.id).queue == "unmatched_leads"  # nothing changed
    # a non-rep (no specialty at all) is not eligible either
    with pytest.raises(Refused):
        runtime.assign(record.id, user=AGENT, actor=AGENT)
    taken = runtime.assign(record.id, user=OTHER_REP, actor=AGENT)
    assert taken.owner == OTHER_REP
    detail = _assigned(runtime, record.id)
    assert detail["owner"] == OTHER_REP and "override" not in detail


def test_an_override_role_may_assign_against_the_hard_rules_and_is_audited(
    runtime: Runtime,
) -> None:
    record = runtime.create("lead", lead("M-6", "prescription", "wuhou"))
    taken = runtime.assign(record.id, user=REP, actor=MANAGER)
    assert taken.owner == REP
    detail = _assigned(runtime, record.id)
    assert detail["override"] is True
    assert detail["overridden_rules"] == ["lead_routing"]
    assert detail["override_by"] == MANAGER


def test_the_queue_and_unassigning_are_not_hard_rules(runtime: Runtime) -> None:
    record = runtime.create("lead", lead("M-7", "otc", "jinjiang"))
    assert record.owner == REP
    queued = runtime.assign(
        record.id, queue="unmatched_leads", actor=REP
    )  # the owner hands it back
    assert (queued.owner, queued.queue) == (None, "unmatched_leads")
