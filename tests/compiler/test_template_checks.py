"""Notification templates at compile time: syntax, size, and where an unknown name is."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.small import diagnostics

NAMES = (
    "'alert', 'assignment', 'bundle', 'forecast', 'group', 'links', 'now', 'params', "
    "'recipient', 'record', 'row', 'schedule', 'stage', 'user', 'value', 'workflow'"
)


def note(subject: str, body: str) -> dict[str, str]:
    text = f"kind: notification\nversion: 1\nname: n\nsubject: {subject}\nbody: {body}\n"
    return {"n.yaml": text}


def test_an_escaped_line_break_keeps_the_error_on_the_value_line(tmp_path: Path) -> None:
    # The `\n` is an escape inside one quoted line: the error is on that line, not below
    # it, at the name itself (the escape is two characters of the file).
    assert diagnostics(tmp_path, note("hi", '"Hello\\n{{ nme }}"')) == [
        "n.yaml:5:18: error[unknown-name]: template uses 'nme', which is not defined here "
        f"(available: {NAMES})"
    ]


def test_a_template_nested_too_deeply_is_refused_not_crashed(tmp_path: Path) -> None:
    deep = '"{{ ' + "(" * 400 + "1" + ")" * 400 + ' }}"'
    assert diagnostics(tmp_path, note(deep, "there")) == [
        "n.yaml:4:10: error[template-too-complex]: template is too deeply nested or holds a "
        "number too large to read (simplify the template)"
    ]


def test_a_syntax_error_is_on_the_line_jinja_names(tmp_path: Path) -> None:
    body = '"a\\nb\\n{% for x in y %}\\n{% endif %}"'
    assert diagnostics(tmp_path, note("hi", body)) == [
        "n.yaml:5:32: error[template-syntax]: template: Encountered unknown tag 'endif'. Jinja "
        "was looking for the following tags: 'endfor' or 'else'. The innermost block that "
        "needs to be closed is 'for'. (placeholders are written {{ name }})"
    ]


def test_an_unclosed_block_is_a_syntax_error(tmp_path: Path) -> None:
    assert diagnostics(tmp_path, note("hi", '"{% if record %}"')) == [
        "n.yaml:5:8: error[template-syntax]: template: Unexpected end of template. Jinja was "
        "looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block "
        "that needs to be closed is 'if'. (placeholders are written {{ name }})"
    ]
