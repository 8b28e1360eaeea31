"""Rules in the loop: scores, decision tables, validation rules and routing.

Each function decides and explains: it returns what it decided plus the reasons, and
the caller keeps both with the record (sf_decision) in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from engine.bundle import Bundle
from engine.expr import EvaluationError, MissingRow
from engine.spec import RoutingSpec
from runtime import prefilter
from runtime.calendar import WorkingTime, local_date, working_time
from runtime.people import candidate_base, load_columns, team_members, users_with_role

# Scores and validation rules live in their own modules; callers import them from here.
from runtime.scoring import Evaluated as _Evaluated
from runtime.scoring import Model as _Model
from runtime.scoring import ScoreResult as ScoreResult  # noqa: PLC0414
from runtime.scoring import evaluate as _evaluate
from runtime.scoring import expand_features as expand_features  # noqa: PLC0414
from runtime.scoring import expand_score as expand_score  # noqa: PLC0414
from runtime.scoring import model_of as _model
from runtime.scoring import score as score  # noqa: PLC0414
from runtime.validations import check_validations as check_validations  # noqa: PLC0414
from runtime.validations import validation_applies as validation_applies  # noqa: PLC0414

# -- routing -----------------------------------------------------------------------------
# Every candidate considered is kept, column by column: `user`, `load`, `capacity` (one
# value when all share it), `excluded` (an index into `reasons`, None for those who
# passed), `error` (by position, eligibility errors), `scored`/`match` (the positions
# scored and their match), `features` (the match model's names and weights once, then
# each scored candidate's values and contributions), `rank` (load_weighted) and
# `chosen` (the winner's position). `candidates` / `expand_candidates` give one dict
# per candidate, as readers see them.


@dataclass
class RoutingResult:
    """Who got the record (or which queue), with every candidate considered."""

    owner: str | None
    queue: str | None
    reason: str
    columns: dict[str, Any]
    # How `candidates.matching` narrowed the candidates (None: the rule has no matching).
    narrowed: dict[str, Any] | None = None

    @property
    def candidates(self) -> list[dict[str, Any]]:
        """Return every candidate considered as one dict each (see `expand_candidates`)."""
        return expand_candidates(self.columns)

    def explain(self) -> dict[str, Any]:
        """Return the routing decision as JSON-ready data (candidates as columns)."""
        out = {
            "owner": self.owner,
            "queue": self.queue,
            "reason": self.reason,
            "candidates": self.columns,
        }
        if self.narrowed is not None:
            out["narrowed"] = self.narrowed
        return out


def _scored_features(features: Mapping[str, Any], pos: int) -> dict[str, Any]:
    """Return one scored candidate's breakdown columns out of the routing columns."""
    values = features["value"][pos]
    n = len(values)
    key = str(pos)
    cols: dict[str, Any] = {
        "feature": features["feature"][:n],
        "weight": features["weight"][:n],
        "value": values,
        "contribution": features["contribution"][pos],
        "missing": (features.get("missing") or {}).get(key),
        "error": (features.get("error") or {}).get(key),
        "failed": pos in (features.get("failed") or ()),
    }
    if "title" in features:
        cols["title"] = features["title"][:n]
    return cols


