"""The benchmarks still run: each at tiny sizes, checking the shape of results, never timings."""

from __future__ import annotations

import json
import pickle
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import zen

from bench import __main__ as bench_main
from bench import (
    api_fuzz_bench,
    concurrent_writes,
    decision_tables,
    expressions,
    lead_baseline,
    lead_creation,
    move_checks,
    report,
    runner,
    runtime_bundles,
    scoring_speed,
    sla_tick,
    transitions,
    validate_bundle,
)
from bench.bundle_gen import generate_bundle
from bench.common import BenchError, Machine, Result, Stats, machine
from bench.runtime_support import PG_URL, postgres_problem, statement_kinds
from bench.server_requests import WrkRun
from engine.compiler.pipeline import compile_bundle


@pytest.fixture(scope="module")
def here() -> Machine:
    return machine()


@pytest.mark.parametrize("files", [1, 12, 25])
def test_generated_bundle_compiles_cleanly(tmp_path: Path, files: int) -> None:
    written = generate_bundle(tmp_path, files)
    assert len(written) == len(set(written)) == files
    result = compile_bundle(tmp_path)
    assert result.files == files
    assert result.ok, [d.render() for d in result.diagnostics]
    assert result.diagnostics == []


def test_validate_benchmark_runs(here: Machine) -> None:
    result = validate_bundle.run(files=12, repeats=2, cli_repeats=1, machine=here, profile_top=3)
    assert result.name == "validate_bundle"
    assert isinstance(result.passed, bool)
    wall, cpu = result.data["compile"]
    assert isinstance(wall, Stats) and isinstance(cpu, Stats) and wall.n == 2
    assert result.data["cli"][0].n == result.data["start"][0].n == 1
    assert result.data["files"] == 12 and result.data["warnings"] == 0
    assert "cumulative" in result.data["profile"]
    assert result.markdown.startswith("## ") and "| measure |" in result.markdown


def test_cli_start_benchmark_runs(here: Machine) -> None:
    """Every command runs as a whole process; the report names each, baseline first."""
    from bench import cli_start

    assert runner.RUNNERS[cli_start.NAME] is runner._cli_start
    result = cli_start.run(repeats=1, machine=here)
    assert result.name == "cli_start" and isinstance(result.passed, bool)
    assert result.passed is (result.data["validate"] < cli_start.TARGET_SECONDS)
    assert set(result.data) == {
        "validate",
        "schema",
        "version",
        "baseline",
        "imports",
        "validate_nopyc",
    }
    assert all(value > 0 for value in result.data.values())
    table = result.markdown.split("| command |", 1)[1].splitlines()[2:]
    assert [row.split(" | ")[0] for row in table] == [
        f"| {probe.label}" for probe in cli_start.probes()
    ]
    assert table[0].endswith("| 1x |")
    assert result.lines[0][0] == "validate process median"


def test_cli_start_refuses_a_failing_command() -> None:
    from bench import cli_start
    from bench.common import BenchError

    env = cli_start.environment(None)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and "PYTHONPYCACHEPREFIX" not in env
    with pytest.raises(BenchError, match="exited 3"):
        cli_start.run_process((sys.executable, "-c", "raise SystemExit(3)"), env)


def test_expressions_benchmark_runs(here: Machine) -> None:
    result = expressions.run(records=300, repeats=2, simpleeval_records=40, machine=here)
    assert result.name == "expressions"
    assert isinstance(result.passed, bool) and result.data["ratio"] > 0
    stats = result.data["stats"]
    assert {"lambda", "sopflow fn(r, c)", "simpleeval simple_eval(source)"} <= set(stats)
    assert {"hand-written function", "sopflow compile_group"} <= set(stats)
    assert all(s.n == 2 and s.median > 0 for s in stats.values())
    assert "### 17-feature score" in result.markdown


def test_feature_expressions_match_the_hand_written_ones() -> None:
    records = expressions.make_records(200)
    group = expressions.compile_group(expressions.FEATURES, expressions.SCOPE)
    for r in records:
        assert group(r) == expressions.features_by_hand(r) == expressions.features_inline(r)


