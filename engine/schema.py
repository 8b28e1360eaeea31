"""The JSON Schema (draft 2020-12) of definition files, generated from the spec models."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from engine.spec import KINDS, LANGUAGE_VERSION
from engine.spec.testing import TEST_KIND, TestSpec

SCHEMA_ID = "https://sopflow.dev/schema/definitions-v1.json"


def definition_schema() -> dict[str, Any]:
    """Return one schema that checks any definition document (or test) by its `kind`."""
    kinds: dict[str, type[Any]] = {**KINDS, TEST_KIND: TestSpec}
    _, top = models_json_schema(
        [(model, "validation") for model in kinds.values()],
        ref_template="#/$defs/{model}",
        by_alias=True,
    )
    branches = [
        {
            "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
            "then": {"$ref": f"#/$defs/{model.__name__}"},
        }
        for kind, model in kinds.items()
    ]
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "sopflow definition",
        "description": f"A sopflow definition document (language version {LANGUAGE_VERSION}).",
        "type": "object",
        "required": ["kind", "version"],
        "properties": {
            "kind": {"enum": list(kinds), "description": "What this document defines."},
            "version": {"const": LANGUAGE_VERSION, "description": "Language version."},
        },
        "allOf": branches,
        "$defs": top.get("$defs", {}),
    }
    _close_key_patterns(schema)
    return schema


def _close_key_patterns(node: Any) -> None:
    """Make mappings keyed by names refuse other keys, as the compiler does."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_key_patterns(value)
    elif isinstance(node, list):
        for value in node:
            _close_key_patterns(value)
