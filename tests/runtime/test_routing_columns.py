"""Routing's columns made fast: the same decision and explanation as the loop before it.

`route` reads every candidate's load in one query (`people.load_columns`) and leaves out
at once those `eligible` refuses by lookup who are always available and have no capacity
(decision 91). The reference below is the loop as it was (every candidate visited in
order, each reason coded as it first shows, loads read row by row): on any record,
loads, round-robin picks, caller's skips, holder and time, both decide and explain alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from engine.bundle import Bundle
from engine.spec import RoutingSpec
from runtime import people, prefilter, rules, scoring
from runtime.calendar import local_date
from runtime.rules import RoutingResult, route
from runtime.store import T_LOAD, Store, py_time
from tests.runtime.small import small_bundle


class Shade(StrEnum):
    DARK = "north"


WORKING = datetime(2026, 3, 2, 10)  # a Monday, inside the office hours
OFF = datetime(2026, 3, 2, 20)  # the same Monday, after them
MANIFEST = """\
kind: bundle
version: 1
name: small
timezone: UTC
calendars:
  office: {weekdays: [mon, tue, wed, thu, fri], hours: ["09:00-17:00"]}
roles: {rep: {}, lead: {}}
user_fields:
  territory: {type: list}
  region: {type: string}
  grade: {type: integer}
users:
  lead: {roles: [lead]}
queues: {overflow: {}}
"""
# a*: always available, no capacity (left out at once when refused by lookup);
# cap*: a capacity; hal: on leave; ode: a calendar; fay: inactive (named in the rule);
# eve: no region, no territory, no grade (never looked up).
STAFF = """\
kind: staff
version: 1
users:
  a1: {roles: [rep], territory: [north, east], region: coast, grade: 2}
  cap1: {roles: [rep], territory: [east], region: inland, grade: 3, capacity: 2}
  a2: {roles: [rep], territory: [west], region: inland, grade: 1}
  hal: {roles: [rep], territory: [north], region: coast, grade: 3,
        leave: [{from: 2026-03-01, to: 2026-03-05}]}
  a3: {roles: [rep], territory: [north], region: coast, grade: 3}
  eve: {roles: [rep]}
  ode: {roles: [rep], territory: [east], region: inland, grade: 2, calendar: office}
  a4: {roles: [rep], territory: [east, west], region: inland, grade: 2}
  cap2: {roles: [rep], territory: [north], region: coast, grade: 1, capacity: 3}
  fay: {roles: [rep], territory: [west], region: coast, grade: 3, active: false}
  a5: {roles: [rep], territory: [south], region: coast, grade: 2}
"""
USERS = ["a1", "cap1", "a2", "hal", "a3", "eve", "ode", "a4", "cap2", "fay", "a5"]
MATCH = """\
kind: scoring
version: 1
name: fit
entity: job
against: users
features:
  area: {value: "area in candidate.territory", weight: 0.6}
  grade: {value: "candidate.grade >= (level or 0)", weight: 0.4}
"""
LOAD_MATCH = """\
kind: scoring
version: 1
name: fit_load
entity: job
against: users
features:
  area: {value: "area in candidate.territory", weight: 0.5}
  room: {value: "candidate.load < 2", weight: 0.5}