def test_decision_tables_benchmark_runs(here: Machine) -> None:
    result = decision_tables.run(records=300, repeats=2, zen_records=40, machine=here)
    assert result.name == "decision_tables" == decision_tables.NAME
    assert runner.RUNNERS["decision_tables"] is not None
    assert isinstance(result.passed, bool) and result.data["ratio"] > 0
    stats = result.data["stats"]
    assert set(stats) == {
        decision_tables.BASELINE,
        decision_tables.SOPFLOW,
        "hand-generated if-chain",
        decision_tables.ZEN_BATCH,
        decision_tables.ZEN_ONE,
        "sopflow before: every row, a matcher per cell",
    }
    assert all(s.n == 2 and s.median > 0 for s in stats.values())
    assert sum(result.data["hits"]) == 300
    assert "| variant | records |" in result.markdown


def test_every_decision_table_variant_gives_the_same_outputs() -> None:
    records = decision_tables.make_records(2_000)
    table = decision_tables.compiled_table()
    decision = zen.ZenEngine().create_decision(json.dumps(decision_tables.jdm(table)))
    before = decision_tables.interpreted(table)
    hits = decision_tables.rows_hit(records)
    assert all(hits), hits  # every row and the default decide some record
    for r in records:
        expected = decision_tables.by_loop(r)
        assert table.evaluate(r, {}).values == expected
        assert decision_tables.by_if_chain(r) == expected
        assert before(r).values == expected
        found = decision.evaluate(r)["result"]
        assert [found["tier"], found["discount"]] == expected


def test_runtime_benchmarks_are_registered() -> None:
    assert {"transitions", "move_checks", "lead_creation", "sla_tick", "scoring"} <= set(
        runner.RUNNERS
    )


@pytest.mark.parametrize(
    "write",
    [
        runtime_bundles.write_transitions_bundle,
        runtime_bundles.write_move_bundle,
        runtime_bundles.write_lead_bundle,
        runtime_bundles.write_sla_bundle,
    ],
)
def test_runtime_bundles_compile_cleanly(tmp_path: Path, write: object) -> None:
    write(tmp_path)  # type: ignore[operator]
    result = compile_bundle(tmp_path)
    assert result.ok and result.diagnostics == [], [d.render() for d in result.diagnostics]


def test_transitions_benchmark_runs(here: Machine) -> None:
    result = transitions.run(
        records=4,
        repeats=1,
        floor_ops=20,
        pg_records=2,
        pg_floor_ops=10,
        machine=here,
        profile_top=3,
    )
    assert result.name == "transitions" and isinstance(result.passed, bool)
    ratios = result.data["ratios"]
    assert ratios["sqlite"] > 0
    if postgres_problem(PG_URL) is None:
        assert ratios["postgresql"] > 0
    else:
        assert "not measured" in result.data["skipped"]
    side = result.data["sides"]["sqlite"]
    assert side["ops"] == (20, 4 * transitions.MOVES) and side["profiled"]
    # the SLA timer moves to the next deadline in place (decision NN): no INSERT
    assert "UPDATE sf_timer" in side["statements"] and "INSERT sf_timer" not in side["statements"]
    assert side["raw_ratio"] > 0
    # the lean schema in bare SQL, and the runtime on a store in RAM, ran too
    assert transitions.LEAN in side["extras"] and transitions.IN_RAM in side["extras"]
    assert "lean store replayed in bare SQL" in result.markdown
    assert "store file in RAM" in result.markdown
    assert pickle.loads(pickle.dumps(result)).markdown == result.markdown  # crosses processes
    assert "### SQLite" in result.markdown and "| variant |" in result.markdown


def test_concurrent_writes_benchmark_runs(here: Machine) -> None:
    result = concurrent_writes.run(moves=30, threads=(1, 2), machine=here)
    assert result.name == "concurrent_writes" and result.passed is None
    rates = result.data["rates"]
    assert set(rates["sqlite"]) == {1, 2} and all(r > 0 for r in rates["sqlite"].values())
    if postgres_problem(PG_URL) is None:
        assert set(rates["postgresql"]) == {1, 2}
    else:
        assert "not measured" in result.data["skipped"]
    assert "| database | threads |" in result.markdown and "group commit" in result.markdown


