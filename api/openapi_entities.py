"""The concrete OpenAPI paths and schemas of each entity of the bundle being served.

Litestar documents the record routes generically (`/api/v1/records/{entity}`), with a
body of "any object". Each entity gets its own paths instead, built from the same
pydantic model that validates its records, with what the server enforces beyond it:

- `{Name}Input` (create, ingest): every field a caller may set (computed ones refused),
  required text not blank, no text holding NUL;
- `{Name}Changes` (the `data` of a PATCH): the same fields, none required, optional ones
  cleared by `null`;
- `{Name}` (a record as answered): the core columns (times with their offset) and
  `{Name}Data`, every field of the form, unset ones as `null`;
- the list route's filters: `field.<name>` typed as its field, `sort` as a pattern of
  the keys the server sorts on, `workflow` among the entity's workflows.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from engine.bundle import Bundle, CompiledForm
from runtime import queries
from runtime.data import INT64, form_model

RECORDS = "/api/v1/records"
INBOUND = "/api/v1/inbound/{name}"  # Litestar's generic path: one per declaration instead
GENERIC = (
    f"{RECORDS}/{{entity}}",
    f"{RECORDS}/{{entity}}/ingest",
    f"{RECORDS}/{{entity}}/{{record_id}}",
)
CORE = {
    "id": {"type": "string"},
    "entity": {"type": "string"},
    "workflow": {"type": ["string", "null"]},
    "stage": {"type": ["string", "null"]},
    "status": {"type": "string"},
    "owner": {"type": ["string", "null"]},
    "queue": {"type": ["string", "null"]},
    "row_version": {"type": "integer"},
    "schema_version": {"type": "integer"},
    "created_at": {"type": "string", "format": "date-time"},
    "updated_at": {"type": "string", "format": "date-time"},
    "stage_entered_at": {"type": ["string", "null"], "format": "date-time"},
    "read_only": {"type": "boolean"},
    "dedup_key": {"type": ["string", "null"]},
    "created_by": {"type": ["string", "null"]},
    "warnings": {"type": "array", "items": {"type": "object"}},
    "held_as": {  # listed with ?assignee=: what the users hold of the record
        "type": "array",
        "items": {"type": "string"},
    },
}
HELD = {
    "type": "object",
    "properties": {
        "user": {"type": ["string", "null"]},
        "queue": {"type": ["string", "null"]},
        "filled_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
NO_NUL = "^[^\\u0000]*$"  # PostgreSQL stores no NUL character (runtime/data.py)
NOT_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"  # a required text: some non-space
TEXT_FILTERS = queries.TEXT_TYPES - {"enum"}
FILTER_TYPES: dict[str, dict[str, Any]] = {
    "integer": {"type": "integer", "minimum": -INT64, "maximum": INT64},
    "decimal": {"type": "number", "minimum": -1e300, "maximum": 1e300},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}
EVIDENCE = {  # ids of files attached as this kind: none before they are attached
    "anyOf": [{"type": "array", "maxItems": 0}, {"type": "null"}],
    "description": "filled by attaching files (POST .../evidence); lists only their ids",
}
ERROR = {"$ref": "#/components/schemas/SopflowError"}


def title(entity: str) -> str:
    """Return an entity's component name (`replenishment_request` -> ReplenishmentRequest)."""
    return "".join(part.capitalize() for part in entity.replace("-", "_").split("_"))