def expand_candidates(cols: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return routing columns as one dict per candidate considered.

    Each: user, load, capacity; error (eligibility failed to evaluate); match and
    features (scored); excluded (why not); rank (load_weighted); chosen (once someone
    won).
    """
    users = cols["user"]
    n = len(users)
    capacity = cols.get("capacity")
    capacities = capacity if isinstance(capacity, list) else [capacity] * n
    reasons = cols.get("reasons") or []
    excluded = cols.get("excluded") or [None] * n
    errors = cols.get("error") or {}
    scored = {i: pos for pos, i in enumerate(cols.get("scored") or ())}
    matches = cols.get("match") or []
    features = cols.get("features") or {}
    ranks = cols.get("rank") or {}
    has_winner = "chosen" in cols
    winner = cols.get("chosen")
    rows: list[dict[str, Any]] = []
    for i, (user, load, cap, code) in enumerate(
        zip(users, cols["load"], capacities, excluded, strict=True)
    ):
        key = str(i)
        row: dict[str, Any] = {"user": user, "load": load, "capacity": cap}
        if key in errors:
            row["error"] = errors[key]
        pos = scored.get(i)
        if pos is not None:
            row["match"] = matches[pos]
            row["features"] = expand_features(_scored_features(features, pos))
        if code is not None:
            row["excluded"] = reasons[code]
        if key in ranks:
            row["rank"] = ranks[key]
        if has_winner:
            row["chosen"] = i == winner
        rows.append(row)
    return rows


def expand_routing(detail: Mapping[str, Any]) -> dict[str, Any]:
    """Return a routing explanation with one dict per candidate considered."""
    candidates = detail.get("candidates")
    if not isinstance(candidates, Mapping):
        return dict(detail)
    return {**detail, "candidates": expand_candidates(candidates)}


def candidate_ids(bundle: Bundle, spec: RoutingSpec) -> list[str]:
    """Return the users a routing rule considers, in a stable order."""
    found: list[str] = []
    if spec.candidates.role:
        found += users_with_role(bundle, spec.candidates.role)
    for team in spec.candidates.teams:
        found += team_members(bundle, team)
    found += spec.candidates.users
    return [u for u in dict.fromkeys(found) if u in bundle.manifest.users]


Person = tuple[str, bool, tuple[Any, ...], int | None, dict[str, Any]]


def _capacity_column(people: tuple[Person, ...]) -> Any:
    """Return the capacity column: one value when everyone shares it, else one each."""
    capacities = [p[3] for p in people]
    if len(set(capacities)) <= 1:
        return capacities[0] if capacities else None
    return capacities


@dataclass
class _Budget:
    """How many more candidate matches a routing rule may keep (`_Subset.known`)."""

    left: int

    def take(self, n: int) -> bool:
        """Spend `n` if that much is left; tell whether it was."""
        if n > self.left:
            return False
        self.left -= n
        return True


@dataclass(frozen=True)
class _Subset:
    """The candidates a record's matching values keep: the routing columns run over them."""

    ids: list[str]
    people: tuple[Person, ...]
    capacity: Any
    # The pre-filter's index over these people (runtime/prefilter.py), built on first use.
    filters: list[tuple[prefilter.PartIndex, ...]] = field(default_factory=list)
    encoded: list[str] = field(default_factory=list)  # `ids` as JSON, made on first use
    unlimited: list[frozenset[int]] = field(default_factory=list)  # see `free`
    # The match of each candidate already scored, by the values the model reads (see
    # `known`): the same values give the same evaluation.
    matches: dict[tuple[Any, ...], dict[int, _Evaluated]] = field(default_factory=dict)
    # False: made for one record and dropped after (its rule remembers enough sets).
    remembered: bool = True

    def known(
        self, reads: tuple[str, ...] | None, r: Mapping[str, Any], budget: _Budget
    ) -> dict[int, Any] | None:
        """Return the matches already worked out for `r`'s values of `reads` (None: none kept).

        A value and its exact type make the key (1, 1.0 and True differ; a float by its
        text, so 0.0 and -0.0 differ too); a record with any other value for them (a
        list, a date, a subclass) keeps nothing. A new key takes room for a match per
        candidate out of the rule's `budget`; once it is spent, new values keep nothing.
        """
        if reads is None or not self.remembered:
            return None
        try:
            key = tuple(_key_of(r.get(name, _ABSENT)) for name in reads)
        except TypeError:
            return None
        found = self.matches.get(key)
        if found is None and budget.take(max(len(self.people), 1)):
            found = self.matches[key] = {}
        return found

    def ids_json(self) -> str:
        """Return the candidates as the JSON array the SQLite load query reads."""
        if not self.encoded:
            self.encoded.append(json.dumps(self.ids))
        return self.encoded[0]

    def free(self, plain: frozenset[str]) -> frozenset[int]:
        """Return the positions of the users in `plain` without a capacity (made once).

        Such a candidate can take records whatever their load: one `eligible` refuses
        is left out without anything else checked.
        """
        if not self.unlimited:
            self.unlimited.append(
                frozenset(i for i, p in enumerate(self.people) if p[0] in plain and p[3] is None)
            )
        return self.unlimited[0]

    def refused(self, parts: tuple[prefilter.Part, ...], r: Mapping[str, Any]) -> frozenset[int]:
        """Return the positions `eligible` refuses for `r` without being run."""
        if not parts:
            return frozenset()
        if not self.filters:
            self.filters.append(prefilter.build(parts, [p[4] for p in self.people]))
        return prefilter.refused(self.filters[0], r)


@dataclass(frozen=True)
class _Pool:
    """A routing rule's candidates as a bundle declares them, worked out once."""

    bundle: Bundle
    spec: RoutingSpec
    ids: list[str]
    # (user, active, leave periods, capacity, what `candidate.x` reads but load/available)
    people: tuple[Person, ...]
    capacity: Any  # the capacity column: one value when everyone shares it
    # `candidates.matching`: per (user attribute, record field), attribute value ->
    # positions in `people` holding it (declaration order); an attribute holding a list
    # files the candidate under each of its items.
    index: tuple[tuple[str, str, dict[Any, tuple[int, ...]]], ...] = ()
    subsets: dict[tuple[Any, ...], _Subset] = field(default_factory=dict)
    # `eligible` analysed once: the parts the pre-filter looks up (empty: none usable).
    parts: tuple[prefilter.Part, ...] = ()
    # Each candidate's working calendar (None: always working), by user.
    calendars: dict[str, WorkingTime | None] = field(default_factory=dict)
    whole: list[_Subset] = field(default_factory=list)  # every candidate, made once
    # Users always available: active, never on leave, no calendar (only load can stop them).
    plain: frozenset[str] = frozenset()
    # The record fields the match model reads, when nothing else moves a candidate's
    # match (runtime/prefilter.py `fixed_reads`); None: every match is worked out.
    match_reads: tuple[str, ...] | None = None
    # What its candidate sets may still keep of matches, all sets together.
    budget: _Budget = field(default_factory=lambda: _Budget(_MATCH_BUDGET))


_POOLS: dict[tuple[int, int], _Pool] = {}
_SUBSETS_MAX = 4096  # distinct matching values remembered per rule
# Candidate matches kept per routing rule, over all its candidate sets: a kept match is
# a few hundred bytes, so a rule keeps some megabytes at most (500 distinct values of
# what the match reads, for 100 candidates).
_MATCH_BUDGET = 50_000
_ABSENT = object()  # a field the record lacks (not None)
_KEYED = frozenset({str, int, bool, type(None)})


def _key_of(value: Any) -> Any:
    """Return what stands for `value` in a kept match's key; TypeError: keep nothing."""
    kind = value.__class__
    if kind is float:
        return (float, repr(value))
    if kind in _KEYED:
        return (kind, value)
    if value is _ABSENT:
        return value
    raise TypeError(kind.__name__)


def _index(people: tuple[Person, ...], attr: str) -> dict[Any, tuple[int, ...]]:
    found: dict[Any, list[int]] = {}
    for i, person in enumerate(people):
        value = person[4].get(attr)
        for item in dict.fromkeys(value) if isinstance(value, list) else (value,):
            if item is not None:
                found.setdefault(item, []).append(i)
    return {value: tuple(positions) for value, positions in found.items()}


def _pool(bundle: Bundle, spec: RoutingSpec) -> _Pool:
    key = (id(bundle), id(spec))
    found = _POOLS.get(key)
    if found is not None and found.bundle is bundle and found.spec is spec:
        return found
    ids = candidate_ids(bundle, spec)
    users = bundle.manifest.users
    people = tuple(
        (u, users[u].active, tuple(users[u].leave), users[u].capacity, candidate_base(bundle, u))
        for u in ids
    )
    index = tuple(
        (attr, name, _index(people, attr)) for attr, name in spec.candidates.matching.items()
    )
    parts = prefilter.analyse(bundle.expr(spec, "eligible")) if spec.eligible else ()
    calendars = {u: working_time(bundle, users[u].calendar) for u in ids}
    capacity = _capacity_column(people)
    plain = frozenset(p[0] for p in people if p[1] and not p[2] and calendars[p[0]] is None)
    found = _Pool(
        bundle,
        spec,
        ids,
        people,
        capacity,
        index,
        parts=parts,
        calendars=calendars,
        plain=plain,
        match_reads=_match_reads(bundle, spec),
    )
    found.whole.append(_Subset(ids, people, capacity))
    if len(_POOLS) > 256:
        _POOLS.clear()
    _POOLS[key] = found
    return found


def _match_reads(bundle: Bundle, spec: RoutingSpec) -> tuple[str, ...] | None:
    """Return the fields the match model reads when only they and fixed candidate
    attributes move a match (None: no model, or something else may move it)."""
    model = bundle.scorings.get(spec.match) if spec.match else None
    if model is None:
        return None
    found: set[str] = set()
    for feature in model.features:
        reads = prefilter.fixed_reads(feature)
        if reads is None:
            return None
        found |= reads
    return tuple(sorted(found))


def _lookup(index: Mapping[Any, tuple[int, ...]], value: Any) -> tuple[int, ...]:
    try:
        return index.get(value, ())
    except TypeError:  # a value no attribute can hold (a list, a mapping)
        return ()


def _narrow(pool: _Pool, r: Mapping[str, Any]) -> tuple[_Subset, dict[str, Any] | None]:
    """Keep the candidates `candidates.matching` allows for record `r`, with how.

    Each (attribute, field) looks the record's value up in the pool's index: a dict
    lookup, however many candidates. A record without a value matches nobody.
    """
    if not pool.index:
        return pool.whole[0], None
    values = tuple(r.get(name) for _, name, _ in pool.index)
    missing = [
        name
        for (_, name, _), value in zip(pool.index, values, strict=True)
        if value is None or value == ""
    ]
    try:
        subset = pool.subsets.get(values) if not missing else None
        remember = not missing
    except TypeError:  # a value no attribute can hold (a list, a mapping): nobody has it
        subset, remember = None, False
    if subset is None:
        kept: set[int] | None = None
        for (_, _, index), value in zip(pool.index, values, strict=True):
            found = set(_lookup(index, value)) if value not in (None, "") else set()
            kept = found if kept is None else kept & found
        people = tuple(pool.people[i] for i in sorted(kept or ()))
        remember = remember and len(pool.subsets) < _SUBSETS_MAX
        subset = _Subset(
            [p[0] for p in people], people, _capacity_column(people), remembered=remember
        )
        if remember:
            pool.subsets[values] = subset
    narrowed: dict[str, Any] = {
        "matching": {attr: value for (attr, _, _), value in zip(pool.index, values, strict=True)},
        "of": len(pool.ids),
        "kept": len(subset.ids),
    }
    if missing:
        narrowed["missing"] = missing
    return subset, narrowed


def _nobody_matches(narrowed: Mapping[str, Any]) -> str:
    """Say why `candidates.matching` kept nobody: a missing value, or nobody holds it."""
    missing = narrowed.get("missing")
    if missing:
        fields = ", ".join(f"'{m}'" for m in missing)
        return f"no candidate matches: the record has no {fields} to match"
    held = " and ".join(
        f"{attr} {shown_value(value)}" for attr, value in narrowed["matching"].items()
    )
    return f"no candidate matches: none of the {narrowed['of']} has {held}"


def shown_value(value: Any) -> str:
    """Show a matched value: text in quotes."""
    return f"'{value}'" if isinstance(value, str) else str(value)


def _away(leave: tuple[Any, ...], today: date) -> bool:
    return any(period.start <= today <= period.end for period in leave)


@dataclass
class _Considered:
    """The routing columns as they fill up, candidate by candidate."""

    load: list[int] = field(default_factory=list)
    excluded: list[int | None] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    scored: list[int] = field(default_factory=list)
    matches: list[float | None] = field(default_factory=list)
    values: list[list[float | None]] = field(default_factory=list)
    contributions: list[list[float]] = field(default_factory=list)
    missing: dict[str, list[int]] = field(default_factory=dict)
    feature_errors: dict[str, dict[str, str | None]] = field(default_factory=dict)
    failed: list[int] = field(default_factory=list)

    def exclude_at(self, i: int, reason: str) -> None:
        """Note that candidate `i` was left out, and why (`excluded` holds every position)."""
        code = self.reasons.get(reason)
        if code is None:
            code = self.reasons[reason] = len(self.reasons)
        self.excluded[i] = code

    def score(self, i: int, evaluated: _Evaluated) -> float | None:
        """Note candidate `i`'s match and its breakdown; return the match."""
        match, values, parts, missing, errors, failed = evaluated
        if missing or errors or failed:
            pos = len(self.scored)
            if missing:
                self.missing[str(pos)] = list(missing)
            if errors:
                self.feature_errors[str(pos)] = dict(errors)
            if failed:
                self.failed.append(pos)
        self.scored.append(i)
        self.matches.append(match)
        self.values.append(list(values))  # copies: an evaluation may be kept and reused
        self.contributions.append(list(parts))
        return match

    def columns(self, pool: _Subset, m: _Model | None) -> dict[str, Any]:
        """Return the columns kept with the decision (see `expand_candidates`)."""
        cols: dict[str, Any] = {
            "user": list(pool.ids),
            "load": self.load,
            "capacity": pool.capacity,
            "excluded": self.excluded,
            "reasons": list(self.reasons),
        }
        if self.errors:
            cols["error"] = self.errors
        if m is None:
            return cols
        features: dict[str, Any] = {
            "feature": m.names,
            "weight": m.weights,
            "value": self.values,
            "contribution": self.contributions,
        }
        if any(m.titles):
            features["title"] = m.titles
        if self.missing:
            features["missing"] = self.missing
        if self.feature_errors:
            features["error"] = self.feature_errors
        if self.failed:
            features["failed"] = self.failed
        cols.update(scored=self.scored, match=self.matches, features=features)
        return cols


def _unavailable(
    spec: RoutingSpec, active: bool, away: bool, load: int, capacity: int | None, off: bool
) -> str | None:
    """Return why a candidate cannot take records now (None: they can)."""
    if not active:
        return "inactive"
    if spec.skip_unavailable and away:
        return "on leave"
    if spec.skip_unavailable and off:
        return "outside working hours"
    if capacity is not None and load >= capacity:
        return f"at capacity ({load}/{capacity})"
    return None


def _qualify(
    spec: RoutingSpec,
    eligible: Any,
    m: _Model | None,
    r: Mapping[str, Any],
    context: Mapping[str, Any],
    seen: _Considered,
    i: int,
    known: dict[int, _Evaluated] | None = None,
) -> str | None:
    """Check candidate `i` against the eligible rule and the match threshold.

    `known`: the matches already worked out for the record's values (`_Subset.known`).
    """
    if eligible is not None:
        try:
            ok = bool(eligible(r, context))
        except MissingRow:
            raise
        except EvaluationError as exc:
            ok, seen.errors[str(i)] = False, str(exc)
        if not ok:
            return f"not eligible: {spec.eligible}"
    if m is not None:
        evaluated = known.get(i) if known is not None else None
        if evaluated is None:
            evaluated = _evaluate(m, r, context)
            if known is not None:
                known[i] = evaluated
        match = seen.score(i, evaluated)
        if spec.threshold is not None and (match or 0) < spec.threshold:
            return f"match {match} is below the threshold {spec.threshold}"
    return None


def _unmatched(spec: RoutingSpec, pool: _Subset, narrowed: dict[str, Any]) -> RoutingResult:
    """Queue a record `candidates.matching` kept nobody for, saying why."""
    queue = spec.fallback_queue
    why = _nobody_matches(narrowed)
    return RoutingResult(
        None,
        queue,
        f"{why}; waiting in queue '{queue}'",
        _Considered().columns(pool, None),
        narrowed,
    )


def route(
    bundle: Bundle,
    spec: RoutingSpec,
    r: Mapping[str, Any],
    c: Mapping[str, Any],
    conn: Any,
    now: datetime,
    holder: str | None = None,
    skip: Mapping[str, str] | None = None,
) -> RoutingResult:
    """Pick an owner: eligibility and threshold first, then the strategy; else the queue.

    `holder`: who owns the record and counts it in their load now (routing it again):
    it is left out of their load, which is what it would be if they kept it.
    `skip`: users left out, with why (a named assignment's `not_same_as`).
    """
    declared = _pool(bundle, spec)
    pool, narrowed = _narrow(declared, r)
    if narrowed is not None and not pool.ids:
        return _unmatched(spec, pool, narrowed)
    counts, picks = load_columns(conn, pool.ids, pool.ids_json())
    if holder is not None and holder in pool.ids:
        at = pool.ids.index(holder)
        counts[at] = max(counts[at] - 1, 0)
    model = bundle.scorings.get(spec.match) if spec.match else None
    m = _model(model) if model is not None else None
    seen = _Considered(load=counts, excluded=[None] * len(pool.people))
    passing = _consider(bundle, declared, pool, r, c, now, skip, m, seen)
    for row in passing:
        row["_picked"] = picks.get(row["user"])
    cols = seen.columns(pool, m)
    if not passing:
        return RoutingResult(
            None,
            spec.fallback_queue,
            f"no candidate passed; waiting in queue '{spec.fallback_queue}'",
            cols,
            narrowed,
        )
    winner, why = _choose(spec, passing)
    if "rank" in winner:
        cols["rank"] = {str(row["i"]): row["rank"] for row in passing}
    cols["chosen"] = winner["i"]
    return RoutingResult(winner["user"], None, why, cols, narrowed)


def _consider(
    bundle: Bundle,
    declared: _Pool,
    pool: _Subset,
    r: Mapping[str, Any],
    c: Mapping[str, Any],
    now: datetime,
    skip: Mapping[str, str] | None,
    m: _Model | None,
    seen: _Considered,
) -> list[dict[str, Any]]:
    """Consider every candidate in order, filling `seen`; return those who passed.

    Who `eligible` refuses by its equality parts is known without running it, and
    explained exactly as if it had run (runtime/prefilter.py). Those of them always
    available and without a capacity (`quick`) are not visited: their reason is coded
    where it first shows, as if each had been excluded in turn.
    """
    spec = declared.spec
    people = pool.people
    eligible = bundle.expr(spec, "eligible").fn if spec.eligible else None
    context = dict(c)
    today = local_date(bundle, now)
    reasons, counts = seen.reasons, seen.load
    not_eligible = f"not eligible: {spec.eligible}"
    refused = pool.refused(declared.parts, r)
    free = pool.free(declared.plain)
    quick = refused & free if refused else refused
    if quick and skip:
        quick = frozenset(i for i in quick if people[i][0] not in skip)
    first_quick = min(quick) if quick else len(people)
    known = pool.known(declared.match_reads, r, declared.budget) if m is not None else None
    passing: list[dict[str, Any]] = []
    for i in [i for i in range(len(people)) if i not in quick] if quick else range(len(people)):
        user, _, _, capacity, base = person = people[i]
        if i > first_quick and not_eligible not in reasons:
            reasons[not_eligible] = len(reasons)
        load = counts[i]
        if i in free and not (skip and user in skip):
            reason, available = None, True  # nothing but `eligible` and the match can stop them
        else:
            reason, available = _hindrance(declared, person, i in refused, load, today, now, skip)
        if reason is None:
            context["candidate"] = {**base, "load": load, "available": available}
            reason = _qualify(spec, eligible, m, r, context, seen, i, known)
        if reason is not None:
            seen.exclude_at(i, reason)
            continue
        row = {"i": i, "user": user, "load": load, "capacity": capacity}
        if m is not None:
            row["match"] = seen.matches[-1]
        passing.append(row)
    if quick:
        code = reasons.setdefault(not_eligible, len(reasons))
        for i in quick:
            seen.excluded[i] = code
    return passing


def _hindrance(
    declared: _Pool,
    person: Person,
    refused: bool,
    load: int,
    today: date,
    now: datetime,
    skip: Mapping[str, str] | None,
) -> tuple[str | None, bool]:
    """Return why a candidate is left out before `eligible` runs (None: it is not), and
    whether they are available (neither on leave nor outside working hours)."""
    spec = declared.spec
    user, active, leave, capacity, _ = person
    skipped = skip is not None and user in skip
    plain = user in declared.plain and (capacity is None or load < capacity)
    if refused and plain and not skipped:  # what the checks below would say, without them
        return f"not eligible: {spec.eligible}", True
    away = bool(leave) and _away(leave, today)
    calendar = declared.calendars[user]
    off = calendar is not None and not calendar.working_at(now)
    reason = _unavailable(spec, active, away, load, capacity, off)
    if reason is None and skip is not None and skipped:
        reason = skip[user]
    if reason is None and refused:
        reason = f"not eligible: {spec.eligible}"
    return reason, not (away or off)


def _ratio(row: dict[str, Any]) -> float:
    capacity = row["capacity"] or 0
    return row["load"] / capacity if capacity else float(row["load"])


def _choose(spec: RoutingSpec, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    def match(row: dict[str, Any]) -> float:
        return float(row.get("match") or 0.0)

    if spec.strategy == "round_robin":
        never = datetime.min
        best = min(rows, key=lambda row: (row["_picked"] or never, row["user"]))
        return best, "round robin: longest since the last assignment"
    if spec.strategy == "least_loaded":
        best = min(rows, key=lambda row: (_ratio(row), -match(row), row["user"]))
        return best, f"least loaded: {best['load']} open records"
    if spec.strategy == "load_weighted":
        weight = spec.load_weight or 0.0
        for row in rows:
            row["rank"] = round(match(row) * (1 - weight * min(_ratio(row), 1.0)), 6)
        best = max(rows, key=lambda row: (row["rank"], -row["load"], row["user"]))
        return best, f"load-weighted rank {best['rank']} (match x (1 - {weight} x load/capacity))"
    best = max(rows, key=lambda row: (match(row), -_ratio(row), row["user"]))
    return best, f"best match {match(best)}"
