"""Validation rules run from a plan per (bundle, entity, on) with one generated function.

Pinned: a start date begins at local midnight (the microsecond before and at it), stage
filters (none, in, not in), `on`, severities, a rule that cannot be evaluated, a missing
value, messages rendered only for the rules that refuse, plans kept per bundle; and a
property: on any record, stage and instant, the same problems as a plain loop over
the bundle's rules (the reference the runtime ran before).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from tempfile import mkdtemp
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.bundle import Bundle
from engine.expr import EvaluationError
from runtime import validations
from runtime.errors import Problem
from runtime.rules import check_validations, validation_applies
from runtime.unit import safe_render
from runtime.validations import check_each, local_day, rules_for, start_instant
from tests.runtime.small import small_bundle

MANIFEST = """\
kind: bundle
version: 1
name: validation-plans
timezone: Asia/Shanghai
roles:
  rep: {title: Rep}
users:
  ann: {roles: [rep]}
"""

FILES = {
    "bundle.yaml": MANIFEST,
    "deal.yaml": """\
kind: form
version: 1
entity: deal
fields:
  price: {type: decimal}
  discount: {type: decimal}
  region: {type: string}
  secret: {type: string, read: [rep]}
---
kind: workflow
version: 1
name: deal_flow
entity: deal
stages:
  - id: draft
  - id: quote
  - id: signed
---
kind: form
version: 1
entity: visit
fields:
  minutes: {type: integer}
---
kind: table
version: 1
name: caps
key: [region]
columns: {region: string, max: decimal}
rows:
  - {region: north, max: 90}
""",
    "rules.yaml": """\
kind: validation
version: 1
name: no_negative
entity: deal
refuse_if: "price < 0"
message: "A price of {{ price }} is negative ({{ secret }})."
---
kind: validation
version: 1
name: quote_cap
entity: deal
stages: [quote]
refuse_if: "price > 100"
message: "The quote {{ price }} is above 100."
---
kind: validation
version: 1
name: soft
entity: deal
stages: [draft, quote]
severity: warning
refuse_if: "discount > 0.3"
message: "A discount of {{ discount }}."
---
kind: validation
version: 1
name: from_march
entity: deal
effective_from: 2026-03-01
refuse_if: "region == 'tibet'"
message: "Closed in {{ region }}."
---
kind: validation
version: 1
name: leaving
entity: deal
on: [leave_stage]
stages: [quote]
refuse_if: "price > 50"
message: "Not above 50 when leaving."
---
kind: validation
version: 1
name: power
entity: deal
refuse_if: "10.0 ** price < 0"
message: "Never."
---
kind: validation
version: 1
name: capped
entity: deal
on: [save, leave_stage]
stages: [signed]
refuse_if: "price > lookup('caps', region).max"
message: "Above the cap of {{ region }}."
---
kind: validation
version: 1
name: short_visit
entity: visit
refuse_if: "minutes < 5"
message: "Too short: {{ minutes }}."
""",
}

MIDNIGHT = datetime(2026, 2, 28, 16, 0)  # 2026-03-01 00:00 in Shanghai, naive UTC
LATER = datetime(2026, 12, 5, 2, 0)
OK = {"price": 10.0, "discount": 0.1, "region": "north"}


@pytest.fixture(autouse=True)
def _fresh_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test builds its plans (and generates their functions) itself."""
    monkeypatch.setattr(validations, "_PLANS", {})
    monkeypatch.setattr(validations, "_LAST", (None, None, None, None, None))
    monkeypatch.setattr(validations, "_LAST_DAY", None)


@lru_cache(maxsize=1)
def bundle() -> Bundle:
    """Compile the bundle of this file once."""
    return small_bundle(Path(mkdtemp(prefix="validation-plans-")), FILES)


