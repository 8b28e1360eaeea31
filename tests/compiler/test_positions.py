"""A diagnostic about part of a quoted YAML value points at that character of the file.

Found by fuzzing (five inputs kept in tests/fuzz/corpus/template/crash-*): a template written as a double-quoted
scalar with `\\n` escapes reported its syntax error lines below the end of the file, since
each escaped newline was counted as a line of the file.
"""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from engine.compiler.context import Context, Site
from engine.compiler.pipeline import compile_bundle
from engine.compiler.positions import quoted
from engine.yamlsource import load_documents

MANIFEST = "kind: bundle\nversion: 1\nname: t\ntimezone: UTC\nroles: [admin]\n"
FORM = "kind: form\nversion: 1\nentity: lead\nfields:\n  name: {type: string}\n"


def at(text: str, line: int, col: int) -> str:
    """Return the text of the file from line/col on."""
    return text.splitlines()[line - 1][col - 1 :]


def test_an_escaped_newline_is_one_character_of_the_line() -> None:
    lines = ['body: "a\\nb\\x41c"']
    assert [quoted(lines, 1, 7, i) for i in range(6)] == [
        (1, 8),  # a
        (1, 9),  # \n
        (1, 11),  # b
        (1, 12),  # \x41
        (1, 16),  # c
        (1, 17),  # past the end: the closing quote
    ]


def test_a_doubled_single_quote_is_one_character() -> None:
    lines = ["when: 'it''s x'"]
    assert [quoted(lines, 1, 7, i) for i in (0, 2, 3, 5)] == [(1, 8), (1, 10), (1, 12), (1, 14)]


def test_folded_lines_blank_lines_and_an_escaped_line_break() -> None:
    lines = ['when: "ab  ', "   cd", "", "   e\\", "      fg", '   h"']
    # value: 'ab cd' + '\n' + 'efg h' (the break after 'ab' is a space, the blank line a
    # newline, the escaped break nothing; the indentation of each line is dropped).
    assert [quoted(lines, 1, 7, i) for i in range(12)] == [
        (1, 8),
        (1, 9),
        (2, 4),  # the folded line break lands on the next text
        (2, 4),
        (2, 5),
        (4, 4),  # the blank line's newline, too
        (4, 4),
        (5, 7),
        (5, 8),
        (6, 4),
        (6, 4),
        (6, 5),  # past the end: the closing quote
    ]


def test_a_template_syntax_error_after_escaped_newlines_points_into_the_file(
    tmp_path: Path,
) -> None:
    text = 'kind: notification\nbody: "{% for x in y %}\\n\\n\\n{% endfo %}"\n'
    (doc,), problems = load_documents("n.yaml", text.encode())
    assert problems == []
    ctx = Context()
    ctx.template(Site(doc, ("body",)), doc.data["body"], ["x"])
    [d] = ctx.diagnostics
    assert (d.code, d.line, d.col) == ("template-syntax", 2, 30)
    assert at(text, d.line, d.col).startswith("{% endfo %}")


def test_an_expression_with_escaped_quotes_points_at_the_unknown_name(tmp_path: Path) -> None:
    rule = (
        "kind: validation\nversion: 1\nname: v\nentity: lead\non: [save]\n"
        'refuse_if: "name == \\"a\\\\\\"b\\" and nmae == \'x\'"\nmessage: m\n'
    )
    (tmp_path / "b.yaml").write_text(MANIFEST + "---\n" + FORM + "---\n" + rule, "utf-8")
    result = compile_bundle(tmp_path, display_root="")
    text = (tmp_path / "b.yaml").read_text("utf-8")
    found = [d for d in result.diagnostics if d.code == "unknown-name"]
    assert [(d.line, d.col) for d in found] == [(18, 36)]
    assert at(text, 18, 36).startswith("nmae ==")


def _dumped(value: str, style: str, width: int) -> str:
    yaml = YAML()
    yaml.default_style = style
    yaml.width = width
    out = io.StringIO()
    yaml.dump({"k": value}, out)
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="ab '\"\\\n\té", max_size=60),
    st.sampled_from(['"', "'"]),
    st.integers(8, 40),
)
def test_every_character_of_a_dumped_quoted_value_is_found_in_the_text(
    value: str, style: str, width: int
) -> None:
    text = _dumped(value, style, width)
    (doc,), _ = load_documents("q.yaml", text.encode())
    # What YAML reads (ruamel's emitter folds some backslash runs wrongly: not ours).
    loaded = doc.data["k"]
    lines = text.splitlines()
    line, col = doc.locate(("k",))
    for i, char in enumerate(loaded):
        if char in " \n\t":
            continue  # white space may be folded into a line break
        row, column = quoted(lines, line, col, i)
        raw = lines[row - 1][column - 1]
        assert raw == char or raw == "\\", (loaded, text, i, row, column)
