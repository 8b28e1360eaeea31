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
from dataclasses import replace
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
) -> tuple[DocumentSpec | None, list[Diagnostic], frozenset[str] | None, Document]:
    """Return (spec, problems, dropped, doc); dropped is None when no value was bad.

    With bad values, `spec` is what is left of the document once they are removed (None
    if nothing checkable is left), `dropped` the names it no longer defines, and `doc`
    the document with positions renumbered to the spec's lists (items were removed).
    """
    spec, problems, errors = validate_document(doc)
    if not errors or not isinstance(doc.data, dict):
        return spec, problems, None, doc
    removed: dict[Path, set[int]] = {}
    partial, dropped = recover(KINDS[doc.data["kind"]], doc.data, errors, removed)
    return partial, problems, frozenset(dropped), _renumbered(doc, removed)


def recover(
    model: type[BaseModel],
    data: dict[str, Any],
    errors: list[ErrorDetails],
    removed: dict[Path, set[int]] | None = None,
) -> tuple[DocumentSpec | None, set[str]]:
    """Return the document without its refused parts (None if nothing is left to check).

    `removed` collects the list items taken out: list path -> original indices.
    """
    work = copy.deepcopy(data)
    dropped: set[str] = set()
    gone: dict[Path, set[int]] = {} if removed is None else removed
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
            _remove(model, work, path, dropped, gone)
        try:
            spec = model.model_validate(work)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            continue
        return (spec if isinstance(spec, DocumentSpec) else None), dropped
    return None, dropped


def _original(path: Path, removed: dict[Path, set[int]]) -> Path:
    """Turn a path in the pruned data into the same part's path in the document."""
    out: list[str | int] = []
    for part in path:
        if isinstance(part, int):
            shifted = part
            for index in sorted(removed.get(tuple(out), ())):
                if index <= shifted:
                    shifted += 1
            out.append(shifted)
        else:
            out.append(part)
    return tuple(out)


def _renumbered(doc: Document, removed: dict[Path, set[int]]) -> Document:
    """Return `doc` with its positions keyed by the pruned data's paths."""
    if not removed:
        return doc

    def pruned(path: Path) -> Path | None:
        out: list[str | int] = []
        for i, part in enumerate(path):
            gone = removed.get(path[:i])
            if isinstance(part, int) and gone:
                if part in gone:
                    return None
                out.append(part - sum(1 for index in gone if index < part))
            else:
                out.append(part)
        return tuple(out)

    values = {p: m for path, m in doc.values.items() if (p := pruned(path)) is not None}
    keys = {p: m for path, m in doc.keys.items() if (p := pruned(path)) is not None}
    return replace(doc, values=values, keys=keys)


# The renumbering is also used when a structural template leaves list items out of an
# instance (engine.compiler.include_if).
renumbered = _renumbered


def _order(path: Path) -> tuple[tuple[int, int, str], ...]:
    """Sort key: later list items first, so removing one does not shift the next target."""
    return tuple((1, p, "") if isinstance(p, int) else (0, 0, p) for p in path)


def _remove(
    model: type[BaseModel],
    data: Any,
    path: Path,
    dropped: set[str],
    removed: dict[Path, set[int]],
) -> None:
    """Remove the part at `path` (if still there); note the names it defined."""
    parent = data
    for part in path[:-1]:
        if not _has(parent, part):
            return  # already removed with an enclosing part
        parent = parent[part]
    last = path[-1]
    if not _has(parent, last):
        return
    if isinstance(parent, list) and isinstance(last, int):  # a stage, a role of a list
        where = _original(path, removed)
        removed.setdefault(where[:-1], set()).add(int(where[-1]))
        _note_names(parent.pop(last), dropped)
        return
    node = parent.pop(last)
    if isinstance(last, str) and not _is_model_key(model, path):
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


def defined_names(data: dict[str, Any]) -> set[str]:
    """Return what a document that failed to parse defined, so references to it stay quiet."""
    kind = data.get("kind")
    names = {str(kind)}
    for key in ("name", "entity"):
        if isinstance(data.get(key), str):
            names.add(data[key])
    if kind in ("bundle", "staff"):
        for key in ("roles", "users", "teams", "queues", "tables", "calendars"):
            if isinstance(data.get(key), (dict, list)):
                names.update(str(k) for k in data[key])
    return names
