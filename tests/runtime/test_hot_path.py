"""The write path's JSON text and its SLA timers moved in place (issue 14, decision NN)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from runtime import timers
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.db import dumps, loads
from runtime.store import T_TIMER, Store, db_json, py_json

START = datetime(2026, 3, 2, 9, 0)

FILES = {
    "bundle.yaml": """
kind: bundle
version: 1
name: hot-path
timezone: UTC
roles: [agent]
users:
  ana: {roles: [agent]}
""",
    "forms/case.yaml": """
kind: form
version: 1
entity: case
fields:
  subject: {type: string}
""",
    "workflows/case_flow.yaml": """
kind: workflow
version: 1
name: case_flow
entity: case
stages:
  - id: intake
    sla: {within: 2h, remind_before: [1h, 30m]}
  - id: triage
    sla: {within: 4h}
  - id: waiting
  - id: fixing
    sla: {within: 1h, remind_before: [15m]}
exits:
  - {id: solved, outcome: won}
  - {id: dropped, outcome: lost}
moves:
  back: any
""",
}


# -- JSON text ----------------------------------------------------------------------------


def test_json_text_is_compact_utf8_and_reads_back_the_same() -> None:
    value = {"name": "Zoë Ødegård 東京", "n": [1, 2.5, -0.0, 10**30], "ok": True, "t": "\x00"}
    text = dumps(value)
    assert (
        text
        == '{"name":"Zoë Ødegård 東京","n":[1,2.5,-0.0,1000000000000000000000000000000],"ok":true,"t":"\\u0000"}'
    )
    assert loads(text) == value
    assert loads(text.encode()) == value
    assert db_json(value) == text and py_json(text) == value


def test_json_a_float_that_is_not_finite_is_written_by_the_stdlib() -> None:
    # msgspec writes NaN and infinities as null; the stdlib's text keeps them.
    assert dumps({"a": None, "b": [1.5, None]}) == '{"a":null,"b":[1.5,null]}'
    for value in (
        {"x": math.inf},
        {"x": -math.inf},
        [math.nan],
        {"a": None, "d": {"x": [-math.nan]}},
    ):
        assert dumps(value) == json.dumps(value)
    assert dumps({"x": 1e308, "y": -1e308, "z": 5e-324}) == '{"x":1e308,"y":-1e308,"z":5e-324}'
    assert loads(dumps({"x": math.inf})) == {"x": math.inf}
    assert math.isnan(loads(dumps([math.nan]))[0])
    # a null beside an integer msgpack cannot hold: the stdlib writes it, same values
    assert loads(dumps({"a": None, "n": 10**30})) == {"a": None, "n": 10**30}


def test_json_msgspec_refuses_goes_to_the_stdlib() -> None:
    assert dumps({True: 1, None: 2}) == '{"true": 1, "null": 2}'
    assert dumps("\ud800") == '"\\ud800"'
    with pytest.raises(TypeError):
        dumps({(1, 2): 3})


def test_json_the_stdlib_reads_what_msgspec_does_not() -> None:
    assert loads('{"x": NaN, "y": 1e400}') == {
        "x": pytest.approx(math.nan, nan_ok=True),
        "y": math.inf,
    }
    assert loads("[Infinity]") == [math.inf]
    with pytest.raises(json.JSONDecodeError):
        loads("{nope")


# -- SLA timers moved in place ------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    root = tmp_path_factory.mktemp("hot_path")
    for name, source in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(source.lstrip(), encoding="utf-8")
    result = compile_bundle(root)
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return result.bundle


def _sla(store: Store) -> list[tuple[Any, ...]]:
    """Every SLA timer row: (id, kind, ref, due_at, payload, fired), by id."""
    t = T_TIMER.c
    with store.read() as conn:
        rows = conn.execute(
            select(t.id, t.kind, t.ref, t.due_at, t.payload, t.fired)
            .where(t.kind.in_(timers.SLA_KINDS))
            .order_by(t.id)
        ).all()
    return [(r[0], r[1], r[2], r[3].replace(tzinfo=None), r[4], bool(r[5])) for r in rows]


def _payload(stage: str, due: datetime, before: str | None = None) -> dict[str, Any]:
    out = {"stage": stage, "workflow": "case_flow", "due": due.isoformat() + "+00:00"}
    return out if before is None else {**out, "before": before}


def test_a_move_updates_the_breach_timer_in_place_and_drops_the_old_reminders(
    store: Store, bundle: Bundle, tmp_path: Path
) -> None:
    clock = FakeClock(START)
    rt = Runtime(bundle, store, clock, evidence_dir=tmp_path / "ev")
    case = rt.create("case", {"subject": "printer"})
    created = _sla(store)
    breach_id = created[0][0]
    due = START + timedelta(hours=2)
    assert created == [
        (breach_id, "sla_breach", "intake", due, _payload("intake", due), False),
        (
            breach_id + 1,
            "sla_remind",
            "intake",
            due - timedelta(hours=1),
            _payload("intake", due, "1h"),
            False,
        ),
        (
            breach_id + 2,
            "sla_remind",
            "intake",
            due - timedelta(minutes=30),
            _payload("intake", due, "30m"),
            False,
        ),
    ]
    clock.advance(timedelta(minutes=10))
    rt.transition(case.id, "triage")
    due = START + timedelta(minutes=10, hours=4)
    # the same row, its deadline the new stage's; the reminders of intake are gone
    assert _sla(store) == [(breach_id, "sla_breach", "triage", due, _payload("triage", due), False)]


def test_a_stage_without_sla_ends_them_and_the_next_one_starts_fresh(
    store: Store, bundle: Bundle, tmp_path: Path
) -> None:
    clock = FakeClock(START)
    rt = Runtime(bundle, store, clock, evidence_dir=tmp_path / "ev")
    case = rt.create("case", {"subject": "printer"})
    rt.transition(case.id, "triage")
    rt.transition(case.id, "waiting")
    assert _sla(store) == []
    clock.advance(timedelta(hours=1))
    rt.transition(case.id, "fixing")
    due = START + timedelta(hours=2)
    rows = _sla(store)
    assert [r[1:] for r in rows] == [
        ("sla_breach", "fixing", due, _payload("fixing", due), False),
        (
            "sla_remind",
            "fixing",
            due - timedelta(minutes=15),
            _payload("fixing", due, "15m"),
            False,
        ),
    ]
    rt.transition(case.id, "intake")  # back: the breach row moves, the reminder goes
    due = START + timedelta(hours=3)
    after = _sla(store)
    assert after[0] == (rows[0][0], "sla_breach", "intake", due, _payload("intake", due), False)
    assert [r[1:] for r in after[1:]] == [
        ("sla_remind", "intake", due - timedelta(hours=1), _payload("intake", due, "1h"), False),
        (
            "sla_remind",
            "intake",
            due - timedelta(minutes=30),
            _payload("intake", due, "30m"),
            False,
        ),
    ]


@pytest.mark.parametrize("exit_", ["solved", "dropped"])
def test_an_exit_ends_every_sla_timer(
    store: Store, bundle: Bundle, tmp_path: Path, exit_: str
) -> None:
    rt = Runtime(bundle, store, FakeClock(START), evidence_dir=tmp_path / "ev")
    case = rt.create("case", {"subject": "printer"})
    assert len(_sla(store)) == 3
    rt.transition(case.id, exit_)
    assert _sla(store) == []


def test_a_fired_breach_stays_and_the_next_stage_gets_its_own(
    store: Store, bundle: Bundle, tmp_path: Path
) -> None:
    clock = FakeClock(START)
    rt = Runtime(bundle, store, clock, evidence_dir=tmp_path / "ev")
    case = rt.create("case", {"subject": "printer"})
    clock.advance(timedelta(hours=3))
    rt.tick(clock.now())  # both reminders and the breach fire
    fired = _sla(store)
    assert [r[5] for r in fired] == [True, True, True]
    rt.transition(case.id, "triage")
    due = START + timedelta(hours=7)
    rows = _sla(store)
    assert rows[:3] == fired  # fired timers are kept as they were
    assert [r[1:] for r in rows[3:]] == [
        ("sla_breach", "triage", due, _payload("triage", due), False)
    ]


def test_two_pending_breach_timers_leave_one(store: Store, bundle: Bundle, tmp_path: Path) -> None:
    rt = Runtime(bundle, store, FakeClock(START), evidence_dir=tmp_path / "ev")
    case = rt.create("case", {"subject": "printer"})
    with store.begin(START) as tx:  # e.g. left by an older definition
        timers.add(tx, "sla_breach", START, record_id=case.id, ref="old")
    rt.transition(case.id, "triage")
    due = START + timedelta(hours=4)
    assert [r[1:] for r in _sla(store)] == [
        ("sla_breach", "triage", due, _payload("triage", due), False)
    ]


# -- a created record's load item ----------------------------------------------------------


def test_a_record_being_created_reads_no_load_item_and_counts_once(
    store: Store, bundle: Bundle, tmp_path: Path
) -> None:
    rt = Runtime(bundle, store, FakeClock(START), evidence_dir=tmp_path / "ev")
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", note)
    try:
        case = rt.create("case", {"subject": "printer"}, actor="ana")
    finally:
        event.remove(store.engine, "before_cursor_execute", note)
    assert case.owner == "ana"  # nobody routed it: its creator holds it
    load_items = [s for s in sent if "sf_load_item" in s]
    assert [s.split(" (")[0] for s in load_items] == ["INSERT INTO sf_load_item"]
    with store.read() as conn:
        loads_now = conn.execute(text("SELECT user_id, open_count FROM sf_load")).all()
        items = conn.execute(text("SELECT record_id, owner, counted FROM sf_load_item")).all()
    assert [tuple(r) for r in loads_now] == [("ana", 1)]
    assert [(r[0], r[1], bool(r[2])) for r in items] == [(case.id, "ana", True)]
    rt.transition(case.id, "triage", actor="ana")  # a stored record's item is read again
    with store.read() as conn:
        assert conn.execute(text("SELECT open_count FROM sf_load")).scalar_one() == 1
