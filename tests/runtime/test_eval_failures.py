"""Every expression that fails when it runs is recorded, shown by explain and counted per rule.

docs/expressions.md "When an expression fails": the command goes on with the fallback of
the place the expression runs in, except that a lookup without a row refuses a command
whose stored values or deadlines it decides (SLA, action values); an alert condition
never refuses and keeps the alert as it was.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.compiler.pipeline import compile_bundle
from runtime import failures
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.errors import Refused
from runtime.people import loads
from runtime.store import T_DECISION, T_OUTBOX, T_RECORD, T_TIMER, Store
from tests.runtime.evalerr_bundle import BIG, TOO_LARGE, write_bundle
from tests.runtime.helpers import count

AT = "2026-01-05T09:00:00+00:00"


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Runtime:
    result = compile_bundle(write_bundle(tmp_path / "b"))
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return Runtime(result.bundle, store, FakeClock(), evidence_dir=tmp_path / "ev")


def failed(rt: Runtime, record_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The record's evaluation failures as explain shows them: (rule, kind, detail)."""
    return [
        (row["rule"], row["outcome"], row["detail"]) for row in rt.explain(record_id, failures.KIND)
    ]


def counts(rt: Runtime) -> list[tuple[str, str, int]]:
    with rt.store.read() as conn:
        return [(row["kind"], row["rule"], row["failures"]) for row in failures.counts(conn)]


def large(where: str, rule: str, expression: str, **detail: Any) -> tuple[str, str, dict[str, Any]]:
    kept = {"where": where, "rule": rule, **detail, "expression": expression, "error": TOO_LARGE}
    return (rule, where, kept)


BANNER = large("computed", "order.banner", "label * copies", field="banner")
FIT = large("score", "order_fit", "len(label * copies) > 0", feature="size")
SLA = large(
    "sla",
    "flow.new",
    "hours(lookup('sla_hours', region).hours + len(label * copies) * 0)",
    field="within_expr",
)
NOTE = large("action", "entered new", "'n' * copies", action="set", field="fields.note")
LONG = large("alert", "long_banner", "len(label * copies) > 10", field="when")


def test_a_create_records_each_failure_once_and_still_stores_the_record(
    rt: Runtime, store: Store
) -> None:
    order = rt.create(
        "order", {"label": "ab", "copies": BIG, "mode": "flow", "region": "east"}, actor="ann"
    )
    # The computed field is stored empty, the failing feature scores 0 (missing: zero),
    # the failing `set` is not done (the next one is), and the stage has no deadline.
    stored = rt.get(order.id).data
    assert (stored["banner"], stored["fit"], stored["note"], stored["cap"]) == (None, 0.0, None, 3)
    assert count(store, T_TIMER) == 0
    # The computed field was computed again after the score: still recorded once.
    assert failed(rt, order.id) == [BANNER, FIT, SLA, NOTE, LONG]
    [decision] = [row for row in rt.explain(order.id) if row["kind"] == failures.KIND][:1]
    assert (decision["record_id"], decision["at"]) == (order.id, AT)
    assert counts(rt) == [
        ("action", "entered new", 1),
        ("alert", "long_banner", 1),
        ("computed", "order.banner", 1),
        ("score", "order_fit", 1),
        ("sla", "flow.new", 1),
    ]


def test_a_suggestion_leaves_out_the_rows_it_cannot_tell(rt: Runtime) -> None:
    order = rt.create(
        "order", {"label": "ab", "copies": 1, "mode": "flow", "region": "east"}, actor="ann"
    )
    rt.update(order.id, {"copies": BIG}, actor="ann")
    moved = rt.transition(order.id, "done", actor="ann")
    assert moved.stage == "done"
    where = large(
        "action", "entered done", "len(row.label * copies) > 0", action="suggest", field="where"
    )
    # The update fails three times; the move (which computes nothing) twice.
    assert failed(rt, order.id) == [BANNER, FIT, LONG, where, LONG]
    with rt.store.read() as conn:
        payloads = conn.execute(select(T_OUTBOX.c.payload).where(T_OUTBOX.c.action == "suggest"))
        assert [row[0] for row in payloads] == [{"table": "caps", "title": "Caps", "rows": []}]


def test_a_failure_of_a_timer_batch_that_is_redone_is_recorded_once(rt: Runtime) -> None:
    # Both breach timers fire in one batch: the second refuses (no caps row for 'zz'),
    # so the batch is undone and redone timer by timer; the first timer's failure,
    # undone with the batch, is recorded again by the redo.
    first = rt.create("order", {"label": "ab", "copies": BIG, "mode": "timed"})
    second = rt.create("order", {"label": "zz", "copies": 1, "mode": "timed"})
    report = rt.tick(rt.clock.now() + timedelta(hours=2))
    assert (report.timers, report.failed) == (2, 1)
    note = large("action", "sla_breach", "'n' * copies", action="set", field="fields.note")
    assert failed(rt, first.id) == [BANNER, FIT, LONG, note]
    assert failed(rt, second.id) == []
    assert rt.get(first.id).data["cap"] == 3


def test_each_command_that_fails_again_counts_again(rt: Runtime) -> None:
    order = rt.create("order", {"label": "ab", "copies": BIG}, actor="ann")
    rt.update(order.id, {"label": "abc"}, actor="ann")
    assert failed(rt, order.id) == [BANNER, FIT, LONG, BANNER, FIT, LONG]
    assert counts(rt) == [
        ("alert", "long_banner", 2),
        ("computed", "order.banner", 2),
        ("score", "order_fit", 2),
    ]
    rt.update(order.id, {"copies": 2}, actor="ann")
    assert rt.get(order.id).data["banner"] == "abcabc"
    assert len(failed(rt, order.id)) == 6


