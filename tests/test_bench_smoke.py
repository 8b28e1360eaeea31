"""The benchmarks still run: each at tiny sizes, checking the shape of results, never timings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench import expressions, report, runner, validate_bundle
from bench.bundle_gen import generate_bundle
from bench.common import Machine, Result, Stats, machine
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
