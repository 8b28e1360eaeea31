"""Run the benchmarks, print a table, and rewrite docs/benchmarks.md.

python -m bench                       # every benchmark, full size; writes the doc
python -m bench --only expressions    # one benchmark (its section is replaced)
python -m bench --quick               # fewer repetitions; the doc is left alone
python -m bench --profile             # also print a cProfile of one 500-file compile
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import report, runner
from bench.common import BenchError, Result, machine, verdict

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _print(result: Result) -> None:
    width = max([len("target"), *(len(label) for label, _ in result.lines)])
    print(f"\n{result.title}")
    print(f"  {'target':<{width}}  {result.target}: {verdict(result.passed)}")
    for label, value in result.lines:
        print(f"  {label:<{width}}  {value}")
    if "profile" in result.data:
        print(f"\n  profile of one compile (top by cumulative time):\n{result.data['profile']}")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; return the exit status."""
    names = list(runner.RUNNERS)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=names, help="run only this one")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; no doc update")
    parser.add_argument("--write", action="store_true", help="write the doc even with --quick")
    parser.add_argument("--no-write", action="store_true", help="do not write the doc")
    parser.add_argument("--profile", action="store_true", help="print a profile of validate")
    parser.add_argument("--doc", type=Path, default=DOC, help="the document to rewrite")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run every benchmark in this process (faster start; they can skew each other)",
    )
    args = parser.parse_args(argv)
    where = machine()
    print(f"sopflow benchmarks: {where.line()}" + (" (quick)" if args.quick else ""))
    run = runner.run_one if args.in_process else runner.run_isolated
    results = []
    for name in args.only or names:
        try:
            result = run(name, args.quick, where, args.profile)
        except BenchError as exc:
            print(f"\n{name}: could not measure: {exc}", file=sys.stderr)
            return 2
        _print(result)
        results.append(result)
    if not args.no_write and (args.write or not args.quick):
        report.write(args.doc, results, names, where)
        print(f"\nwrote {args.doc}")
    missed = [r.name for r in results if r.passed is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
