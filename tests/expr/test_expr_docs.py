"""docs/expressions.md stays in step with the code: tables, functions, examples."""

from __future__ import annotations

import re

import pytest
from expr_scopes import CONTEXT, SCOPE, full_record

from engine.expr import FUNCTIONS, compile_expression, limits
from engine.expr.docs import DOC, render

TEXT = DOC.read_text(encoding="utf-8")
EXAMPLES = [
    line.strip()
    for block in re.findall(r"```expression\n(.*?)```", TEXT, re.S)
    for line in block.splitlines()
    if line.strip()
]


def test_generated_tables_are_current() -> None:
    assert render(TEXT) == TEXT, "run: python -m engine.expr.docs"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_is_documented(name: str) -> None:
    assert f"| `{name}(" in TEXT


@pytest.mark.parametrize("name", [n for n in dir(limits) if n.isupper()])
def test_every_limit_is_documented(name: str) -> None:
    assert f"| `{name}` |" in TEXT


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize("source", EXAMPLES)
def test_documented_examples_compile_and_run(source: str) -> None:
    expr = compile_expression(source, SCOPE)
    expr(full_record(), CONTEXT)
    expr({}, CONTEXT)
