"""`isinstance` takes a tuple of classes in the packages, never an `X | Y` union.

`isinstance(value, str | list)` builds a new `types.UnionType` every time it runs (two
`|` operations for three classes), which made `is_missing` cost ~180 ns a call where a
check runs it per record; `isinstance(value, (str, list))` costs a few (decision 92).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "runtime", "api")


def union_checks(source: str, name: str) -> list[str]:
    """Return `name:line` of each isinstance/issubclass call whose classes are an `|`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("isinstance", "issubclass")
            and len(node.args) == 2
            and isinstance(node.args[1], ast.BinOp)
            and isinstance(node.args[1].op, ast.BitOr)
        ):
            found.append(f"{name}:{node.lineno}")
    return found


def test_the_check_finds_a_union_and_passes_a_tuple() -> None:
    source = "def f(x):\n    a = isinstance(x, (str, int))\n    return isinstance(x, str | int)\n"
    assert union_checks(source, "m.py") == ["m.py:3"]
    assert union_checks("issubclass(t, A | B | C)\nisinstance(x, T)\n", "n.py") == ["n.py:1"]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_isinstance_builds_a_union_at_run_time(package: str) -> None:
    found = [
        hit
        for path in sorted((ROOT / package).rglob("*.py"))
        for hit in union_checks(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert found == [], "write isinstance(x, (A, B)), not isinstance(x, A | B):\n" + "\n".join(
        found
    )
