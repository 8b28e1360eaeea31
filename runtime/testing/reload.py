"""The `reload` step of a definition test moves to the changed bundle as a server does.

The pre-flight against the data (with the declared migration rehearsed) refuses the
step with every blocking finding as a problem; otherwise the migration
(runtime/evolve.py) runs and the bundle is swapped. This is how the conformance suite
shows `renamed_from`, `removed_fields` and `removed_stages` (docs/language.md,
"Changing definitions safely"): a case reloads to an earlier version of its bundle,
stores records, then reloads back (`files: {}`).
"""

from __future__ import annotations

from engine.bundle import Bundle
from runtime import evolve
from runtime.core import Runtime
from runtime.errors import Problem, Refused
from runtime.preflight import blocking, rehearse


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
