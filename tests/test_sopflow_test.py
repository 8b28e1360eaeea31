"""`sopflow test`: the default bundle's tests pass, failures read like diagnostics, formats."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from api.cli import main
from engine.spec.testing import TestSpec
from tests.runtime.conftest import PG_URL

REPO = Path(__file__).resolve().parents[1]
DEFINITIONS = REPO / "definitions"
FIXTURES = REPO / "tests" / "fixtures" / "sopflow_test"
DOC = REPO / "docs" / "testing.md"
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed in [\d.]+ s$", re.M)


def run(*args: str) -> tuple[int, str]:
    """Run `sopflow test ...`; return its exit code and output (stdout and stderr)."""
    result = CliRunner().invoke(main, ["test", *args])
    return result.exit_code, result.output


def bundle_with(tmp_path: Path, tests: dict[str, str]) -> Path:
    """Copy the default bundle without its tests, add `tests` (name -> YAML); return it."""
    root = tmp_path / "bundle"
    shutil.copytree(DEFINITIONS, root, ignore=shutil.ignore_patterns("tests"))
    (root / "tests").mkdir()
    for name, text in tests.items():
        (root / "tests" / name).write_text(text, encoding="utf-8")
    return root


def test_the_default_bundle_tests_pass() -> None:
    code, out = run(str(DEFINITIONS))
    summary = SUMMARY.search(out)
    assert code == 0, out
    assert summary is not None and summary.group(2) == "0", out
    assert int(summary.group(1)) >= 4
    assert "FAIL" not in out


def test_the_default_bundle_tests_pass_on_postgresql() -> None:
    code, out = run(str(DEFINITIONS), "--database-url", PG_URL, "-q")
    assert code == 0, out
    assert SUMMARY.search(out) is not None


def test_failures_read_like_diagnostics_at_the_line_of_the_expectation(tmp_path: Path) -> None:
    root = bundle_with(tmp_path, {"failing.yaml": (FIXTURES / "failing.yaml").read_text()})
    code, out = run(str(root), "-q")
    assert code == 1
    lines = [line.replace(f"{root}/", "") for line in out.splitlines()]
    expected = (FIXTURES / "failing.expected").read_text().splitlines()
    assert lines[:-1] == expected
    assert SUMMARY.match(lines[-1]) and lines[-1].startswith("0 passed, 3 failed")


def test_a_case_is_isolated_from_the_one_before(tmp_path: Path) -> None:
    one = """kind: test
version: 1
name: first
steps:
  - ingest: {entity: lead, as: L1, data: {source: web_form, external_id: A, pharmacy_name: A, district: nowhere, specialty: otc}}
  - expect: {queues: [{name: unmatched_leads, records: [L1]}], loads: [{user: li.wei, value: 0}]}
"""
    two = one.replace("name: first", "name: second")
    root = bundle_with(tmp_path, {"a.yaml": one + "---\n" + two})
    code, out = run(str(root))
    assert code == 0, out
    assert "2 passed, 0 failed" in out


def test_a_bad_test_file_gets_located_errors_and_nothing_runs(tmp_path: Path) -> None:
    bad = """kind: test
version: 1
name: broken
steps:
  - move: {record: O1, to: quote}
    create: {entity: lead}
  - expect: {stage: quote}
  - tick: {after: 3 days, to: 2026-02-01}
  - expect: {record: O1, stagee: quote}
