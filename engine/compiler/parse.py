"""Turn one YAML document into its spec model, translating pydantic errors into diagnostics."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from engine.diagnostics import Diagnostic, shorten
from engine.spec import KINDS, LANGUAGE_VERSION, DocumentSpec
from engine.suggest import did_you_mean
from engine.yamlsource import Document, Path

_PHRASES = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "date_type": "must be a date like 2026-01-31",
    "date_parsing": "must be a date like 2026-01-31",
    "date_from_datetime_parsing": "must be a date like 2026-01-31",
    "date_from_datetime_inexact": "must be a date like 2026-01-31",
    "none_required": "must be empty",
}
_SHAPE_ERRORS = {
    "model_type",
    "dict_type",
    "model_attributes_type",
    "list_type",
    "string_type",
    "literal_error",
}
_BOUNDS = {
    "greater_than_equal": ("must be at least", "ge"),
    "greater_than": ("must be more than", "gt"),
    "less_than_equal": ("must be at most", "le"),
    "less_than": ("must be less than", "lt"),
    "too_short": ("needs at least this many items:", "min_length"),
    "too_long": ("allows at most this many items:", "max_length"),
    "string_too_long": ("allows at most this many characters:", "max_length"),
    "string_too_short": ("needs at least this many characters:", "min_length"),
}
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _name_of(doc: Document) -> str:
    data = doc.data if isinstance(doc.data, dict) else {}
    return str(data.get("name") or data.get("entity") or "?")


_SCALAR_TAGS = {"str", "int", "float", "bool", "date", "datetime", "none", "dict", "list", "tuple"}


def _is_union_tag(part: str) -> bool:
    """Tell pydantic's union-branch labels (`literal[...]`, `NormalizerSpec`) from data keys."""
    return "[" in part or part[:1].isupper() or part in _SCALAR_TAGS


def _unwrap(annotation: Any) -> list[Any]:
    """Return the concrete types inside Optional/Union/Annotated/list/dict wrappers."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def model_at(model: type[BaseModel], loc: Path) -> type[BaseModel] | None:
    """Follow a data path through the model's fields to the model that holds the last key."""
    current: Any = model
    for part in loc:
        candidates = _unwrap(current)
        nxt = None
        for cand in candidates:
            origin = typing.get_origin(cand)
            if isinstance(cand, type) and issubclass(cand, BaseModel) and isinstance(part, str):
                field = next(
                    (f for n, f in cand.model_fields.items() if part in (n, f.alias)), None
                )
                if field is not None:
                    nxt = field.annotation
            elif origin in (list, tuple) and isinstance(part, int):
                nxt = typing.get_args(cand)[0]
            elif origin is dict and isinstance(part, str):
                nxt = typing.get_args(cand)[1]
            if nxt is not None:
                break
        if nxt is None:
            return None
        current = nxt
    return next(
        (c for c in _unwrap(current) if isinstance(c, type) and issubclass(c, BaseModel)), None
    )