def check(
    r: Mapping[str, Any],
    stage: str | None = "draft",
    now: datetime = LATER,
    when: str = "save",
    entity: str = "deal",
    render: Any = safe_render,
    b: Bundle | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    errors, warnings = check_validations(b or bundle(), entity, when, r, {}, stage, now, render)
    return [p.to_dict() for p in errors], [p.to_dict() for p in warnings]


def refused(rule: str, message: str, expression: str) -> dict[str, Any]:
    return {"code": "rule-refused", "message": message, "rule": rule, "expression": expression}


TIBET = refused("from_march", "Closed in tibet.", "region == 'tibet'")


def test_a_record_breaking_nothing_gets_no_problems() -> None:
    assert check(OK) == ([], [])
    assert check(OK, stage="quote") == ([], [])
    assert check(OK, stage="signed") == ([], [])


def test_a_start_date_begins_at_local_midnight() -> None:
    tibet = {**OK, "region": "tibet"}
    before = MIDNIGHT - timedelta(microseconds=1)
    assert check(tibet, now=before) == ([], [])
    assert check(tibet, now=MIDNIGHT) == ([TIBET], [])
    spec = bundle().validations["from_march"][0]
    tz = "Asia/Shanghai"
    assert (
        validation_applies(spec, None, before, tz),
        validation_applies(spec, None, MIDNIGHT, tz),
    ) == (
        False,
        True,
    )
    assert validation_applies(spec, None, MIDNIGHT) is False  # at midnight UTC it is still Feb 28
    assert local_day(before, tz).isoformat() == "2026-02-28"
    assert local_day(MIDNIGHT, tz).isoformat() == "2026-03-01"
    assert local_day(MIDNIGHT, "UTC").isoformat() == "2026-02-28"


def test_stage_filters() -> None:
    over = {**OK, "price": 150.0, "discount": 0.5}
    cap = refused("quote_cap", "The quote 150.0 is above 100.", "price > 100")
    soft = refused("soft", "A discount of 0.5.", "discount > 0.3")
    assert check(over, stage="quote") == ([cap], [soft])
    assert check(over, stage="draft") == ([], [soft])
    assert check(over, stage=None) == ([], [])
    assert check(over, stage="signed") == (
        [refused("capped", "Above the cap of north.", "price > lookup('caps', region).max")],
        [],
    )


def test_on_leave_stage_runs_only_its_rules() -> None:
    over = {**OK, "price": 60.0}
    assert check(over, stage="quote", when="save") == ([], [])
    assert check(over, stage="quote", when="leave_stage") == (
        [refused("leaving", "Not above 50 when leaving.", "price > 50")],
        [],
    )
    assert [r.name for r in rules_for(bundle(), "deal", "leave_stage")] == ["leaving", "capped"]


def test_a_rule_that_cannot_be_evaluated_refuses_and_the_others_still_run() -> None:
    record = {**OK, "price": 2000.0, "region": "tibet"}
    message = (
        "rule 'power' could not be checked: cannot evaluate '10.0 ** price < 0': "
        "the result would be a number that is too large"
    )
    assert check(record) == ([TIBET, refused("power", message, "10.0 ** price < 0")], [])


def test_a_lookup_without_a_row_refuses_with_its_error() -> None:
    errors, _ = check({**OK, "region": "west"}, stage="signed")
    assert [e["rule"] for e in errors] == ["capped"]
    assert errors[0]["message"].startswith("rule 'capped' could not be checked: ")
    assert "caps" in errors[0]["message"]


def test_a_missing_value_is_not_a_refusal_of_that_rule() -> None:
    assert check({"region": "tibet"}, stage="quote") == ([TIBET], [])
    assert check({}) == ([], [])


def test_a_message_is_rendered_only_for_a_rule_that_refuses_without_hidden_fields() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def render(source: str, names: Mapping[str, Any]) -> str:
        seen.append((source, dict(names)))
        return f"[{source}]"

    check(OK, render=render)
    assert seen == []
    record = {**OK, "price": -1.0, "secret": "s3"}
    errors, _ = check(record, render=render)
    assert [e["message"] for e in errors] == [
        "[A price of {{ price }} is negative ({{ secret }}).]"
    ]
    ((_, names),) = seen
    shown = {"price": -1.0, "discount": 0.1, "region": "north"}
    assert names == {**shown, "record": shown, "now": LATER}
    assert check(record)[0][0]["message"] == "A price of -1.0 is negative ()."


def test_two_refusals_read_the_same_names_and_each_form_hides_its_own_fields() -> None:
    seen: list[Mapping[str, Any]] = []

    def render(source: str, names: Mapping[str, Any]) -> str:
        seen.append(names)
        return source

    record = {**OK, "price": -1.0, "discount": 0.9, "secret": "s3"}
    errors, warnings = check(record, stage="quote", render=render)
    assert len(errors) + len(warnings) >= 2 and len(seen) == len(errors) + len(warnings)
    assert all(names is seen[0] for names in seen)  # built once for the record
    assert "secret" not in seen[0] and "secret" not in seen[0]["record"]
    # Another bundle where `secret` is readable by all: its messages quote it, and the
    # first bundle's still do not (each form's hidden fields are its own).
    files = {**FILES, "deal.yaml": FILES["deal.yaml"].replace(", read: [rep]", "")}
    open_bundle = small_bundle(Path(mkdtemp(prefix="validation-open-")), files)
    got = check({**OK, "price": -1.0, "secret": "s3"}, b=open_bundle)[0][0]["message"]
    assert got == "A price of -1.0 is negative (s3)."
    assert check({**OK, "price": -1.0, "secret": "s3"})[0][0]["message"] == (
        "A price of -1.0 is negative ()."
    )


def test_entities_and_bundles_each_get_their_own_plan() -> None:
    short = refused("short_visit", "Too short: 3.", "minutes < 5")
    assert check({"minutes": 3}, entity="visit") == ([short], [])
    assert check({**OK, "price": -2.0})[0][0]["rule"] == "no_negative"
    assert check({"minutes": 3}, entity="visit", stage=None) == ([short], [])
    assert check({"minutes": 3}, entity="nothing") == ([], [])
    assert check({"minutes": 3}, entity="visit", when="leave_stage") == ([], [])
    files = {**FILES, "rules.yaml": FILES["rules.yaml"].replace("minutes < 5", "minutes < 2")}
    other = small_bundle(Path(mkdtemp(prefix="validation-plans-other-")), files)
    assert check({"minutes": 3}, entity="visit", b=other) == ([], [])
    assert check({"minutes": 3}, entity="visit") == ([short], [])
    assert check({"minutes": 1}, entity="visit", b=other)[0][0]["expression"] == "minutes < 2"


def test_the_generated_function_says_which_rules_refuse() -> None:
    plan = validations._plan(bundle(), "deal", "save")
    names = ["no_negative", "quote_cap", "soft", "from_march", "power", "capped"]
    assert [r.name for r in plan.rules] == names
    assert plan.flags(OK, {}, "draft", LATER) == ()
    over = {**OK, "price": 150.0, "discount": 0.5, "region": "tibet"}
    assert plan.flags(over, {}, "quote", LATER) == (False, True, True, True, False, False)
    early = MIDNIGHT - timedelta(microseconds=1)
    assert plan.flags(over, {}, "draft", early) == (False, False, True, False, False, False)
    north = {**over, "region": "north"}
    assert plan.flags(north, {}, "signed", LATER) == (False, False, False, False, False, True)
    assert plan.flags(over, {}, "signed", LATER) is None  # no cap for tibet: one by one
    assert plan.flags({**OK, "price": None}, {}, "draft", LATER) is None  # one by one
    leaving = validations._plan(bundle(), "deal", "leave_stage")
    assert leaving.flags(OK, {}, "signed", LATER) == ()
    assert validations._plan(bundle(), "nothing", "save").flags(OK, {}, None, LATER) == ()


def test_the_fast_path_does_not_run_the_rules_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("ran one by one")

    monkeypatch.setattr(validations, "check_each", refuse)
    assert check(OK) == ([], [])
    assert check({**OK, "region": "tibet"}) == ([TIBET], [])
    with pytest.raises(AssertionError):
        check({**OK, "price": None})


def test_one_by_one_hides_fields_some_readers_may_not_see() -> None:
    # discount missing: the rules run one by one; the message still leaves `secret` out.
    errors, _ = check({"price": -1.0, "secret": "s3", "region": "north"})
    assert [e["message"] for e in errors] == ["A price of -1.0 is negative ()."]


def test_the_last_plan_is_used_again_without_a_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, str]] = []
    plan = validations._plan

    def counting(b: Bundle, entity: str, when: str) -> Any:
        made.append((entity, when))
        return plan(b, entity, when)

    monkeypatch.setattr(validations, "_plan", counting)
    check(OK)
    check(OK)
    check({"minutes": 9}, entity="visit")
    check(OK, when="leave_stage", stage="quote")
    check(OK, when="leave_stage", stage="quote")
    assert made == [("deal", "save"), ("visit", "save"), ("deal", "leave_stage")]


