"""`sopflow test`: run the definition tests of a bundle and report like a compiler."""

from __future__ import annotations

import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import click

from engine.compiler.pipeline import compile_bundle, discover
from engine.diagnostics import Diagnostic, Severity, errors
from engine.testfiles import load_tests
from runtime.testing import CaseResult, TestRun, run_cases

INTERNAL_ERROR = 3


@click.command("test")
@click.argument("directory", default="definitions", type=click.Path(file_okay=False))
@click.option(
    "-k",
    "patterns",
    multiple=True,
    metavar="PATTERN",
    help="Run only cases whose 'file::name' contains PATTERN (or matches it as a glob).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "junit", "github"]),
    default="text",
    show_default=True,
    help="text for people, junit for CI test reports, github for annotations.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="Write the junit report to this file (default: standard output).",
)
@click.option(
    "--database-url",
    envvar="SOPFLOW_TEST_DATABASE_URL",
    help="Run each case in its own schema of this PostgreSQL database (default: SQLite).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print failures and the summary only.")
def test_command(
    directory: str,
    patterns: tuple[str, ...],
    fmt: str,
    output: str | None,
    database_url: str | None,
    quiet: bool,
) -> None:
    """Run the definition tests (`kind: test` documents) in DIRECTORY.

    Each case runs through the real runtime on a throwaway database with a fake clock.
    Exit status: 0 all passed, 1 failures or bad definitions/tests, 2 usage error,
    3 internal error (a bug).
    """
    root = Path(directory)
    if not root.is_dir():
        raise click.UsageError(f"'{directory}' is not a folder of definitions")
    shown = directory.rstrip("/")
    try:
        result = compile_bundle(root, display_root=shown)
        cases, problems = load_tests(root, discover(root), shown)
    except Exception as exc:  # a bug in sopflow, not in the files
        _internal(exc)
    bad = errors(result.diagnostics) + errors(problems)
    if bad or result.bundle is None:
        _print_diagnostics(bad, fmt)
        click.echo(f"FAILED: {len(bad)} error{'s' if len(bad) != 1 else ''}; no test ran")
        sys.exit(1)
    if not cases:
        click.echo(f"no tests: no 'kind: test' document under {shown}", err=True)
        sys.exit(1)
    try:
        run = run_cases(
            result.bundle,
            cases,
            database_url=database_url,
            patterns=list(patterns),
            on_result=None if quiet or fmt != "text" else _progress,
        )
    except Exception as exc:
        _internal(exc)
    if not run.results:
        click.echo(f"no test matched {' or '.join(patterns)}", err=True)
        sys.exit(2)
    _report(run, fmt, output)
    sys.exit(0 if run.failed == 0 else 1)


def _internal(exc: Exception) -> None:
    click.echo(f"sopflow: internal error: {type(exc).__name__}: {exc}", err=True)
    click.echo("sopflow: this is a bug in sopflow; please report it with the files", err=True)
    sys.exit(INTERNAL_ERROR)


def _print_diagnostics(diagnostics: list[Diagnostic], fmt: str) -> None:
    for diag in diagnostics:
        click.echo(diag.render_github() if fmt == "github" else diag.render())


def _progress(result: CaseResult) -> None:
    mark = "PASS" if result.passed else "FAIL"
    case = result.case
    click.echo(f"{mark} {case.path}:{case.line} {case.spec.name} ({result.seconds * 1000:.0f} ms)")


def _summary(run: TestRun) -> str:
    return f"{run.passed} passed, {run.failed} failed in {run.seconds:.2f} s"


def _report(run: TestRun, fmt: str, output: str | None) -> None:
    failures = [f for r in run.results for f in r.failures]
    if fmt == "junit":
        xml = junit_xml(run)
        if output:
            Path(output).write_text(xml, encoding="utf-8")
        else:
            click.echo(xml)
        click.echo(_summary(run), err=bool(not output))
        return
    for failure in failures:
        if fmt == "github":
            diag = Diagnostic(
                failure.path,
                failure.line,
                failure.col,
                Severity.ERROR,
                f"fail-{failure.code}",
                failure.message,
            )
            click.echo(diag.render_github())
        else:
            click.echo(failure.render())
    click.echo(_summary(run))


def junit_xml(run: TestRun) -> str:
    """Return the run as JUnit XML (one testsuite per file, one testcase per case)."""
    suites = ET.Element("testsuites", tests=str(len(run.results)), failures=str(run.failed))
    suites.set("time", f"{run.seconds:.3f}")
    by_file: dict[str, list[CaseResult]] = {}
    for result in run.results:
        by_file.setdefault(result.case.path, []).append(result)
    for path, results in by_file.items():
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=path,
            tests=str(len(results)),
            failures=str(sum(1 for r in results if not r.passed)),
            time=f"{sum(r.seconds for r in results):.3f}",
        )
        for result in results:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=path,
                name=result.name,
                file=path,
                line=str(result.case.line),
                time=f"{result.seconds:.3f}",
            )
            for failure in result.failures:
                node = ET.SubElement(case, "failure", type=failure.code, message=failure.message)
                node.text = failure.render()
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


__all__ = ["junit_xml", "test_command"]
