"""Keep what can be checked of a document with bad values: drop the bad parts, validate again.

A document with one bad value would otherwise be left out whole, hiding every other
problem of it (unknown fields, expressions...) until the first is fixed. Here the parts
pydantic refused are removed (a bad key, or the list item or named entry it sits in when
the key is required) and the rest is validated again, a few rounds at most. The result is
only ever checked, never built into a Bundle: its document already has errors.

The names of removed entries (a field, a stage, a user...) are returned so that the
compiler keeps quiet about references to them: those would only echo the first error.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from engine.compiler.parse import data_path, model_at, validate_document
from engine.diagnostics import Diagnostic
from engine.spec import KINDS, DocumentSpec
from engine.yamlsource import Document, Path

# Each round removes what the previous one refused; deeper chains than this are rare.
MAX_ROUNDS = 6
_NAME_KEYS = ("id", "name", "entity")


def parse_partial(
    doc: Document,
) -> tuple[DocumentSpec | None, list[Diagnostic], frozenset[str] | None]:
    """Return (spec, problems, dropped): dropped is None when the document had no bad value.

    With bad values, `spec` is what is left of the document once they are removed (None
    if nothing checkable is left) and `dropped` the names it no longer defines.
    """
    spec, problems, errors = validate_document(doc)
    if not errors or not isinstance(doc.data, dict):
        return spec, problems, None
    partial, dropped = recover(KINDS[doc.data["kind"]], doc.data, errors)
    return partial, problems, frozenset(dropped)


def recover(
    model: type[BaseModel], data: dict[str, Any], errors: list[ErrorDetails]
) -> tuple[DocumentSpec | None, set[str]]:
    """Return the document without its refused parts (None if nothing is left to check)."""
    work = copy.deepcopy(data)
    dropped: set[str] = set()
    for _ in range(MAX_ROUNDS):
        targets = set()
        for err in errors:
            path, _ = data_path(work, err["loc"])
            if err["type"] == "missing":
                path = path[:-1]  # the mapping that lacks a required key goes
            if not path or path[0] in ("kind", "version"):
                return None, dropped
            targets.add(path)
        for path in sorted(targets, key=_order, reverse=True):
            _remove(model, work, path, dropped)
        try:
            spec = model.model_validate(work)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            continue
        return (spec if isinstance(spec, DocumentSpec) else None), dropped
    return None, dropped


def _order(path: Path) -> tuple[tuple[int, int, str], ...]:
    """Sort key: later list items first, so removing one does not shift the next target."""
    return tuple((1, p, "") if isinstance(p, int) else (0, 0, p) for p in path)


def _remove(model: type[BaseModel], data: Any, path: Path, dropped: set[str]) -> None:
    """Remove the part at `path` (if still there); note the names it defined."""
    parent = data
    for part in path[:-1]:
        if not _has(parent, part):
            return  # already removed with an enclosing part
        parent = parent[part]
    last = path[-1]
    if not _has(parent, last):
        return
    node = parent.pop(last)
    if isinstance(parent, list):
        _note_names(node, dropped)  # a stage of a list, a role of a list of roles
    elif isinstance(last, str) and not _is_model_key(model, path):
        dropped.add(last)  # a named entry: fields.<name>, users.<id>, ...
        _note_names(node, dropped)


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _is_model_key(model: type[BaseModel], path: Path) -> bool:
    """Tell whether the last key of `path` is a key of a spec model (not a user's name)."""
    holder = model_at(model, path[:-1])
    if holder is None:
        return False
    return any(path[-1] in (n, f.alias) for n, f in holder.model_fields.items())


def _note_names(node: Any, dropped: set[str]) -> None:
    """Note the name a removed list item defined (a stage's id) or was (a role in a list)."""
    if isinstance(node, str):
        dropped.add(node)
    elif isinstance(node, dict):
        dropped.update(node[k] for k in _NAME_KEYS if isinstance(node.get(k), str))
