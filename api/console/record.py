"""The record page: one record for the person working on it, on a phone too.

`GET /records/{entity}/{record_id}` shows what the JSON API shows of the record, with
the same read checks (`Ctx`: entity read roles, hidden fields, row access: a record the
caller may not see is a 404 page, as in the API): its name, status, stage, owner and why
they were chosen (the routing decision), fields as the form's layout shows them to the
caller's roles, the stage path, the current stage's evidence checklist with an upload
form, its guidance, knowledge and scripts (`?search=`), the moves open now, a form for
the fields the stage requires, the scores with each feature's part, and the newest
changes. The forms post to console routes calling the same runtime commands as the API
(attach_evidence, transition, update); a refusal re-renders the page listing every
problem, a success redirects back (303) with `?done=`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from api.auth import may
from api.console.web import Who, display_name, page
from api.routes.common import server_of
from api.routes.record_common import Ctx
from api.routes.record_parts import sets_hidden
from engine.bundle import CompiledForm
from runtime import queries
from runtime.errors import CommandError, Problem
from runtime.guide import guide_of

PATH = "/records/{entity:str}/{record_id:str}"
TIMELINE = 50  # newest changes shown
DONE = {
    "uploaded": "The file was attached.",
    "moved": "The record moved.",
    "saved": "The fields were saved.",
}
FILE_INPUTS = ("camera", "file")  # the phone camera's input, then the plain file input


@dataclass
class Outcome:
    """What a refused form left to show on the re-rendered page."""

    status: int = 200
    message: str = ""
    items: list[str] = field(default_factory=list)
    where: str = ""  # which part of the page refused: upload, move, fields
    values: dict[str, str] = field(default_factory=dict)  # what the person typed


def record_url(entity: str, record_id: str) -> str:
    """Return the record page of a record."""
    return f"/records/{quote(entity, safe='')}/{quote(record_id, safe='')}"


def number(value: Any) -> str:
    """Show a number as a person reads it: at most 4 decimals, no trailing zeros."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def shown_value(value: Any) -> str:
    """Show a field's value as text ('not set' when empty)."""
    if value is None or value in ("", []):
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, list):
        return ", ".join(shown_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {shown_value(v)}" for k, v in value.items())
    return str(value)


def problem_text(problem: Problem, form: CompiledForm | None = None) -> str:
    """Say one problem in words, naming the field it is about by its title."""
    if problem.field and form is not None and problem.field in form.spec.fields:
        title = form.spec.fields[problem.field].title or problem.field
        if not problem.message.startswith(f"{problem.field}:"):
            return f"{title}: {problem.message}"
        return f"{title}:{problem.message.removeprefix(problem.field + ':')}"
    return problem.message


def _gather(ctx: Ctx, record_id: str, search: str | None) -> dict[str, Any]:
    """Read what the page shows (one worker thread; the record was checked readable)."""
    runtime = ctx.runtime
    guide = guide_of(runtime, record_id, ctx.who.user, search)
    decisions = [
        ctx.scrub(r)
        for r in runtime.explain(record_id)
        if not sets_hidden(ctx.bundle, r, ctx.hidden)
    ]
    events = [ctx.scrub(r) for r in runtime.events(record_id, newest=TIMELINE)]
    files = [r for r in runtime.evidence(record_id) if r["kind"] not in ctx.hidden]
    return {"guide": guide, "decisions": decisions, "events": events, "files": files}


def _fields(ctx: Ctx, guide: dict[str, Any], data: dict[str, Any]) -> list[dict[str, Any]]:
    """Group the readable fields as the layout shows them (all of them without a layout)."""
    groups = []
    for tab in guide.get("layout") or []:
        parts = [(tab["tab"], tab["fields"])] + [
            (f"{tab['tab']}: {s['section']}", s["fields"]) for s in tab["sections"]
        ]
        for title, items in parts:
            rows = [
                {"title": f["title"], "value": shown_value(data.get(f["field"]))}
                for f in items
                if f["field"] in data
            ]
            if rows:
                groups.append({"title": title, "fields": rows})
    if not groups and not ctx.form.spec.layout:
        specs = ctx.form.spec.fields
        rows = [{"title": specs[n].title or n, "value": shown_value(v)} for n, v in data.items()]
        groups.append({"title": ctx.form.spec.title or ctx.entity, "fields": rows})
    return groups


INPUTS = {"integer": "number", "decimal": "number", "date": "date", "email": "email"}


def _editable(ctx: Ctx, guide: dict[str, Any], data: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields the current stage requires that the caller may write, as form inputs."""
    stage = guide.get("stage") or {}
    out = []
    for item in stage.get("require") or []:
        name = item["field"]
        spec = ctx.form.spec.fields.get(name)
        if spec is None or name in ctx.hidden or spec.type == "evidence":
            continue
        writable = name not in ctx.form.computed and may(ctx.who, spec.write)
        values: list[str] = []
        if spec.type in ("enum", "multi_enum") or spec.of == "enum":
            values = [str(v) for v in queries.enum_values(ctx.form, name)]
        current = data.get(name)
        out.append(
            {
                "name": name,
                "title": spec.title or name,
                "type": spec.type,
                "input": INPUTS.get(spec.type, "text"),
                "step": "1" if spec.type == "integer" else "any",
                "choices": ["yes", "no"] if spec.type == "boolean" else values,
                "current": "" if current is None else shown_value(current),
                "filled": item["filled"],
                "writable": writable,
            }
        )
    return out


def _name(guide: dict[str, Any], data: dict[str, Any], record_id: str) -> str:
    """The record's readable name: its title field, else its first field shown, else its id."""
    if guide.get("name"):
        return str(guide["name"])
    for tab in guide.get("layout") or []:
        for f in [*tab["fields"], *(x for s in tab["sections"] for x in s["fields"])]:
            value = data.get(f["field"])
            if isinstance(value, str) and value:
                return value
    return record_id


def _latest(decisions: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The newest decision of `kind` per rule, in the order the rules first decided."""
    found: dict[str, dict[str, Any]] = {}
    for row in decisions:
        if row.get("kind") == kind:
            found[str(row.get("rule"))] = row
    return list(found.values())


def _columns(rows: list[dict[str, Any]], skip: set[str]) -> list[str]:
    """The scalar keys of a list of rows, in the order they first appear."""
    seen: dict[str, None] = {}
    for row in rows:
        for key, value in row.items():
            if key not in skip and not isinstance(value, (dict, list)):
                seen.setdefault(key, None)
    return list(seen)


def _routing(decisions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Why the owner was chosen: the newest routing decision, its candidates as a table."""
    chosen = [r for r in decisions if r.get("kind") == "routing"]
    if not chosen:
        return None
    row = chosen[-1]
    detail = row.get("detail") or {}
    listed = detail.get("candidates")
    candidates: list[dict[str, Any]] = listed if isinstance(listed, list) else []
    facts = {
        k: v
        for k, v in detail.items()
        if k not in ("candidates", "reason") and not isinstance(v, (dict, list))
    }
    return {
        "rule": row.get("rule"),
        "at": row.get("at"),
        "outcome": row.get("outcome"),
        "reason": detail.get("reason"),
        "facts": facts,
        "narrowed": detail.get("narrowed") if isinstance(detail.get("narrowed"), dict) else None,
        "candidates": candidates,
        "columns": _columns(candidates, {"features"}),
        "stale": row.get("stale"),
    }


def _scores(ctx: Ctx, decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each scoring model's newest score: total, any other numbers, each feature's part."""
    out = []
    for row in _latest(decisions, "score"):
        detail = row.get("detail") or {}
        model = ctx.bundle.scorings.get(str(row.get("rule")))
        features = detail.get("features") if isinstance(detail.get("features"), list) else []
        out.append(
            {
                "rule": row.get("rule"),
                "title": (model.spec.title if model is not None else None) or row.get("rule"),
                "total": detail.get("score", row.get("outcome")),
                "facts": {
                    k: v
                    for k, v in detail.items()
                    if k not in ("score", "features") and not isinstance(v, (dict, list))
                },
                "features": features,
                "at": row.get("at"),
                "stale": row.get("stale"),
            }
        )
    return out


def _change(event: dict[str, Any], titles: dict[str, str], ctx: Ctx) -> str:
    """Say what one audit event changed, in words."""
    kind = str(event.get("kind") or "")
    found = event.get("detail")
    detail: dict[str, Any] = found if isinstance(found, dict) else {}
    if kind == "stage_changed":
        source, target = str(detail.get("source")), str(detail.get("target"))
        return f"Moved from {titles.get(source, source)} to {titles.get(target, target)}"
    if kind == "evidence_attached":
        return f"Attached evidence: {detail.get('evidence_kind', '')}"
    words = kind.replace("_", " ").capitalize()
    changed = detail.get("changes") or detail.get("data")
    if isinstance(changed, dict) and changed:
        specs = ctx.form.spec.fields
        names = [specs[k].title or k if k in specs else k for k in changed]
        more = f" and {len(names) - 6} more" if len(names) > 6 else ""
        return f"{words}: {', '.join(names[:6])}{more}"
    for key in ("owner", "queue", "reason", "message"):
        if detail.get(key):
            return f"{words}: {detail[key]}"
    return words


def _upload_kinds(ctx: Ctx, guide: dict[str, Any]) -> list[dict[str, str]]:
    """The evidence kinds a file may be attached as: the stage's first, then evidence fields."""
    kinds: dict[str, str] = {}
    for need in (guide.get("stage") or {}).get("evidence") or []:
        kinds.setdefault(need["kind"], need["title"])
    for name, spec in ctx.form.spec.fields.items():
        if spec.type == "evidence" and name not in ctx.hidden:
            kinds.setdefault(name, spec.title or name)
    return [{"kind": k, "title": t} for k, t in kinds.items()]


async def render(
    request: Request[Any, Any, Any],
    who: Who,
    entity: str,
    record_id: str,
    *,
    search: str | None = None,
    done: str | None = None,
    outcome: Outcome | None = None,
) -> Template:
    """Render the record page (with a refused form's problems when there are some)."""
    ctx = Ctx(request, entity, who=who)
    view = await ctx.record(record_id)
    found = await ctx.run(_gather, ctx, record_id, search or None)
    shown = ctx.show(view)
    data = shown["data"]
    guide = found["guide"]
    path = guide.get("path") or []
    titles = {p["id"]: p["title"] for p in path}
    stage = guide.get("stage")
    outcome = outcome or Outcome()
    timeline = [
        {
            "at": e.get("at"),
            "who": display_name(ctx.bundle, e.get("actor")) or "the system",
            "what": _change(e, titles, ctx),
        }
        for e in reversed(found["events"])
    ]
    name = _name(guide, data, record_id)
    writable = may(who, ctx.form.spec.permissions.write)
    template = page(
        request,
        who,
        "record.html",
        f"{guide.get('entity_title') or entity}: {name}",
        entity=entity,
        entity_title=guide.get("entity_title") or entity,
        record=shown,
        name=name,
        url=record_url(entity, record_id),
        guide=guide,
        path=path,
        stage=stage,
        stage_title=titles.get(view.stage or "", view.stage),
        titles=titles,
        field_titles={n: f.title or n for n, f in ctx.form.spec.fields.items()},
        groups=_fields(ctx, guide, data),
        editable=_editable(ctx, guide, data) if writable and view.status == "open" else [],
        routing=_routing(found["decisions"]),
        scores=_scores(ctx, found["decisions"]),
        files=found["files"],
        kinds=_upload_kinds(ctx, guide) if writable and view.status == "open" else [],
        timeline=timeline,
        timeline_full=len(found["events"]) >= TIMELINE,
        search=search or "",
        done=DONE.get(done or ""),
        outcome=outcome,
        number=number,
        shown_value=shown_value,
        api=f"/api/v1/records/{quote(entity, safe='')}/{quote(record_id, safe='')}",
    )
    template.status_code = outcome.status
    return template


@get(PATH, include_in_schema=False)
async def record_page(
    request: Request[Any, Any, Any],
    who: Who,
    entity: FromPath[str],
    record_id: FromPath[str],
    search: FromQuery[str | None] = None,
    done: FromQuery[str | None] = None,
) -> Template:
    """The record page (404 page when it is missing or the caller may not see it)."""
    return await render(
        request, who, entity, record_id, search=(search or "")[:200] or None, done=done
    )


async def _refused(
    request: Request[Any, Any, Any],
    who: Who,
    entity: str,
    record_id: str,
    exc: CommandError,
    where: str,
    values: dict[str, str] | None = None,
) -> Template:
    """Re-render the page listing every problem of a refused command (404: the 404 page)."""
    if exc.status == 404:
        raise exc
    form = Ctx(request, entity, who=who).form
    items = [problem_text(p, form) for p in exc.problems]
    outcome = Outcome(exc.status, exc.message, items, where, values or {})
    return await render(request, who, entity, record_id, outcome=outcome)


def _back(entity: str, record_id: str, done: str) -> Redirect:
    return Redirect(f"{record_url(entity, record_id)}?done={done}", status_code=303)


@post(f"{PATH}/evidence", include_in_schema=False)
async def upload_evidence(
    request: Request[Any, Any, Any], who: Who, entity: FromPath[str], record_id: FromPath[str]
) -> Template | Redirect:
    """Attach a file (the camera's or a picked one) through the runtime, as the API does."""
    ctx = Ctx(request, entity, who=who)
    await ctx.record(record_id)
    form = await request.form()
    kind = str(form.get("kind") or "")
    chosen = [
        f
        for name in FILE_INPUTS
        if name in form
        for f in form.getall(name)
        if isinstance(f, UploadFile) and f.filename
    ]
    limit = server_of(request).config.max_upload_bytes
    problem = ""
    status = 422
    content = b""
    if not kind:
        problem = "choose what the file shows (the evidence kind)"
    elif not chosen:
        problem = "choose a file or take a photo"
    elif "\x00" in (chosen[0].filename or ""):
        problem = "the file name may not contain a NUL character"
    else:
        content = await chosen[0].read(limit + 1)
        if len(content) > limit:
            problem, status = f"the file is larger than the upload limit of {limit} bytes", 413
    for f in chosen:
        await f.close()
    if problem:
        outcome = Outcome(status, "The file was not attached", [problem], "upload")
        return await render(request, who, entity, record_id, outcome=outcome)
    upload = chosen[0]
    try:
        await ctx.run(
            ctx.runtime.attach_evidence,
            record_id,
            kind,
            content,
            file_name=upload.filename or "file",
            media_type=upload.content_type or "application/octet-stream",
            actor=who.user,
        )
    except CommandError as exc:
        return await _refused(request, who, entity, record_id, exc, "upload")
    return _back(entity, record_id, "uploaded")


def _version(text: Any) -> int | None:
    try:
        return int(str(text)) if text not in (None, "") else None
    except ValueError:
        return None


@post(f"{PATH}/move", include_in_schema=False)
async def move_record(
    request: Request[Any, Any, Any], who: Who, entity: FromPath[str], record_id: FromPath[str]
) -> Template | Redirect:
    """Move the record as the API's transition does; a refusal lists every problem."""
    ctx = Ctx(request, entity, who=who)
    await ctx.record(record_id)
    form = await request.form()
    target = str(form.get("to") or "")
    try:
        await ctx.run(
            ctx.runtime.transition,
            record_id,
            target,
            actor=who.user,
            expected_version=_version(form.get("row_version")),
        )
    except CommandError as exc:
        return await _refused(request, who, entity, record_id, exc, "move")
    return _back(entity, record_id, "moved")


def _typed(kind: str, text: str) -> Any:
    """Read a form's text as a value of the field's type (ValueError when it is not one)."""
    if kind == "integer":
        return int(text)
    if kind == "decimal":
        float(text)  # refuses what is no number; the runtime keeps the exact text
        return text
    if kind == "boolean":
        if text not in ("yes", "no"):
            raise ValueError(text)
        return text == "yes"
    if kind in ("list", "multi_enum"):
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


@post(f"{PATH}/fields", include_in_schema=False)
async def save_fields(
    request: Request[Any, Any, Any], who: Who, entity: FromPath[str], record_id: FromPath[str]
) -> Template | Redirect:
    """Save the stage's required fields through the runtime's update (caller's write roles)."""
    ctx = Ctx(request, entity, who=who)
    await ctx.record(record_id)
    form = await request.form()
    typed = {k.removeprefix("f."): str(v) for k, v in form.items() if k.startswith("f.")}
    changes: dict[str, Any] = {}
    wrong = []
    for name, text in typed.items():
        spec = ctx.form.spec.fields.get(name)
        if spec is None or name in ctx.hidden:
            wrong.append(f"{name}: there is no such field")
            continue
        if not text.strip():
            continue  # left empty: unchanged
        try:
            changes[name] = _typed(spec.type, text.strip())
        except ValueError:
            wrong.append(f"{spec.title or name}: '{text}' is not a valid {spec.type}")
    if wrong or not changes:
        items = wrong or ["fill at least one field"]
        outcome = Outcome(422, "The fields were not saved", items, "fields", typed)
        return await render(request, who, entity, record_id, outcome=outcome)
    try:
        await ctx.run(
            ctx.runtime.update,
            record_id,
            changes,
            actor=who.user,
            expected_version=_version(form.get("row_version")),
        )
    except CommandError as exc:
        return await _refused(request, who, entity, record_id, exc, "fields", typed)
    return _back(entity, record_id, "saved")


ROUTES = [record_page, upload_evidence, move_record, save_fields]