def test_move_checks_benchmark_runs(here: Machine) -> None:
    result = move_checks.run(per_stage=2, repeats=1, rounds=2, machine=here)
    assert result.name == "move_checks" and isinstance(result.passed, bool)
    assert result.data["ratio"] > 0
    passing, mixed = result.data["stats"], result.data["mixed"]
    assert set(passing) == {
        move_checks.BASELINE,
        move_checks.GUARD_ONLY,
        move_checks.SOPFLOW,
        move_checks.FULL,
        move_checks.TRANSITIONS,
        move_checks.STATEMACHINE,
    }
    assert set(mixed) == set(passing) - {move_checks.GUARD_ONLY}
    assert all(s.n == 1 and s.median > 0 for s in [*passing.values(), *mixed.values()])
    assert "### Mixed: 6 of 12 cases refused" in result.markdown
    assert result.markdown.count("| variant |") == 2
    assert pickle.loads(pickle.dumps(result)).data["ratio"] == result.data["ratio"]


def test_move_checks_refuses_variants_that_decide_otherwise() -> None:
    same = Stats(1.0, 1.0, 1.0, 1)
    agree = move_checks.Outcome(same, same, [True, False])
    differs = move_checks.Outcome(same, same, [True, True])
    move_checks._same({move_checks.BASELINE: agree, "other": agree})
    with pytest.raises(BenchError, match="other decides case 1 otherwise"):
        move_checks._same({move_checks.BASELINE: agree, "other": differs})


def test_lead_creation_benchmark_runs(here: Machine) -> None:
    result = lead_creation.run(leads=8, repeats=1, machine=here, profile_top=3)
    assert result.name == "lead_creation" and result.passed is None
    assert result.data["ratio"] > 0 and result.data["leads"] == 8 + 50  # + the warm-up
    assert set(result.data["rates"]) == {
        lead_creation.SOPFLOW,
        lead_creation.BASELINE,
        lead_creation.INSERT_ONLY,
        lead_creation.AUDITED,
    }
    assert "### Where a lead's time goes" in result.markdown
    # sopflow's commit writes the record's pages as the baseline's does, and its audit rows
    pages = result.data["wal_pages"]
    assert pages[lead_creation.SOPFLOW] > pages[lead_creation.BASELINE] >= 2
    assert pages[lead_creation.AUDITED] > pages[lead_creation.BASELINE]
    assert pickle.loads(pickle.dumps(result)).data["ratio"] == result.data["ratio"]


def test_hand_written_lead_score_matches_the_bundle(tmp_path: Path) -> None:
    from bench.runtime_bundles import compiled, make_leads, write_lead_bundle
    from runtime.data import form_model
    from runtime.rules import score

    write_lead_bundle(tmp_path)
    bundle = compiled(tmp_path)
    fm = form_model(bundle, "lead")
    for body in make_leads(50):
        values = fm.validate({**fm.defaults(), **fm.normalise(body)})
        got = score(bundle.scorings["lead_quality"], values, {}).score
        assert got is not None
        assert abs(got - lead_baseline.quality_by_hand(values)) < 1e-6


def test_scoring_benchmark_runs(here: Machine) -> None:
    result = scoring_speed.run(
        records=300, repeats=2, simpleeval_records=20, refusing_records=30, machine=here
    )
    assert result.name == "scoring" and isinstance(result.passed, bool)
    assert result.data["ratio"] > 0 and result.data["validation_ratio"] > 0
    assert result.data["passing_ratio"] > 0 and result.data["refused_ratio"] > 0
    assert result.data["explained"] == 300
    stats = result.data["stats"]
    assert "sopflow score()" in stats and "sopflow check_validations" in stats
    assert all(s.n == 2 for s in stats.values())
    assert "### 17-feature score" in result.markdown
    assert "### Validation rules over a record" in result.markdown
    assert pickle.loads(pickle.dumps(result)).data["ratio"] == result.data["ratio"]


def test_hand_written_scoring_and_checks_match_sopflow() -> None:
    leads = scoring_speed.make_leads(200, seed=7)
    bundle = runtime_bundles.compiled(scoring_speed.DEFINITIONS)
    model = bundle.scorings[scoring_speed.MODEL]
    from runtime.rules import score

    got = [score(model, r, {}).score for r in leads]
    assert got == [scoring_speed.score_by_hand(r) for r in leads]
    assert len(set(got)) > 150  # the leads differ: the comparison means something
    refused = scoring_speed.refused_deals(20, seed=3)
    today = scoring_speed.date(2026, 12, 5)
    assert all(any(scoring_speed.validations_by_hand(r, s, today)) for r, s in refused)