def test_plans_are_kept_per_bundle() -> None:
    files = {**FILES, "rules.yaml": FILES["rules.yaml"].replace("minutes < 5", "minutes < 2")}
    other = small_bundle(Path(mkdtemp(prefix="validation-plans-kept-")), files)
    mine = validations._plan(bundle(), "visit", "save")
    theirs = validations._plan(other, "visit", "save")
    assert mine is not theirs
    assert validations._plan(bundle(), "visit", "save") is mine
    assert validations._plan(other, "visit", "save") is theirs


def test_validation_applies_by_stage_and_date() -> None:
    cap = bundle().validations["quote_cap"][0]
    assert [validation_applies(cap, s, LATER) for s in (None, "draft", "quote")] == [
        False,
        False,
        True,
    ]
    plain = bundle().validations["no_negative"][0]
    assert [validation_applies(plain, s, LATER) for s in (None, "quote")] == [True, True]


def test_plans_are_kept_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    first = validations._plan(bundle(), "deal", "save")
    assert validations._plan(bundle(), "deal", "save") is first
    monkeypatch.setattr(validations, "_PLANS", {(i, "x", "y"): first for i in range(1025)})
    assert validations._plan(bundle(), "deal", "save") is not first  # made again, the rest dropped
    assert len(validations._PLANS) == 1


