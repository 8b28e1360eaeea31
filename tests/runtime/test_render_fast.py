"""The fast template path renders exactly what jinja2 renders (runtime/render_fast.py).

Every case renders through `render()` (fast where it can be) and through jinja2 alone
(`_stream`, the path every template took before) and compares the text, or the error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from engine.templates import MAX_OUTPUT, MAX_STEPS, MAX_WRITTEN
from runtime import render as render_mod
from runtime.budget import BoundExceeded
from runtime.errors import Problem
from runtime.render import TRUNCATED_NOTE, RenderError, render, render_json
from runtime.render_fast import FAST_FILTERS, MAX_GENERATED, PLAIN, _over


@pytest.fixture(autouse=True)
def _compile_anew() -> None:
    """Each test compiles the templates it renders (no test leans on another's cache)."""
    render_mod._fast.cache_clear()


def jinja(source: str, variables: Mapping[str, Any]) -> str:
    """What render() gave before the fast path: jinja2 for every template."""
    text, cut = render_mod._stream(source, variables)
    return text[:MAX_OUTPUT] + TRUNCATED_NOTE if cut else text


def outcome(fn: Any, source: str, variables: Mapping[str, Any]) -> tuple[str, str]:
    try:
        return "text", fn(source, variables)
    except RenderError as exc:
        return "error", str(exc)


def same(source: str, variables: Mapping[str, Any], *, fast: bool = True) -> tuple[str, str]:
    """Check the fast path is (or is not) taken and gives jinja2's text or error."""
    assert (render_mod._fast(source) is not None) is fast
    got = outcome(render, source, variables)
    assert got == outcome(jinja, source, variables)
    return got


class Shouting(str):
    """A str whose str() differs from its text (finalize keeps it; the output is str())."""

    def __str__(self) -> str:
        return self.upper()


class Broken:
    def __str__(self) -> str:
        raise ValueError("no text here")


NAMES_ONLY = (
    "",
    "plain text, no outputs",
    "A price of {{ price }} is negative.",
    "{{ price }}",
    "{{price}}{{ price }}",
    "{{ price }} and {{ other }}",
    "<b>{{ price }}</b> & 'quotes' \"too\"",
    "line\n{{ price }}\n",
    "  {{- price -}}  !",
    "{# a comment #}{{ price }}{% raw %}{{ not }}{% endraw %}",
    "{{ missing_name }}|{{ price }}",
)
STEPWISE = (
    "{{ record.price }}",
    "{{ record.price.deeper }}",
    "{{ record.nope }}-{{ nope.deeper.still }}",
    "{{ price | upper }}",
    "{{ price | lower | title }}",
    "{{ price | round(1) }}",
    "{{ price | round(1, 'floor') }}",
    "{{ price | round(precision=2, method='ceil') }}",
    "{{ price | default('none given') }}",
    "{{ nope | default('none given') }}",
    "{{ nope | d('x', true) }}",
    "{{ price | string | length }}",
    "{{ record.items }}",
)
FALLBACK = (
    "{% if price %}{{ price }}{% endif %}",
    "{{ price + 1 }}",
    "{{ price ~ '!' }}",
    "{{ record['price'] }}",
    "{{ price | join(', ') }}",
    "{{ price | truncate(3) }}",
    "{{ price | round(digits) }}",
    "{{ price | round(*args) }}",
    "{{ 'constant' }}",
    "{{ none }}",
    "{% for x in items %}{{ x }}{% endfor %}",
    "{% set y = 1 %}{{ y }}",
    "{{ price }}{% if price %}!{% endif %}",
    "{{ price }}{% if price %}!{% endif %}{{ price }}",
    "{{ price }",
    "{% if %}",
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.dates()
    | st.datetimes()
    | st.datetimes(timezones=st.just(timezone(timedelta(hours=8))))
    | st.times()
    | st.text()
    | st.text().map(Markup)
    | st.sampled_from(["<script>&amp;</script>", "{{ x }}", "%s %d", "\x00\n\t", "日本語"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    source=st.sampled_from(NAMES_ONLY + STEPWISE),
    price=values,
    other=values,
    record=st.dictionaries(st.sampled_from(["price", "items", "other"]), values, max_size=3),
)
def test_fast_path_renders_what_jinja_renders(
    source: str, price: Any, other: Any, record: dict[str, Any]
) -> None:
    same(source, {"price": price, "other": other, "record": record})


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "None"),
        (True, "True"),
        (0, "0"),
        (-1.5, "-1.5"),
        (float("nan"), "nan"),
        (Decimal("1.50"), "1.50"),
        (Decimal("1E+3"), "1E+3"),
        (date(2026, 1, 31), "2026-01-31"),
        (datetime(2026, 1, 5, 9, 30), "2026-01-05T09:30:00+00:00"),
        (
            datetime(2026, 1, 5, 17, 30, tzinfo=timezone(timedelta(hours=8))),
            "2026-01-05T09:30:00+00:00",
        ),
        (datetime(2026, 1, 5, 9, 30, tzinfo=UTC), "2026-01-05T09:30:00+00:00"),
        (time(7, 5), "07:05:00"),
        ("<a href='x'>&</a>", "<a href='x'>&</a>"),
        (Markup("<b>"), "<b>"),
        (Shouting("quiet"), "QUIET"),
        ([1, "a", None], "[1, 'a', None]"),
        ({"k": date(2026, 1, 1)}, "{'k': datetime.date(2026, 1, 1)}"),
    ],
)
def test_each_value_type_prints_as_jinja_prints_it(value: Any, text: str) -> None:
    assert same("<{{ v }}>", {"v": value}) == ("text", f"<{text}>")
    assert same("<{{ r.v }}>", {"r": {"v": value}}) == ("text", f"<{text}>")


