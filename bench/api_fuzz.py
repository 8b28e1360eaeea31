"""Schemathesis against the API: does the OpenAPI document tell the truth?

`fuzz(schema, ...)` runs schemathesis' engine (the phases of `st run`: coverage and
fuzzing, stateful off: the document declares no links) over every operation of the
document the server serves, deterministic (`seed`, derandomised), with these checks:

- not_a_server_error: no 5xx;
- status_code_conformance, content_type_conformance, response_schema_conformance: no
  answer contradicts the document (a status it does not list, another media type, a
  body that does not fit the schema);
- positive_data_acceptance: a request the document calls valid is not refused (no 400,
  no 422: only 2xx, 401, 403, 404 or 409 may answer it).

The caller is an API user holding every role of the bundle, so every route is reached;
its token is minted again whenever a request revoked it (`DELETE /admin/tokens/{id}`).
The suite runs it in-process (tests/api/test_api_fuzz.py); `make bench` runs a longer one
against a live `sopflow serve` (bench/api_fuzz_bench.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from engine.bundle import Bundle
from runtime.access import authenticate, create_token, create_user
from runtime.clock import Clock
from runtime.store import Store

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
)
CONTRADICTIONS = frozenset(
    {"status_code_conformance", "content_type_conformance", "response_schema_conformance"}
)
USER = "schemathesis"
# Hypothesis cannot draw text past a large bound (a 100001-character string violating the
# 100000 of every text field): schemathesis reports it as this health check.
LIMIT = "Minimum possible example is too large"
# Refusals of rules JSON Schema cannot express, which the document says in words only:
# one across two parameters, a `ref` field naming a record the store does not hold, and a
# `?workflow=` whose `applies_when` does not hold for the record's values.
UNSAYABLE = (
    ("GET /api/v1/metrics/funnel", 400, "'to' is before 'from'"),
    (None, 422, '"code":"unknown-ref"'),
    (None, 422, '"code":"workflow-not-applicable"'),
    # an ingest appending to a stored list (`on_ingest: append`) past its 1000 items
    (None, 422, '"code":"too_long"'),
)


@dataclass(frozen=True)
class Finding:
    """One failed check: which, on which operation, the request and the answer."""

    check: str
    operation: str
    message: str
    request: str
    status: int | None
    answer: str

    def line(self) -> str:
        """Return the finding on one line (for a failing assertion or a report)."""
        return (
            f"{self.check} on {self.operation}: {self.message} | {self.request} "
            f"-> {self.status} {self.answer}"
        )


@dataclass
class Outcome:
    """What a run sent and found."""

    requests: int = 0
    operations: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the engine could not test something
    limits: list[str] = field(default_factory=list)  # operations hypothesis drew less of
    mixed: int = 0  # "positive" cases with a negative part, not counted as refused
    unsayable: int = 0  # refusals of a rule listed in UNSAYABLE, not counted as refused
    seconds: float = 0.0

    def count(self, checks: frozenset[str] | set[str]) -> int:
        """Return how many findings came from `checks`."""
        return sum(1 for f in self.findings if f.check in checks)

    @property
    def server_errors(self) -> int:
        """Return the number of 5xx answers."""
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def contradictions(self) -> int:
        """Return the number of answers that contradict the document."""
        return self.count(CONTRADICTIONS)

    @property
    def refused(self) -> int:
        """Return the number of valid requests refused."""
        return self.count({"positive_data_acceptance"})


class Caller:
    """The fuzzing user (every role of the bundle) and a token that works."""

    def __init__(self, store: Store, bundle: Bundle, clock: Clock) -> None:
        self.store, self.bundle, self.clock = store, bundle, clock
        roles = sorted(bundle.manifest.roles)
        create_user(store, bundle, USER, roles, clock.now(), name="schemathesis", by="bench")
        self.minted = 0
        self.token = self._mint()

    def _mint(self) -> str:
        self.minted += 1
        _, token = create_token(self.store, self.bundle, USER, self.clock.now(), name="fuzz")
        return token

    def current(self) -> str:
        """Return a token that authenticates (a new one when the last was revoked)."""
        if authenticate(self.store, self.bundle, self.token) is None:
            self.token = self._mint()
        return self.token


def config(max_examples: int, seed: int) -> SchemathesisConfig:
    """Return the run's configuration: bounded, deterministic, our checks only."""
    return SchemathesisConfig.from_dict(
        {
            "seed": seed,
            "cache": {"enabled": False},  # no .schemathesis/ left in the working folder
            # Hypothesis' health checks judge the generator (slow on a loaded machine, a
            # large smallest body), not the API: they would fail a run that found nothing.
            "suppress-health-check": ["all"],
            "generation": {"max-examples": max_examples, "deterministic": True},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            # Unexpected methods (a 405 each) are the OPTIONS test's business
            # (tests/api/test_openapi.py); stateful needs links the document has not.
            "phases": {"stateful": {"enabled": False}, "coverage": {"unexpected-methods": []}},
        }
    )


