"""The definitions page (roles of `access: definitions`): version, history, last reload,
workflow diagrams, scoring models and routing rules as tables.

- `GET /definitions`                   the whole picture
- `GET /definitions/workflows/{name}`  one workflow: its diagram and its stages' table

What it shows comes from the same places as the JSON API (api/routes/definitions.py):
the served bundle, `Server.versions` (sf_bundle_version) and `Server.last` (the last
reload, each diagnostic located as file:line:col). Docs: docs/console.md "Definitions".
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Template
from markupsafe import Markup

from api.auth import access, require
from api.calls import call
from api.console import diagram
from api.console.web import Who, page
from api.reload import located
from api.routes.common import runtime_of, server_of
from engine.bundle import Bundle, CompiledWorkflow
from engine.spec.workflow import required_name
from runtime.access import Principal
from runtime.errors import NotFound
from runtime.queries import did_you_mean

HISTORY = 20


def _allowed(request: Request[Any, Any, Any], who: Principal, what: str) -> Bundle:
    _, bundle = runtime_of(request)
    require(who, access(bundle, "definitions"), what)
    return bundle


def _workflow(bundle: Bundle, name: str) -> dict[str, Any]:
    wf = bundle.workflows[name]
    return {
        "name": name,
        "title": wf.body.title or name,
        "entity": wf.entity,
        "svg": Markup(diagram.svg(wf)),
        "moves": diagram.moves_of(wf),
        "stages": _stages(wf),
        "exits": [
            {"id": e.id, "title": e.title or e.id, "outcome": e.outcome, "from": e.from_stages}
            for e in wf.body.exits
        ],
    }


def _stages(wf: CompiledWorkflow) -> list[dict[str, Any]]:
    out = []
    for stage in wf.body.stages:
        sla = stage.sla
        within = (sla.within or (f"= {sla.within_expr}" if sla.within_expr else "")) if sla else ""
        out.append(
            {
                "id": stage.id,
                "title": stage.title or stage.id,
                "only_when": stage.only_when,
                "require": [required_name(r) for r in stage.require],
                "evidence": [f"{e.title or e.kind} (at least {e.min})" for e in stage.evidence],
                "sla": f"{within}" + (f" ({sla.calendar} hours)" if sla and sla.calendar else ""),
                "guidance": stage.guidance,
            }
        )
    return out


def _scorings(bundle: Bundle) -> list[dict[str, Any]]:
    out = []
    for name, scoring in bundle.scorings.items():
        spec = scoring.spec
        total = sum(f.weight for f in spec.features.values()) or 1.0
        out.append(
            {
                "name": name,
                "title": spec.title or name,
                "entity": spec.entity,
                "output": spec.output,
                "scale": spec.scale,
                "against": spec.against,
                "missing": spec.missing if isinstance(spec.missing, str) else spec.missing.value,
                "features": [
                    {
                        "name": f,
                        "title": feature.title or f,
                        "value": feature.value,
                        "weight": feature.weight,
                        "share": round(100 * feature.weight / total, 1),
                        "points": round(
                            (spec.scale[1] - spec.scale[0]) * feature.weight / total, 2
                        ),
                    }
                    for f, feature in spec.features.items()
                ],
            }
        )
    return out


def _routings(bundle: Bundle) -> list[dict[str, Any]]:
    out = []
    for name, spec in bundle.routings.items():
        c = spec.candidates
        who = [f"role {c.role}"] if c.role else []
        who += [f"team {t}" for t in c.teams] + [f"user {u}" for u in c.users]
        out.append(
            {
                "name": name,
                "title": spec.title or name,
                "entity": spec.entity,
                "on": ", ".join(spec.on),
                "when": spec.when,
                "candidates": ", ".join(who),
                "matching": [f"{attr} = record's {fld}" for attr, fld in c.matching.items()],
                "eligible": spec.eligible,
                "match": spec.match,
                "threshold": spec.threshold,
                "strategy": spec.strategy,
                "load_weight": spec.load_weight,
                "skip_unavailable": spec.skip_unavailable,
                "fallback_queue": spec.fallback_queue,
                "override_roles": spec.override_roles,
            }
        )
    return out


@get("/definitions", include_in_schema=False)
async def definitions(request: Request[Any, Any, Any], who: Who) -> Template:
    """The version served and its history, the last reload, diagrams, scores, routing."""
    bundle = _allowed(request, who, "read the definitions")
    server = server_of(request)
    versions = await call(server.versions, HISTORY)
    current = next((v for v in versions if v["hash"] == bundle.hash), None)
    last = server.last.to_dict() if server.last else None
    if last is not None:
        last["diagnostics"] = [located(d) for d in last["diagnostics"]]
    return page(
        request,
        who,
        "definitions.html",
        "Definitions",
        current=current,
        summary=bundle.summary(),
        versions=versions,
        last=last,
        workflows=[_workflow(bundle, n) for n in bundle.workflows],
        scorings=_scorings(bundle),
        routings=_routings(bundle),
    )


@get("/definitions/workflows/{name:str}", include_in_schema=False)
async def workflow(request: Request[Any, Any, Any], who: Who, name: FromPath[str]) -> Template:
    """One workflow: its diagram, its stages (evidence, SLA, guidance) and exits."""
    bundle = _allowed(request, who, "read the definitions")
    if name not in bundle.workflows:
        raise NotFound(f"there is no workflow '{name}'{did_you_mean(name, bundle.workflows)}")
    shown = _workflow(bundle, name)
    return page(request, who, "definitions_workflow.html", shown["title"], wf=shown)


ROUTES = [definitions, workflow]
