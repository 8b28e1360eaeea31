"""Hostile templates stop at a bound as they render, with a one-line reason (issue 10)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from runtime.render import MAX_OUTPUT, MAX_STEPS, MAX_WRITTEN, RenderError, render, render_json
from runtime.sandbox import BoundExceeded, Budget, size_of

LONG = "a" * 1_000_000
VARS = {"s": LONG, "d": Decimal("10"), "record": {"a": [1, {"b": 2}]}}
STEPS = "template stopped: it takes more than 100,000 steps (loop turns, calls, filters, lookups)"
WRITES = "template stopped: it writes more than 1,000,000 characters"


@pytest.mark.parametrize(
    ("source", "error"),
    [
        # Widths and counts past the cap are refused before anything is built.
        (
            "{{ '{:>999999999}'.format(1) }}",
            "template stopped: the format spec '>999999999' asks for 999999999 characters",
        ),
        (
            "{{ x | center(999999999) }}",
            "template stopped: 'center' would build 999999999 characters or items",
        ),
        (
            "{{ '%999999999d' % 1 }}",
            "template stopped: '%999999999d' asks for 999999999 characters",
        ),
        (
            "{{ '%.999999999f' % 1.0 }}",
            "template stopped: '%.999999999f' asks for 999999999 characters",
        ),
        (
            "{{ '%*d' % (999999999, 1) }}",
            "template stopped: '%*d': a '*' width is not allowed in templates",
        ),
        (
            "{{ '%999999999s' | format('x') }}",
            "template stopped: '%999999999s' asks for 999999999 characters",
        ),
        (
            "{{ 'x'.ljust(999999999) }}",
            "template stopped: 'ljust' would build 999999999 characters or items",
        ),
        (
            "{% filter center(999999999) %}x{% endfilter %}",
            "template stopped: 'center' would build 999999999 characters or items",
        ),
        (
            "{{ [1] | batch(999999999, 'x') | list }}",
            "template stopped: 'batch' would build 999999999 characters or items",
        ),
        (
            "{{ record | tojson(indent=999999999) }}",
            "template stopped: 'tojson' would build 999999999 characters or items",
        ),
        (
            "{{ (1).to_bytes(999999999, 'big') }}",
            "template stopped: 'to_bytes' would build 999999999 characters or items",
        ),
        # Values that would grow past 1,000,000 characters are refused before they are built.
        (
            "{{ s.replace('a', 'bb') }}",
            "template stopped: 'replace' would build more than 1,000,000 characters",
        ),
        (
            "{{ s | join('x') }}",
            "template stopped: 'join' would build more than 1,000,000 characters",
        ),
        (
            "{{ 'x' | wordwrap(1, wrapstring=s) }}",
            "template stopped: 'wordwrap' would build more than 1,000,000 characters",
        ),
        (
            "{{ ('%(a)s' * 200000) % {'a': s} }}",
            "template stopped: the %-format would build more than 1,000,000 characters",
        ),
        (
            "{{ ('{0}' * 200000).format(s) }}",
            "template stopped: the format builds more than 1,000,000 characters",
        ),
        ("{{ [s] * 2 }}", "template stopped: the template builds a value that is too large"),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "template stopped: '~' would build more than 1,000,000 characters",
        ),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
            "{% set ns.s = ns.s + ns.s %}{% endfor %}",
            "template stopped: '+' would build more than 1,000,000 characters",
        ),
        (
            "{% macro f(t, n) %}{% if n %}{{ f(t ~ t, n - 1) }}{% endif %}{% endmacro %}"
            "{{ f('x', 60) }}",
            "template stopped: '~' would build more than 1,000,000 characters",
        ),
        (
            "{{ s | list }}",
            "template stopped: 'list' builds a value longer than 1,000,000 characters or items",
        ),
        # Loops and work are counted in steps.
        ("{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}", STEPS),
        ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", STEPS),
        ("{% for a in s if a == 'z' %}{% endfor %}", STEPS),
        ("{% for i in range(50000) %}{% if s | upper %}{% endif %}{% endfor %}", STEPS),
        # Text captured by a set block counts, as does a loop's literal text on each turn.
        ("{% set x %}{% for i in range(100000) %}{{ s }}{% endfor %}{% endset %}", WRITES),
        (
            "{% set x %}{% for i in range(100000) %}" + "z" * 100 + "{% endfor %}{% endset %}",
            WRITES,
        ),
        # Python internals stay out of reach; filler text is not offered.
        (
            "{{ ''.__class__ }}",
            "template not allowed: access to attribute '__class__' of a str is not allowed",
        ),
        ("{{ lipsum(999999999) }}", "template error: 'lipsum' is undefined"),
    ],
)
def test_hostile_template_stops_at_its_bound(source: str, error: str) -> None:
    with pytest.raises(RenderError) as caught:
        render(source, {**VARS, "x": "x"})
    assert str(caught.value) == error


def test_output_streams_and_stops_at_the_cap() -> None:
    """100,000 turns of a 1 MB line would be 100 GB: rendering stops just past 64 KiB."""
    got = render("{% for i in range(100000) %}{{ s }}{% endfor %}", VARS)
    assert got == "a" * MAX_OUTPUT + "\n[... truncated: the rendered text was longer than 64 KiB]"
    with pytest.raises(RenderError, match="longer than 64 KiB"):
        render_json('"{{ s }}"', VARS)


def test_ordinary_templates_still_render() -> None:
    source = (
        "{{ 'ab' * 3 }}|{{ [1, 2] | join(',') }}|{{ '{:>5}'.format(1) }}|{{ '%05.1f' % 3.14159 }}"
        "|{{ 'x' | center(5) }}|{% for i in range(3) %}{{ i }}{% endfor %}|{{ 'a' ~ 'b' }}"
    )
    assert render(source, {}) == "ababab|1,2|    1|003.1|  x  |012|ab"


def test_a_budget_stops_past_its_steps_and_writes() -> None:
    spent = Budget()
    spent.step(MAX_STEPS)
    with pytest.raises(BoundExceeded, match="more than 100,000 steps"):
        spent.step()
    spent.write(MAX_WRITTEN)
    with pytest.raises(BoundExceeded, match="writes more than 1,000,000 characters"):
        spent.write(1)
    assert (spent.steps, spent.written) == (MAX_STEPS + 1, MAX_WRITTEN + 1)


def test_size_of_counts_characters_and_nested_items() -> None:
    assert size_of("abc") == 3
    assert size_of(["ab", {"k": "vv"}]) == 2 + 2 + 1 + 1 + 2
    assert size_of(7) == 1
    assert size_of("x" * 50, limit=10) == 50


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% if 'q' in s %}{% endif %}{% endfor %}",
        "{% for i in range(100000) %}{% if s == t %}{% endif %}{% endfor %}",
        "{% for i in range(100000) %}{% if 'q' is in s %}{% endif %}{% endfor %}",
    ],
)
def test_comparisons_and_tests_count_what_they_read(source: str) -> None:
    """Each comparison of a 1 MB text costs 1,000 steps: 100 turns, not 100,000."""
    with pytest.raises(RenderError) as caught:
        render(source, {"s": LONG, "t": "b" + LONG[1:]})
    assert str(caught.value) == STEPS