"""
    root = bundle_with(tmp_path, {"bad.yaml": bad})
    code, out = run(str(root))
    assert code == 1
    lines = [line.replace(f"{root}/", "") for line in out.splitlines()]
    assert lines == [
        "tests/bad.yaml:5:5: error[invalid]: 'steps[0]': a step does one thing; this one has create, move",
        "tests/bad.yaml:7:14: error[invalid]: 'steps[1].expect': 'stage' is about a record: say which with 'record:'",
        "tests/bad.yaml:8:27: error[invalid]: 'steps[2].tick': tick takes 'to' or 'after', not both",
        "tests/bad.yaml:9:26: error[unknown-key]: unknown key 'stagee' in 'steps[3].expect' (did you mean 'stage'?)",
        "FAILED: 4 errors; no test ran",
    ]


def test_a_broken_bundle_runs_no_test(tmp_path: Path) -> None:
    root = bundle_with(tmp_path, {"a.yaml": (FIXTURES / "failing.yaml").read_text()})
    lead = root / "forms" / "lead.yaml"
    lead.write_text(lead.read_text().replace("type: integer", "type: integr", 1))
    code, out = run(str(root))
    assert code == 1
    assert "error[bad-value]" in out and out.rstrip().endswith("no test ran")


def test_k_selects_cases_and_an_empty_selection_is_a_usage_error() -> None:
    code, out = run(str(DEFINITIONS), "-k", "price_cap")
    assert code == 0, out
    assert "1 passed, 0 failed" in out
    code, out = run(str(DEFINITIONS), "-k", "no such case anywhere")
    assert code == 2
    assert "no test matched no such case anywhere" in out


def test_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    code, out = run(str(tmp_path / "nowhere"))
    assert code == 2
    assert "is not a folder of definitions" in out


def test_junit_report(tmp_path: Path) -> None:
    root = bundle_with(tmp_path, {"failing.yaml": (FIXTURES / "failing.yaml").read_text()})
    report = tmp_path / "report.xml"
    code, _ = run(str(root), "--format", "junit", "-o", str(report))
    assert code == 1
    suites = ET.parse(report).getroot()
    assert suites.tag == "testsuites"
    assert (suites.get("tests"), suites.get("failures")) == ("3", "3")
    cases = suites.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == [
        "every kind of expectation can fail",
        "a refusal that does not match what the test expects",
        "who may do what, as the test gets it wrong",
    ]
    assert [len(c.findall("failure")) for c in cases[1:]] == [5, 4]
    first = cases[0].findall("failure")
    assert len(first) == 23
    assert first[0].get("type") == "owner"
    assert first[0].text is not None and first[0].text.endswith(
        "fail[owner]: lead 'L1' owner expected 'chen.jie', got 'li.wei'"
    )


def test_github_annotations_point_at_the_test_file(tmp_path: Path) -> None:
    root = bundle_with(tmp_path, {"failing.yaml": (FIXTURES / "failing.yaml").read_text()})
    code, out = run(str(root), "--format", "github")
    assert code == 1
    first = out.splitlines()[0]
    assert first == (
        f"::error file={root}/tests/failing.yaml,line=12,col=14,title=fail-owner::"
        "lead 'L1' owner expected 'chen.jie', got 'li.wei'"
    )


# -- docs/testing.md -------------------------------------------------------------------


def _doc_examples() -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return [b for b in blocks if "kind: test" in b]


def test_the_examples_in_the_testing_guide_pass(tmp_path: Path) -> None:
    examples = _doc_examples()
    assert len(examples) >= 4
    root = bundle_with(tmp_path, {"docs.yaml": "---\n".join(examples)})
    code, out = run(str(root))
    assert code == 0, out
    assert f"{len(examples)} passed, 0 failed" in out


def test_the_guide_documents_every_key_of_the_test_format() -> None:
    import sys

    sys.path.insert(0, str(REPO / "tests"))
    from test_docs import models_in, yaml_keys

    found: dict[str, type] = {}
    todo: list[type] = [TestSpec]
    while todo:
        model = todo.pop()
        if found.setdefault(model.__name__, model) is not model:
            continue
        for info in model.model_fields.values():
            todo.extend(m for m in models_in(info.annotation) if m.__name__ not in found)
    text = DOC.read_text(encoding="utf-8")
    documented: dict[str, set[str]] = {}
    for marker in re.finditer(r"<!-- test-keys: ([A-Za-z, ]+) -->\n((?:\|.*\n)+)", text):
        keys = set()
        for row in marker.group(2).splitlines()[2:]:
            keys.update(re.findall(r"`([a-z_]+)`", row.split("|")[1]))
        for name in marker.group(1).split(","):
            documented.setdefault(name.strip(), set()).update(keys)
    internal = {"CreateStep", "UpdateStep", "MoveStep", "AttachStep", "AssignStep", "AlertStep"}
    internal |= {"TickStep", "LeaveSpec", "ImportStep"}  # keys described in the Step rows
    missing = [
        f"{name}.{key}"
        for name, model in sorted(found.items())
        if name not in internal
        for key in yaml_keys(model)
        if key not in documented.get(name, set())
    ]
    assert not missing, "docs/testing.md does not document: " + ", ".join(missing)


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_results_do_not_depend_on_the_machine_time_zone(zone: str) -> None:
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    try:
        import time

        time.tzset()
        code, out = run(str(DEFINITIONS), "-q")
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()
    assert code == 0, out


def test_the_clock_starts_at_nine_in_the_bundles_time_zone(tmp_path: Path) -> None:
    case = """kind: test