def test_rules_run_one_by_one_when_no_function_can_be_generated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(validations, "fast_parts", lambda exprs: None)
    over = {**OK, "price": 150.0, "discount": 0.5, "region": "tibet"}
    assert check(over, stage="quote") == (
        [
            refused("quote_cap", "The quote 150.0 is above 100.", "price > 100"),
            TIBET,
        ],
        [refused("soft", "A discount of 0.5.", "discount > 0.3")],
    )
    assert check(OK) == ([], [])


def test_the_local_day_is_kept_for_one_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    assert local_day(LATER, "Asia/Shanghai").isoformat() == "2026-12-05"
    monkeypatch.setattr(validations, "_LAST_DAY", (LATER, "Asia/Shanghai", date(1999, 1, 1)))
    assert local_day(LATER, "Asia/Shanghai") == date(1999, 1, 1)  # kept, not worked out
    assert local_day(LATER, "America/Los_Angeles").isoformat() == "2026-12-04"
    assert local_day(datetime(2026, 12, 5, 20, 0), "Asia/Shanghai").isoformat() == "2026-12-06"
    assert (
        datetime(2026, 12, 5, 20, 0),
        "Asia/Shanghai",
        date(2026, 12, 6),
    ) == validations._LAST_DAY


def test_a_start_is_an_instant_only_away_from_offset_changes() -> None:
    assert start_instant(date(2026, 3, 1), "Asia/Shanghai") == MIDNIGHT
    assert start_instant(date(2026, 6, 1), "America/New_York") == datetime(2026, 6, 1, 4, 0)
    assert start_instant(date(2026, 3, 8), "America/New_York") is None  # clocks go forward
    assert start_instant(date(2026, 3, 10), "America/New_York") is None  # two days after
    assert start_instant(date(2026, 3, 11), "America/New_York") == datetime(2026, 3, 11, 4, 0)
    # The clocks go forward at 07:00 UTC on 8 March: 48 hours after 6 March starts is
    # before it, 48 hours after 7 March starts is after it.
    assert start_instant(date(2026, 3, 6), "America/New_York") == datetime(2026, 3, 6, 5, 0)
    assert start_instant(date(2026, 3, 7), "America/New_York") is None
    assert start_instant(date(1, 1, 1), "Asia/Shanghai") is None
    assert start_instant(date(9999, 12, 31), "UTC") is None


