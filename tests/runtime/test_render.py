"""Notification rendering: sandboxed, forgiving about missing values, strict about JSON."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from runtime import render as render_mod
from runtime.render import MAX_OUTPUT, RenderError, render, render_json

VARS = {
    "record": {"id": "r1", "name": "Acme", "due": date(2026, 1, 31), "amount": Decimal("12.50")},
    "now": datetime(2026, 1, 5, 9, 30),
    "items": [1, 2, 3],
}


def test_renders_values_and_iso_dates() -> None:
    """A datetime prints in UTC with its offset, as the API writes it; a date has none."""
    got = render("{{ record.name }} due {{ record.due }} at {{ now }}", VARS)
    assert got == "Acme due 2026-01-31 at 2026-01-05T09:30:00+00:00"
    aware = {"t": datetime(2026, 1, 5, 17, 30, tzinfo=timezone(timedelta(hours=8)))}
    assert render("{{ t }} {{ t|tojson }}", aware) == (
        '2026-01-05T09:30:00+00:00 "2026-01-05T09:30:00+00:00"'
    )


def test_text_is_not_html_escaped() -> None:
    assert render("{{ v }}", {"v": "<b>&'"}) == "<b>&'"


def test_missing_values_render_empty() -> None:
    assert render("[{{ nope }}|{{ record.nope }}|{{ record.nope.deeper }}]", VARS) == "[||]"
    assert render("{% if record.nope %}x{% else %}y{% endif %}", VARS) == "y"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ items.__len__() }}",
        "{{ items|attr('__class__') }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ items.append(4) }}",
        "{{ record.update({'id': 'x'}) }}",
    ],
)
def test_sandbox_blocks_internals_and_mutation(source: str) -> None:
    with pytest.raises(RenderError, match="not allowed"):
        render(source, VARS)
    assert VARS["items"] == [1, 2, 3]


@pytest.mark.parametrize("source", ["{{ 'x' * 100000000 }}", "{{ (10 ** 900) ** 900 }}"])
def test_sandbox_refuses_huge_values(source: str) -> None:
    with pytest.raises(RenderError, match="too large"):
        render(source, {})


def test_small_arithmetic_still_works() -> None:
    assert render("{{ 'ab' * 3 }} {{ 2 ** 10 }} {{ items|sum }}", VARS) == "ababab 1024 6"


def test_syntax_and_runtime_errors_are_render_errors() -> None:
    with pytest.raises(RenderError, match="syntax error at line 2"):
        render("ok\n{% if %}", {})
    with pytest.raises(RenderError, match="ZeroDivisionError"):
        render("{{ 1 / 0 }}", {})


def test_output_is_capped_with_a_note() -> None:
    got = render("{{ big }}", {"big": "x" * (MAX_OUTPUT + 10)})
    assert got.startswith("x" * MAX_OUTPUT)
    assert got.endswith("truncated: the rendered text was longer than 64 KiB]")
    assert len(got) < MAX_OUTPUT + 100


def test_templates_are_compiled_once() -> None:
    render_mod._compile.cache_clear()
    render_mod._fast.cache_clear()
    for name in ("a", "b", "c"):
        assert render("Hello {{ who }}", {"who": name}) == f"Hello {name}"
        assert render("{% if who %}Hi {{ who }}{% endif %}", {"who": name}) == f"Hi {name}"
    fast, jinja = render_mod._fast.cache_info(), render_mod._compile.cache_info()
    assert (fast.misses, fast.hits) == (2, 4)
    assert (jinja.misses, jinja.hits) == (1, 2)  # the fast template never reaches jinja2


def test_render_json_builds_a_webhook_body() -> None:
    source = '{"id": "{{ record.id }}", "record": {{ record|tojson }}, "n": {{ items|length }}}'
    assert render_json(source, VARS) == {
        "id": "r1",
        "record": {"id": "r1", "name": "Acme", "due": "2026-01-31", "amount": "12.50"},
        "n": 3,
    }


def test_render_json_rejects_text_that_is_not_json() -> None:
    with pytest.raises(RenderError, match="webhook body is not JSON after rendering"):
        render_json('{"name": {{ record.name }}}', VARS)
    with pytest.raises(RenderError, match="webhook body is not JSON after rendering"):
        render_json("{{ nope }}", VARS)
    with pytest.raises(RenderError, match="longer than 64 KiB"):
        render_json('"{{ big }}"', {"big": "x" * MAX_OUTPUT})
    with pytest.raises(RenderError, match="not allowed"):
        render_json("{{ ''.__class__ }}", VARS)
