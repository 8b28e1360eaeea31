"""A definition test that changes definitions: start on `before`, then `reload`.

A case with `before: .before` starts on the bundle in that folder (relative to the
bundle's root; a hidden folder, so the bundle under test leaves it out). A `reload:
true` step then moves to the bundle under test the way a server reload does: the
pre-flight against the data (with the declared migration rehearsed), refusing with
every blocking finding as a problem, else the migration (runtime/evolve.py) and the
swap. This is how the conformance suite shows `renamed_from`, `removed_fields` and
`removed_stages` (docs/language.md, "Changing definitions safely").
"""

from __future__ import annotations

from pathlib import Path

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from engine.diagnostics import errors
from runtime import evolve
from runtime.core import Runtime
from runtime.errors import Problem, Refused
from runtime.preflight import blocking, rehearse


def earlier_bundle(root: Path | None, folder: str) -> tuple[Bundle | None, str]:
    """Compile the case's `before` folder; return it, or None and why not."""
    if root is None:
        return None, "'before' needs the bundle's folder (run the case with `sopflow test DIR`)"
    where = (root / folder).resolve()
    if not where.is_dir():
        return None, f"'before' names '{folder}', which is no folder under the bundle"
    result = compile_bundle(where, display_root=folder)
    if result.bundle is None or errors(result.diagnostics):
        first = next((d.render() for d in errors(result.diagnostics)), "no bundle")
        return None, f"the bundle in '{folder}' does not compile: {first}"
    return result.bundle, ""


def reload_to(runtime: Runtime, target: Bundle) -> list[evolve.Change]:
    """Pre-flight `target` against the data, migrate, swap; raise Refused as a reload would."""
    findings, _ = rehearse(runtime.store, runtime.bundle, target)
    refused = blocking(findings)
    if refused:
        raise Refused(
            "the reload was refused: the definitions contradict the live data",
            [
                Problem(
                    f.code,
                    f.message,
                    field=f.field,
                    detail={"hint": f.hint, "stage": f.stage, "count": f.count},
                )
                for f in refused
            ],
        )
    done = evolve.migrate(runtime.store, target, runtime.clock.now())
    runtime.swap(target)
    return done
