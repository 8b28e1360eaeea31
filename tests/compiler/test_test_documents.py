"""`kind: test` documents: their version, and the checks a step and its expectations make."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.testfiles import load_tests, parse_test
from engine.yamlsource import load_documents

HEAD = "kind: test\nversion: 1\nname: x\nsteps:\n"


def messages(text: str) -> list[str]:
    (doc,), problems = load_documents("t.yaml", text.encode())
    assert problems == []
    spec, found = parse_test(doc)
    assert (spec is None) == bool(found)
    return [d.render() for d in found]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "kind: test\nname: x\nsteps: [{expect: {stage: a}}]\n",
            "t.yaml:1:1: error[missing-version]: a test needs 'version: 1' "
            "(this sopflow reads version 1)",
            id="no-version",
        ),
        pytest.param(
            "kind: test\nversion: true\nname: x\nsteps: [{expect: {stage: a}}]\n",
            "t.yaml:2:10: error[unsupported-version]: a test needs 'version: 1' "
            "(this sopflow reads version 1)",
            id="version-true",
        ),
        pytest.param(
            HEAD + "  - expect: {stage: a}\n",
            "t.yaml:5:14: error[invalid]: 'steps[0].expect': 'stage' is about a record: say "
            "which with 'record:'",
            id="expectation-without-record",
        ),
        pytest.param(
            HEAD + "  - create: {entity: lead}\n    tick: 2026-01-08 09:00\n",
            "t.yaml:5:5: error[invalid]: 'steps[0]': a step does one thing; this one has "
            "create, tick",
            id="two-actions",
        ),
        pytest.param(
            HEAD + "  - by: ann\n",
            "t.yaml:5:5: error[invalid]: 'steps[0]': a step needs one of: create, ingest, "
            "receive, import_legacy, update, move, attach, assign, acknowledge, feedback, tick, "
            "reload, complete, approve, reject, send_back, or 'expect'",
            id="nothing-to-do",
        ),
        pytest.param(
            HEAD + "  - expect: {queues: []}\n    refused: {codes: [x]}\n",
            "t.yaml:6:5: error[invalid]: 'steps[0]': 'refused' needs an action to refuse",
            id="refused-without-action",
        ),
        pytest.param(
            HEAD + "  - feedback: {rule: a}\n",
            "t.yaml:5:5: error[invalid]: 'steps[0]': 'feedback' needs a 'verdict': useful or "
            "false_positive",
            id="feedback-without-verdict",
        ),
        pytest.param(
            HEAD + "  - create: {entity: lead, as: 1st}\n",
            "t.yaml:5:32: error[invalid]: 'steps[0].create.as' is '1st', which does not match "
            "^[A-Za-z][A-Za-z0-9_.-]*$",
            id="alias-pattern",
        ),
    ],
)
def test_a_bad_test_document_is_a_located_error(text: str, expected: str) -> None:
    assert messages(text) == [expected]


def test_a_step_may_only_set_the_clock() -> None:
    (doc,), _ = load_documents("t.yaml", (HEAD + "  - at: 2026-01-08 09:00\n").encode())
    spec, found = parse_test(doc)
    assert found == []
    assert spec is not None
    assert [(s.at, s.expect) for s in spec.steps] == [("2026-01-08 09:00", None)]


def test_load_tests_keeps_the_good_cases_and_reports_the_bad(tmp_path: Path) -> None:
    folder = tmp_path / "tests"
    folder.mkdir()
    good = HEAD + "  - create: {entity: lead, as: a}\n"
    bad = "kind: test\nversion: 1\nname: y\nsteps:\n  - by: ann\n"
    (folder / "cases.yaml").write_text(f"{good}---\n{bad}", encoding="utf-8")
    cases, problems = load_tests(tmp_path, [folder / "cases.yaml"], display_root="defs")
    assert [(c.spec.name, c.path, c.line) for c in cases] == [("x", "defs/tests/cases.yaml", 1)]
    assert cases[0].locate("steps", 0, "create", "as") == (5, 32)
    assert [d.render() for d in problems] == [
        "defs/tests/cases.yaml:11:5: error[invalid]: 'steps[0]': a step needs one of: create, "
        "ingest, receive, import_legacy, update, move, attach, assign, acknowledge, feedback, "
        "tick, reload, complete, approve, reject, send_back, or 'expect'"
    ]
