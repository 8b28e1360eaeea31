"""Render notification and webhook templates (jinja2, sandboxed).

Templates come from definition files, so they run in jinja2's immutable sandbox: no
access to Python internals, no changing the values they are given. A missing value
renders empty (`{{ record.nope.deeper }}` is ''), dates and datetimes print as ISO 8601
(datetimes in UTC with `+00:00`),
and `tojson` handles them too. Any failure is a RenderError with a one-line message.

A template that is only text and `{{ }}` outputs of names, their attributes and a few
filters renders without jinja2's context and generator, to the same text and errors
(runtime/render_fast.py); any other renders through jinja2.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

from jinja2 import ChainableUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError

from engine.templates import MAX_OUTPUT, MAX_STEPS, MAX_VALUE, MAX_WRITTEN
from runtime.clock import iso
from runtime.render_fast import FastTemplate, compile_fast
from runtime.sandbox import BoundExceeded, Sandbox, budget, written

MAX_SEQUENCE = MAX_VALUE  # the name older callers know
TRUNCATED_NOTE = "\n[... truncated: the rendered text was longer than 64 KiB]"

__all__ = [
    "MAX_OUTPUT",
    "MAX_SEQUENCE",
    "MAX_STEPS",
    "MAX_VALUE",
    "MAX_WRITTEN",
    "RenderError",
    "render",
    "render_json",
]


class RenderError(Exception):
    """A template could not be rendered (syntax, sandbox violation, bound, bad value)."""


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)  # UTC with its offset, as the store and the API write it
    if isinstance(value, (date, time)):
        return value.isoformat()
    return value


def _finalize(value: Any) -> str:
    if isinstance(value, str):
        return written(value)
    return written(_iso(value))


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return _iso(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _environment() -> Sandbox:
    env = Sandbox(autoescape=False, undefined=ChainableUndefined, finalize=_finalize)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _json_default}
    return env


_ENV = _environment()


@lru_cache(maxsize=512)
def _compile(source: str) -> Template:
    return _ENV.from_string(source)


def _inner(value: Any) -> Any:
    """The text `_finalize` writes for `value`, not counted (runtime/render_fast.py)."""
    if isinstance(value, str):
        return value
    value = _iso(value)
    return value if isinstance(value, str) else str(value)


@lru_cache(maxsize=512)
def _fast(source: str) -> FastTemplate | None:
    return compile_fast(_ENV, source, _finalize, _inner)


def _render(source: str, variables: Mapping[str, Any]) -> tuple[str, bool]:
    """Render `source` (fast when it can be, else through jinja2): text, whether cut.

    Neither path changes `variables` (jinja2 reads a copy).
    """
    fast = _fast(source)
    if fast is None:
        return _stream(source, variables)
    try:
        return fast(variables)
    except RecursionError:
        raise RenderError("template error: it nests or recurses too deeply") from None
    except Exception as exc:  # as _stream: the caller gets one message
        raise RenderError(_describe(exc)) from None


def _describe(exc: Exception) -> str:
    if isinstance(exc, TemplateSyntaxError):
        return f"template syntax error at line {exc.lineno}: {exc.message}"
    if isinstance(exc, BoundExceeded):
        return f"template stopped: {exc}"
    if isinstance(exc, SecurityError):
        return f"template not allowed: {exc}"
    if isinstance(exc, TemplateError):
        return f"template error: {exc.message or exc}"
    return f"template error: {type(exc).__name__}: {exc}"


def _stream(source: str, variables: Mapping[str, Any]) -> tuple[str, bool]:
    """Render `source`, stopping as soon as the text passes MAX_OUTPUT.

    Return the text (at most one chunk past the cap) and whether it was cut short.
    """
    try:
        template = _compile(source)
        parts: list[str] = []
        size = 0
        with budget():
            chunks = cast(Generator[str, None, None], template.generate(dict(variables)))
            try:
                for chunk in chunks:
                    parts.append(chunk)
                    size += len(chunk)
                    if size > MAX_OUTPUT:
                        return "".join(parts), True
            finally:
                chunks.close()
        return "".join(parts), False
    except RecursionError:
        raise RenderError("template error: it nests or recurses too deeply") from None
    except Exception as exc:  # a template may fail in any way; the caller gets one message
        raise RenderError(_describe(exc)) from None


def render(source: str, variables: Mapping[str, Any]) -> str:
    """Render template `source` with `variables`; cap the text at 64 KiB (with a note).

    Rendering stops as soon as the text passes the cap. Raises RenderError with a clear
    message if the template is invalid, not allowed, or goes past a bound (runtime/sandbox.py).
    """
    text, cut = _render(source, variables)
    if cut:
        return text[:MAX_OUTPUT] + TRUNCATED_NOTE
    return text


def render_json(source: str, variables: Mapping[str, Any]) -> Any:
    """Render a webhook body template and parse it as JSON.

    Raises RenderError if rendering fails or the result is not JSON (or over 64 KiB).
    """
    text, cut = _render(source, variables)
    if cut:
        raise RenderError("webhook body is not JSON after rendering: it is longer than 64 KiB")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        excerpt = text if len(text) <= 80 else text[:77] + "..."
        raise RenderError(
            f"webhook body is not JSON after rendering: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno} (rendered: {excerpt!r})"
        ) from None