def test_sla_tick_benchmark_runs(here: Machine) -> None:
    result = sla_tick.run(sizes=(200, 400), repeats=2, due=5, machine=here, profile_top=3)
    assert result.name == "sla_tick" and isinstance(result.passed, bool)
    assert set(result.data["sizes"]) == {200, 400}
    assert all(s.n == 2 and s.median > 0 for s in result.data["sizes"].values())
    assert "ix_sf_timer_due" in result.markdown
    assert "INSERT sf_outbox" in result.data["statements"]
    assert pickle.loads(pickle.dumps(result)).data["growth"] == result.data["growth"]


def test_statement_kinds_names_verb_and_table() -> None:
    sent = [
        'SELECT sf_record.id FROM "sf_record" WHERE id = ?',
        "INSERT INTO sf_event (at) VALUES (?)",
        "UPDATE sf_timer SET fired=? WHERE id = ?",
        "UPDATE sf_timer SET fired=? WHERE id = ?",
    ]
    assert (
        statement_kinds(sent, 2) == "1 UPDATE sf_timer, 0.5 SELECT sf_record, 0.5 INSERT sf_event"
    )


def test_statement_kinds_names_the_table_joined_to_a_table_valued_function() -> None:
    sent = ["SELECT l.a FROM json_each(:ids) AS j CROSS JOIN sf_load AS l ON l.b = j.value"]
    assert statement_kinds([*sent, "SELECT value FROM json_each(:x)"], 1) == (
        "1 SELECT sf_load, 1 SELECT json_each(:x)"
    )


def _result(name: str, text: str) -> Result:
    return Result(name, f"title {name}", f"target {name}", True, [], f"## {name}\n\n{text}")


def test_report_keeps_sections_it_did_not_run(tmp_path: Path, here: Machine) -> None:
    doc = tmp_path / "benchmarks.md"
    report.write(doc, [_result("a", "first"), _result("b", "second")], ["a", "b"], here)
    report.write(doc, [_result("b", "updated")], ["a", "b"], here)
    sections = report.read_sections(doc.read_text())
    assert list(sections) == ["summary", "a", "b"]
    assert "first" in sections["a"] and "updated" in sections["b"]
    assert "title a" in sections["summary"] and "title b" in sections["summary"]


def test_main_writes_the_doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def tiny(quick: bool, where: Machine, profile: bool) -> Result:
        return expressions.run(records=50, repeats=1, simpleeval_records=10, machine=where)

    monkeypatch.setattr(runner, "RUNNERS", {"expressions": tiny})
    doc = tmp_path / "benchmarks.md"
    assert bench_main.main(["--quick", "--write", "--in-process", "--doc", str(doc)]) == 0
    assert "<!-- bench:expressions -->" in doc.read_text()


WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:8000/hello
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.05ms  800.00us  12.01ms   90.00%
    Req/Sec     7.81k   300.00     8.20k    70.00%
  Latency Distribution
     50%    1.74ms
     75%    2.10ms
     90%    2.90ms
     99%    7.92ms
  23430 requests in 3.00s, 3.40MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   7809.12
Transfer/sec:      1.13MB
"""


def test_server_benchmark_reads_wrk_and_counts_failures() -> None:
    from bench.server_requests import parse_wrk

    run = parse_wrk(WRK_OUTPUT)
    assert (run.rps, run.p50_ms, run.p99_ms, run.requests) == (7809.12, 1.74, 7.92, 23430)
    assert run.failed == 6  # 3 non-2xx + 3 socket errors
    assert parse_wrk(WRK_OUTPUT.replace("     99%    7.92ms", "     99%  650.00us")).p99_ms == 0.65


def _few_requests(url: str, seconds: float, script: Path | None) -> WrkRun:
    """Stand in for wrk: send a few of the script's requests (or GETs), one at a time."""
    import http.client
    import re
    import time
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    headers: dict[str, str] = {}
    bodies: list[str | None] = [None]
    if script is not None:
        text = script.read_text(encoding="utf-8")
        token = re.search(r'"Bearer ([^"]+)"', text)
        assert token is not None
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token[1]}"}
        bodies = list(re.findall(r"\[==\[(.*?)\]==\]", text, flags=re.S))
    count, failed, start = 5, 0, time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    for i in range(count):
        body = bodies[i % len(bodies)]
        conn.request("GET" if body is None else "POST", parts.path, body, headers)
        answer = conn.getresponse()
        answer.read()
        failed += not 200 <= answer.status < 300
    conn.close()
    spent = time.perf_counter() - start
    return WrkRun(count / spent, 1.0, 2.0, count, failed)


