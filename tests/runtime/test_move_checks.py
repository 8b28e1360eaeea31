"""Move checks with nothing written (issue 14): the plan read once, and its edges.

`move_problems` settles a move that may go from the plan of engine/moves.py (one
generated function for a plain move) and lists a refused one in full (`refusals`).
Every test runs on SQLite and PostgreSQL (the `store` fixture) against a small bundle
written here: guards exactly at their thresholds, each kind of refusal alone and all
together in order, moves not from the current stage, roles, and an equivalence
property: the check passes exactly when the full listing is empty.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.bundle import Bundle
from engine.moves import CORE_KEYS, move_check, plan
from runtime import stages
from runtime.core import Runtime
from runtime.errors import Refused
from runtime.people import acting_as
from runtime.records import CORE, RecordView
from runtime.store import Store
from runtime.unit import Unit
from tests.runtime.helpers import make_runtime
from tests.runtime.small import small_bundle

DEFINITIONS = {
    "bundle.yaml": """
kind: bundle
version: 1
name: move-checks
timezone: UTC
roles: [rep, manager, auditor]
users:
  ann: {name: Ann, roles: [rep]}
  max: {name: Max, roles: [manager]}
  aud: {name: Aud, roles: [auditor]}
""",
    "forms/deal.yaml": """
kind: form
version: 1
entity: deal
fields:
  name: {type: string}
  amount: {type: integer}
  tier: {type: enum, values: [VIP, normal, trial], default: normal}
  discount: {type: integer}
  notes: {type: string}
  close_date: {type: date}
  margin: {type: integer, read: [manager]}
""",
    "rules/checks.yaml": """
kind: validation
version: 1
name: trial_cap
entity: deal
on: [leave_stage]
stages: [draft]
refuse_if: "tier == 'trial' and amount > 500"
message: "Trial deals stay at 500 or under ({{ amount }})."
""",
    "rules/warn.yaml": """
kind: validation
version: 1
name: big_deal
entity: deal
on: [leave_stage]
stages: [draft, review]
severity: warning
refuse_if: "amount > 900"
message: "A big deal."
""",
    "rules/later.yaml": """
kind: validation
version: 1
name: future_rule
entity: deal
on: [leave_stage]
stages: [audit]
effective_from: 2999-01-01
refuse_if: "amount > 0"
message: "Not yet in force."
""",
    "rules/stale.yaml": """
kind: validation
version: 1
name: stale_close
entity: deal
on: [leave_stage]
stages: [review]
refuse_if: "days_since(close_date) > 365"
message: "The close date {{ close_date }} is over a year old."
""",
    "workflows/deal_flow.yaml": """
kind: workflow
version: 1
name: deal_flow
entity: deal
stages:
  - id: draft
    require: [name, amount]
    guards:
      - refuse_if: "amount > 1000"
        message: "{{ amount }} is over the 1000 limit (margin {{ margin }})."
  - id: review
    roles: [manager]
    require: [notes]
    guards:
      - refuse_if: "discount >= 20 and tier != 'VIP'"
        message: "A {{ discount }}% discount needs a VIP account."
  - id: audit
    only_when: "amount > 5000"
    require:
      - {field: notes, when: "tier == 'VIP'"}
    guards:
      - refuse_if: "owner == 'nobody'"
        message: "No owner."
  - id: done
    require: [notes]
    branches:
      need: all
      items:
        - {id: sign, title: Signature}
exits:
  - id: won
    outcome: won
    from: [done]
    roles: [manager]
    require: [close_date]
  - {id: lost, outcome: lost}
moves:
  forward: next
  back: ["review -> draft"]
  roles: [rep, manager]