def in_process(app: Any, caller: Caller, max_examples: int, seed: int) -> Any:
    """Load the document the ASGI `app` serves, its calls going to `app` in-process."""
    headers = {"Authorization": f"Bearer {caller.current()}"}
    schema = schemathesis.openapi.from_asgi(
        "/schema/openapi.json", app, config=config(max_examples, seed), headers=headers
    )
    return _authenticated(schema, caller)


def live(url: str, caller: Caller, max_examples: int, seed: int) -> Any:
    """Load the document a live server at `url` serves; calls go over HTTP."""
    headers = {"Authorization": f"Bearer {caller.current()}"}
    schema = schemathesis.openapi.from_url(
        f"{url}/schema/openapi.json", config=config(max_examples, seed), headers=headers
    )
    return _authenticated(schema, caller)


def _authenticated(schema: Any, caller: Caller) -> Any:
    @schema.auth(refresh_interval=None)
    class Auth:
        def get(self, case: Any, ctx: Any) -> str:
            return caller.current()

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return schema


def fuzz(schema: Any, on_event: Callable[[Any], None] | None = None) -> Outcome:
    """Run the engine over `schema`; return what it sent and found."""
    outcome = Outcome()
    seen: set[tuple[str, str, str]] = set()
    for event in from_schema(schema).execute():
        if on_event is not None:
            on_event(event)
        if isinstance(event, events.ScenarioFinished):
            _scenario(event, outcome, seen)
        elif isinstance(event, events.NonFatalError):
            text = f"{event.label}: {event.info.format()}"
            if LIMIT in text:  # a negative case past a 100000-character bound: not drawn
                outcome.limits.append(event.label)
            else:
                outcome.errors.append(text)
        elif isinstance(event, events.FatalError):
            outcome.errors.append(f"fatal: {event.exception}")
        elif isinstance(event, events.EngineFinished):
            outcome.seconds = event.running_time
    return outcome


def _scenario(event: Any, outcome: Outcome, seen: set[tuple[str, str, str]]) -> None:
    recorder = event.recorder
    if event.label:
        outcome.operations.add(event.label)
    for interaction in recorder.interactions.values():
        outcome.requests += 1
        if interaction.response is not None:
            outcome.statuses[interaction.response.status_code] += 1
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.failure_info is None:
                continue
            if check.name == "positive_data_acceptance":
                if _mixed(recorder.cases[case_id].value):
                    outcome.mixed += 1
                    continue
                if _unsayable(recorder, case_id):
                    outcome.unsayable += 1
                    continue
            failure = check.failure_info.failure
            message = " ".join(str(getattr(failure, "title", "") or failure).split())
            key = (check.name, recorder.label, message)
            if key in seen:  # the same finding again (a shrunk or replayed case)
                continue
            seen.add(key)
            outcome.findings.append(_finding(check.name, recorder, case_id, failure))


def _unsayable(recorder: Any, case_id: str) -> bool:
    """Tell whether a refusal is one of UNSAYABLE: a rule JSON Schema cannot express."""
    interaction = recorder.interactions.get(case_id)
    response = interaction.response if interaction is not None else None
    if response is None:
        return False
    text = (response.content or b"").decode("utf-8", "replace")
    return any(
        operation in (None, recorder.label) and response.status_code == status and detail in text
        for operation, status, detail in UNSAYABLE
    )


def _mixed(case: Any) -> bool:
    """Tell whether a case called positive carries a negative part (the coverage phase
    varies one parameter and may pair it with an invalid body): not a valid request."""
    meta = getattr(case, "meta", None)
    components = getattr(meta, "components", None) or {}
    return any(not info.mode.is_positive for info in components.values())


def _finding(name: str, recorder: Any, case_id: str, failure: Any) -> Finding:
    case = recorder.cases[case_id].value
    interaction = recorder.interactions.get(case_id)
    response = interaction.response if interaction is not None else None
    body = getattr(case, "body", None)
    shown = "" if type(body).__name__ == "NotSet" else f" body={str(body)[:200]}"
    query = f" query={case.query}" if case.query else ""
    text = (response.content or b"")[:300].decode("utf-8", "replace") if response else ""
    return Finding(
        check=name,
        operation=recorder.label,
        message=" ".join(str(getattr(failure, "message", failure)).split())[:300],
        request=f"{case.method} {case.formatted_path}{query}{shown}",
        status=response.status_code if response is not None else None,
        answer=text,
    )