def test_plain_types_are_the_ones_finalize_writes_with_str() -> None:
    assert frozenset({int, float, bool, Decimal, type(None)}) == PLAIN
    assert {"round", "int", "upper", "default"} <= FAST_FILTERS
    assert not {"join", "truncate", "format", "tojson", "map", "replace"} & FAST_FILTERS


def test_missing_names_render_empty_as_in_jinja() -> None:
    assert same("[{{ nope }}]", {}) == ("text", "[]")
    assert same("[{{ nope.deeper }}]", {}) == ("text", "[]")
    assert same("[{{ record.nope.deeper }}]", {"record": {}}) == ("text", "[]")
    assert same("[{{ nope | upper }}]", {}) == ("text", "[]")


def test_globals_are_looked_up_after_the_variables() -> None:
    kind, text = same("{{ range }}", {})
    assert kind == "text" and text.startswith("<function safe_range")
    assert same("{{ range }}", {"range": 3}) == ("text", "3")
    assert same("{{ lipsum }}", {}) == ("text", "")  # the sandbox removes it
    kind, text = same("{{ range | string }}", {})  # step by step
    assert kind == "text" and text.startswith("<function safe_range")
    assert same("{{ range | string }}", {"range": 4}) == ("text", "4")


def test_a_mapping_that_is_not_a_dict_reads_the_same() -> None:
    class Names(Mapping[str, Any]):
        def __init__(self, data: dict[str, Any]) -> None:
            self.data = data

        def __getitem__(self, key: str) -> Any:
            return self.data[key]

        def __iter__(self) -> Any:
            return iter(self.data)

        def __len__(self) -> int:
            return len(self.data)

    assert same("{{ a }}/{{ range }}/{{ b }}", Names({"a": 1, "range": "r"})) == ("text", "1/r/")


def test_a_key_that_is_not_text_fails_as_in_jinja() -> None:
    assert same("{{ a }}", {"a": 1, 2: 3}) == (
        "error",
        "template error: TypeError: keywords must be strings",
    )
    assert same("{{ a.b }}", {3: 1}, fast=True)[0] == "error"


def test_errors_are_jinjas() -> None:
    kind, text = same("x {{ a }} y", {"a": Broken()})
    assert (kind, text) == ("error", "template error: ValueError: no text here")
    kind, text = same("{{ a.__class__ }}", {"a": 1})
    assert kind == "error" and text.startswith("template not allowed: access to attribute")
    kind, text = same("{{ a | int }}", {"a": Decimal("1E+5000")})
    assert kind == "error" and "'int' would make a number" in text
    kind, text = same("{{ a | round(2) }}", {"a": "text"})
    assert kind == "error" and text.startswith("template error: TypeError")


@pytest.mark.parametrize("source", FALLBACK)
def test_other_templates_go_through_jinja(source: str) -> None:
    same(source, {"price": 1, "items": [1, 2], "record": {"price": 2}, "digits": 1}, fast=False)


def test_syntax_errors_are_reported_by_jinja() -> None:
    assert same("{{ price }", {}, fast=False) == (
        "error",
        "template syntax error at line 1: unexpected '}'",
    )


