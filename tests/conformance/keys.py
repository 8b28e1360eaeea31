"""Which language keys a bundle uses, and which every conformance case claims to show.

A key is named `Model.key` after the key tables of docs/language.md (`SlaSpec.within`).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from engine.compiler.pipeline import discover
from engine.spec import KINDS
from engine.spec.testing import is_test
from engine.yamlsource import load_documents

Key = tuple[str, str]


def _parts(annotation: Any) -> Iterator[Any]:
    """Yield the alternatives of an annotation (through Annotated and unions)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _parts(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _parts(arg)
    else:
        yield annotation


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def _fits(model: type[BaseModel], data: dict[Any, Any]) -> bool:
    """Tell whether a mapping is written for `model` (extras only where it allows them)."""
    fields = set(_fields(model))
    if set(data) <= fields:
        return True
    return model.model_config.get("extra") == "allow" and bool(set(data) & fields)


def used_keys(data: Any, annotation: Any) -> set[Key]:
    """Return the (model, key) pairs a value written for `annotation` uses."""
    found: set[Key] = set()
    options = list(_parts(annotation))
    if isinstance(data, dict):
        models = [o for o in options if isinstance(o, type) and issubclass(o, BaseModel)]
        fitting = [m for m in models if _fits(m, data)]
        if fitting:
            model = fitting[0]
            fields = _fields(model)
            for key, value in data.items():
                if key not in fields:
                    continue  # an extra a model allows (a user's attributes): not a key
                found.add((model.__name__, key))
                found |= used_keys(value, fields[key])
            return found
        for option in options:
            if typing.get_origin(option) is dict:
                value_type = typing.get_args(option)[1]
                for value in data.values():
                    found |= used_keys(value, value_type)
                return found
    if isinstance(data, list):
        for option in options:
            if typing.get_origin(option) in (list, tuple):
                item = typing.get_args(option)[0]
                for value in data:
                    found |= used_keys(value, item)
                return found
    return found


def bundle_keys(root: Path) -> set[Key]:
    """Return every (model, key) the definitions under `root` use."""
    found: set[Key] = set()
    for path in discover(root):
        docs, _ = load_documents(str(path), path.read_bytes())
        for doc in docs:
            if is_test(doc) or not isinstance(doc.data, dict):
                continue
            model = KINDS.get(str(doc.data.get("kind")))
            if model is not None:
                found |= used_keys(doc.data, model)
    return found


def bundles_under(root: Path) -> list[Path]:
    """Return every folder under `root` that holds a bundle (a bundle.yaml)."""
    return sorted(p.parent for p in root.rglob("bundle.yaml"))
