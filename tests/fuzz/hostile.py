"""The hostile expressions of issue 10, with every issue each must give (code, offset,
message) when compiled against tests/expr/expr_scopes.SCOPE.

tests/expr/test_hostile_expressions.py checks them alone and in a bundle;
tests/api/test_hostile_definitions.py loads them into a running server.
"""

from __future__ import annotations

import json

from engine.expr.errors import quote
from engine.expr.limits import (
    MAX_COMPREHENSION_NESTING,
    MAX_DEPTH,
    MAX_NODES,
    MAX_SOURCE_LENGTH,
    MAX_STRING_LENGTH,
)

PREFIX = "(names must not start with '_' or 'func_')"
TOO_LARGE = "is too large: the result would be a number that is too large"
TOO_LONG = f"the result would be longer than {MAX_STRING_LENGTH} characters or items"
SPLIT = "split it into named computed fields"

# (id, source, [(code, offset, message)])
HOSTILE: list[tuple[str, str, list[tuple[str, int, str]]]] = [
    (
        "import-call",
        "__import__('os').system('id')",
        [
            ("not-allowed", 0, f"name '__import__' is not allowed {PREFIX}"),
            ("not-allowed", 0, "methods cannot be called: 'system'"),
        ],
    ),
    ("import-statement", "import os", [("syntax", 0, "invalid syntax")]),
    ("eval", "eval('1')", [("unknown-function", 0, "function 'eval' does not exist")]),
    ("open", "open('/etc/passwd')", [("unknown-function", 0, "function 'open' does not exist")]),
    (
        "getattr",
        "getattr(name, 'upper')",
        [("unknown-function", 0, "function 'getattr' does not exist")],
    ),
    (
        "dunder-chain",
        "().__class__.__bases__[0].__subclasses__()",
        [
            ("not-allowed", 0, "methods cannot be called: '__subclasses__'"),
            ("not-allowed", 3, f"field '__class__' is not allowed {PREFIX}"),
            ("not-allowed", 13, f"field '__bases__' is not allowed {PREFIX}"),
        ],
    ),
    ("dunder-field", "name.__class__", [("not-allowed", 5, f"field '__class__' is not allowed {PREFIX}")]),
    (
        "dunder-index",
        "name['__globals__']",
        [("not-allowed", 5, f"field '__globals__' is not allowed {PREFIX}")],
    ),
    ("private-field", "lines[0]._x", [("not-allowed", 9, f"field '_x' is not allowed {PREFIX}")]),
    (
        "private-loop-name",
        "[_x for _x in keywords]",
        [("not-allowed", 8, f"name '_x' is not allowed {PREFIX}")],
    ),
    ("method-call", "name.format(1)", [("not-allowed", 0, "methods cannot be called: 'format'")]),
    ("walrus", "(x := 1)", [("not-allowed", 1, "assignments (':=') are not allowed")]),
    (
        "walrus-in-condition",
        "score > 1 and (y := 2)",
        [("not-allowed", 15, "assignments (':=') are not allowed")],
    ),
    ("lambda", "lambda: 1", [("not-allowed", 0, "lambda functions are not allowed")]),
    ("lambda-call", "(lambda x: x)(1)", [("not-allowed", 0, "only listed functions can be called")]),
    ("f-string", "f'{name.__class__}'", [("not-allowed", 0, "f-strings are not allowed")]),
    ("yield", "score if (yield) else 1", [("not-allowed", 10, "'yield' is not allowed")]),
    ("await", "await score", [("not-allowed", 0, "'await' is not allowed")]),
    ("power-tower", "9 ** 9 ** 9", [("too-large", 0, f"'9 ** 9 ** 9' {TOO_LARGE}")]),
    ("huge-power", "2 ** 100000", [("too-large", 0, f"'2 ** 100000' {TOO_LARGE}")]),
    (
        "power-in-a-sum",
        "score + 10 ** 400",
        [("too-large", 8, f"'10 ** 400' {TOO_LARGE}")],
    ),
    (
        "huge-repeat",
        "'a' * 10 ** 9",
        [("too-large", 0, f"\"'a' * 10 ** 9\" is too large: {TOO_LONG}")],
    ),
    (
        "list-repeat",
        "[1] * 200000",
        [("too-large", 0, f"'[1] * 200000' is too large: {TOO_LONG}")],
    ),
    (
        "huge-literal",
        "99999999999999999999999 > score",
        [("too-large", 0, "the number '99999999999999999999999' is too large")],
    ),
    (
        "long-text",
        "'" + "x" * 1001 + "'",
        [("too-large", 0, f"the text {quote(chr(39) + 'x' * 1001 + chr(39))} is 1001 characters long")],
    ),
    (
        "deep-unary",
        "-" * 150 + "score",
        [("too-large", 150, f"the expression is nested 151 levels deep; the limit is {MAX_DEPTH}")],
    ),
    (
        "deep-not",
        "not " * 150 + "True",
        [("too-large", 600, f"the expression is nested 151 levels deep; the limit is {MAX_DEPTH}")],
    ),
    (
        "deep-lists",
        "[" * 120 + "]" * 120,
        [("too-large", 119, f"the expression is nested 120 levels deep; the limit is {MAX_DEPTH}")],
    ),
    ("deep-parentheses", "(" * 300 + "1" + ")" * 300, [("syntax", 200, "too many nested parentheses")]),
    ("parser-stack", "-" * 3999 + "1", [("too-large", 0, "the expression is nested too deeply")]),
    (
        "many-parts",
        "1" + " < 1" * 999,
        [("too-large", 0, f"the expression has 1001 parts; the limit is {MAX_NODES}")],
    ),
    (
        "too-long",
        "score + " * 500 + "1",
        [("too-large", 0, f"the expression is 4001 characters long; the limit is {MAX_SOURCE_LENGTH}")],
    ),
    (
        "comprehension-nesting",
        "[[[z for z in keywords] for y in keywords] for x in keywords]",
        [
            (
                "too-large",
                2,
                f"comprehensions are nested more than {MAX_COMPREHENSION_NESTING} deep",
            )
        ],
    ),
    (
        "two-fors",
        "[x for x in keywords for y in keywords]",
        [("not-allowed", 0, "only one 'for' is allowed in a comprehension")],
    ),
    (
        "large-range",
        "[x for x in range(10 ** 9)]",
        [("unknown-function", 12, "function 'range' does not exist")],
    ),
]  # fmt: skip


def in_bundle() -> list[tuple[str, list[tuple[str, int, str]]]]:
    """The cases a YAML file can hold as written inside double quotes (no escapes needed)."""
    return [(s, i) for _, s, i in HOSTILE if '"' not in s and "\\" not in s and len(s) < 400]


def validations(sources: list[str], entity: str = "lead") -> list[str]:
    """One validation document per expression, as `refuse_if: "<source>"`."""
    return [
        f"kind: validation\nversion: 1\nname: hostile_{n}\nentity: {entity}\non: [save]\n"
        f"refuse_if: {json.dumps(source)}\nmessage: refused\n"
        for n, source in enumerate(sources)
    ]


# The column of a refuse_if value's first character (after `refuse_if: "`).
VALUE_COL = len('refuse_if: "') + 1