def _hoist(schema: dict[str, Any], components: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Move pydantic's `$defs` into components (prefixed), rewriting the references."""
    defs = schema.pop("$defs", {})
    for name, sub in defs.items():
        components[f"{prefix}{name}"] = _rewrite(sub, prefix)
    return _rewrite(schema, prefix) if defs else schema


def _rewrite(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                v.replace("#/$defs/", f"#/components/schemas/{prefix}")
                if k == "$ref" and isinstance(v, str)
                else _rewrite(v, prefix)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(v, prefix) for v in node]
    return node


def _texts(node: Any, required: bool) -> None:
    """Constrain every string schema under `node`: no NUL, and not blank when `required`."""
    if isinstance(node, list):
        for item in node:
            _texts(item, required)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "string" and "enum" not in node and "format" not in node:
        # Each constraint in its own `allOf` part: the same meaning, and a generator
        # (hypothesis-jsonschema) no longer merges a pattern with a 100000-character
        # bound into one slow regex.
        parts = [
            {key: node.pop(key)} for key in ("minLength", "maxLength", "pattern") if key in node
        ]
        node["allOf"] = [*parts, {"pattern": NOT_BLANK if required else NO_NUL}]
    for key in ("anyOf", "oneOf", "items"):
        if key in node:
            _texts(node[key], required and key != "items")


def _bodies(form: CompiledForm, strict: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the create schema and the changes schema of a form."""
    computed = set(form.computed)
    required = {n for n, s in form.spec.fields.items() if s.required and n not in computed}
    create = copy.deepcopy(strict)
    create["properties"] = {
        n: p for n, p in create.get("properties", {}).items() if n not in computed
    }
    for name, prop in create["properties"].items():
        prop.pop("default", None)
        _texts(prop, name in required)
        spec = form.spec.fields[name]
        if spec.type == "evidence":
            create["properties"][name] = EVIDENCE
        elif spec.type == "ref":
            prop["description"] = f"the id of a {spec.to} record (one the store holds)"
    create["required"] = [n for n in strict.get("required", []) if n in required]
    changes = copy.deepcopy(create)
    changes.pop("required", None)
    return create, changes


def _data(form: CompiledForm, strict: dict[str, Any]) -> dict[str, Any]:
    """Return the schema of a record's `data` as answered: every field, unset ones null."""
    props = {}
    for name, prop in copy.deepcopy(strict.get("properties", {})).items():
        prop.pop("default", None)
        props[name] = prop if "anyOf" in prop else {"anyOf": [prop, {"type": "null"}]}
        _loosen(props[name])
    return {"type": "object", "properties": props, "description": f"fields of {form.spec.entity}"}


def _loosen(node: Any) -> None:
    """Drop input-only constraints from an answer's schema (old records may not fit)."""
    if isinstance(node, list):
        for item in node:
            _loosen(item)
    elif isinstance(node, dict):
        for key in ("minLength", "maxLength", "pattern", "minimum", "maximum", "minItems"):
            node.pop(key, None)
        for key in ("anyOf", "items"):
            if key in node:
                _loosen(node[key])


def _responses(ok: str, schema: dict[str, Any], *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        ok: {"description": "OK", "content": {"application/json": {"schema": schema}}}
    }
    for status in errors:
        out[str(status)] = {
            "description": "Error",
            "content": {"application/json": {"schema": ERROR}},
        }
    return out


def _sort_pattern(form: CompiledForm) -> str:
    """Return a pattern of `sort`: comma-separated keys, each maybe `-` (descending)."""
    fields = [
        f"field\\.{re.escape(n)}"
        for n, s in form.spec.fields.items()
        if s.type not in queries.LIST_TYPES
    ]
    key = f"-?({'|'.join([*queries.CORE_SORTS, *fields])})"
    return f"^{key}(,{key})*$"


def _filters(form: CompiledForm, workflows: list[str]) -> list[dict[str, Any]]:
    """Return the query parameters of the list route: paging, sort, core and field filters."""
    many = {"type": "array", "items": {"type": "string", "pattern": NO_NUL}}
    params: list[dict[str, Any]] = [
        _query("limit", {"type": "integer", "minimum": 1, "maximum": queries.MAX_LIMIT}),
        _query("offset", {"type": "integer", "minimum": 0, "maximum": 1_000_000_000}),
        _query("sort", {"type": "string", "pattern": _sort_pattern(form)}),
        *(_query(name, many, explode=True) for name in queries.CORE_FILTERS if name != "workflow"),
        _query(
            "workflow",
            {"type": "array", "items": {"type": "string", **_enum(workflows)}},
            explode=True,
        ),
        *(
            _query(name, {"type": "string", "format": "date-time"})
            for name in ("created_from", "created_to", "updated_from", "updated_to")
        ),
    ]
    for name, spec in form.spec.fields.items():
        if spec.type == "enum":
            schema: dict[str, Any] = {"type": "string", **_enum(queries.enum_values(form, name))}
        elif spec.type in TEXT_FILTERS:
            schema = {"type": "string", "pattern": NO_NUL}
        elif spec.type in FILTER_TYPES:
            schema = dict(FILTER_TYPES[spec.type])
        else:
            continue  # a list has no equality filter
        params.append(_query(f"field.{name}", schema, description=f"records whose {name} equals"))
        if spec.type in queries.RANGE_TYPES:
            bound = {"type": "string", "format": "date"} if spec.type == "date" else schema
            if spec.type == "datetime":  # a date alone: from its midnight, to its end (UTC)
                bound = {"type": "string", "pattern": NO_NUL}
            for end, word in (("from", "at least"), ("to", "at most")):
                params.append(
                    _query(
                        f"field.{name}.{end}",
                        bound,
                        description=f"records whose {name} is {word} this (included)",
                    )
                )
    return params


def _enum(values: Any) -> dict[str, Any]:
    return {"enum": list(values)} if values else {}


def _query(name: str, schema: dict[str, Any], **more: Any) -> dict[str, Any]:
    explode = more.pop("explode", None)
    param = {"name": name, "in": "query", "required": False, "schema": schema, **more}
    if explode:
        param["style"], param["explode"] = "form", True
    return param


def entity_parts(bundle: Bundle) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (paths, component schemas) for every entity of `bundle`."""
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for entity in sorted(bundle.forms):
        name = title(entity)
        form = bundle.forms[entity]
        model = form_model(bundle, entity)
        strict = _hoist(model.strict.model_json_schema(), components, name)
        create, changes = _bodies(form, strict)
        components[f"{name}Input"] = {**create, "title": f"{name}Input"}
        components[f"{name}Changes"] = {**changes, "title": f"{name}Changes"}
        components[f"{name}Data"] = {**_data(form, strict), "title": f"{name}Data"}
        components[name] = {
            "title": name,
            "type": "object",
            "description": model.spec.title or entity,
            "properties": {
                **CORE,
                "data": {"$ref": f"#/components/schemas/{name}Data"},
                **_assignments(form.spec.assignments),
            },
            "required": [
                "id",
                "entity",
                "status",
                "row_version",
                "schema_version",
                "created_at",
                "updated_at",
                "data",
            ],
        }
        record = {"$ref": f"#/components/schemas/{name}"}
        body = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{name}Input"}}
            },
        }
        page = {
            "type": "object",
            "required": ["items", "total", "next"],
            "properties": {
                "items": {"type": "array", "items": record},
                "total": {"type": "integer"},
                "next": {"type": ["integer", "null"]},
            },
        }
        tag = [f"records: {entity}"]
        workflows = sorted(w for w, wf in bundle.workflows.items() if wf.entity == entity)
        paths[f"{RECORDS}/{entity}"] = {
            "post": {
                "tags": tag,
                "summary": f"Create a {entity}",
                "operationId": f"create_{entity}",
                "parameters": [
                    _query(
                        "workflow",
                        {"type": "string", "enum": workflows},
                        description="The workflow to start; it must apply to the record "
                        "(its `applies_when` holds for the values sent), else 422 "
                        "`workflow-not-applicable`. Without it, the first that applies.",
                    )
                ]
                if workflows
                else [],
                "requestBody": body,
                "responses": _responses("201", record, 403, 404, 409, 422),
            },
            "get": {
                "tags": tag,
                "summary": f"List {entity} records",
                "description": (
                    "Filters and sort keys name the fields the caller may read: one it may "
                    "not is a 400, as for a field the form does not have."
                ),
                "operationId": f"list_{entity}",
                "parameters": _filters(form, workflows),
                "responses": _responses("200", page, 403, 404),
            },
        }
        if form.spec.key:
            outcome = {
                "type": "object",
                "required": ["outcome", "record"],
                "properties": {"outcome": {"enum": ["created", "merged"]}, "record": record},
            }
            responses = _responses("200", outcome, 403, 404, 409, 422)
            responses["201"] = responses["200"]
            paths[f"{RECORDS}/{entity}/ingest"] = {
                "post": {
                    "tags": tag,
                    "summary": f"Create a {entity}, or merge into the one with its key",
                    "operationId": f"ingest_{entity}",
                    "requestBody": body,
                    "responses": responses,
                }
            }
        changes_body = {
            "type": "object",
            "additionalProperties": False,
            "required": ["row_version", "data"],
            "properties": {
                "row_version": {"type": "integer", "minimum": -INT64, "maximum": INT64},
                "data": {"$ref": f"#/components/schemas/{name}Changes"},
            },
        }
        paths[f"{RECORDS}/{entity}/{{record_id}}"] = {
            "parameters": [
                {"name": "record_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "tags": tag,
                "summary": f"Read a {entity}",
                "operationId": f"get_{entity}",
                "responses": _responses("200", record, 403, 404),
            },
            "patch": {
                "tags": tag,
                "summary": f"Change a {entity} (row version checked)",
                "operationId": f"update_{entity}",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": changes_body}},
                },
                "responses": _responses("200", record, 403, 404, 409, 422),
            },
        }
    return paths, components


def inbound_parts(
    bundle: Bundle, generic: dict[str, Any] | None, components: dict[str, Any]
) -> dict[str, Any]:
    """Return a path per inbound declaration: its body holds the declared fields only.

    `generic` is Litestar's operation of the generic route (its answers); `components`
    holds each entity's `{Name}Input`, whose field schemas the bodies reuse.
    """
    paths: dict[str, Any] = {}
    for name, spec in sorted(bundle.manifest.inbound.items()):
        entity_input = components.get(f"{title(spec.entity)}Input", {})
        props = entity_input.get("properties", {})
        form = bundle.forms[spec.entity]
        schema = {
            "title": f"Inbound{title(name)}",
            "type": "object",
            "description": f"the fields inbound '{name}' may set on a {spec.entity}",
            "additionalProperties": False,
            "properties": {f: copy.deepcopy(props[f]) for f in spec.fields if f in props},
            "required": [k for k in form.spec.key if k in spec.fields],
        }
        operation = copy.deepcopy(generic or {})
        operation.pop("requestBody", None)
        operation.update(
            {
                "tags": [f"records: {spec.entity}"],
                "summary": spec.title or f"Push {spec.entity} records ({name})",
                "description": (
                    f"Signed webhook (no token): create a {spec.entity}, or merge into the "
                    f"one with its key, as `inbound:{name}`. Sign with HMAC-SHA256 of "
                    f"`<timestamp>.<raw body>` under the secret in "
                    f"{spec.secret_variable(name)}; unset, the path answers 404."
                ),
                "operationId": f"inbound_{name}",
                "parameters": [
                    _header("X-Sopflow-Timestamp", "Unix seconds, within 300 of the server's"),
                    _header("X-Sopflow-Signature", "sha256=<hex HMAC-SHA256>"),
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": schema}},
                },
            }
        )
        outcome = {
            "type": "object",
            "required": ["outcome", "id"],
            "properties": {
                "outcome": {"enum": ["created", "merged"]},
                "id": {"type": "string"},
            },
        }
        responses = operation.setdefault("responses", {})
        for ok in ("200", "201"):
            responses[ok] = {
                "description": "Created" if ok == "201" else "Merged",
                "content": {"application/json": {"schema": outcome}},
            }
        paths[f"/api/v1/inbound/{name}"] = {"post": operation}
    return paths


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _assignments(named: Any) -> dict[str, Any]:
    """Return the `assignments` property of an entity with named assignments (else none)."""
    if not named:
        return {}
    return {
        "assignments": {
            "type": "object",
            "description": "Named assignments: who holds each, or the queue it waits in.",
            "properties": {n: HELD for n in named},
        }
    }
