"""Fuzz one target: python -m tests.fuzz TARGET [--runs N | --seconds S | --replay] [--save].

Run from the repository root. With atheris (libFuzzer for Python) the engine's modules,
ruamel.yaml and jinja2 are instrumented and libFuzzer mutates the seed corpus
(tests/fuzz/corpus/TARGET/) towards new coverage; without atheris (no wheel for this
platform) hypothesis draws the inputs instead, from the same seeds, without coverage.

A crash is an input that gives anything but a located diagnostic (tests/fuzz/targets.py),
or runs past TIMEOUT_SECONDS, or needs more than RSS_LIMIT_MB. It is written to the crash
folder (--crashes; --save: the target's corpus folder, as crash-<sha1>, where the suite
replays it from then on; by default a temporary folder) and its traceback is printed.
The last line printed is the summary
`fuzz TARGET engine=E runs=N seconds=S crashes=C corpus=K coverage=V`; the exit status is
1 when there was a crash.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORPUS = HERE / "corpus"
# Why: an input slower than this is a hang, kept as a crash (libFuzzer's -timeout).
TIMEOUT_SECONDS = 20
# Why: the machine is shared; an input needing more memory than this is a bomb.
RSS_LIMIT_MB = 1536
# Why: one bug tends to give many crashing inputs; a long run stops a target after these.
MAX_CRASHES = 5
# The modules libFuzzer sees the coverage of, by target (instrumenting costs ~1-2 s of
# start-up a package, so each target instruments what its inputs reach).
INSTRUMENTED = {
    "yaml": ["engine.yamlsource", "ruamel.yaml"],
    "expression": ["engine.expr"],
    "template": ["engine.compiler.context", "jinja2"],
    "bundle": ["engine"],
    "canary": [],
}
# The surfaces fuzzed (tests/fuzz/targets.py), and the target that proves the harness
# reports a crash (it fails on inputs holding its trigger; never fuzzed for long).
FUZZED = ("yaml", "expression", "template", "bundle")
CANARY = "canary"
_DONE = re.compile(r"^Done (\d+) runs in (\d+) second", re.M)
_EXECUTED = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_CORP = re.compile(r"corp: (\d+)/")
_COV = re.compile(r"cov: (\d+)")


@dataclass
class Outcome:
    """What one fuzzing session did."""

    target: str
    engine: str
    runs: int = 0
    seconds: float = 0.0
    coverage: int = 0
    corpus: int = 0
    crashes: list[Path] = field(default_factory=list)

    def line(self) -> str:
        """The summary line the runner prints last (bench/fuzzing.py reads it)."""
        return (
            f"fuzz {self.target} engine={self.engine} runs={self.runs} "
            f"seconds={self.seconds:.1f} crashes={len(self.crashes)} corpus={self.corpus} "
            f"coverage={self.coverage}"
        )


def has_atheris() -> bool:
    """Tell whether atheris can be imported here."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def seeds(target: str, corpus: Path = CORPUS) -> list[Path]:
    """Return the seed and regression inputs of a target, sorted by name."""
    folder = corpus / target
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def keep(data: bytes, folder: Path, prefix: str = "crash") -> Path:
    """Write a crashing input to `folder` as <prefix>-<sha1>; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{prefix}-{_sha1(data)}"
    path.write_bytes(data)
    return path


def explain(target: str, data: bytes) -> str:
    """Run one input in this process; return the traceback it gives ("" when none)."""
    from .targets import TARGETS

    try:
        TARGETS[target](data)
    except Exception:
        return traceback.format_exc(limit=-6)
    return ""


# --- atheris: libFuzzer sessions in child processes ---------------------------------------


def _child(target: str, argv: list[str]) -> None:
    """Run libFuzzer on `target` in this process (libFuzzer exits the process when done)."""
    import atheris

    if INSTRUMENTED[target]:
        with atheris.instrument_imports(include=INSTRUMENTED[target]):
            from .targets import TARGETS
    else:
        from .targets import TARGETS

    atheris.Setup([sys.argv[0], *argv], TARGETS[target])
    atheris.Fuzz()


def _session(
    target: str,
    runs: int | None,
    seconds: float | None,
    corpus: Path,
    crashes: Path,
    avoid: set[str],
) -> Outcome:
    """Run one libFuzzer session in a child process on a copy of the seeds."""
    from .targets import MAX_LEN

    outcome = Outcome(target, "atheris")
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{target}-") as tmp:
        work, art = Path(tmp) / "corpus", Path(tmp) / "artifacts"
        work.mkdir()
        art.mkdir()
        for seed in seeds(target, corpus):
            if _sha1(seed.read_bytes()) not in avoid:
                shutil.copy(seed, work / seed.name)
        args = [
            f"-max_len={MAX_LEN[target]}",
            f"-timeout={TIMEOUT_SECONDS}",
            f"-rss_limit_mb={_rss_limit_mb()}",
            f"-artifact_prefix={art}/",
            "-print_final_stats=1",
        ]
        if runs is not None:
            args.append(f"-runs={max(runs, 0)}")
        if seconds is not None:
            args.append(f"-max_total_time={max(1, round(seconds))}")
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "tests.fuzz", target, "--child", "--", *args, str(work)],
            cwd=ROOT,
            env=_child_env(),
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        outcome.seconds = time.monotonic() - started
        log = proc.stderr + proc.stdout
        done, executed = _DONE.search(log), _EXECUTED.findall(log)
        outcome.runs = int(done.group(1)) if done else int(executed[-1]) if executed else 0
        coverage, corpus_sizes = _COV.findall(log), _CORP.findall(log)
        outcome.coverage = int(coverage[-1]) if coverage else 0
        outcome.corpus = int(corpus_sizes[-1]) if corpus_sizes else 0
        for artifact in sorted(art.iterdir()):
            data = artifact.read_bytes()
            kind = artifact.name.split("-")[0]  # crash, timeout, oom, leak
            path = keep(data, crashes, "crash" if kind == "crash" else kind)
            outcome.crashes.append(path)
            why = explain(target, data) or f"({kind}: {log.strip().splitlines()[-1]})"
            print(f"crash: {path}\n{why}", file=sys.stderr)
        if proc.returncode != 0 and not outcome.crashes:
            tail = "\n".join(log.splitlines()[-30:])
            raise RuntimeError(f"libFuzzer stopped ({proc.returncode}) without a crash:\n{tail}")
    return outcome


def _rss_limit_mb() -> int:
    """RSS_LIMIT_MB above the peak the child starts with.

    Linux keeps a process's peak RSS across fork and exec, so a child started from a large
    process (pytest late in `make test`) begins at its parent's peak: libFuzzer, reading that
    peak, would call a trivial input out of memory.
    """
    inherited = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
    return RSS_LIMIT_MB + inherited


def _child_env() -> dict[str, str]:
    """The fuzzing child's environment: this checkout first, and not under `coverage`
    (`make test` measures subprocesses; the suite's in-process replay of the corpus is what
    measures the targets, and tracing would only slow the child's executions)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    return {**env, "PYTHONPATH": str(ROOT)}


def fuzz_atheris(
    target: str, runs: int | None, seconds: float | None, corpus: Path, crashes: Path
) -> Outcome:
    """Fuzz for `runs` executions or `seconds`; after a crash go on without it, up to a cap."""
    total = Outcome(target, "atheris")
    avoid: set[str] = set()
    deadline = None if seconds is None else time.monotonic() + seconds
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        want = None if runs is None else runs - total.runs
        outcome = _session(target, want, left, corpus, crashes, avoid)
        total.runs += outcome.runs
        total.seconds += outcome.seconds
        total.coverage = max(total.coverage, outcome.coverage)
        total.corpus = max(total.corpus, outcome.corpus)
        total.crashes += outcome.crashes
        avoid.update(_sha1(p.read_bytes()) for p in outcome.crashes)
        more = (deadline is not None and deadline - time.monotonic() > 1) or (
            runs is not None and total.runs < runs
        )
        if not outcome.crashes or len(total.crashes) >= MAX_CRASHES or not more:
            return total


# --- hypothesis: where atheris has no wheel -----------------------------------------------


def fuzz_hypothesis(
    target: str, runs: int | None, seconds: float | None, corpus: Path, crashes: Path
) -> Outcome:
    """Draw inputs with hypothesis: seeds with bytes spliced in, and raw bytes."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from .targets import MAX_LEN, TARGETS

    fn, size = TARGETS[target], MAX_LEN[target]
    pool = [p.read_bytes() for p in seeds(target, corpus)] or [b""]
    spliced = st.tuples(st.sampled_from(pool), st.integers(0, size), st.binary(max_size=64))
    inputs = spliced.map(lambda t: (t[0][: t[1]] + t[2] + t[0][t[1] :])[:size])
    outcome = Outcome(target, "hypothesis", corpus=len(pool))
    started = time.monotonic()
    failing: list[bytes] = []

    @settings(
        max_examples=runs if runs is not None else 10**9,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(inputs, st.binary(max_size=size)))
    def one(data: bytes) -> None:
        if seconds is not None and time.monotonic() - started > seconds:
            return
        outcome.runs += 1
        try:
            fn(data)
        except Exception:
            failing.append(data)
            raise

    try:
        one()
    except Exception:
        data = failing[-1]  # the shrunk input hypothesis reports
        path = keep(data, crashes)
        outcome.crashes.append(path)
        print(f"crash: {path}\n{explain(target, data)}", file=sys.stderr)
    outcome.seconds = time.monotonic() - started
    return outcome


def replay(target: str, corpus: Path = CORPUS) -> Outcome:
    """Run every corpus input of `target` once, in this process."""
    outcome = Outcome(target, "replay")
    started = time.monotonic()
    for path in seeds(target, corpus):
        outcome.runs += 1
        why = explain(target, path.read_bytes())
        if why:
            print(f"crash: {path}\n{why}", file=sys.stderr)
            outcome.crashes.append(path)
    outcome.seconds = time.monotonic() - started
    outcome.corpus = outcome.runs
    return outcome


def parser() -> argparse.ArgumentParser:
    """The command line of `python -m tests.fuzz`."""
    p = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    p.add_argument("target", choices=[*FUZZED, CANARY])
    p.add_argument("--runs", type=int, help="stop after this many executions")
    p.add_argument("--seconds", type=float, help="stop after this long")
    p.add_argument("--replay", action="store_true", help="only run the corpus, in one process")
    p.add_argument("--save", action="store_true", help="keep crashes in the target's corpus")
    p.add_argument("--crashes", type=Path, help="folder for crashing inputs")
    p.add_argument("--corpus", type=Path, default=CORPUS, help="folder of <target>/ seeds")
    p.add_argument("--engine", choices=["atheris", "hypothesis"], help="default: atheris")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Fuzz (or replay) one target; print the summary line; 1 when something crashed."""
    args, rest = parser().parse_known_args(argv)
    if args.child:
        _child(args.target, [a for a in rest if a != "--"])
        return 0
    if rest:
        parser().error(f"unknown arguments: {' '.join(rest)}")
    if args.replay:
        outcome = replay(args.target, args.corpus)
    elif args.runs is None and args.seconds is None:
        parser().error("give --runs, --seconds or --replay")
    else:
        if args.save:
            crashes = args.corpus / args.target
        else:
            crashes = args.crashes or Path(tempfile.mkdtemp(prefix="fuzz-crashes-"))
        engine = args.engine or ("atheris" if has_atheris() else "hypothesis")
        fuzz = fuzz_atheris if engine == "atheris" else fuzz_hypothesis
        outcome = fuzz(args.target, args.runs, args.seconds, args.corpus, crashes)
    print(outcome.line(), flush=True)
    return 1 if outcome.crashes else 0