def test_an_alert_whose_condition_fails_keeps_its_state(rt: Runtime) -> None:
    order = rt.create("order", {"label": "ab", "copies": 10}, actor="ann")
    [alert] = rt.alerts(rule="long_banner")
    assert alert["state"] == "firing"
    # Before: the failing condition read as false and resolved the alert.
    rt.update(order.id, {"copies": BIG}, actor="ann")
    assert [a["state"] for a in rt.alerts(rule="long_banner")] == ["firing"]
    assert failed(rt, order.id)[-1] == LONG
    rt.update(order.id, {"copies": 1}, actor="ann")
    assert [a["state"] for a in rt.alerts(rule="long_banner")] == ["resolved"]


def test_an_alert_condition_without_a_row_is_recorded_and_refuses_nothing(rt: Runtime) -> None:
    order = rt.create("order", {"mode": "alert", "region": "west"}, actor="ann")
    assert rt.alerts(rule="far_region") == []
    expression = "mode == 'alert' and lookup('sla_hours', region).hours > 2"
    detail = {
        "where": "alert",
        "rule": "far_region",
        "field": "when",
        "expression": expression,
        "error": "no row of table 'sla_hours' for 'west'",
    }
    assert failed(rt, order.id) == [("far_region", "alert", detail)]


def test_an_sla_without_a_row_refuses_the_command_and_stores_nothing(
    rt: Runtime, store: Store
) -> None:
    with pytest.raises(Refused) as caught:
        rt.create("order", {"label": "ab", "copies": 1, "mode": "flow", "region": "west"})
    assert [(p.code, p.message) for p in caught.value.problems] == [
        ("no-row", "no row of table 'sla_hours' for 'west'")
    ]
    assert (count(store, T_RECORD), count(store, T_DECISION)) == (0, 0)


def test_action_values_without_a_row_refuse_the_command(rt: Runtime, store: Store) -> None:
    with pytest.raises(Refused) as caught:
        rt.create("order", {"label": "zz", "copies": 1, "mode": "flow", "region": "east"})
    assert [(p.code, p.message, p.expression) for p in caught.value.problems] == [
        ("no-row", "no row of table 'caps' for 'zz'", "lookup('caps', label).cap")
    ]
    assert (count(store, T_RECORD), count(store, T_DECISION)) == (0, 0)


def test_a_routing_rule_that_fails_is_recorded_per_candidate(rt: Runtime) -> None:
    order = rt.create("order", {"label": "ab", "copies": BIG, "mode": "route"}, actor="ann")
    assert (order.owner, order.queue) == (None, "inbox")
    routing = large(
        "routing", "order_routing", "len(label * copies) > 0", field="eligible", candidate="ann"
    )
    assert failed(rt, order.id) == [BANNER, FIT, routing, LONG]


def test_a_routing_rule_whose_when_fails_routes_nothing(rt: Runtime) -> None:
    order = rt.create("order", {"label": "ab", "copies": BIG, "mode": "rwhen"})
    assert (order.owner, order.queue) == (None, None)
    assert rt.explain(order.id, "routing") == []
    expression = "mode == 'route' or (mode == 'rwhen' and len(label * copies) > 0)"
    routing = large("routing", "order_routing", expression, field="when")
    assert failed(rt, order.id) == [BANNER, FIT, routing, LONG]


def test_an_overridden_assignment_records_the_rules_that_could_not_tell(rt: Runtime) -> None:
    order = rt.create("order", {"label": "ab", "copies": 1, "mode": "rwhen"}, actor="ann")
    assert (order.owner, order.queue) == ("ann", None)
    rt.update(order.id, {"copies": BIG}, actor="ann")
    assigned = rt.assign(order.id, user="ann", actor="max")
    assert assigned.owner == "ann"
    expression = "mode == 'route' or (mode == 'rwhen' and len(label * copies) > 0)"
    when = large("routing", "order_routing", expression, field="when")
    eligible = large(
        "routing", "order_routing", "len(label * copies) > 0", field="eligible", candidate="ann"
    )
    found = failed(rt, order.id)  # the assignment then checks the record's alerts too
    assert any(found[i : i + 2] == [when, eligible] for i in range(len(found))), found


def test_a_load_rule_that_fails_keeps_the_record_counted(rt: Runtime) -> None:
    order = rt.create("order", {"label": "ab", "copies": 1, "mode": "route"}, actor="ann")
    assert order.owner == "ann"
    rt.update(order.id, {"copies": BIG, "mode": "load"}, actor="ann")
    load = large(
        "load", "order.load", "mode != 'load' or len(label * copies) > 0", field="counts_while"
    )
    assert failed(rt, order.id) == [BANNER, FIT, load, LONG]
    with rt.store.read() as conn:
        assert loads(conn, ["ann"])["ann"][0] == 1


def test_counts_render_as_prometheus_text() -> None:
    rows = [
        {"kind": "alert", "rule": "low", "failures": 3, "last_at": AT},
        {"kind": "computed", "rule": 'odd"name\\', "failures": 1, "last_at": AT},
    ]
    assert failures.prometheus(rows) == (
        "# HELP sopflow_rule_evaluation_failures_total Expression evaluations that failed, "
        "per rule.\n"
        "# TYPE sopflow_rule_evaluation_failures_total counter\n"
        'sopflow_rule_evaluation_failures_total{kind="alert",rule="low"} 3\n'
        'sopflow_rule_evaluation_failures_total{kind="computed",rule="odd\\"name\\\\"} 1\n'
    )
    assert failures.prometheus([]).count("\n") == 2
