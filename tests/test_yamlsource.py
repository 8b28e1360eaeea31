"""The YAML loader: positions, and a located diagnostic for every kind of bad YAML."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.yamlsource import MAX_FILE_BYTES, load_documents

BOMB = b"""a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: [*e, *e, *e, *e]
"""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b"a: 1\nb:\n  c: 2\n  c: 3\n",
            "f.yaml:4:3: error[yaml-duplicate-key]: key 'c' appears twice in this mapping "
            "(first at line 3; keep one)",
        ),
        (
            b"a:\n\t- 1\n",
            "f.yaml:2:1: error[yaml-tab]: tab character in indentation "
            "(YAML indents with spaces only)",
        ),
        (
            b"a: [1, 2\nb: 3\n",
            "f.yaml:2:2: error[yaml-syntax]: did not find expected ',' or ']' while parsing a flow "
            "sequence (check the indentation and quoting on this line or the one before)",
        ),
        (
            b"a: 1\nb: \xff\xfe\n",
            "f.yaml:2:4: error[not-utf8]: byte 0xff is not valid UTF-8 (save the file as UTF-8)",
        ),
        (  # a lone CR and CR LF break lines, as YAML reads them (a fuzzer's find)
            b"\r\x80a: 1\r\nb: 2\rc: \xff",
            "f.yaml:2:1: error[not-utf8]: byte 0x80 is not valid UTF-8 (save the file as UTF-8)",
        ),
        (  # after a byte order mark, the byte and its place (a fuzzer's find, issue 10)
            b"\xef\xbb\xbfkind: x\r\nv\x9b: 1\n",
            "f.yaml:2:2: error[not-utf8]: byte 0x9b is not valid UTF-8 (save the file as UTF-8)",
        ),
        (
            BOMB,
            "f.yaml:6:4: error[yaml-too-large]: document expands to more than 200000 values "
            "(aliases (*name) that repeat large blocks multiply its size)",
        ),
        (
            b"a: !!python/object:os.system x\n",
            "f.yaml:1:4: error[yaml-tag]: unsupported tag "
            "'tag:yaml.org,2002:python/object:os.system' "
            "(definitions use plain YAML values; remove the '!' tag)",
        ),
        (
            b'a: "abc\n',
            "f.yaml:2:1: error[yaml-syntax]: found unexpected end of stream while scanning a quoted "
            "scalar (check the indentation and quoting on this line or the one before)",
        ),
        (
            b"a: {b: c:d}\n",
            "f.yaml:1:9: error[yaml-syntax]: found unexpected ':' while scanning a plain scalar "
            "(put text that contains ':' in quotes)",
        ),
        (
            b"a: &x [*x]\n",
            "f.yaml:1:4: error[yaml-recursive-alias]: an alias refers to a node that contains it",
        ),
        (
            b"a: 1\x00\n",
            "f.yaml:1:1: error[not-text]: file contains a NUL character (is this a binary file?)",
        ),
        (
            b"x" * (MAX_FILE_BYTES + 1),
            f"f.yaml:1:1: error[file-too-large]: file is {MAX_FILE_BYTES + 1} bytes; "
            f"the limit is {MAX_FILE_BYTES} (split it into several files)",
        ),
        (
            b"a: " + b"[" * 70 + b"]" * 70 + b"\n",
            "f.yaml:1:68: error[yaml-too-deep]: nesting deeper than 64 levels",
        ),
        (
            b"a: " + str(2**300).encode() + b"\n",
            "f.yaml:1:4: error[yaml-value]: number is too large "
            "(numbers in definitions have at most 256 bits)",
        ),
        (
            b"? [a, b]\n: 1\n",
            "f.yaml:1:3: error[yaml-complex-key]: a mapping key must be a plain value",
        ),
    ],
)
def test_bad_yaml_gets_one_located_error(raw: bytes, expected: str) -> None:
    _, problems = load_documents("f.yaml", raw)
    assert [p.render() for p in problems] == [expected]


def test_positions_of_values_and_keys_are_one_based() -> None:
    (doc,), problems = load_documents("m.yaml", b"a:\n  b: [1, {c: 2}]\n")
    assert problems == []
    assert doc.data == {"a": {"b": [1, {"c": 2}]}}
    assert doc.locate(("a", "b", 1, "c")) == (2, 14)
    assert doc.locate(("a", "b", 1, "c"), key=True) == (2, 11)
    assert doc.locate(("a", "missing", "deeper")) == (2, 3)


def test_merge_keys_and_aliases_expand_with_explicit_keys_winning() -> None:
    (doc,), _ = load_documents("m.yaml", b"base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n")
    assert doc.data["d"] == {"x": 1, "y": 3}


def test_yaml_12_keeps_yes_no_as_text_and_reads_dates() -> None:
    (doc,), _ = load_documents("m.yaml", b"a: yes\nb: off\nc: 2026-01-01\nd: 1_000\n")
    assert doc.data == {"a": "yes", "b": "off", "c": dt.date(2026, 1, 1), "d": 1000}


def test_several_documents_and_empty_ones() -> None:
    docs, problems = load_documents("m.yaml", b"kind: a\n---\n---\nkind: b\n")
    assert problems == []
    assert [d.data for d in docs] == [{"kind": "a"}, {"kind": "b"}]
    assert docs[1].start == (4, 1)


def test_utf8_bom_is_accepted() -> None:
    (doc,), problems = load_documents("m.yaml", "\ufeffname: 锦江区\n".encode())
    assert problems == [] and doc.data == {"name": "锦江区"}


def test_recursive_alias_is_refused() -> None:
    _, problems = load_documents("m.yaml", b"a: &x\n  b: *x\n")
    assert [p.code for p in problems] == ["yaml-recursive-alias"]
