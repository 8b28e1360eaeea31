"""OpenAPI 3.1: Litestar's schema of the routes, plus the current bundle's entities.

Litestar generates the schema of every route (generic paths such as
`/api/v1/records/{entity}`). After start-up and after every reload, each entity of the
bundle being served gets its own concrete paths and component schemas, built from the
same pydantic models that validate its records, so a client generator sees the real
fields, types, enums and required fields of *this* bundle.
"""

from __future__ import annotations

import copy
from typing import Any

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin

from engine.bundle import Bundle
from runtime.data import form_model

RECORDS = "/api/v1/records"
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
}
ERROR = {"$ref": "#/components/schemas/SopflowError"}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["status_code", "detail", "extra"],
    "properties": {
        "status_code": {"type": "integer"},
        "detail": {"type": "string"},
        "extra": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "message", "source"],
                "properties": {
                    "key": {"type": "string"},
                    "message": {"type": "string"},
                    "source": {"type": "string"},
                },
            },
        },
    },
}


def _title(entity: str) -> str:
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


def _responses(ok: str, schema: dict[str, Any], *errors: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        ok: {"description": "OK", "content": {"application/json": {"schema": schema}}}
    }
    for status in errors:
        out[status] = {"description": "Error", "content": {"application/json": {"schema": ERROR}}}
    return out


def entity_parts(bundle: Bundle) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (paths, component schemas) for every entity of `bundle`."""
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for entity in sorted(bundle.forms):
        name = _title(entity)
        model = form_model(bundle, entity)
        data = _hoist(model.strict.model_json_schema(), components, name)
        data["title"] = f"{name}Input"
        components[f"{name}Input"] = data
        components[name] = {
            "title": name,
            "type": "object",
            "description": model.spec.title or entity,
            "properties": {
                **CORE,
                "data": {"$ref": f"#/components/schemas/{name}Input"},
            },
            "required": ["id", "entity", "status", "row_version", "data"],
        }
        record = {"$ref": f"#/components/schemas/{name}"}
        page = {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": record},
                "total": {"type": "integer"},
                "next": {"type": ["string", "integer", "null"]},
            },
        }
        tag = [f"records: {entity}"]
        paths[f"{RECORDS}/{entity}"] = {
            "post": {
                "tags": tag,
                "summary": f"Create a {entity}",
                "operationId": f"create_{entity}",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{name}Input"}
                        }
                    },
                },
                "responses": _responses("201", record, "400", "403", "422"),
            },
            "get": {
                "tags": tag,
                "summary": f"List {entity} records",
                "operationId": f"list_{entity}",
                "responses": _responses("200", page, "400", "403"),
            },
        }
        paths[f"{RECORDS}/{entity}/{{id}}"] = {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "tags": tag,
                "summary": f"Read a {entity}",
                "operationId": f"get_{entity}",
                "responses": _responses("200", record, "403", "404"),
            },
            "patch": {
                "tags": tag,
                "summary": f"Change a {entity} (row version checked)",
                "operationId": f"update_{entity}",
                "responses": _responses("200", record, "400", "403", "404", "409", "422"),
            },
        }
    components["SopflowError"] = ERROR_SCHEMA
    return paths, components


class Follower:
    """Rebuilds the app's OpenAPI document when the bundle changes."""

    def __init__(self, app: Litestar) -> None:
        self.plugin = app.plugins.get(OpenAPIPlugin)
        self._base: dict[str, Any] | None = None

    def __call__(self, bundle: Bundle) -> None:
        if self._base is None:
            self._base = self.plugin.provide_openapi().to_schema()
        document = copy.deepcopy(self._base)
        paths, components = entity_parts(bundle)
        document.setdefault("paths", {}).update(paths)
        document.setdefault("components", {}).setdefault("schemas", {}).update(components)
        info = document.setdefault("info", {})
        info["description"] = (
            f"{info.get('description', '')} Bundle '{bundle.manifest.name}', "
            f"version {bundle.hash[:12]}."
        ).strip()
        # Litestar serves /schema/openapi.json from this cache; replacing it is one
        # reference assignment, so a request sees either the old or the new document.
        self.plugin._openapi_schema = document


def follow(app: Litestar, server: Any) -> None:
    """Keep the app's OpenAPI document in step with the server's bundle."""
    follower = Follower(app)
    server.listeners.append(follower)
    if server.bundle is not None:
        follower(server.bundle)