"""
RULES = {
    "least_loaded": (
        "candidate.available and zone == candidate.region",
        "match: fit\nthreshold: 50\nstrategy: least_loaded\n",
    ),
    "round_robin": ("zone == candidate.region", "strategy: round_robin\n"),
    "load_weighted": (
        "area in candidate.territory and candidate.grade == level",
        "match: fit\nstrategy: load_weighted\nload_weight: 0.5\n",
    ),
    "best_match": (
        "zone == candidate.region and candidate.grade >= 2",
        "match: fit\nstrategy: best_match\nskip_unavailable: false\n",
    ),
    "raises": (
        "zone == candidate.region and (candidate.grade - 2) ** 0.5 >= 0",
        "strategy: least_loaded\n",
    ),
    "no_eligible": (None, "match: fit\nthreshold: 60\nstrategy: least_loaded\n"),
    "load_match": ("zone == candidate.region", "match: fit_load\nstrategy: best_match\n"),
}
# Eligible rules only read by `fixed_reads` (never routed here), and what it says of them.
READS: dict[str, frozenset[str] | None] = {
    "area in candidate.territory and candidate.grade == level": frozenset({"area", "level"}),
    "candidate['grade'] >= 2": frozenset(),
    "candidate.manager == area or candidate.email == zone": frozenset({"area", "zone"}),
    "any([t == area for t in candidate.territory])": None,
    "candidate.load < 3": None,
    "candidate.available and zone == candidate.region": None,
    "not candidate['available']": None,
    "len(candidate.territory) > 1": None,
    "candidate == candidate": None,
    "now is not None": None,
    "days_since(now) > 1": None,
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
    docs = [form, MATCH, LOAD_MATCH]
    reads = {f"reads_{k}": (e, "strategy: least_loaded\n") for k, e in enumerate(READS)}
    for name, (eligible, rest) in {**RULES, **reads}.items():
        docs.append(
            f"kind: routing\nversion: 1\nname: {name}\nentity: job\n"
            "candidates: {role: rep, users: [fay]}\n"
            + (f"eligible: {eligible!r}\n" if eligible else "")
            + f"fallback_queue: overflow\n{rest}"
        )
    return "---\n".join(docs)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    root = tmp_path_factory.mktemp("columns")
    files = {"bundle.yaml": MANIFEST, "staff/reps.yaml": STAFF, "rules.yaml": _rules()}
    return small_bundle(root, files)


def _loads_before(conn: Any, ids: list[str]) -> dict[str, tuple[int, datetime | None]]:
    """Read the loads row by row (what the reference read)."""
    t = T_LOAD.c
    rows = conn.execute(
        select(t.user_id, t.open_count, t.round_robin_at).where(t.user_id.in_(ids))
    ).all()
    found = {user: (count, py_time(picked)) for user, count, picked in rows}
    return {u: found.get(u, (0, None)) for u in ids}


def route_before(
    bundle: Bundle,
    spec: RoutingSpec,
    r: Mapping[str, Any],
    c: Mapping[str, Any],
    conn: Any,
    now: datetime,
    holder: str | None = None,
    skip: Mapping[str, str] | None = None,
) -> RoutingResult:
    """The routing loop before decision 91: every candidate visited, in order."""
    declared = rules._pool(bundle, spec)
    pool, narrowed = rules._narrow(declared, r)
    if narrowed is not None and not pool.ids:
        return rules._unmatched(spec, pool, narrowed)
    current = _loads_before(conn, pool.ids)
    if holder in current:
        held, last = current[holder]
        current[holder] = (max(held - 1, 0), last)
    model = bundle.scorings.get(spec.match) if spec.match else None
    m = scoring.model_of(model) if model is not None else None
    eligible = bundle.expr(spec, "eligible").fn if spec.eligible else None
    today = local_date(bundle, now)
    context = dict(c)
    seen = rules._Considered()
    passing: list[dict[str, Any]] = []

    def exclude(reason: str) -> None:
        code = seen.reasons.setdefault(reason, len(seen.reasons))
        seen.excluded.append(code)

    refused = pool.refused(declared.parts, r)
    not_eligible = f"not eligible: {spec.eligible}"
    for i, (user, active, leave, capacity, base) in enumerate(pool.people):
        load, picked = current[user]
        seen.load.append(load)
        if (
            i in refused
            and user in declared.plain
            and (capacity is None or load < capacity)
            and not (skip and user in skip)
        ):
            exclude(not_eligible)
            continue
        away = bool(leave) and rules._away(leave, today)
        calendar = declared.calendars[user]
        off = calendar is not None and not calendar.working_at(now)
        reason = rules._unavailable(spec, active, away, load, capacity, off)
        if reason is None and skip and user in skip:
            reason = skip[user]
        if reason is None and i in refused:
            exclude(not_eligible)
            continue
        if reason is None:
            context["candidate"] = {**base, "load": load, "available": not (away or off)}
            reason = rules._qualify(spec, eligible, m, r, context, seen, i)
        if reason is not None:
            exclude(reason)
            continue
        seen.excluded.append(None)
        row = {"i": i, "user": user, "load": load, "capacity": capacity, "_picked": picked}
        if m is not None:
            row["match"] = seen.matches[-1]
        passing.append(row)
    cols = seen.columns(pool, m)
    if not passing:
        queue = spec.fallback_queue
        why = f"no candidate passed; waiting in queue '{queue}'"
        return RoutingResult(None, queue, why, cols, narrowed)
    winner, why = rules._choose(spec, passing)
    if "rank" in winner:
        cols["rank"] = {str(row["i"]): row["rank"] for row in passing}
    cols["chosen"] = winner["i"]
    return RoutingResult(winner["user"], None, why, cols, narrowed)


@pytest.fixture
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('cols') / 'cols.db'}")
    yield store
    store.dispose()


JOBS = st.fixed_dictionaries(
    {},
    optional={
        "area": st.sampled_from(["north", "east", "west", "south", ""]) | st.none(),
        "zone": st.sampled_from(["coast", "inland"]) | st.none(),
        "level": st.integers(0, 4) | st.none(),
    },
)
LOADS = st.dictionaries(st.sampled_from(USERS), st.integers(0, 4), max_size=len(USERS))
PICKED = st.dictionaries(
    st.sampled_from(USERS), st.sampled_from([datetime(2026, 3, 1, h) for h in (8, 9, 10)])
)
SKIPS = st.none() | st.dictionaries(
    st.sampled_from(USERS), st.sampled_from(["taken", "holds assignment 'owner'"])
)


def both(
    store: Store,
    bundle: Bundle,
    rule: str,
    job: dict[str, Any],
    loads: dict[str, int],
    picked: dict[str, datetime],
    now: datetime,
    holder: str | None = None,
    skip: Mapping[str, str] | None = None,
) -> tuple[RoutingResult, RoutingResult]:
    """Route with `route` and with the reference, on the same loads (rolled back)."""
    spec = bundle.routings[rule]
    with store.rehearse(now) as tx:
        for user in dict.fromkeys([*loads, *picked]):
            people.change_load(tx.conn, user, loads.get(user, 0), picked.get(user))
        c = {"now": now}
        fast = route(bundle, spec, job, c, tx.conn, now, holder, skip)
        slow = route_before(bundle, spec, job, c, tx.conn, now, holder, skip)
    return fast, slow


def same(fast: RoutingResult, slow: RoutingResult) -> None:
    assert (fast.owner, fast.queue, fast.reason) == (slow.owner, slow.queue, slow.reason)
    assert fast.explain() == slow.explain()
    assert fast.candidates == slow.candidates


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rule=st.sampled_from(sorted(RULES)),
    job=JOBS,
    loads=LOADS,
    picked=PICKED,
    skip=SKIPS,
    holder=st.none() | st.sampled_from(USERS),
    now=st.sampled_from([WORKING, OFF]),
)
def test_route_decides_and_explains_like_the_loop_before(
    sqlite_store: Store,
    bundle: Bundle,
    rule: str,
    job: dict[str, Any],
    loads: dict[str, int],
    picked: dict[str, datetime],
    skip: dict[str, str] | None,
    holder: str | None,
    now: datetime,
) -> None:
    same(*both(sqlite_store, bundle, rule, job, loads, picked, now, holder, skip))


@pytest.mark.parametrize(
    ("job", "first"),
    [
        # a1 (coast) passes; cap1 (inland, a capacity) is the first refused: the reason
        # is coded 0 at position 1 though a2 (refused, no capacity) is never visited.
        ({"zone": "coast", "area": "north", "level": 1}, "cap1"),
        # a1 is refused and never visited, yet its reason comes first (code 0).
        ({"zone": "inland", "area": "east", "level": 1}, "a1"),
    ],
)
def test_a_reason_is_coded_where_it_first_shows_among_candidates_not_visited(
    store: Store, bundle: Bundle, job: dict[str, Any], first: str
) -> None:
    fast, slow = both(store, bundle, "least_loaded", job, {}, {}, WORKING)
    same(fast, slow)
    cols = fast.columns
    not_eligible = "not eligible: candidate.available and zone == candidate.region"
    assert cols["reasons"][0] == not_eligible
    assert cols["excluded"][cols["user"].index(first)] == 0
    refused = [u for u, code in zip(cols["user"], cols["excluded"], strict=True) if code == 0]
    region = {"a1": "coast", "a2": "inland", "a3": "coast", "a4": "inland", "a5": "coast"}
    assert {u for u in refused if u in region} == {u for u in region if region[u] != job["zone"]}


def test_a_holder_routed_again_is_counted_without_the_record(store: Store, bundle: Bundle) -> None:
    job = {"zone": "inland", "area": "east", "level": 1}
    fast, slow = both(store, bundle, "least_loaded", job, {"a4": 2, "cap1": 1}, {}, WORKING, "a4")
    same(fast, slow)
    assert fast.columns["load"][USERS.index("a4")] == 1
    assert fast.columns["load"][USERS.index("cap1")] == 1
    nobody, _ = both(store, bundle, "least_loaded", job, {"a4": 0}, {}, WORKING, "a4")
    assert nobody.columns["load"][USERS.index("a4")] == 0  # never below nothing
    stranger, _ = both(store, bundle, "least_loaded", job, {"a4": 2}, {}, WORKING, "lead")
    assert stranger.columns["load"][USERS.index("a4")] == 2


def test_a_caller_skip_of_a_refused_candidate_gives_the_caller_reason(
    store: Store, bundle: Bundle
) -> None:
    job = {"zone": "coast", "area": "north", "level": 1}
    fast, slow = both(store, bundle, "least_loaded", job, {}, {}, WORKING, None, {"a2": "taken"})
    same(fast, slow)
    assert fast.candidates[USERS.index("a2")]["excluded"] == "taken"
    assert fast.candidates[USERS.index("a4")]["excluded"].startswith("not eligible")


def test_round_robin_reads_the_last_picks(store: Store, bundle: Bundle) -> None:
    picked = {h: datetime(2026, 3, 1, 9) for h in ("a1", "cap2")}
    picked["a3"] = datetime(2026, 3, 1, 8)
    fast, slow = both(store, bundle, "round_robin", {"zone": "coast"}, {}, picked, WORKING)
    same(fast, slow)
    assert fast.owner == "a5"  # never picked: longest since the last assignment
    picked["a5"] = datetime(2026, 3, 1, 10)
    fast, _ = both(store, bundle, "round_robin", {"zone": "coast"}, {}, picked, WORKING)
    assert fast.owner == "a3"


def test_the_loads_are_read_in_the_order_asked(store: Store) -> None:
    at = datetime(2026, 3, 1, 9, 30, 15, 250)
    with store.rehearse(WORKING) as tx:
        people.change_load(tx.conn, "u1", 3)
        people.change_load(tx.conn, "u2", 0, at)
        people.change_load(tx.conn, 'q"\\é', 2)
        counts, picks = people.load_columns(tx.conn, ["u2", "x", 'q"\\é', "u1"])
        assert counts == [0, 0, 2, 3]
        assert picks == {"u2": at}
        assert people.load_columns(tx.conn, []) == ([], {})
        assert people.load_columns(tx.conn, ["x"]) == ([0], {})
        assert people.loads(tx.conn, ["u1", "x", "u1"]) == {"u1": (3, None), "x": (0, None)}
        assert people.loads(tx.conn, ["u2"]) == {"u2": (0, at)}


@pytest.mark.parametrize(("k", "eligible"), list(enumerate(READS)))
def test_an_expression_reading_only_fixed_candidate_attributes_is_known_by_its_fields(
    bundle: Bundle, k: int, eligible: str
) -> None:
    spec = bundle.routings[f"reads_{k}"]
    assert prefilter.fixed_reads(bundle.expr(spec, "eligible")) == READS[eligible]


def test_a_match_is_kept_only_when_nothing_but_its_fields_moves_it(bundle: Bundle) -> None:
    assert rules._match_reads(bundle, bundle.routings["least_loaded"]) == ("area", "level")
    assert rules._match_reads(bundle, bundle.routings["load_match"]) is None
    assert rules._match_reads(bundle, bundle.routings["round_robin"]) is None
    assert rules._pool(bundle, bundle.routings["least_loaded"]).match_reads == ("area", "level")


def test_a_kept_match_is_not_worked_out_again(
    store: Store, bundle: Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    evaluate = scoring.evaluate

    def counting(m: Any, r: Any, c: Any) -> Any:
        ran.append(c["candidate"]["id"])
        return evaluate(m, r, c)

    monkeypatch.setattr(rules, "_evaluate", counting)
    job = {"zone": "coast", "area": "far", "level": 7}
    spec = bundle.routings["least_loaded"]
    rules._pool(bundle, spec).whole[0].matches.clear()  # what other tests kept
    with store.rehearse(WORKING) as tx:
        first = route(bundle, spec, job, {"now": WORKING}, tx.conn, WORKING)
        assert ran == ["a1", "a3", "cap2", "a5"]  # hal is on leave, fay inactive
        again = route(bundle, spec, dict(job), {"now": WORKING}, tx.conn, WORKING)
    assert ran == ["a1", "a3", "cap2", "a5"]
    assert again.explain() == first.explain()


def test_kept_matches_are_keyed_by_value_and_type(bundle: Bundle) -> None:
    subset = rules._Subset([], (), None)
    reads = ("area", "level")
    budget = rules._Budget(1_000)

    def known(reads: Any, r: Any) -> Any:
        return subset.known(reads, r, budget)

    one = known(reads, {"area": "north", "level": 1})
    assert one is not None
    one[0] = "kept"
    assert known(reads, {"level": 1, "area": "north", "zone": "x"}) is one
    assert known(reads, {"area": "north", "level": True}) is not one
    assert known(reads, {"area": "north", "level": 1.0}) is not one
    assert known(reads, {"area": "north"}) is not known(reads, {"area": "north", "level": None})
    assert known(reads, {"area": ["north"], "level": 1}) is None  # cannot be a key
    assert known(reads, {"area": ("north",), "level": 1}) is None  # nor a tuple
    assert known(reads, {"area": "north", "level": date(2026, 3, 2)}) is None
    assert known(reads, {"area": Shade.DARK, "level": 1}) is None  # nor a subclass
    assert known(None, {"area": "north", "level": 1}) is None
    assert known(reads, {"area": "north", "level": 0.0}) is not known(
        reads, {"area": "north", "level": -0.0}
    )
    nan = known(reads, {"area": "north", "level": float("nan")})
    assert nan is not None
    assert known(reads, {"area": "north", "level": float("nan")}) is nan
    assert len(subset.matches) == 8


def test_kept_matches_stop_growing_when_the_rules_budget_is_spent(bundle: Bundle) -> None:
    people = rules._pool(bundle, bundle.routings["least_loaded"]).people
    three = rules._Subset([p[0] for p in people[:3]], people[:3], None)
    one = rules._Subset([people[0][0]], people[:1], None)
    budget = rules._Budget(7)  # room for two keys of three candidates, and one more of one
    assert three.known(("level",), {"level": 1}, budget) is not None
    assert three.known(("level",), {"level": 2}, budget) is not None
    assert budget.left == 1
    assert three.known(("level",), {"level": 3}, budget) is None  # would take three
    assert three.known(("level",), {"level": 1}, budget) is not None  # still found, free
    assert one.known(("level",), {"level": 3}, budget) is not None  # the set shares it
    assert budget.left == 0
    assert one.known(("level",), {"level": 4}, budget) is None
    assert len(three.matches) == 2 and len(one.matches) == 1
    empty = rules._Subset([], (), None)  # no candidates still costs one
    assert empty.known(("level",), {"level": 1}, rules._Budget(1)) is not None
    assert rules._Subset([], (), None).known(("level",), {"level": 1}, rules._Budget(0)) is None
    assert rules._pool(bundle, bundle.routings["least_loaded"]).budget.left <= (rules._MATCH_BUDGET)


def test_a_kept_match_explains_like_one_worked_out(store: Store, bundle: Bundle) -> None:
    job = {"zone": "inland", "area": "east", "level": 1}
    first, _ = both(store, bundle, "least_loaded", job, {}, {}, WORKING)
    again, slow = both(store, bundle, "least_loaded", job, {"a4": 1}, {}, WORKING)
    same(again, slow)
    assert again.columns["features"] == first.columns["features"]
    assert again.columns["features"]["value"] is not first.columns["features"]["value"]
    assert again.columns["features"]["value"][0] is not first.columns["features"]["value"][0]


def test_an_expression_not_known_through_and_through_is_never_fixed(bundle: Bundle) -> None:
    expression = bundle.expr(bundle.routings["reads_0"], "eligible")
    assert prefilter.fixed_reads(expression) == frozenset({"area", "level"})
    assert prefilter.fixed_reads(replace(expression, checker=None)) is None
    assert prefilter.fixed_reads(replace(expression, reads=None)) is None
    assert prefilter.fixed_reads(replace(expression, assignments=True)) is None
    assert prefilter.fixed_reads(replace(expression, clock=True)) is None


def test_a_candidate_set_made_for_one_record_keeps_no_match(bundle: Bundle) -> None:
    people = rules._pool(bundle, bundle.routings["least_loaded"]).people
    once = rules._Subset([p[0] for p in people[:2]], people[:2], None, remembered=False)
    budget = rules._Budget(100)
    assert once.known(("level",), {"level": 1}, budget) is None
    assert budget.left == 100 and once.matches == {}


def test_a_rule_past_its_remembered_sets_spends_no_budget_on_one_record(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    narrowed = (
        "---\nkind: routing\nversion: 1\nname: narrowed\nentity: job\n"
        "candidates: {role: rep, matching: {region: zone}}\n"
        "fallback_queue: overflow\nmatch: fit\nstrategy: least_loaded\n"
    )
    files = {"bundle.yaml": MANIFEST, "staff/reps.yaml": STAFF, "rules.yaml": _rules() + narrowed}
    b = small_bundle(tmp_path, files)
    spec = b.routings["narrowed"]
    monkeypatch.setattr(rules, "_SUBSETS_MAX", 0)  # as if it had met 4,096 values already
    pool = rules._pool(b, spec)
    assert pool.match_reads is not None
    job = {"zone": "coast", "area": "north", "level": 1}
    with store.rehearse(WORKING) as tx:
        first = route(b, spec, job, {"now": WORKING}, tx.conn, WORKING)
        again = route(b, spec, dict(job), {"now": WORKING}, tx.conn, WORKING)
    assert pool.budget.left == rules._MATCH_BUDGET and pool.subsets == {}
    assert again.explain() == first.explain()
