"""Routing's pre-filter: `eligible`'s equality parts looked up, never changing a decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.bundle import Bundle
from runtime import people, prefilter, rules
from runtime.prefilter import Part
from runtime.rules import RoutingResult, route
from runtime.store import Store
from tests.runtime.small import small_bundle

NOW = datetime(2026, 3, 2, 10)
MANIFEST = """\
kind: bundle
version: 1
name: small
timezone: UTC
roles: {rep: {}, lead: {}}
user_fields:
  territory: {type: list}
  region: {type: string}
  grade: {type: integer}
users:
  lead: {roles: [lead]}
queues: {overflow: {}}
"""
# eve has no region, no territory and no grade; fay is inactive (no candidate: the role
# keeps active users); gus has no room; hal is on leave.
STAFF = """\
kind: staff
version: 1
users:
  ann: {roles: [rep], territory: [north, east], region: coast, grade: 2, capacity: 5}
  bob: {roles: [rep], territory: [east], region: inland, grade: 3, capacity: 5}
  cy: {roles: [rep], territory: [west], region: coast, grade: 2, capacity: 9}
  dee: {roles: [rep], territory: [east, east], region: coast, grade: 1, capacity: 4}
  eve: {roles: [rep], capacity: 4}
  fay: {roles: [rep], territory: [west], region: inland, grade: 3, active: false}
  gus: {roles: [rep], territory: [north], region: inland, grade: 1, capacity: 0}
  hal: {roles: [rep], territory: [north], region: inland, grade: 3,
        leave: [{from: 2026-03-01, to: 2026-03-05}]}
"""
RULES = {
    "equality_and_more": "candidate.available and zone == candidate.region and candidate.load < 3",
    "list_membership": "area in candidate.territory",
    "two_parts": "area in candidate.territory and candidate.grade == level",
    "constant": "candidate.region == 'coast' and (level or 0) > 1",
    "raises_after": "zone == candidate.region and (candidate.grade - 3) ** 0.5 >= 0",
    "unusable_first": "(level or 0) > 1 and zone == candidate.region",
    "not_equal": "candidate.region != zone",
    "either": "zone == candidate.region or area in candidate.territory",
    "negated_read": "not candidate.available and zone == candidate.region",
    "constant_in": "'north' in candidate.territory",
    "computed": "candidate.grade == (level or 0) + 1",
}


def _rules() -> str:
    form = """\
kind: form
version: 1
entity: job
fields:
  area: {type: string}
  zone: {type: enum, values: [coast, inland]}
  level: {type: integer}
