"""Render notification and webhook templates (jinja2, sandboxed).

Templates come from definition files, so they run in jinja2's immutable sandbox: no
access to Python internals, no changing the values they are given. A missing value
renders empty (`{{ record.nope.deeper }}` is ''), dates and datetimes print as ISO 8601
(datetimes in UTC with `+00:00`),
and `tojson` handles them too. Any failure is a RenderError with a one-line message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jinja2 import (
    ChainableUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    Undefined,
)
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from runtime.clock import iso

MAX_OUTPUT = 64 * 1024
MAX_SEQUENCE = 1_000_000
MAX_POWER_BITS = 65536
TRUNCATED_NOTE = "\n[... truncated: the rendered text was longer than 64 KiB]"


class RenderError(Exception):
    """A template could not be rendered (syntax, sandbox violation, bad value)."""


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)  # UTC with its offset, as the store and the API write it
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return _iso(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, also refusing to build huge strings or numbers with `*` and `**`."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse `'x' * 10**9` and `10 ** 10 ** 10` before computing them."""
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                size = _length(seq)
                if size is not None and isinstance(count, int) and size * count > MAX_SEQUENCE:
                    raise SecurityError("the template builds a value that is too large")
        if (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int | float)
            and abs(left) > 1
            and left.bit_length() * right > MAX_POWER_BITS
        ):
            raise SecurityError("the template builds a number that is too large")
        return super().call_binop(context, operator, left, right)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        """Fail on access to an unsafe attribute instead of rendering it empty."""
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__} is not allowed"
        )


def _environment() -> _Sandbox:
    env = _Sandbox(autoescape=False, undefined=ChainableUndefined, finalize=_iso)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _json_default}
    return env


_ENV = _environment()


@lru_cache(maxsize=512)
def _compile(source: str) -> Template:
    return _ENV.from_string(source)


def _describe(exc: Exception) -> str:
    if isinstance(exc, TemplateSyntaxError):
        return f"template syntax error at line {exc.lineno}: {exc.message}"
    if isinstance(exc, SecurityError):
        return f"template not allowed: {exc}"
    if isinstance(exc, TemplateError):
        return f"template error: {exc.message or exc}"
    return f"template error: {type(exc).__name__}: {exc}"


def _render_full(source: str, variables: Mapping[str, Any]) -> str:
    try:
        return _compile(source).render(dict(variables))
    except RecursionError:
        raise RenderError("template error: it nests or recurses too deeply") from None
    except Exception as exc:  # a template may fail in any way; the caller gets one message
        raise RenderError(_describe(exc)) from None


def render(source: str, variables: Mapping[str, Any]) -> str:
    """Render template `source` with `variables`; cap the text at 64 KiB (with a note).

    Raises RenderError with a clear message if the template is invalid or not allowed.
    """
    text = _render_full(source, variables)
    if len(text) > MAX_OUTPUT:
        return text[:MAX_OUTPUT] + TRUNCATED_NOTE
    return text


def render_json(source: str, variables: Mapping[str, Any]) -> Any:
    """Render a webhook body template and parse it as JSON.

    Raises RenderError if rendering fails or the result is not JSON (or over 64 KiB).
    """
    text = _render_full(source, variables)
    if len(text) > MAX_OUTPUT:
        raise RenderError("webhook body is not JSON after rendering: it is longer than 64 KiB")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        excerpt = text if len(text) <= 80 else text[:77] + "..."
        raise RenderError(
            f"webhook body is not JSON after rendering: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno} (rendered: {excerpt!r})"
        ) from None
