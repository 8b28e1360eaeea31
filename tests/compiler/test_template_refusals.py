"""What the compiler sees in a template's text and refuses (issue 10): attributes that
start with '_', constant widths past the cap; and the record fields a template reads."""

from __future__ import annotations

import pytest
from jinja2 import TemplateSyntaxError

from engine.templates import (
    format_spec_problem,
    printf_problem,
    template_reads,
    template_refusals,
)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("{{ ''.__class__ }}", [("template-unsafe-attribute", "__class__", 1)]),
        ("a\n{{ x['_y'] }}", [("template-unsafe-attribute", "_y", 2)]),
        ("{{ x | attr('__dict__') }}", [("template-unsafe-attribute", "__dict__", 1)]),
        ("{{ '{0.__class__}'.format(x) }}", [("template-unsafe-attribute", "__class__", 1)]),
        (
            "{{ '{0[_k]:>{1.__x}}'.format(x, y) }}",
            [
                ("template-unsafe-attribute", "_k", 1),
                ("template-unsafe-attribute", "__x", 1),
            ],
        ),
        ("{{ '{:>999999999}'.format(1) }}", [("template-too-large", "format", 1)]),
        ("{{ 'x' | center(999999999) }}", [("template-too-large", "center", 1)]),
        ("{{ x | wordwrap(width=10000000) }}", [("template-too-large", "wordwrap", 1)]),
        ("{{ '%999999999d' % 1 }}", [("template-too-large", "%", 1)]),
        ("{{ '%*d' | format(3, 1) }}", [("template-too-large", "format", 1)]),
        ("{{ 'x'.zfill(99999999999) }}", [("template-too-large", "zfill", 1)]),
        # What is fine: small widths, names without '_', dynamic values (the runtime's).
        ("{{ '{:>10}'.format(x.a_b) }} {{ 'x' | center(80) }} {{ '%-5s' % y }}", []),
        ("{{ x | center(n) }} {{ fmt.format(1) }} {{ x[key] }}", []),
        ("no placeholders at all", []),
    ],
)
def test_template_refusals(source: str, found: list[tuple[str, str, int]]) -> None:
    got = template_refusals(source)
    assert [(code, word, line) for code, _, _, word, line in got] == found
    assert all(message.startswith("template") for _, message, _, _, _ in got)


def test_refusal_messages_say_why() -> None:
    assert template_refusals("{{ ''.__class__ }}")[0][1:3] == (
        "templates cannot read attribute '__class__' (it starts with '_')",
        "templates read only the values they are given, never Python internals",
    )
    assert format_spec_problem(">10.2f") is None
    assert format_spec_problem("0>1000001") == (
        "the format spec '0>1000001' asks for 1000001 characters"
    )
    assert printf_problem("%-10s %(a).3f %%") is None
    assert printf_problem("%.*f") == "'%.*f': a '*' precision is not allowed in templates"


def test_a_template_that_does_not_parse_raises() -> None:
    with pytest.raises(TemplateSyntaxError):
        template_refusals("{% if %}")


def test_template_reads_names_the_fields_of_record_and_alert() -> None:
    source = (
        "{{ record.name }}\n{{ record['credit_limit'] }} {{ record.get('tier') }}\n"
        "{{ alert.amount }} {{ other.x }} {% set record = 1 %}"
    )
    assert template_reads(source, ("record", "alert")) == (
        ("record", "name", 1),
        ("record", "credit_limit", 2),
        ("record", "tier", 2),
        ("alert", "amount", 3),
    )