""",
}
GATES = ["draft", "review", "audit", "done", "won", "lost"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    files = {name: text.lstrip() for name, text in DEFINITIONS.items()}
    return small_bundle(tmp_path_factory.mktemp("moves"), files)


@pytest.fixture
def rt(store: Store, tmp_path: Path, bundle: Bundle) -> Runtime:
    return make_runtime(store, tmp_path, bundle)


def deal(rt: Runtime, stage: str = "draft", **data: Any) -> RecordView:
    """Create a deal that passes everything, move it to `stage`, then set `data`."""
    base = {"name": "Acme", "amount": 100, "notes": "n", "discount": 0}
    record = rt.create("deal", base, actor="max")
    for target in ("review", "done")[: ("draft", "review", "done").index(stage)]:
        record = rt.transition(record.id, target, actor="max")
    if data:
        record = rt.update(record.id, data, actor="max")
    return record


def problems(rt: Runtime, record: RecordView, target: str, actor: str = "ann") -> list[Any]:
    """Return the refusals as (code, message), from the check and from the move."""
    checked = [(p.code, p.message) for p in rt.check_transition(record.id, target, actor=actor)]
    if not checked:
        return []
    with pytest.raises(Refused) as caught:
        rt.transition(record.id, target, actor=actor)
    assert [(p.code, p.message) for p in caught.value.problems] == checked
    return checked


# -- guards exactly at their thresholds -------------------------------------------------


def test_a_guard_at_its_threshold_lets_the_move_go_and_one_past_it_refuses(rt: Runtime) -> None:
    at = deal(rt, amount=1000)
    assert problems(rt, at, "review") == []
    assert rt.transition(at.id, "review", actor="ann").stage == "review"
    past = deal(rt, amount=1001, margin=7)
    assert problems(rt, past, "review") == [
        ("guard-refused", "1001 is over the 1000 limit (margin )."),  # margin: read-only field
    ]


def test_a_greater_or_equal_guard_refuses_at_its_threshold(rt: Runtime) -> None:
    below = deal(rt, "review", discount=19)
    assert problems(rt, below, "done", actor="max") == []
    at = deal(rt, "review", discount=20)
    assert problems(rt, at, "done", actor="max") == [
        ("guard-refused", "A 20% discount needs a VIP account.")
    ]
    vip = deal(rt, "review", discount=20, tier="VIP")
    assert problems(rt, vip, "done", actor="max") == []


def test_a_validation_at_its_threshold(rt: Runtime) -> None:
    assert problems(rt, deal(rt, tier="trial", amount=500), "review") == []
    assert problems(rt, deal(rt, tier="trial", amount=501), "review") == [
        ("rule-refused", "Trial deals stay at 500 or under (501).")
    ]


# -- each kind of refusal alone, then all together ------------------------------------------


def test_a_missing_field_alone(rt: Runtime) -> None:
    for blank in (None, ""):
        record = deal(rt, name=blank)
        assert problems(rt, record, "review") == [
            ("required-field", "'name' must be filled in before leaving")
        ]


def test_a_zero_is_a_filled_in_field(rt: Runtime) -> None:
    assert problems(rt, deal(rt, amount=0), "review") == []


def test_a_move_the_workflow_does_not_allow_alone(rt: Runtime) -> None:
    record = deal(rt, "review")
    assert problems(rt, record, "won", actor="max") == [
        (
            "move-not-allowed",
            "deal_flow does not allow 'review' -> 'won'; from here: done, draft, lost",
        ),
        ("required-field", "'close_date' must be filled in before leaving"),
    ]


def test_unknown_same_and_closed(rt: Runtime) -> None:
    record = deal(rt)
    assert problems(rt, record, "nowhere") == [
        (
            "unknown-stage",
            "'nowhere' is not a stage of deal_flow (draft, review, audit, done, won, lost)",
        )
    ]
    assert problems(rt, record, "draft") == [("same-stage", "the record is already in 'draft'")]
    rt.transition(record.id, "lost", actor="ann")
    assert problems(rt, record, "review") == [("closed", "the record is lost; it cannot move")]


def test_every_refusal_together_item_by_item_in_order(rt: Runtime) -> None:
    record = deal(rt, name="", amount=2000, tier="trial")
    assert problems(rt, record, "done", actor="aud") == [
        ("move-not-allowed", "deal_flow does not allow 'draft' -> 'done'; from here: lost, review"),
        ("forbidden", "only rep, manager may move records in this workflow"),
        ("required-field", "'name' must be filled in before leaving"),
        ("guard-refused", "2000 is over the 1000 limit (margin )."),
        ("rule-refused", "Trial deals stay at 500 or under (2000)."),
    ]


def test_an_exit_stacks_its_roles_and_fields_after_the_stage_s(rt: Runtime) -> None:
    record = deal(rt, "done")
    assert problems(rt, record, "won") == [
        ("forbidden", "only manager may close as 'won'"),
        ("branches-incomplete", "0 of 1 branches complete; open: Signature"),
        ("required-field", "'close_date' must be filled in before leaving"),
    ]
    rt.update(record.id, {"close_date": "2026-03-01"}, actor="max")
    assert problems(rt, record, "won") == [
        ("forbidden", "only manager may close as 'won'"),
        ("branches-incomplete", "0 of 1 branches complete; open: Signature"),
    ]
    rt.complete_branch(record.id, "sign", actor="max")
    assert problems(rt, record, "won") == [("forbidden", "only manager may close as 'won'")]
    assert problems(rt, record, "won", actor="max") == []


def test_leaving_a_stage_forward_for_an_exit_checks_the_stage_then_the_exit(
    rt: Runtime,
) -> None:
    record = deal(rt, "done", notes="")
    assert problems(rt, record, "won", actor="max") == [
        ("required-field", "'notes' must be filled in before leaving"),
        ("branches-incomplete", "0 of 1 branches complete; open: Signature"),
        ("required-field", "'close_date' must be filled in before leaving"),
    ]
    assert problems(rt, record, "lost", actor="max") == []  # lost: not forward


# -- moves not from the current stage, roles ---------------------------------------------


def test_a_move_from_another_stage_is_checked_from_the_record_s_stage(rt: Runtime) -> None:
    record = deal(rt, "review")
    assert problems(rt, record, "review", actor="max") == [
        ("same-stage", "the record is already in 'review'")
    ]
    # review -> draft is allowed; draft -> review is not what is asked: back, no fields
    rt.update(record.id, {"notes": None}, actor="max")
    assert problems(rt, record, "draft", actor="max") == []


def test_roles_of_the_workflow_of_the_stage_and_of_the_exit(rt: Runtime) -> None:
    record = deal(rt, "review")
    assert problems(rt, record, "done") == [
        ("forbidden", "only manager may move records out of 'review'")
    ]
    assert problems(rt, record, "done", actor="aud") == [
        ("forbidden", "only rep, manager may move records in this workflow"),
        ("forbidden", "only manager may move records out of 'review'"),
    ]
    assert problems(rt, record, "done", actor="max") == []


def test_the_system_meets_every_role(rt: Runtime, bundle: Bundle) -> None:
    record = deal(rt, "review")
    with rt.unit(None) as unit:
        assert stages.move_problems(unit, bundle.workflows["deal_flow"], record, "done") == []


def _in_context(fn: Any) -> Any:
    return contextvars.copy_context().run(fn)


def test_an_api_user_s_roles_are_asked_at_each_check(rt: Runtime, bundle: Bundle) -> None:
    record = deal(rt)
    wf = bundle.workflows["deal_flow"]

    def check(roles: frozenset[str]) -> list[str]:
        acting_as("api.user", roles)
        with rt.unit("api.user") as unit:
            return [p.code for p in stages.move_problems(unit, wf, record, "review")]

    assert _in_context(lambda: check(frozenset({"rep"}))) == []
    assert _in_context(lambda: check(frozenset({"auditor"}))) == ["forbidden"]
    assert _in_context(lambda: check(frozenset({"manager"}))) == []


# -- conditional stages and requirements go through the full checks ------------------------


def test_a_stage_that_does_not_apply_is_skipped_and_refused(rt: Runtime) -> None:
    record = deal(rt, "review")
    assert problems(rt, record, "done", actor="max") == []  # audit skipped: amount <= 5000
    assert problems(rt, record, "audit", actor="max") == [
        (
            "stage-not-applicable",
            "stage 'audit' does not apply to this record: only_when amount > 5000: "
            "amount = 100 is false",
        )
    ]
    big = deal(rt, "review", amount=6000)
    assert problems(rt, big, "done", actor="max") == [
        (
            "move-not-allowed",
            "deal_flow does not allow 'review' -> 'done'; from here: audit, draft, lost",
        )
    ]
    moved = rt.transition(big.id, "audit", actor="max")
    vip = rt.update(moved.id, {"tier": "VIP", "notes": ""}, actor="max")
    assert problems(rt, vip, "done", actor="max") == [
        ("required-field", "'notes' must be filled in before leaving")
    ]


def test_a_rule_reading_the_clock_is_checked_in_full(rt: Runtime, bundle: Bundle) -> None:
    old = deal(rt, "review", close_date="2024-12-01")  # the clock: 2026-01-05
    assert problems(rt, old, "done", actor="max") == [
        ("rule-refused", "The close date 2024-12-01 is over a year old.")
    ]
    recent = deal(rt, "review", close_date="2025-01-06")  # 364 days
    assert problems(rt, recent, "done", actor="max") == []
    step = plan(bundle, bundle.workflows["deal_flow"], "review", "done")
    assert [(c.part.name, c.context, c.fields_only) for c in step.validations] == [
        ("stale_close", True, True)
    ]
    assert (step.plain, step.fast) == (False, None)


def test_a_bundle_sharing_the_workflow_gets_its_own_plan(rt: Runtime, bundle: Bundle) -> None:
    """`sopflow test` lays user states over the manifest: same workflows, other roles."""
    users = dict(bundle.manifest.users)
    users["ann"] = users["ann"].model_copy(update={"roles": ["manager"]})
    promoted = dataclasses.replace(
        bundle, manifest=bundle.manifest.model_copy(update={"users": users})
    )
    wf = bundle.workflows["deal_flow"]
    assert promoted.workflows["deal_flow"] is wf
    record = deal(rt, "review")
    for _ in range(2):  # each bundle, in turn, after the other
        with rt.unit("ann") as unit:
            assert [p.code for p in stages.move_problems(unit, wf, record, "done")] == ["forbidden"]
        with rt.unit("ann") as unit:
            unit.bundle = promoted
            assert stages.move_problems(unit, wf, record, "done") == []


# -- the plan -----------------------------------------------------------------------------


def test_the_plan_of_a_plain_move(bundle: Bundle) -> None:
    wf = bundle.workflows["deal_flow"]
    step = plan(bundle, wf, "draft", "review")
    assert (step.refusal, step.allowed, step.forward, step.plain) == (None, True, True, True)
    assert step.fields == ("name", "amount")
    assert step.roles == (frozenset({"rep", "manager"}),)
    assert [c.expr.source for c in step.guards] == ["amount > 1000"]
    assert [c.part.name for c in step.validations] == ["trial_cap"]  # not the warning
    assert all(c.fields_only and not c.context for c in (*step.guards, *step.validations))
    assert step.fast is not None


def test_the_plan_of_moves_it_cannot_settle_alone(bundle: Bundle) -> None:
    wf = bundle.workflows["deal_flow"]
    assert plan(bundle, wf, "draft", "nowhere").refusal == "unknown-stage"
    assert plan(bundle, wf, "draft", "draft").refusal == "same-stage"
    skip = plan(bundle, wf, "review", "done")
    assert (skip.allowed, skip.plain, skip.fast) == (False, False, None)
    into = plan(bundle, wf, "review", "audit")
    assert (into.conditional_target, into.plain) == (True, False)
    out = plan(bundle, wf, "audit", "done")
    assert (out.plain_here, out.plain, out.fields, out.guards) == (False, False, (), ())
    assert [c.part.name for c in out.validations] == ["future_rule"]
    won = plan(bundle, wf, "done", "won")
    assert won.roles == (frozenset({"rep", "manager"}), frozenset({"manager"}))
    assert (won.forward, won.gated, won.plain) == (True, True, False)
    assert won.fields == ("notes", "close_date")
    assert (won.fast, plan(bundle, wf, "done", "lost").gated) == (None, False)
    back = plan(bundle, wf, "review", "draft")
    assert (back.forward, back.fields, back.guards) == (False, (), ())
    assert [c.part.name for c in back.validations] == ["stale_close"]  # any move out of review
    assert back.roles == (frozenset({"rep", "manager"}), frozenset({"manager"}))


def test_a_guard_reading_the_record_s_columns_needs_its_scope(bundle: Bundle) -> None:
    wf = bundle.workflows["deal_flow"]
    guard = wf.body.stages[2].guards[0]
    assert bundle.expr(guard, "refuse_if").reads == frozenset({"owner"})
    assert set(CORE) == CORE_KEYS


def test_the_plan_is_kept_per_workflow_and_bundle(bundle: Bundle, tmp_path: Path) -> None:
    wf = bundle.workflows["deal_flow"]
    first = move_check(bundle, wf, "draft", "review")
    assert move_check(bundle, wf, "draft", "review") is first
    assert wf.move_checks["draft"]["review"] is first
    assert first.bundle is bundle and first.workflow is wf
    assert move_check(bundle, wf, "draft", "no-such-stage").refusal == "unknown-stage"
    assert "no-such-stage" not in wf.move_checks["draft"]  # typed targets are not kept
    other = small_bundle(tmp_path, {n: t.lstrip() for n, t in DEFINITIONS.items()})
    theirs = move_check(other, other.workflows["deal_flow"], "draft", "review")
    assert theirs is not first and theirs.bundle is other
    assert move_check(bundle, wf, "draft", "review") is first


def test_a_passing_check_renders_no_message(
    rt: Runtime, bundle: Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[str] = []
    monkeypatch.setattr(stages, "safe_render", lambda text, _: rendered.append(text) or text)
    record = deal(rt)
    assert rt.check_transition(record.id, "review", actor="ann") == []
    assert rt.transition(record.id, "review", actor="max").stage == "review"
    assert rendered == []
    refused = deal(rt, amount=5000)
    assert [p.code for p in rt.check_transition(refused.id, "review", actor="ann")] == [
        "guard-refused"
    ]
    # the refusal's message, then the warning validation's (listed, then left out)
    assert rendered == ["{{ amount }} is over the 1000 limit (margin {{ margin }}).", "A big deal."]


# -- equivalence: the check passes exactly when the full listing is empty -------------------


@contextmanager
def _unit(rt: Runtime, actor: str | None) -> Iterator[Unit]:
    with rt.unit(actor) as unit:
        try:
            yield unit
        finally:
            unit.tx.conn.rollback()


BLANKS = st.sampled_from([None, "", "Acme"])
CASES = st.fixed_dictionaries(
    {
        "name": BLANKS,
        "amount": st.one_of(st.none(), st.sampled_from([0, 500, 501, 1000, 1001, 5000, 5001])),
        "tier": st.sampled_from(["VIP", "normal", "trial"]),
        "discount": st.one_of(st.none(), st.sampled_from([0, 19, 20, 21])),
        "notes": BLANKS,
        "close_date": st.sampled_from([None, "2026-03-01"]),
    }
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=CASES,
    stage=st.sampled_from(GATES[:4]),
    status=st.sampled_from(["open", "open", "open", "won"]),
    owner=st.sampled_from([None, "ann", "nobody"]),
    target=st.sampled_from([*GATES, "nowhere"]),
    actor=st.sampled_from(["ann", "max", "aud", None]),
)
def test_the_check_passes_exactly_when_the_full_listing_is_empty(
    rt: Runtime,
    bundle: Bundle,
    data: dict[str, Any],
    stage: str,
    status: str,
    owner: str | None,
    target: str,
    actor: str | None,
) -> None:
    wf = bundle.workflows["deal_flow"]
    record = RecordView("d-1", "deal", dict(data), "deal_flow", stage, status, owner)
    with _unit(rt, actor) as unit:
        full = stages.refusals(unit, wf, record, target)
        assert stages.may_move(unit, wf, record, target) == (full == [])
        assert stages.move_problems(unit, wf, record, target) == full
        assert stages.may_move(unit, wf, record, target) == (full == [])  # the plan kept