SANTIAGO = {
    **FILES,
    "bundle.yaml": MANIFEST.replace("Asia/Shanghai", "America/Santiago"),
    "rules.yaml": """\
kind: validation
version: 1
name: autumn
entity: deal
effective_from: 2026-04-05
refuse_if: "price < 0"
message: "Autumn."
---
kind: validation
version: 1
name: spring
entity: deal
effective_from: 2026-09-06
refuse_if: "price < 0"
message: "Spring."
---
kind: validation
version: 1
name: winter
entity: deal
effective_from: 2026-07-01
refuse_if: "price < 0"
message: "Winter."
""",
}


@pytest.mark.parametrize(
    "start", [datetime(2026, 4, 3), datetime(2026, 9, 4), datetime(2026, 6, 29)]
)
def test_start_dates_beside_a_daylight_saving_change_at_midnight(start: datetime) -> None:
    # Santiago turns its clocks at midnight: back on 5 April (00:00 -> 23:00 the day
    # before), forward on 6 September (00:00 -> 01:00). Every 10 minutes for four days,
    # a rule applies exactly when the local date is its start date or later.
    b = small_bundle(Path(mkdtemp(prefix="validation-plans-santiago-")), SANTIAGO)
    specs = [spec for spec, _ in b.validations.values()]
    for step in range(4 * 24 * 6):
        now = start + timedelta(minutes=10 * step)
        errors, _ = check_validations(b, "deal", "save", {"price": -1}, {}, None, now, safe_render)
        want = [s.name for s in specs if validation_applies(s, None, now, "America/Santiago")]
        assert [p.rule for p in errors] == want, now


# -- the property -------------------------------------------------------------------------


def reference(
    b: Bundle, entity: str, when: str, r: Mapping[str, Any], stage: str | None, now: datetime
) -> tuple[list[Problem], list[Problem]]:
    """The plain loop: every rule of the bundle, filtered, evaluated, rendered."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for name, (spec, expr) in b.validations.items():
        if spec.entity != entity or when not in spec.on:
            continue
        if spec.stages and stage not in spec.stages:
            continue
        if spec.effective_from is not None:
            local = now.replace(tzinfo=UTC).astimezone(ZoneInfo(b.manifest.timezone)).date()
            if local < spec.effective_from:
                continue
        try:
            refuse = bool(expr.fn(r, {}))
        except EvaluationError as exc:
            refuse, message = True, f"rule '{name}' could not be checked: {exc}"
        else:
            shown = {k: v for k, v in r.items() if k != "secret"}
            message = safe_render(spec.message, {**shown, "record": shown, "now": now})
        if refuse:
            problem = Problem("rule-refused", message, rule=name, expression=spec.refuse_if)
            (errors if spec.severity == "error" else warnings).append(problem)
    return errors, warnings


NUMBER = st.one_of(
    st.none(), st.floats(min_value=-10, max_value=400), st.integers(-5, 200), st.just("x")
)
DEALS = st.fixed_dictionaries(
    {},
    optional={
        "price": NUMBER,
        "discount": NUMBER,
        "region": st.sampled_from(["north", "tibet", "west", None]),
        "secret": st.just("s"),
    },
)
INSTANTS = st.sampled_from(
    [MIDNIGHT - timedelta(microseconds=1), MIDNIGHT, MIDNIGHT - timedelta(days=1), LATER]
)


@settings(max_examples=300, deadline=None)
@given(
    record=DEALS,
    stage=st.sampled_from([None, "draft", "quote", "signed"]),
    when=st.sampled_from(["save", "leave_stage"]),
    now=INSTANTS,
)
def test_check_validations_gives_the_reference_problems(
    record: dict[str, Any], stage: str | None, when: str, now: datetime
) -> None:
    got = check_validations(bundle(), "deal", when, record, {}, stage, now, safe_render)
    assert got == reference(bundle(), "deal", when, record, stage, now)
    rules = rules_for(bundle(), "deal", when)
    assert check_each(bundle(), rules, "deal", record, {}, stage, now, safe_render) == got