def test_server_benchmark_runs_the_four_servers(here: Machine) -> None:
    """Each server starts, answers 2xx, and every lead store holds what it acknowledged
    (a few requests stand in for wrk, which CI does not install)."""
    from bench import server_requests

    assert server_requests.NAME in runner.RUNNERS
    result = server_requests.run(seconds=1, rounds=2, machine=here, driver=_few_requests)
    assert result.name == "server_requests" and isinstance(result.passed, bool)
    assert result.passed == (result.data["ratio"] >= server_requests.TARGET)
    assert set(result.data["rates"]) == {"hello", "lead", "audited", "sopflow"}
    # A warm-up and two rounds of 5 requests each, every one stored once.
    assert result.data["acknowledged"] == {"lead": 15, "audited": 15, "sopflow": 15}
    assert result.data["stored"] == {"lead": 15, "audited": 15, "sopflow": 15}
    assert "hand-written Litestar POST /leads" in result.markdown
    assert "hand-written + sopflow's audit rows POST /leads" in result.markdown
    assert "Target (issue 14)" in result.markdown


def test_server_benchmark_refuses_failed_requests(here: Machine) -> None:
    """A server answering anything but 2xx fails the run."""
    from bench import server_requests

    def failing(url: str, seconds: float, script: Path | None) -> WrkRun:
        run = _few_requests(url, seconds, script)
        return replace(run, failed=1) if url.endswith("/leads") else run

    with pytest.raises(BenchError, match="lead: 1 failed requests"):
        server_requests.run(seconds=1, rounds=1, machine=here, driver=failing)


def test_hand_written_lead_app_validates_scores_and_stores(tmp_path: Path) -> None:
    """The baseline app answers 201 with what it decided, 422 for a bad body, one row each."""
    import sqlite3

    from litestar.testing import TestClient

    from bench.lead_baseline import quality_by_hand
    from bench.serve_app import lead_app

    db = tmp_path / "lead.db"
    leads = runtime_bundles.make_leads(3)
    with TestClient(lead_app(db)) as client:
        made = [client.post("/leads", json=body) for body in leads]
        refused = client.post("/leads", json={**leads[0], "intent": 101})
        missing = client.post("/leads", json={"region": "mars"})
    assert [m.status_code for m in made] == [201, 201, 201]
    assert refused.status_code == 422 and missing.status_code == 422
    assert {e["key"] for e in missing.json()["errors"]} == {"pharmacy_name", "region"}
    first = made[0].json()
    assert set(first) == {"id", "quality_score", "owner", "queue"}
    conn = sqlite3.connect(db)
    try:
        rows = dict(
            conn.execute("SELECT id, owner FROM sf_record WHERE entity = 'lead'").fetchall()
        )
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        data = conn.execute("SELECT data FROM sf_record WHERE id = ?", (first["id"],)).fetchone()
    finally:
        conn.close()
    assert rows == {m.json()["id"]: m.json()["owner"] for m in made}
    stored = json.loads(data[0])
    assert first["quality_score"] == stored["quality_score"] == quality_by_hand(stored)


def test_definition_tests_benchmark_runs(here: Machine) -> None:
    from bench import definition_tests

    assert definition_tests.NAME in runner.RUNNERS
    result = definition_tests.run(repeats=1, machine=here)
    assert result.name == "definition_tests" and isinstance(result.passed, bool)
    assert result.data["count"] >= 4 and result.data["cases"] > 0
    assert "`sopflow test definitions` (fresh process)" in result.markdown


