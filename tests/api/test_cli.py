"""The `sopflow` command line, driven through click's CliRunner: output and exit status."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from api.cli import main
from engine.schema import definition_schema

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "definitions"
INVALID = FIXTURES / "invalid"
OK_LINE = re.compile(
    r"^ok: bundle '(?P<name>[a-z0-9_.-]+)' \((?P<hash>[0-9a-f]{12})\): (?P<files>\d+) files?, "
    r".+, (?P<warnings>\d+) warnings? in \d+ ms$"
)
FAILED_LINE = re.compile(
    r"^FAILED: (?P<errors>\d+) errors?, (?P<warnings>\d+) warnings? in \d+ ms$"
)
TEXT_LINE = re.compile(
    r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning)"
    r"\[(?P<code>[a-z0-9-]+)\]: (?P<rest>.+)$"
)
GITHUB_LINE = re.compile(r"^::(error|warning) file=[^,]+,line=\d+,col=\d+,title=[a-z0-9-]+::\S.*$")
JSON_KEYS = {
    "ok",
    "files",
    "bundle",
    "hash",
    "errors",
    "warnings",
    "diagnostics",
    "workflows",
    "inbound",
}
DIAGNOSTIC_KEYS = {"path", "line", "col", "severity", "code", "message", "hint"}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def expected_lines(case: Path) -> list[str]:
    return (case / "expected.txt").read_text(encoding="utf-8").splitlines()


def test_validate_the_example_bundle() -> None:
    result = run("validate", str(REPO / "definitions"))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1
    match = OK_LINE.match(lines[0])
    assert match, lines[0]
    assert match["name"] == "regional-distribution" and match["warnings"] == "0"


def test_validate_a_valid_fixture(valid_case: Path) -> None:
    result = run("validate", str(valid_case))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and OK_LINE.match(lines[0]), result.output
    files = len(list(valid_case.rglob("*.yaml")))
    assert f"): {files} files, " in lines[0]


def test_validate_an_invalid_fixture(invalid_case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID)  # so the CLI shows paths as the golden files do
    result = run("validate", invalid_case.name)
    expected = expected_lines(invalid_case)
    errors = sum(" error[" in line for line in expected)
    warnings = sum(" warning[" in line for line in expected)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == (1 if errors else 0), result.output
    *diagnostics, summary = result.output.splitlines()
    assert diagnostics == expected
    if errors:
        match = FAILED_LINE.match(summary)
        assert match and int(match["errors"]) == errors, summary
    else:
        match = OK_LINE.match(summary)
        assert match, summary
    assert int(match["warnings"]) == warnings


def test_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert f"'{tmp_path / 'nowhere'}' is not a folder of definitions" in result.output


def test_a_file_is_not_a_folder_of_definitions() -> None:
    result = run("validate", str(REPO / "definitions" / "bundle.yaml"))
    assert result.exit_code == 2


def test_unknown_format_is_a_usage_error() -> None:
    result = run("validate", str(REPO / "definitions"), "--format", "xml")
    assert result.exit_code == 2
    assert "Invalid value for '--format'" in result.output


def test_json_format_on_a_valid_bundle() -> None:
    result = run("validate", str(REPO / "definitions"), "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert set(data) == JSON_KEYS
    assert data["ok"] is True and data["errors"] == 0 and data["diagnostics"] == []
    assert re.fullmatch(r"[0-9a-f]{64}", data["hash"])
    assert data["bundle"].startswith(f"bundle 'regional-distribution' ({data['hash'][:12]}): ")
    compiled = [  # a hidden folder (definitions/tests/.next/) is not compiled
        p
        for p in (REPO / "definitions").rglob("*.yaml")
        if not any(x.startswith(".") for x in p.parts)
    ]
    assert data["files"] == len(compiled)
    assert data["inbound"] == {
        "wecom_contacts": {
            "title": "Contact changes from the chat tool",
            "entity": "customer",
            "fields": [
                "customer_code",
                "contact_name",
                "contact_phone",
                "contact_email",
                "contact_title",
            ],
            "secret_env": "SOPFLOW_INBOUND_SECRET_WECOM_CONTACTS",
            "path": "/api/v1/inbound/wecom_contacts",
        }
    }


def test_json_format_on_an_invalid_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID)
    result = run("validate", "unknown_require_field", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert set(data) == JSON_KEYS
    assert (data["ok"], data["bundle"], data["hash"], data["errors"], data["warnings"]) == (
        False,
        None,
        None,
        1,
        0,
    )
    assert data["files"] == 3
    assert data["diagnostics"] == [
        {
            "path": "unknown_require_field/workflows/pharmacy_visit.yaml",
            "line": 8,
            "col": 28,
            "severity": "error",
            "code": "unknown-field",
            "message": "stage 'quote' requires field 'discount_pct', which entity "
            "'opportunity' does not define",
            "hint": "did you mean 'discount_rate'?",
        }
    ]


def test_json_diagnostics_carry_every_documented_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID)
    data = json.loads(run("validate", "multi_error", "--format", "json").output)
    assert (
        data["errors"] == len(data["diagnostics"]) == len(expected_lines(INVALID / "multi_error"))
    )
    for diag in data["diagnostics"]:
        assert set(diag) == DIAGNOSTIC_KEYS


def test_github_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID)
    result = run("validate", "multi_error", "--format", "github")
    assert result.exit_code == 1
    *annotations, summary = result.output.splitlines()
    assert FAILED_LINE.match(summary)
    wanted = []
    for line in expected_lines(INVALID / "multi_error"):
        m = TEXT_LINE.match(line)
        assert m, line
        wanted.append(
            f"::{m['severity']} file={m['path']},line={m['line']},col={m['col']},"
            f"title={m['code']}::{m['rest']}"
        )
    assert annotations == wanted
    assert all(GITHUB_LINE.match(a) for a in annotations)


def test_github_format_marks_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID)
    result = run("validate", "warnings_only", "--format", "github")
    assert result.exit_code == 0
    annotations = result.output.splitlines()[:-1]
    assert annotations and all(a.startswith("::warning file=warnings_only/") for a in annotations)


def test_strict_turns_warnings_into_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID)
    assert run("validate", "warnings_only").exit_code == 0
    strict = run("validate", "warnings_only", "--strict")
    assert strict.exit_code == 1
    assert strict.output.splitlines()[:-1] == expected_lines(INVALID / "warnings_only")
    data = json.loads(run("validate", "warnings_only", "--strict", "--format", "json").output)
    assert data["ok"] is False and data["errors"] == 0 and data["warnings"] == 2


def test_strict_leaves_a_clean_bundle_alone() -> None:
    assert run("validate", str(REPO / "definitions"), "--strict").exit_code == 0


def test_strict_failure_summary_does_not_say_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID)
    summary = run("validate", "warnings_only", "--strict").output.splitlines()[-1]
    assert summary.startswith("FAILED:"), summary


def test_schema_out_writes_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "sopflow.schema.json"
    result = run("schema", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8")) == definition_schema()
    assert out.read_text(encoding="utf-8").endswith("}\n")


def test_schema_prints_the_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == definition_schema()


def test_db_upgrade_creates_a_fresh_database(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from api.cli import main
    from runtime.migrate import head

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade", "--url", url])
    assert first.exit_code == 0, first.output
    newest = head()
    assert newest >= "0002"  # the initial schema, then API tokens and users
    assert f"schema at version {newest}" in first.output
    shown = runner.invoke(main, ["db", "version", "--url", url])
    assert f"at {newest}; newest {newest}" in shown.output


def test_db_upgrade_reports_an_unreachable_database_in_one_line() -> None:
    from click.testing import CliRunner

    from api.cli import main

    result = CliRunner().invoke(
        main, ["db", "upgrade", "--url", "postgresql://nobody@127.0.0.1:1/none"]
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot upgrade")
    assert "Traceback" not in result.output
