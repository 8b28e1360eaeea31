"""OpenAPI 3.1: Litestar's schema of the routes, made to tell the truth, plus the entities.

Litestar generates the schema of every route. `tidy` then documents what every route
shares (api/auth.py, api/errors.py): 401 and 503 on each authenticated route, 400 where
parameters or a body are read, 413 where a body is; every error answer has the one
error shape (`SopflowError`). A route documents its own errors in its decorator with
`responses=errors(403, 404, ...)`.

After start-up and after every reload, each entity of the bundle being served gets its
own concrete paths and schemas (api/openapi_entities.py) in place of the generic record
routes, and the names a path or body must use (entities, roles, users) are filled in.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.datastructures import ResponseSpec

from api.auth import PUBLIC
from api.openapi_entities import GENERIC, INBOUND, entity_parts, inbound_parts
from engine.bundle import Bundle
from runtime.access import USER_ID
from runtime.alerts import VERDICTS
from runtime.data import INT64

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DESCRIPTIONS = {
    400: "The request is malformed: a parameter or the body does not fit (`extra` says which)",
    401: "No token, or an unknown or revoked one",
    403: "The caller's roles may not do this",
    404: "No such thing (entity, record, queue, alert, metric...), or the caller may not see it",
    409: "The row version moved on (`current` is the record now), or the thing exists already",
    413: "The body is larger than the server takes",
    422: "Well formed, but refused: every broken rule or requirement is in `extra`",
    503: "No bundle is loaded (see /readyz)",
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


@dataclass
class SopflowError:
    """The one error shape (api/errors.py); its schema is ERROR_SCHEMA."""

    status_code: int
    detail: str
    extra: list[dict[str, Any]] = field(default_factory=list)


ENUMS = {("Feedback", "verdict"): VERDICTS}  # checked by the runtime, not by the Struct
_NAME = {"type": "string", "pattern": "^[^\\u0000]*$"}
ASSIGN = {
    "type": "object",
    "description": "Exactly one of `user`, `queue` or `routing`; `row_version` if read",
    "additionalProperties": False,
    "properties": {
        "user": _NAME,
        "queue": _NAME,
        "routing": _NAME,
        "row_version": {"type": ["integer", "null"], "minimum": -INT64, "maximum": INT64},
    },
    "oneOf": [{"required": [key]} for key in ("user", "queue", "routing")],
}


def errors(*codes: int) -> dict[int, ResponseSpec]:
    """Return a route's own error answers, for its decorator's `responses=`."""
    return {
        code: ResponseSpec(
            data_container=SopflowError, description=DESCRIPTIONS[code], generate_examples=False
        )
        for code in codes
    }


def _error(code: int, description: str | None = None) -> dict[str, Any]:
    text = description or DESCRIPTIONS.get(code, "Error")
    return {"description": text, "content": {"application/json": {"schema": ERROR}}}


def _public(path: str) -> bool:
    return any(re.match(pattern, path) for pattern in PUBLIC)


def _exact(node: Any) -> Any:
    """Write integral bounds as integers (Litestar writes floats: 9.223372036854776e18)."""
    if isinstance(node, dict):
        out = {k: _exact(v) for k, v in node.items()}
        for key in ("minimum", "maximum"):
            value = out.get(key)
            if isinstance(value, float) and value.is_integer():
                out[key] = INT64 if value == float(INT64) else int(value)
        return out
    if isinstance(node, list):
        return [_exact(v) for v in node]
    return node


# Answers in more than one media type (Litestar documents one per status code).
TEXT_ANSWERS = {
    ("/api/v1/metrics/evaluation-failures", "get"): "text/plain",  # ?format=prometheus
}


def tidy(document: dict[str, Any]) -> dict[str, Any]:
    """Return Litestar's document with the shared error answers and the one error shape."""
    document = _exact(document)
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is not None:
                _operation(path, operation, bool(item.get("parameters")))
                text = TEXT_ANSWERS.get((path, method))
                ok = operation["responses"].get("200")
                if text is not None and ok is not None:
                    ok.setdefault("content", {})[text] = {"schema": {"type": "string"}}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["SopflowError"] = ERROR_SCHEMA
    for name in _body_schemas(document):
        # Request bodies are msgspec Structs with forbid_unknown_fields: say so.
        schemas[name].setdefault("additionalProperties", False)
    if "AssignRequest" in schemas:
        schemas["AssignRequest"] = ASSIGN
    for (component, prop), values in ENUMS.items():
        if component in schemas:
            schemas[component]["properties"][prop] = {"type": "string", "enum": list(values)}
    return document