version: 1
name: created at nine in Shanghai
by: li.wei
steps:
  - create: {entity: opportunity, as: O, data: {pharmacy_name: Kangle, region: sichuan}}
  - expect: {record: O, fields: {created_at: "2026-01-05T01:00:00"}}
"""
    code, out = run(str(bundle_with(tmp_path, {"start.yaml": case})), "-q")
    assert code == 0, out


def test_records_are_named_in_data_with_at_and_a_double_at_is_the_text(tmp_path: Path) -> None:
    case = """kind: test
version: 1
name: names in data
steps:
  - ingest: {entity: lead, as: L1, data: {source: web_form, external_id: A, pharmacy_name: "@@handle", district: x}}
  - expect: {record: L1, fields: {pharmacy_name: "@@handle"}}
  - update: {record: L1, data: {external_id: "@L1"}}
  - expect: {record: L1, fields: {external_id: "@L1"}}
  - update: {record: L1, data: {district: "@nobody"}}
"""
    root = bundle_with(tmp_path, {"a.yaml": case})
    code, out = run(str(root), "-q")
    assert code == 1
    lines = [line.replace(f"{root}/", "") for line in out.splitlines()]
    assert lines[0] == (
        "tests/a.yaml:9:43: fail[unknown-record]: no record named 'nobody' (named so far: L1)"
    )


def test_precision_reads_the_feedback_on_a_rules_alerts(tmp_path: Path) -> None:
    """F10: `precision` checks the figures of GET /api/v1/alerts/precision; each miss is
    one located failure, and an unknown rule is named."""
    case = """kind: test
version: 1
name: precision
steps:
  - ingest: {entity: distributor_stock, as: S1, data: {distributor: hangzhou-lianhua, sku: a, on_hand: 1, daily_sales: 5}}
  - ingest: {entity: distributor_stock, as: S2, data: {distributor: hangzhou-lianhua, sku: b, on_hand: 1, daily_sales: 5}}
  - feedback: {rule: stock_below_safety, record: S1, verdict: useful}
  - feedback: {rule: stock_below_safety, record: S2, verdict: false_positive}
  - expect:
      precision:
        - {rule: stock_below_safety, fired: 2, judged: 2, useful: 1, false_positive: 1, value: 0.5}
        - {rule: proposal_demo_slow, fired: 0, judged: 0, value: null}
  - expect:
      precision:
        - {rule: stock_below_safety, fired: 3, judged: 1, useful: 2, false_positive: 0, value: null}
        - {rule: nothing_such}
"""
    root = bundle_with(tmp_path, {"p.yaml": case})
    code, out = run(str(root), "-q")
    assert code == 1, out
    fails = [line.split(": ", 1)[1] for line in out.splitlines() if ": fail[" in line]
    assert fails == [
        "fail[precision]: precision of 'stock_below_safety': fired expected 3, got 2",
        "fail[precision]: precision of 'stock_below_safety': judged expected 1, got 2",
        "fail[precision]: precision of 'stock_below_safety': useful expected 2, got 1",
        "fail[precision]: precision of 'stock_below_safety': false_positive expected 0, got 1",
        "fail[precision]: precision of 'stock_below_safety' expected nothing, got 0.5",
        "fail[precision]: no alert rule 'nothing_such' in the bundle",
    ], out
