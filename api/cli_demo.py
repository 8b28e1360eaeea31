"""`sopflow demo`: fill a database with a simulated quarter (runtime/demo.py)."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import click

from api.config import Config
from engine.compiler.pipeline import compile_bundle
from engine.diagnostics import errors
from runtime.store import Store

DEFAULT_DIR = "definitions"


class _Rate:
    """The bar's item text: leads a second so far."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.done = 0

    def __call__(self, _: object) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        return f"{self.done / elapsed:,.0f} leads/s"


@click.command()
@click.argument("directory", default=DEFAULT_DIR, type=click.Path(file_okay=False))
@click.option(
    "--database-url",
    default=None,
    help="Default: $SOPFLOW_DATABASE_URL or sqlite:///var/sopflow.db.",
)
@click.option(
    "--evidence-dir", default=None, help="Default: $SOPFLOW_EVIDENCE_DIR or var/evidence."
)
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--leads", default=100_000, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--quarter", default="2026Q1", show_default=True, help="YYYYQn: the simulated quarter."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def demo(
    directory: str,
    database_url: str | None,
    evidence_dir: str | None,
    seed: int,
    leads: int,
    quarter: str,
    quiet: bool,
) -> None:
    """Fill the database with a simulated quarter of activity, through the runtime's commands."""
    from runtime.demo import DemoPlan, counts, run_demo  # noqa: PLC0415

    if (
        len(quarter) != 6
        or not quarter[:4].isdigit()
        or quarter[4] != "Q"
        or quarter[5] not in "1234"
    ):
        raise click.BadParameter("use YYYYQn, e.g. 2026Q1", param_hint="--quarter")
    result = compile_bundle(Path(directory), display_root=directory)
    if result.bundle is None or errors(result.diagnostics):
        click.echo(f"error: the definitions in {directory} have errors; run 'sopflow validate'")
        sys.exit(1)
    config = Config.load(
        database_url=database_url, evidence_dir=Path(evidence_dir) if evidence_dir else None
    )
    store = Store.open(config.database_url, schema=config.database_schema)
    plan = DemoPlan(seed=seed, leads=leads, quarter=quarter)
    started = time.monotonic()
    rate = _Rate()
    show = not quiet and sys.stderr.isatty()
    with click.progressbar(
        length=leads,
        label=f"simulating {quarter}",
        file=sys.stderr if show else io.StringIO(),
        show_eta=True,
        show_pos=True,
        item_show_func=rate,
    ) as bar:

        def step(n: int) -> None:
            rate.done += n
            bar.update(n, rate.done)

        done = run_demo(
            result.bundle, store, plan, evidence_dir=str(config.evidence_dir), progress=step
        )
    seconds = time.monotonic() - started
    made = ", ".join(f"{n} {kind}" for kind, n in sorted(counts(store).items()))
    commands = sum(done.commands.values())
    click.echo(
        f"sopflow: demo {quarter} (seed {seed}) in {seconds:.1f}s: {commands} commands "
        f"({commands / max(seconds, 1e-9):,.0f}/s), {done.refused} refused; {made}"
    )
    click.echo(
        "sopflow: start the server on it with 'sopflow serve' (it prints the demo staff's tokens)"
    )