def _body_schemas(document: dict[str, Any]) -> set[str]:
    """Return the component names request bodies refer to."""
    found = set()
    for item in document.get("paths", {}).values():
        for method in METHODS:
            content = item.get(method, {}).get("requestBody", {}).get("content", {})
            for media in content.values():
                schema = media.get("schema", {})
                # `Struct | None` bodies are a oneOf of the Struct and null
                for part in [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]:
                    ref = part.get("$ref", "")
                    if ref.startswith("#/components/schemas/"):
                        found.add(ref.rsplit("/", 1)[1])
    return found


def _operation(path: str, operation: dict[str, Any], shared_params: bool) -> None:
    responses = operation.setdefault("responses", {})
    if _public(path):  # health checks answer in their own shape
        return
    codes = {int(c) for c in responses if c.isdigit() and int(c) >= 400} | {401, 503}
    if operation.get("parameters") or shared_params or operation.get("requestBody"):
        codes.add(400)
    if operation.get("requestBody"):
        codes.add(413)
    for code in sorted(codes):
        responses[str(code)] = _error(code, responses.get(str(code), {}).get("description"))
    operation["responses"] = dict(sorted(responses.items()))


VALIDATE = {
    "required": True,
    "description": (
        "Definition files by path (JSON). A zip of the folder is taken too, as the body "
        "(`application/zip`) or as the multipart field `file`."
    ),
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "additionalProperties": False,
                "properties": {
                    "files": {
                        "type": "object",
                        "minProperties": 1,
                        "maxProperties": 1000,
                        "propertyNames": {"pattern": "^([a-z_]+/)?[A-Za-z0-9_-]{1,64}\\.ya?ml$"},
                        "additionalProperties": {"type": "string", "maxLength": 2 * 1024 * 1024},
                    }
                },
            }
        }
    },
}
BODIES = {("/api/v1/definitions/validate", "post"): VALIDATE}


def for_bundle(base: dict[str, Any], bundle: Bundle) -> dict[str, Any]:
    """Return the document of `bundle`: `base` with its entities and names filled in."""
    document = copy.deepcopy(base)
    paths = document.setdefault("paths", {})
    for generic in GENERIC:
        paths.pop(generic, None)
    generic_inbound = paths.pop(INBOUND, {}).get("post")
    entities, components = entity_parts(bundle)
    paths.update(entities)
    paths.update(inbound_parts(bundle, generic_inbound, components))
    document["components"].setdefault("schemas", {}).update(components)
    names = _names(bundle)
    for item in paths.values():
        for method in METHODS:
            if method in item:
                for param in item[method].get("parameters", []):
                    wanted = names.get((param["in"], param["name"]))
                    if wanted is not None:
                        param["schema"] = wanted
    _bodies(document["components"]["schemas"], bundle)
    for (path, method), request_body in BODIES.items():
        if method in paths.get(path, {}):
            paths[path][method]["requestBody"] = request_body
    document = tidy(document)
    info = document.setdefault("info", {})
    info["description"] = (
        f"{info.get('description', '')} Bundle '{bundle.manifest.name}', "
        f"version {bundle.hash[:12]}."
    ).strip()
    return document


def _names(bundle: Bundle) -> dict[tuple[str, str], dict[str, Any]]:
    """Return the schema of parameters that name something of the bundle."""
    return {("path", "entity"): {"type": "string", "enum": sorted(bundle.forms)}}


def _bodies(schemas: dict[str, Any], bundle: Bundle) -> None:
    """Fill in the names a request body must use (roles of an API user)."""
    user = schemas.get("UserRequest")
    if user is not None:
        props = user.setdefault("properties", {})
        roles = {"type": "string", "enum": sorted(bundle.manifest.roles)}
        props["roles"] = {"type": "array", "minItems": 1, "items": roles}
        props["id"] = {
            "type": "string",
            "pattern": USER_ID,
            "not": {"enum": sorted(bundle.manifest.users)},
            "description": "an id no bundle user has",
        }


class Follower:
    """Rebuilds the app's OpenAPI document when the bundle changes."""

    def __init__(self, app: Litestar) -> None:
        self.plugin = app.plugins.get(OpenAPIPlugin)
        self._base: dict[str, Any] | None = None

    def __call__(self, bundle: Bundle) -> None:
        if self._base is None:
            self._base = self.plugin.provide_openapi().to_schema()
        # Litestar serves /schema/openapi.json from this cache; replacing it is one
        # reference assignment, so a request sees either the old or the new document.
        self.plugin._openapi_schema = for_bundle(self._base, bundle)


def follow(app: Litestar, server: Any) -> None:
    """Keep the app's OpenAPI document in step with the server's bundle."""
    follower = Follower(app)
    server.listeners.append(follower)
    if server.bundle is not None:
        follower(server.bundle)