def test_fast_templates_never_reach_jinja(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(source: str, variables: Mapping[str, Any]) -> tuple[str, bool]:
        raise AssertionError(f"rendered through jinja2: {source}")

    monkeypatch.setattr(render_mod, "_stream", refuse)
    for source in NAMES_ONLY + STEPWISE:
        render(source, {"price": 1.5, "record": {"price": 2}})
    assert render_json('{"a": {{ a }}}', {"a": 3}) == {"a": 3}
    with pytest.raises(AssertionError, match="rendered through jinja2"):
        render("{% if a %}{% endif %}", {})


# -- bounds: the output cap, the text written, the steps ---------------------------------
def test_the_cut_stops_before_later_outputs_as_jinja_does() -> None:
    big = "x" * (MAX_OUTPUT + 1)
    kind, text = same("{{ a }}{{ b }}", {"a": big, "b": Broken()})
    assert kind == "text" and text == "x" * MAX_OUTPUT + TRUNCATED_NOTE
    kind, text = same("{{ a.b }}{{ c.d }}", {"a": {"b": big}, "c": {"d": Broken()}})
    assert kind == "text" and text == "x" * MAX_OUTPUT + TRUNCATED_NOTE
    # outputs under the cap each, past it together (step by step too)
    half = "h" * (MAX_OUTPUT // 2 + 1)
    for source in ("{{ a }}{{ a }}{{ b }}", "{{ r.a }}{{ r.a }}{{ r.b }}"):
        kind, text = same(source, {"a": half, "b": Broken(), "r": {"a": half, "b": Broken()}})
        assert (kind, text) == ("text", (half + half)[:MAX_OUTPUT] + TRUNCATED_NOTE)
    # exactly at the cap: not cut, and the next output is written
    exact = "y" * MAX_OUTPUT
    assert same("{{ a }}{{ b }}", {"a": exact, "b": ""}) == ("text", exact)
    assert same("{{ a }}{{ b }}", {"a": exact, "b": "z"}) == (
        "text",
        exact + TRUNCATED_NOTE,
    )
    # literal text passing the cap stops before the output after it
    literal = "L" * MAX_OUTPUT
    assert same(literal + "!{{ a }}", {"a": Broken()}) == ("text", literal + TRUNCATED_NOTE)


def test_writing_past_the_bound_fails_as_in_jinja() -> None:
    at = "w" * MAX_WRITTEN
    assert same("{{ a }}", {"a": at}) == ("text", at[:MAX_OUTPUT] + TRUNCATED_NOTE)
    over = ("error", f"template stopped: it writes more than {MAX_WRITTEN:,} characters")
    assert same("{{ a }}", {"a": at + "w"}) == over
    assert same("{{ r.a }}", {"r": {"a": at + "w"}}) == over
    with pytest.raises(RenderError, match="longer than 64 KiB"):
        render_json("{{ a }}", {"a": at})


def test_steps_past_the_bound_fail() -> None:
    """Each `{{ a.b }}` takes two steps (the lookup, the output). jinja2 itself takes
    minutes to compile such a template, so this one is checked against the message."""
    want = f"template stopped: it takes more than {MAX_STEPS:,} steps"
    with pytest.raises(RenderError, match=want):
        render("{{ a.b }}" * (MAX_STEPS // 2) + "{{ a }}", {"a": {"b": ""}})
    assert render("{{ a.b }}" * (MAX_STEPS // 2), {"a": {"b": ""}}) == ""  # at the bound


def test_long_templates_run_step_by_step_to_the_same_text() -> None:
    names = {f"n{i}": i for i in range(MAX_GENERATED + 1)}
    last = (MAX_GENERATED - 1) // 2  # `<{{ n }}>` n times: 2n + 1 parts ('><' is one)
    for count, runs in ((last, "_render"), (last + 1, "render")):
        source = "".join(f"<{{{{ n{i} }}}}>" for i in range(count))
        kind, text = same(source, names)
        assert kind == "text" and text.endswith(f"<{count - 1}>")
        assert render_mod._fast(source).__name__ == runs  # type: ignore[union-attr]
    assert render_mod._fast("{{ a }}" * MAX_GENERATED).__name__ == "_render"  # type: ignore[union-attr]
    assert render_mod._fast("{{ a }}" * (MAX_GENERATED + 1)).__name__ == "render"  # type: ignore[union-attr]


def test_over_raises_steps_first_then_written() -> None:
    _over(MAX_STEPS, MAX_WRITTEN)  # at both bounds: fine
    with pytest.raises(BoundExceeded, match="steps"):
        _over(MAX_STEPS + 1, MAX_WRITTEN + 1)
    with pytest.raises(BoundExceeded, match="writes more"):
        _over(MAX_STEPS, MAX_WRITTEN + 1)


def test_fast_renders_do_not_change_their_variables() -> None:
    names = {"a": 1, "r": {"b": 2}}
    render("{{ a }}{{ r.b | round(1) }}", names)
    render("{{ a }}", names)
    assert names == {"a": 1, "r": {"b": 2}}


# -- Problem ------------------------------------------------------------------------------
def test_problem_keeps_the_dataclass_behaviour() -> None:
    p = Problem("rule-refused", "msg", rule="r", expression="x > 1")
    assert (p.code, p.message, p.field, p.rule, p.expression, p.detail) == (
        "rule-refused",
        "msg",
        None,
        "r",
        "x > 1",
        {},
    )
    assert Problem("a", "b").detail is not Problem("a", "b").detail
    detail = {"k": 1}
    assert Problem("a", "b", "f", "r", "e", detail).detail is detail
    assert Problem("a", "b", detail=None).detail is None  # type: ignore[arg-type]
    assert p == Problem("rule-refused", "msg", None, "r", "x > 1", {})
    assert p != Problem("rule-refused", "msg", rule="r")
    assert dataclasses.replace(p, rule="s").rule == "s"
    assert p.to_dict() == {
        "code": "rule-refused",
        "message": "msg",
        "rule": "r",
        "expression": "x > 1",
    }
    assert repr(Problem("a", "b")) == (
        "Problem(code='a', message='b', field=None, rule=None, expression=None, detail={})"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.code = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Problem("a")  # type: ignore[call-arg]