def _keys_of(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _has(node: Any, part: str | int) -> bool:
    """Tell whether `part` is a key (or index) present in `node`."""
    if isinstance(node, dict):
        return isinstance(part, str) and part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def data_path(data: Any, loc: tuple[int | str, ...]) -> tuple[Path, bool]:
    """Drop loc parts that are not in the data (union branch tags); report if any were."""
    path: list[str | int] = []
    node = data
    dropped = False
    for part in loc:
        if _has(node, part):
            node = node[part]
        elif isinstance(part, str) and _is_union_tag(part):
            dropped = True
            continue
        elif isinstance(node, (dict, list)) or not isinstance(part, str):
            # A key that is absent (missing/extra) ends the path here.
            path.append(part)
            node = None
            continue
        else:
            dropped = True
            continue
        path.append(part)
    return tuple(path), dropped


def _where(kind: str, path: Path) -> str:
    shown = ""
    for part in path:
        if isinstance(part, int):
            shown += f"[{part}]"
        elif not _PLAIN_KEY.match(part):
            shown += f'["{part}"]'
        else:
            shown += f".{part}" if shown else part
    return f"'{shown}'" if shown else kind


def _quoted(value: object) -> str:
    """Show an input in a message: text in quotes, other values as written."""
    if value is None:
        return "nothing"
    return f"'{shorten(value)}'" if isinstance(value, str) else shorten(value)


def _at_named_key(doc: Document, path: Path, message: str) -> Path:
    """Point a whole-mapping error at the last key it names that the mapping holds."""
    node = doc.data
    for part in path:
        node = node[part] if _has(node, part) else None
    if not isinstance(node, dict):
        return path
    named = [k for k in re.findall(r"'([a-z_]+)'", message) if k in node]
    if not named:
        return path
    return max(((*path, k) for k in named), key=lambda p: doc.locate(p, key=True))


def _translate(doc: Document, kind: str, model: type[BaseModel], err: ErrorDetails) -> Diagnostic:
    path, _ = data_path(doc.data, err["loc"])
    kind_type, ctx = err["type"], err.get("ctx") or {}
    if kind_type == "missing":
        parent = path[:-1]
        where = _where(kind, parent)
        return doc.diagnostic(
            parent, "missing-key", f"{where} is missing required key '{path[-1]}'"
        )
    if kind_type == "extra_forbidden":
        key = str(path[-1])
        allowed = _keys_of(model_at(model, path[:-1]))
        hint = did_you_mean(key, allowed) or (
            f"allowed keys: {', '.join(allowed)}" if allowed else ""
        )
        return doc.diagnostic(
            path,
            "unknown-key",
            f"unknown key '{shorten(key)}' in {_where(kind, path[:-1])}",
            hint,
            key=True,
        )
    shown = _quoted(err["input"])
    if kind_type == "literal_error":
        expected = [
            e.strip(" '") for e in str(ctx.get("expected", "")).replace(" or ", ", ").split(",")
        ]
        return doc.diagnostic(
            path,
            "bad-value",
            f"{_where(kind, path)} is {shown}, which is not one of: {', '.join(expected)}",
            did_you_mean(str(err["input"]), expected),
        )
    if kind_type == "value_error":
        message = err["msg"].removeprefix("Value error, ")
        where = _where(kind, path) if path else f"{kind} '{_name_of(doc)}'"
        target = _at_named_key(doc, path, message)
        return doc.diagnostic(target, "invalid", f"{where}: {message}", key=target != path)
    if kind_type in _BOUNDS:
        phrase, bound_key = _BOUNDS[kind_type]
        bound = ctx.get(bound_key, "")
        got = ctx.get("actual_length", shown)
        message = f"{_where(kind, path)} {phrase} {bound}, got {got}"
    elif kind_type in _PHRASES:
        message = f"{_where(kind, path)} {_PHRASES[kind_type]}, got {shown}"
    elif kind_type == "string_pattern_mismatch":
        message = _pattern_message(kind, path, shown, str(ctx.get("pattern", "")))
    else:
        message = f"{_where(kind, path)}: {err['msg'][0].lower()}{err['msg'][1:]} (got {shown})"
    code = "bad-type" if kind_type in _PHRASES else "invalid"
    return doc.diagnostic(path, code, message)


def _pattern_message(kind: str, path: Path, shown: str, pattern: str) -> str:
    where = _where(kind, path)
    if pattern.startswith("^[a-z][a-z0-9_]*$"):
        return f"{where} is {shown}; a name is snake_case: lower-case letters, digits and '_'"
    if pattern.startswith("^[a-z][a-z0-9_.-]*$"):
        return f"{where} is {shown}; an id is lower-case letters, digits, '.', '-' and '_'"
    if pattern.startswith("^https?://"):
        return f"{where} is {shown}; a URL starts with http:// or https://"
    return f"{where} is {shown}, which does not match {pattern}"


def _prefer_specific(found: list[tuple[Path, str, bool, Diagnostic]]) -> list[Diagnostic]:
    """Among union-branch errors at one path, keep the most telling ones."""
    by_path: dict[Path, list[tuple[str, bool, Diagnostic]]] = {}
    for path, etype, union, diag in found:
        by_path.setdefault(path, []).append((etype, union, diag))
    kept: list[Diagnostic] = []
    for path, items in by_path.items():
        deeper = any(
            len(p) > len(path) and p[: len(path)] == path
            for p, more in by_path.items()
            if any(u for _, u, _ in more)
        )
        branchy = [d for t, u, d in items if u and t in _SHAPE_ERRORS]
        plain = [d for t, u, d in items if not (u and t in _SHAPE_ERRORS)]
        literal = [d for t, u, d in items if u and t == "literal_error"]
        kept.extend(plain if (plain or deeper) else (literal or branchy))
    seen: set[tuple[int, int, str]] = set()
    unique = []
    for diag in kept:
        ident = (diag.line, diag.col, diag.message)
        if ident not in seen:
            seen.add(ident)
            unique.append(diag)
    return unique


def parse_document(doc: Document) -> tuple[DocumentSpec | None, list[Diagnostic]]:
    """Check `kind` and `version`, then validate the document against its spec model."""
    spec, problems, _ = validate_document(doc)
    return spec, problems


def validate_document(
    doc: Document,
) -> tuple[DocumentSpec | None, list[Diagnostic], list[ErrorDetails]]:
    """Like parse_document, also returning pydantic's errors (empty unless it refused)."""
    found, problems = _header_problems(doc)
    if problems:
        return None, problems, []
    spec, problems, errors = validate_as(doc, found, KINDS[found])
    return spec if isinstance(spec, DocumentSpec) else None, problems, errors


def validate_as(
    doc: Document, kind: str, model: type[BaseModel]
) -> tuple[BaseModel | None, list[Diagnostic], list[ErrorDetails]]:
    """Validate a document against `model`; translate pydantic's errors into diagnostics."""
    data = doc.data
    try:
        return model.model_validate(data), [], []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        translated = []
        for err in errors:
            diag = _translate(doc, kind, model, err)
            path, union = data_path(data, err["loc"])
            translated.append((path, err["type"], union, diag))
        return None, _prefer_specific(translated), errors


def _header_problems(doc: Document) -> tuple[str, list[Diagnostic]]:
    """Return the document's kind, or the problems of its `kind` and `version` keys."""
    data = doc.data
    if not isinstance(data, dict):
        return "", [
            doc.diagnostic(
                (),
                "not-a-definition",
                "a definition is a mapping that starts with 'kind:'",
                f"got {type(data).__name__ if data is not None else 'nothing'}",
            )
        ]
    kind = data.get("kind")
    if kind is None:
        return "", [
            doc.diagnostic((), "missing-kind", "missing 'kind:'", f"one of: {', '.join(KINDS)}")
        ]
    if not isinstance(kind, str) or kind not in KINDS:
        return "", [
            doc.diagnostic(
                ("kind",),
                "unknown-kind",
                f"unknown kind '{shorten(kind)}'",
                did_you_mean(str(kind), KINDS) or f"one of: {', '.join(KINDS)}",
            )
        ]
    version = data.get("version")
    if version is None:
        return "", [
            doc.diagnostic(
                (),
                "missing-version",
                f"{kind} is missing 'version:'",
                f"add 'version: {LANGUAGE_VERSION}'",
            )
        ]
    if version != LANGUAGE_VERSION or isinstance(version, bool):
        return "", [
            doc.diagnostic(
                ("version",),
                "unsupported-version",
                f"language version '{shorten(version)}' is not supported",
                f"this sopflow reads version {LANGUAGE_VERSION}",
            )
        ]
    return kind, []