"""
    docs = [form]
    for name, eligible in RULES.items():
        docs.append(
            f"kind: routing\nversion: 1\nname: {name}\nentity: job\n"
            f"candidates: {{role: rep}}\neligible: {eligible!r}\n"
            "strategy: least_loaded\nfallback_queue: overflow\n"
        )
    return "---\n".join(docs)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    root = tmp_path_factory.mktemp("prefilter")
    files = {"bundle.yaml": MANIFEST, "staff/reps.yaml": STAFF, "rules.yaml": _rules()}
    return small_bundle(root, files)


def pick(store: Store, bundle: Bundle, rule: str, job: dict[str, Any]) -> RoutingResult:
    with store.begin(NOW) as tx:
        return route(bundle, bundle.routings[rule], job, {"now": NOW}, tx.conn, NOW)


def evaluated(
    monkeypatch: pytest.MonkeyPatch, store: Store, bundle: Bundle, rule: str, job: dict[str, Any]
) -> tuple[RoutingResult, list[str]]:
    """Route, and return whom `eligible` was run for."""
    ran: list[str] = []
    qualify = rules._qualify

    def counting(*args: Any) -> str | None:
        ran.append(args[4]["candidate"]["id"])
        return qualify(*args)

    monkeypatch.setattr(rules, "_qualify", counting)
    return pick(store, bundle, rule, job), ran


def unfiltered(
    monkeypatch: pytest.MonkeyPatch, store: Store, bundle: Bundle, rule: str, job: dict[str, Any]
) -> RoutingResult:
    """Route with the pre-filter off: `eligible` run for every candidate."""
    with monkeypatch.context() as m:
        m.setattr(prefilter, "refused", lambda indexes, r: frozenset())
        return pick(store, bundle, rule, job)


def parts_of(bundle: Bundle, rule: str) -> tuple[Part, ...]:
    return prefilter.analyse(bundle.expr(bundle.routings[rule], "eligible"))


def test_the_analysis_finds_the_equality_parts_of_a_conjunction(bundle: Bundle) -> None:
    assert parts_of(bundle, "equality_and_more") == (Part("eq", "region", "zone"),)
    assert parts_of(bundle, "two_parts") == (
        Part("in", "territory", "area"),
        Part("eq", "grade", "level"),
    )
    assert parts_of(bundle, "constant") == (Part("eq", "region", None, "coast"),)
    assert parts_of(bundle, "raises_after") == (Part("eq", "region", "zone"),)
    assert parts_of(bundle, "negated_read") == (Part("eq", "region", "zone"),)
    assert parts_of(bundle, "constant_in") == (Part("in", "territory", None, "north"),)


@pytest.mark.parametrize("rule", ["unusable_first", "not_equal", "either", "computed"])
def test_an_expression_the_analysis_cannot_use_is_run_for_everyone(
    monkeypatch: pytest.MonkeyPatch, store: Store, bundle: Bundle, rule: str
) -> None:
    assert parts_of(bundle, rule) == ()
    result, ran = evaluated(monkeypatch, store, bundle, rule, {"zone": "coast", "level": 5})
    # Everyone available is evaluated (gus has no room, hal is on leave).
    assert ran == ["ann", "bob", "cy", "dee", "eve"]
    assert (
        result.explain()
        == unfiltered(monkeypatch, store, bundle, rule, {"zone": "coast", "level": 5}).explain()
    )


def test_equality_with_other_parts_runs_eligible_only_where_it_can_pass(
    monkeypatch: pytest.MonkeyPatch, store: Store, bundle: Bundle
) -> None:
    result, ran = evaluated(monkeypatch, store, bundle, "equality_and_more", {"zone": "inland"})
    # bob holds 'inland'; eve has no region (not indexed: run); gus, hal are unavailable.
    assert ran == ["bob", "eve"]
    eligible = "not eligible: " + RULES["equality_and_more"]
    assert result.explain() == {
        "owner": "bob",
        "queue": None,
        "reason": "least loaded: 0 open records",
        "candidates": {
            "user": ["ann", "bob", "cy", "dee", "eve", "gus", "hal"],
            "load": [0, 0, 0, 0, 0, 0, 0],
            "capacity": [5, 5, 9, 4, 4, 0, None],
            "excluded": [0, None, 0, 0, 0, 1, 2],
            "reasons": [eligible, "at capacity (0/0)", "on leave"],
            "chosen": 1,
        },
    }


def test_a_candidate_lacking_the_attribute_is_evaluated_and_explained_alike(
    monkeypatch: pytest.MonkeyPatch, store: Store, bundle: Bundle
) -> None:
    # No zone on the record: eve (no region) passes `None == None`; nobody is skipped.
    result, ran = evaluated(monkeypatch, store, bundle, "equality_and_more", {})
    assert ran == ["ann", "bob", "cy", "dee", "eve"]
    assert result.owner == "eve"
    assert (
        result.explain()
        == unfiltered(monkeypatch, store, bundle, "equality_and_more", {}).explain()
    )


def test_list_membership_runs_only_the_candidates_holding_the_value(
    monkeypatch: pytest.MonkeyPatch, store: Store, bundle: Bundle
) -> None:
    result, ran = evaluated(monkeypatch, store, bundle, "list_membership", {"area": "east"})
    assert ran == ["ann", "bob", "dee", "eve"]
    assert [c.get("excluded") for c in result.candidates] == [
        None,
        None,
        "not eligible: area in candidate.territory",
        None,
        "not eligible: area in candidate.territory",
        "at capacity (0/0)",
        "on leave",
    ]
    assert result.owner == "ann"


def test_a_later_part_skips_only_who_passed_the_earlier_ones_unevaluated(
    monkeypatch: pytest.MonkeyPatch, store: Store, bundle: Bundle
) -> None:
    _, ran = evaluated(monkeypatch, store, bundle, "two_parts", {"area": "east", "level": 3})
    # eve has no territory: her first part is run (it cannot be looked up), so is she.
    assert ran == ["bob", "eve"]


def test_an_error_after_the_looked_up_part_is_explained_as_before(
    monkeypatch: pytest.MonkeyPatch, store: Store, bundle: Bundle
) -> None:
    job = {"zone": "coast"}
    result, ran = evaluated(monkeypatch, store, bundle, "raises_after", job)
    assert ran == ["ann", "cy", "dee", "eve"]
    # grade below 3: no fractional power of a negative number (bob, inland, is skipped unevaluated).
    assert set(result.columns["error"]) == {"0", "2", "3"}
    assert result.explain() == unfiltered(monkeypatch, store, bundle, "raises_after", job).explain()


def test_a_candidate_not_indexed_on_a_part_is_never_skipped_on_a_later_one() -> None:
    parts = (Part("in", "t", "a"), Part("in", "u", "b"), Part("eq", "g", "c"))
    bases = [
        {"t": ["x"], "u": ["y"], "g": 1},
        {"t": "x-text", "u": ["y"], "g": 2},  # `in` a text: not indexed on t
        {"t": ["x"], "u": 7, "g": 2},  # not indexed on u
    ]
    indexes = prefilter.build(parts, bases)
    assert prefilter.refused(indexes, {"a": "x", "b": "y", "c": 1}) == frozenset()
    assert prefilter.refused(indexes, {"a": "x", "b": "y", "c": 2}) == {0}
    assert prefilter.refused(indexes, {"a": "z", "b": "y", "c": 2}) == {0, 2}
    assert prefilter.refused(indexes, {"a": None, "b": ["y"], "c": None}) == frozenset()


def test_nan_and_unhashable_values_are_never_looked_up() -> None:
    nan = float("nan")
    indexes = prefilter.build([Part("eq", "g", "c")], [{"g": nan}, {"g": 1}, {"g": [1]}])
    assert indexes[0].unindexed == {0, 2}
    assert prefilter.refused(indexes, {"c": 2}) == {1}
    assert prefilter.refused(indexes, {"c": nan}) == frozenset()
    assert prefilter.refused(indexes, {"c": [1]}) == frozenset()
    constant = prefilter.build([Part("eq", "g", None, 1)], [{"g": 1}, {"g": 2}])
    assert prefilter.refused(constant, {}) == {1}


JOBS = st.fixed_dictionaries(
    {},
    optional={
        "area": st.sampled_from(["north", "east", "west", "south", ""]) | st.none(),
        "zone": st.sampled_from(["coast", "inland"]) | st.none(),
        "level": st.integers(0, 4) | st.none(),
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rule=st.sampled_from(sorted(RULES)), job=JOBS)
def test_the_pre_filter_decides_and_explains_like_running_everyone(
    monkeypatch: pytest.MonkeyPatch, store: Store, bundle: Bundle, rule: str, job: dict[str, Any]
) -> None:
    filtered = pick(store, bundle, rule, job)
    assert filtered.explain() == unfiltered(monkeypatch, store, bundle, rule, job).explain()


def test_a_refused_candidate_unavailable_is_explained_by_why_they_are_unavailable(
    monkeypatch: pytest.MonkeyPatch, store: Store, bundle: Bundle
) -> None:
    # gus (no room) and hal (on leave) hold 'inland': the record's 'coast' refuses them,
    # but, as when eligible runs, the availability checks come first.
    result, ran = evaluated(monkeypatch, store, bundle, "equality_and_more", {"zone": "coast"})
    assert ran == ["ann", "cy", "dee", "eve"]
    # eve (no region) was run and refused: the explanation cannot tell the two apart.
    assert [c.get("excluded") for c in result.candidates][4:] == [
        "not eligible: " + RULES["equality_and_more"],
        "at capacity (0/0)",
        "on leave",
    ]
    assert result.candidates[1]["excluded"] == "not eligible: " + RULES["equality_and_more"]


def test_a_candidate_skipped_by_the_caller_is_explained_by_the_caller_reason(
    store: Store, bundle: Bundle
) -> None:
    with store.begin(NOW) as tx:
        spec = bundle.routings["list_membership"]
        skip = {"bob": "holds assignment 'owner' (not_same_as)", "cy": "taken"}
        result = route(bundle, spec, {"area": "north"}, {"now": NOW}, tx.conn, NOW, skip=skip)
    # bob and cy do not hold 'north' (refused) but the caller's reason comes first.
    assert [c.get("excluded") for c in result.candidates] == [
        None,
        "holds assignment 'owner' (not_same_as)",
        "taken",
        "not eligible: area in candidate.territory",
        "not eligible: area in candidate.territory",
        "at capacity (0/0)",
        "on leave",
    ]


@pytest.mark.parametrize("rows", [0, 3, 2000])
def test_the_sqlite_load_query_walks_the_candidates_and_looks_each_up_by_key(
    tmp_path_factory: pytest.TempPathFactory, rows: int
) -> None:
    root = tmp_path_factory.mktemp("plan")
    store = Store.open(f"sqlite:///{root / 'plan.db'}")
    try:
        with store.begin(NOW) as tx:
            for i in range(rows):
                tx.conn.exec_driver_sql("INSERT INTO sf_load VALUES (?, ?, NULL)", (f"u{i}", i))
            tx.conn.exec_driver_sql("ANALYZE")
            sql = people._LOADS_SQLITE.replace(":ids", "?")
            plan = tx.conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ('["u1", "x"]',)).all()
            assert [step[3].split(" (")[0] for step in plan] == [
                "SCAN j VIRTUAL TABLE INDEX 1:",
                "SEARCH l USING INDEX sqlite_autoindex_sf_load_1",
            ]
            found = people.loads(tx.conn, ["u1", "x", "u1"])
        assert (
            found == {"u1": (1, None), "x": (0, None)}
            if rows > 1
            else {"u1": (0, None), "x": (0, None)}
        )
    finally:
        store.dispose()