def test_api_fuzz_benchmark_runs(here: Machine) -> None:
    """A live `sopflow serve` on each database, schemathesis over two operations."""
    result = api_fuzz_bench.run(1, here, path_regex="^/api/v1/(me|queues)$")
    assert result.name == "api_fuzz" and result.passed is True
    assert set(result.data["outcomes"]) == {"sqlite", "postgresql"}
    for outcome in result.data["outcomes"].values():
        assert outcome.operations == {"GET /api/v1/me", "GET /api/v1/queues"}
        assert outcome.requests > 2 and outcome.statuses[200] > 0
        assert (outcome.server_errors, outcome.contradictions, outcome.refused) == (0, 0, 0)
    assert "| figure | sqlite | postgresql |" in result.markdown
    assert "Findings: none." in result.markdown
    assert pickle.loads(pickle.dumps(result)).markdown == result.markdown


def test_demo_quarter_benchmark_runs(here: Machine) -> None:
    from bench import demo_quarter

    result = demo_quarter.run(sizes=(30, 60), repeats=1, machine=here)
    assert result.name == "demo_quarter" and "(fitted)" in result.markdown
    assert result.data["full"] > 0 and result.passed is not None


def test_console_pages_benchmark_runs(
    here: Machine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The console benchmark signs in, asks every page and reports each against the baseline."""
    from bench import console_pages

    monkeypatch.setenv("SOPFLOW_BENCH_DEMO_DB", str(tmp_path / "absent.db"))
    result = console_pages.run(leads=60, repeats=2, machine=here)
    assert result.name == "console_pages" and result.passed is not None
    labels = [label for label, _ in result.lines]
    for page in ("home", "record page (lead)", "funnel", "alerts inbox", "definitions"):
        assert page in labels
    assert "baseline: JSON API" in result.markdown
    assert all(value.startswith("p50 ") for _, value in result.lines)


def test_the_audited_baseline_keeps_the_rows_sopflow_keeps(tmp_path: Path) -> None:
    """`Audited` writes, per lead, what sopflow writes: two events, a score and a routing
    explanation with sopflow's columns, the owner's load and load item."""
    import sqlite3

    from bench.lead_baseline import Audited
    from runtime.clock import FakeClock
    from runtime.core import Runtime
    from runtime.store import Store

    reps = runtime_bundles.write_lead_bundle(tmp_path / "bundle")
    leads = runtime_bundles.make_leads(4)
    stores = {name: Store.open(f"sqlite:///{tmp_path / name}.db") for name in ("hand", "sop")}
    try:
        audited = Audited(stores["hand"].engine, reps)
        made = [audited.create(body)[1] for body in leads]
        rt = Runtime(
            runtime_bundles.compiled(tmp_path / "bundle"),
            stores["sop"],
            FakeClock(datetime(2026, 1, 5, 9, 0)),
            evidence_dir=tmp_path / "ev",
        )
        views = [rt.create("lead", body) for body in leads]
    finally:
        for store in stores.values():
            store.dispose()
    assert [m.owner for m in made] == [v.owner for v in views]

    def kept(name: str) -> tuple[list[Any], ...]:
        conn = sqlite3.connect(tmp_path / f"{name}.db")
        try:
            return tuple(
                conn.execute(sql).fetchall()
                for sql in (
                    "SELECT kind, count(*) FROM sf_event GROUP BY kind ORDER BY kind",
                    "SELECT kind, rule, outcome, detail FROM sf_decision ORDER BY id",
                    "SELECT user_id, open_count FROM sf_load ORDER BY user_id",
                    "SELECT owner, counted FROM sf_load_item ORDER BY owner",
                )
            )
        finally:
            conn.close()

    (events, decisions, loads, items), (s_events, s_decisions, s_loads, s_items) = map(
        kept, ("hand", "sop")
    )
    assert events == s_events == [("created", 4), ("routed", 4)]
    assert loads == s_loads and items == s_items and len(items) == sum(bool(m.owner) for m in made)
    assert [d[:3] for d in decisions] == [d[:3] for d in s_decisions]
    for (kind, _, _, detail), (_, _, _, s_detail) in zip(decisions, s_decisions, strict=True):
        ours, theirs = json.loads(detail), json.loads(s_detail)
        assert set(ours) == set(theirs), kind
        if kind == "routing":
            columns, s_columns = ours["candidates"], theirs["candidates"]
            assert set(columns) == set(s_columns)
            assert columns["user"] == s_columns["user"] and columns["load"] == s_columns["load"]
            assert columns["chosen"] == s_columns["chosen"]
            assert 0.8 < len(detail) / len(s_detail) < 1.2
