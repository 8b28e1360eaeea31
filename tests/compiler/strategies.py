"""Hypothesis strategies: mutated copies of `definitions/`, and valid spec documents."""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import functools
import io
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from ruamel.yaml import YAML

from engine.expr import FUNCTIONS
from engine.spec import KINDS
from engine.yamlsource import load_documents

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"
NodePath = tuple[str | int, ...]
Corpus = dict[str, list[Any]]  # file (relative path) -> the plain data of its documents

# Keys whose value is an expression of the sopflow language.
EXPR_KEYS = frozenset(
    {
        "refuse_if",
        "when",
        "resolve_when",
        "computed",
        "value",
        "eligible",
        "applies_when",
        "within_expr",
        "where",
        "only_when",
        "include_if",
    }
)


def yaml_text(data: Any, *, many: bool = False, fold: bool = True) -> str:
    """Dump plain data with ruamel.yaml's safe dumper (several documents when `many`).

    `fold=False` keeps every scalar on one line: ruamel 0.19's emitter may fold a
    double-quoted scalar right after an escaped backslash, which reads back with an
    extra space ('\\u2028' -> '\\ u2028'), so exact round trips do not fold.
    """
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    if not fold:
        yaml.width = 2**30
    out = io.StringIO()
    if many:
        yaml.explicit_start = True
        yaml.dump_all(data, out)
    else:
        yaml.dump(data, out)
    return out.getvalue()


@functools.cache
def _corpus() -> tuple[dict[str, bytes], Corpus]:
    raw: dict[str, bytes] = {}
    data: Corpus = {}
    for path in sorted(DEFINITIONS.rglob("*.yaml")):
        rel = path.relative_to(DEFINITIONS).as_posix()
        if rel.startswith("tests/"):
            continue  # definition tests (kind: test), not definitions
        raw[rel] = path.read_bytes()
        docs, problems = load_documents(rel, raw[rel])
        assert not problems, problems
        data[rel] = [doc.data for doc in docs]
    return raw, data


def definition_files() -> dict[str, bytes]:
    """Return the bytes of every file of `definitions/` by relative path."""
    return dict(_corpus()[0])


def definition_data() -> Corpus:
    """Return a fresh deep copy of the plain data of every document of `definitions/`."""
    return copy.deepcopy(_corpus()[1])


def _names_in(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield key
            yield from _names_in(value)
    elif isinstance(data, list):
        for item in data:
            yield from _names_in(item)


def _model_keys() -> list[str]:
    keys: set[str] = set()
    seen: set[type] = set()

    def visit(model: Any) -> None:
        if model in seen or not hasattr(model, "model_fields"):
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            keys.update({name, field.alias or name})
            for sub in _submodels(field.annotation):
                visit(sub)

    for model in KINDS.values():
        visit(model)
    return sorted(keys)


def _submodels(annotation: Any) -> Iterator[Any]:
    if hasattr(annotation, "model_fields"):
        yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _submodels(arg)
    for meta in getattr(annotation, "__metadata__", ()) or ():
        yield from _submodels(meta)


# --- plain values -------------------------------------------------------------------------

NASTY_TEXT = [
    "", " ", "{{", "}}", "{%", "%}", "{#", "{{ x }}", "{{ record.__class__.__mro__ }}",
    "{% for x in y %}", "{% endfor %}", "{% raw %}", "{{ ' }}", "'", '"', "\\", "\t", "\n",
    "\r\n", "ü", "中文", "🎉", "\u202e", "\u0000", "\ufeff", "\u2028", "- ", ": ", "#", "&a",
    "*a", "!!str", "%", "@", "`", "->", "a -> b", "${x}", "null", "~", "yes", "1e999", ".inf",
    "2026-13-45", "72h", "0h", "1 working day", "role:", "owner.manager", "https://", "a.b",
    "²", "١٢", "_", "__class__", "*", "in [a, b]", "1..3", "3..1", ">= x", "has",
]  # fmt: skip
# Built by .map() so that strategy reprs (which Hypothesis renders) stay short.
LONG_TEXT = st.sampled_from([4001, 20001]).map(lambda n: "x" * n)
TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(NASTY_TEXT),
    LONG_TEXT,
    st.lists(st.sampled_from(NASTY_TEXT) | st.text(max_size=4), max_size=6).map("".join),
)
INTS = st.one_of(
    st.integers(-3, 3),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**100, 2**31]),
)
FLOATS = st.floats() | st.sampled_from([0.5, -0.0, 1e308, float("inf"), float("nan")])
DATES = st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))
DATETIMES = st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1))
KEYS = st.one_of(st.sampled_from(_model_keys()), TEXT)
SCALARS = st.one_of(INTS, FLOATS, st.booleans(), st.none(), TEXT, DATES, DATETIMES)
# Nested values. `st.deferred` rather than `st.recursive`: Hypothesis' shrinker renders the
# strategy's repr, which grows exponentially with st.recursive (it exhausted 24 GB here).
VALUES: st.SearchStrategy[Any] = st.deferred(
    lambda: (
        SCALARS | SCALARS | st.lists(VALUES, max_size=3) | st.dictionaries(KEYS, VALUES, max_size=3)
    )
)
BY_KIND: dict[str, st.SearchStrategy[Any]] = {
    "int": INTS,
    "float": FLOATS,
    "bool": st.booleans(),
    "none": st.none(),
    "str": TEXT,
    "list": st.lists(VALUES, max_size=3),
    "dict": st.dictionaries(KEYS, VALUES, max_size=3),
    "date": DATES,
    "datetime": DATETIMES,
}


def kind_of(value: Any) -> str:
    """Name the YAML-level type of a plain value (a key of BY_KIND)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dt.datetime):
        return "datetime"
    return {int: "int", float: "float", type(None): "none", str: "str", list: "list",
            dict: "dict", dt.date: "date"}.get(type(value), "str")  # fmt: skip


@st.composite
def other_type(draw: st.DrawFn, kind: str) -> Any:
    """Draw a value of a different type than `kind` (a key of BY_KIND)."""
    return draw(BY_KIND[draw(st.sampled_from(sorted(set(BY_KIND) - {kind})))])


# --- expressions --------------------------------------------------------------------------


def _entity_names() -> list[str]:
    return sorted(
        {n for docs in definition_data().values() for d in docs for n in _names_in(d)}
        | {"record", "now", "params", "candidate", "row", "value", "stage", "owner", "id"}
    )


NAMES = st.one_of(
    st.sampled_from(_entity_names()),
    st.sampled_from(["__class__", "__import__", "__builtins__", "_x", "True", "None", "self"]),
    st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True),
)
CALLEES = st.sampled_from([*FUNCTIONS, "eval", "exec", "open", "getattr", "type", "print"])
NUMBERS = st.one_of(
    st.integers(-10, 10).map(str),
    st.sampled_from(["10**100", "9**9**9", "2**2**2**2**2", "1e308*10", "99999999999999999999999",
                     "0.1", "1_000", "0x1F", "1j", "1/0", "-1**0.5", "10**-400", "0o7"]),
)  # fmt: skip
STRINGS = TEXT.map(repr) | st.sampled_from(["'x'*10**8", "'", '"', "f'{x}'", "b'x'", "'''a'''"])
BINARY = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or",
          "in", "not in", "is", "is not", "&", "|", "^", "<<", ">>", "@"]  # fmt: skip


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    args = st.lists(inner, max_size=3).map(", ".join)
    return st.one_of(
        st.tuples(inner, st.sampled_from(BINARY), inner).map(" ".join),
        st.tuples(NUMBERS, st.sampled_from(["in", "if", "or", "and", "else", "is"]), inner).map(
            "".join  # '0in x': Python parses it, with a SyntaxWarning
        ),
        st.tuples(st.sampled_from(["not ", "-", "+", "~"]), inner).map("".join),
        st.tuples(CALLEES, args).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(inner, NAMES).map(lambda t: f"{t[0]}.{t[1]}"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} if {t[1]} else {t[2]}"),
        st.tuples(inner, NAMES, inner).map(lambda t: f"all({t[0]} for {t[1]} in {t[2]})"),
        st.tuples(inner, NAMES, inner).map(lambda t: f"[{t[0]} for {t[1]} in {t[2]}]"),
        args.map(lambda a: f"[{a}]"),
        args.map(lambda a: f"({a})"),
        inner.map(lambda e: f"lambda: {e}"),
        st.tuples(NAMES, inner).map(lambda t: f"({t[0]} := {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"{{{t[0]}: {t[1]}}}"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}:]"),
    )


ATOMS = st.one_of(NAMES, NUMBERS, STRINGS)
GRAMMAR: st.SearchStrategy[str] = st.deferred(lambda: ATOMS | ATOMS | _compound(GRAMMAR))
EXPRESSIONS = st.one_of(
    GRAMMAR,
    TEXT,
    st.tuples(st.integers(1, 400), GRAMMAR).map(lambda t: "(" * t[0] + t[1] + ")" * t[0]),
    st.tuples(st.integers(1, 2000), NUMBERS).map(lambda t: "1 + " * t[0] + t[1]),
    st.tuples(st.integers(1, 300), NAMES).map(lambda t: "not " * t[0] + t[1]),
    st.tuples(st.integers(1, 300), NAMES).map(lambda t: t[1] + ".x" * t[0]),
)


def is_expression(path: NodePath) -> bool:
    """Tell whether the value at `path` is an expression (by its key)."""
    if not path:
        return False
    last = path[-1]
    if isinstance(last, str) and last in EXPR_KEYS:
        return True
    if len(path) >= 2 and path[-2] == "inputs" and isinstance(last, int):
        return True
    return (
        len(path) >= 3 and path[-2] in ("data", "fields") and path[-3] in ("create_record", "set")
    )


# Keys whose value is a jinja2 text template.
TEMPLATE_KEYS = frozenset({"message", "subject", "body", "guidance", "dedup_key", "url"})
TEMPLATES_TEXT = st.one_of(
    TEXT,
    GRAMMAR.map(lambda e: "{{ " + e + " }}"),
    st.tuples(st.integers(1, 3000), st.sampled_from(["(", "-", "not ", "x[", "+x", "| f", ".a"]))
    .map(lambda t: "{{ x" + t[1] * t[0] + " }}" if t[1][0] in "+|." else "{{ " + t[1] * t[0] + "x }}"),
    st.integers(1, 6000).map(lambda n: "{{ " + "9" * n + " }}"),
    st.integers(1, 400).map(lambda n: "{% if x %}" * n + "{% endif %}" * n),
    st.sampled_from(["{{ '\\N{x}' }}", "{{ x.__class__ }}", "{% raw %}", "{{", "{% for %}",
                     "{{ x | attr('__class__') }}", "{% include 'x' %}", "{% extends x %}"]),
)  # fmt: skip
REGEXES = st.one_of(
    TEXT,
    st.text(alphabet="()[]{}*+?|\\^$.a0,-:<=!P", max_size=20),
    st.integers(1, 5000).map(lambda n: "(" * n + ")" * n),
    st.integers(1, 2**80).map(lambda n: "a{" + str(n) + "}"),
    st.sampled_from(["[", "(?P<a>", "a**", "(?<=a+)b", "\\N{foo}", "(?i", "a{2,1}", "(a*)*b"]),
)  # fmt: skip


def text_for(key: str | int) -> st.SearchStrategy[str]:
    """Random text fit to test the value of `key`: expressions, templates, regexes, or any."""
    if key in EXPR_KEYS:
        return EXPRESSIONS
    if key in TEMPLATE_KEYS:
        return TEMPLATES_TEXT
    return REGEXES if key == "pattern" else TEXT


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def keys_at(kind: Any, path: NodePath) -> list[str]:
    """Return the keys the spec model allows in the mapping at `path` of a `kind` document."""
    current = [KINDS[kind]] if kind in KINDS else []
    for part in path:
        following = []
        for candidate in (t for ann in current for t in _unwrap(ann)):
            origin, args = typing.get_origin(candidate), typing.get_args(candidate)
            if hasattr(candidate, "model_fields") and isinstance(part, str):
                following += [f.annotation for n, f in candidate.model_fields.items()
                              if part in (n, f.alias)]  # fmt: skip
            elif origin in (list, tuple) and isinstance(part, int) and args:
                following.append(args[0])
            elif origin is dict and isinstance(part, str):
                following.append(args[1])
        current = following
    models = [t for ann in current for t in _unwrap(ann) if hasattr(t, "model_fields")]
    return sorted({f.alias or n for m in models for n, f in m.model_fields.items()})


# --- mutations of the example bundle ------------------------------------------------------

# Weighted by repetition: document-level mutations are rarer (dropping the manifest stops
# every later check, which would hide the checks from the fuzzer).
MUTATIONS = (
    *("delete_key", "retype", "random_text", "expression", "rename_key", "raw_scalar") * 3,
    *("add_key",) * 3,
    "duplicate_item", "truncate_list", "duplicate_item", "truncate_list",
    "drop_document", "duplicate_document",
)  # fmt: skip
RAW_INSERTS = [
    b"\t", b"\xff", "中文中文".encode() + b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xef\xbb\xbf",
    b"\x00", b"&a ", b"*a", b"*a\n", b"<<: *a\n", b"!!python/object:os.system ", b"!!binary ",
    b"\n---\n", b"\n...\n", b"%YAML 1.1\n", b"? ", b"{", b"[", b"]", b"'", b'"', b"\n- ", b": ",
    b"&a [*a, *a]", b"\r", b"\x85", b"|", b">-\n", b"!!int ", b"!!float ", b"!!bool ",
]  # fmt: skip
# YAML text put in place of one scalar (plain, unquoted): tags, bad timestamps, huge numbers.
RAW_SCALARS = [
    "2026-13-45", "2026-02-30", "2026-01-01T25:00:00", "2026-01-01 10:00:00 +99:00",
    "9" * 4400, "-" + "9" * 4400, "0x" + "f" * 4000, "1" * 400 + ".5", "1e99999", ".NaN",
    "!!int x", "!!float x", "!!bool maybe", "!!timestamp 2026-01-01", "!!timestamp x",
    "!!binary aGk=", "!!set {a}", "!!omap [a: 1]", "!!pairs [a: 1]", "!!python/object:os.system x",
    "!!str", "!!null x", "!<tag:yaml.org,2002:int> x", "!custom x", "!!map []", "!!seq {}",
    "*nope", "&a [*a]", "{<<: 1}", "{<<: [1]}", "{<<: {kind: form}}", "[&a x, *a, *a]",
    "0o9", "1_0", "0b2", "+.inf", "'unterminated", "[", "{a: 1, a: 2}", "{? [a]: 1}",
    "~", "null", "true", "False", "0", "-0.0", "1:30", "2026-01-01", "2026-01-01T10:00:00Z",
    "|\n  literal\n", ">-\n  folded\n", "'it''s'", '"\\x00"', '"\\uD800"', '"\\N"',
]  # fmt: skip
SENTINEL = "zzsentinel"


def nodes(data: Any, prefix: NodePath = ()) -> Iterator[tuple[NodePath, Any]]:
    yield prefix, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from nodes(value, (*prefix, key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from nodes(item, (*prefix, i))


def _eligible(op: str, path: NodePath, value: Any) -> bool:
    keyed = bool(path) and isinstance(path[-1], str)
    return {
        "delete_key": keyed,
        "retype": True,
        "random_text": isinstance(value, str),
        "expression": is_expression(path),
        "rename_key": keyed,
        "duplicate_item": isinstance(value, list) and bool(value),
        "truncate_list": isinstance(value, list) and bool(value),
        "raw_scalar": not isinstance(value, dict | list),
        "add_key": isinstance(value, dict),
    }[op]


def _get(data: Any, path: NodePath) -> Any:
    for part in path:
        data = data[part]
    return data


@functools.cache
def _sites(op: str) -> tuple[tuple[str, int, NodePath], ...]:
    """Where in the original documents `op` applies (sites are stable, so mutations shrink)."""
    return tuple(
        (file, i, path)
        for file, docs in sorted(_corpus()[1].items())
        for i, doc in enumerate(docs)
        for path, value in nodes(doc)
        if _eligible(op, path, value)
    )


Mutation = tuple[str, str, int, NodePath, Any]  # op, file, document, path, payload


def _new_key(kind: Any, path: NodePath) -> st.SearchStrategy[tuple[str, Any]]:
    """A key the model allows at `path` (or any key), with a value fit to test it."""
    allowed = keys_at(kind, path)
    key = st.sampled_from(allowed) if allowed else KEYS
    return key.flatmap(lambda k: st.tuples(st.just(k), text_for(k) | VALUES))


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    """Draw one mutation of a site of the original documents, with its new value."""
    op = draw(st.sampled_from(MUTATIONS))
    if op in ("drop_document", "duplicate_document"):
        docs = [(f, i) for f, d in sorted(_corpus()[1].items()) for i in range(len(d))]
        file, index = draw(st.sampled_from(docs))
        return op, file, index, (), None
    sites = _sites(op)
    if draw(st.booleans()):  # one file first, so that small files get their share
        chosen = draw(st.sampled_from(sorted({f for f, _, _ in sites})))
        sites = tuple(s for s in sites if s[0] == chosen)
    # An index, not sampled_from(sites): Hypothesis renders strategy reprs, and sites is long.
    file, index, path = sites[draw(st.integers(0, len(sites) - 1))]
    value = _get(_corpus()[1][file][index], path)
    payload = {
        "delete_key": st.none(),
        "rename_key": KEYS,
        "duplicate_item": st.integers(0, max(len(value) - 1, 0))
        if isinstance(value, list)
        else st.none(),
        "truncate_list": st.integers(0, max(len(value) - 1, 0))
        if isinstance(value, list)
        else st.none(),
        "retype": other_type(kind_of(value)),
        "random_text": text_for(path[-1] if path else ""),
        "expression": EXPRESSIONS,
        "add_key": _new_key(_corpus()[1][file][index].get("kind"), path),
        "raw_scalar": st.integers(0, len(RAW_SCALARS) - 1),
    }[op]
    return op, file, index, path, draw(payload)


def apply(corpus: Corpus, mutation: Mutation) -> bool:
    """Apply a mutation in place; return False when its site no longer exists."""
    op, file, index, path, payload = mutation
    docs = corpus[file]
    if index >= len(docs):
        return False
    if op == "drop_document":
        del docs[index]
        return True
    if op == "duplicate_document":
        docs.insert(index, copy.deepcopy(docs[index]))
        return True
    try:
        parent = _get(docs[index], path[:-1]) if path else docs
        key = path[-1] if path else index
        value = parent[key]
    except (KeyError, IndexError, TypeError):
        return False
    if op in ("duplicate_item", "truncate_list") and not (isinstance(value, list) and value):
        return False
    if op == "add_key" and not isinstance(value, dict):
        return False
    if op == "delete_key":
        del parent[key]
    elif op == "rename_key":
        replaced = {(payload if k == key else k): v for k, v in parent.items()}
        parent.clear()
        parent.update(replaced)
    elif op == "duplicate_item":
        at = payload % len(value)
        value.insert(at, copy.deepcopy(value[at]))
    elif op == "truncate_list":
        del value[payload % len(value) :]
    elif op == "raw_scalar":
        parent[key] = f"{SENTINEL}{payload}x"
    elif op == "add_key":
        value[payload[0]] = payload[1]
    else:
        parent[key] = payload
    return True


@dataclass(frozen=True)
class Mutant:
    """A mutated copy of `definitions/`: what was done, and the files that differ."""

    changes: tuple[str, ...]
    changed: dict[str, bytes]
    dumped: frozenset[str] = frozenset()  # files rewritten by the YAML dumper

    @property
    def files(self) -> dict[str, bytes]:
        """Return every file of the bundle: the originals with the changed ones replaced."""
        return {**definition_files(), **self.changed}

    def __repr__(self) -> str:
        shown = ""
        for rel, raw in sorted(self.changed.items()):
            before = _corpus()[1][rel]
            baseline = (
                (yaml_text(before, many=True) if before else "")
                if rel in self.dumped
                else definition_files()[rel].decode()
            )
            after = raw.decode("utf-8", "backslashreplace")
            diff = difflib.unified_diff(
                baseline.splitlines(), after.splitlines(), rel, rel, n=1, lineterm=""
            )
            shown += "\n" + "\n".join(line[:300] for line in list(diff)[:60])
        return f"Mutant({list(self.changes)}){shown}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Show the same text in Hypothesis' failure reports."""
        printer.text(repr(self))


@st.composite
def mutated_bundles(draw: st.DrawFn, max_mutations: int = 4) -> Mutant:
    """Draw a mutated copy of `definitions/`: data mutations, then maybe a byte-level one."""
    corpus = definition_data()
    changes, touched = [], set()
    for mutation in draw(st.lists(mutations(), min_size=1, max_size=max_mutations)):
        op, file, index, path, payload = mutation
        if apply(corpus, mutation):
            touched.add(file)
            shown = RAW_SCALARS[payload] if op == "raw_scalar" else payload
            shown = "" if payload is None else f" -> {shown!r}"[:200]
            changes.append(f"{op} {file}#{index} {list(path)}{shown}")
    changed = {}
    for file in sorted(touched):
        text = yaml_text(corpus[file], many=True) if corpus[file] else ""
        changed[file] = re.sub(
            rf"{SENTINEL}(\d+)x", lambda m: RAW_SCALARS[int(m.group(1))], text
        ).encode("utf-8")
    if draw(st.integers(0, 4)) == 4:  # one time in five; shrinks towards none
        file = draw(st.sampled_from(sorted(definition_files())))
        raw = changed.get(file, definition_files()[file])
        at = draw(st.integers(0, len(raw)))
        how = draw(st.sampled_from(["insert", "cut", "bytes"]))
        insert = b""
        if how == "insert":
            insert = draw(st.sampled_from(RAW_INSERTS) | st.just(4400).map(lambda n: b"9" * n))
        elif how == "bytes":
            insert = draw(st.binary(max_size=6))
        changed[file] = raw[:at] + insert + (raw[at:] if how != "cut" else b"")
        changes.append(f"bytes {file}@{at}: {'cut' if how == 'cut' else insert!r}")
    return Mutant(tuple(changes), changed, frozenset(touched))


# --- valid documents, for round trips -----------------------------------------------------

NAME = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
USER_ID = st.from_regex(r"[a-z][a-z0-9_.-]{0,10}", fullmatch=True)
PLAIN = st.text(max_size=20)
WORDS = st.text(min_size=1, max_size=30)
EXPR = st.one_of(WORDS, GRAMMAR.map(lambda e: e[:4000] or "x"))  # map, not filter: short reprs
ROLES = st.lists(USER_ID, max_size=3)
NUMBER = st.one_of(st.integers(-(10**9), 10**9), st.floats(allow_nan=False, allow_infinity=False))
OFFSETS = st.integers(-23 * 60 + 1, 23 * 60 - 1).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
ANY_SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**64), 2**64), NUMBER, PLAIN, DATES,
    st.datetimes(timezones=st.none() | OFFSETS),
)  # fmt: skip
ANY: st.SearchStrategy[Any] = st.deferred(
    lambda: (
        ANY_SCALAR
        | ANY_SCALAR
        | st.lists(ANY, max_size=3)
        | st.dictionaries(PLAIN, ANY, max_size=3)
    )
)
UNITS = ["s", "sec", "m", "min", "minutes", "h", "hour", "hours", "d", "day", "days", "w", "weeks"]


def opt(**strategies: st.SearchStrategy[Any]) -> dict[str, st.SearchStrategy[Any]]:
    """Spell optional keys of a fixed dictionary."""
    return strategies


def record(required: dict[str, Any], optional: dict[str, Any] | None = None) -> Any:
    """A mapping with `required` keys (strategies or constants) and some of `optional`."""
    fixed = {k: v if isinstance(v, st.SearchStrategy) else st.just(v) for k, v in required.items()}
    return st.fixed_dictionaries(fixed, optional=optional or {})


@st.composite
def durations(draw: st.DrawFn) -> str:
    """A duration text: '72h', '1h30m', '2 working days', '1.5 hours'."""
    number = st.integers(1, 999).map(str) | st.sampled_from(["0.5", "1.25", "10.0"])
    if draw(st.integers(0, 4)) == 4:  # one time in five; shrinks towards none
        return f"{draw(number)} working {draw(st.sampled_from(UNITS))}"
    space = draw(st.sampled_from(["", " "]))
    parts = [
        f"{draw(number)}{space}{draw(st.sampled_from(UNITS))}"
        for _ in range(draw(st.integers(1, 3)))
    ]
    return space.join(parts)


MEDIA = st.from_regex(r"[a-z]{1,8}/([a-z0-9.+-]{1,8}|\*)", fullmatch=True)
RECIPIENT = st.one_of(
    st.sampled_from(["owner", "owner.manager"]),
    st.tuples(st.sampled_from(["role", "user", "team", "queue", "field"]), USER_ID).map(":".join),
)
ACTION_BODIES = {
    "notify": record(
        {"to": RECIPIENT | st.lists(RECIPIENT, max_size=3), "template": NAME},
        opt(channel=st.sampled_from(["log", "mailbox", "webhook"])),
    ),
    "create_record": record(
        {"entity": NAME}, opt(data=st.dictionaries(NAME, EXPR, max_size=2), workflow=NAME)
    ),
    "set": record({"fields": st.dictionaries(NAME, EXPR, max_size=2)}),
    "assign": st.sampled_from(["routing", "user", "queue"]).flatmap(
        lambda k: record({k: USER_ID if k == "user" else NAME})
    ),
    "start_workflow": record({"workflow": NAME}),
    "webhook": record(
        {"url": st.tuples(st.sampled_from(["http://", "https://"]), PLAIN).map("".join)},
        opt(
            method=st.sampled_from(["POST", "PUT", "PATCH"]),
            headers=st.dictionaries(PLAIN, PLAIN, max_size=2),
            body=WORDS,
            timeout=durations(),
        ),
    ),
    "recompute_forecast": record({"forecast": NAME}),
    "suggest": record(
        {"table": NAME, "where": EXPR},
        opt(limit=st.integers(1, 100), title=PLAIN),
    ),
}
ACTION = st.sampled_from(sorted(ACTION_BODIES)).flatmap(
    lambda k: record({k: ACTION_BODIES[k]}, opt(when=EXPR))
)
# deferred(): a short repr (Hypothesis renders them) for strategies used in many places.
ACTIONS = st.lists(st.deferred(lambda: ACTION), max_size=2)

# Which optional keys apply to which field types (mirrors engine/spec/form.py _APPLIES).
_NUMERIC, _TEXTUAL = {"integer", "decimal"}, {"string", "text", "phone", "address", "email"}
NORMALIZER = st.one_of(
    st.sampled_from(["trim", "lower", "upper", "collapse_spaces", "digits_only"]),
    record({"canonical": record({"table": NAME}, opt(match=NAME, to=NAME,
           unmatched=st.sampled_from(["keep", "reject"])))}),
    record({"replace": st.dictionaries(PLAIN, PLAIN, min_size=1, max_size=2)}),
)  # fmt: skip


@st.composite
def field_specs(draw: st.DrawFn) -> dict[str, Any]:
    """One valid field of a form, with only the keys that apply to its type."""
    ftype = draw(st.sampled_from([
        "string", "text", "integer", "decimal", "boolean", "date", "datetime", "enum",
        "multi_enum", "ref", "list", "evidence", "phone", "address", "email",
    ]))  # fmt: skip
    data: dict[str, Any] = {"type": ftype}
    data |= draw(record({}, opt(
        title=PLAIN, description=PLAIN, unique=st.booleans(), index=st.booleans(),
        read=ROLES, write=ROLES, since=st.integers(1, 10), renamed_from=NAME,
    )))  # fmt: skip
    if ftype == "evidence":
        pass  # filled by attaching files: no computed, required or default
    elif draw(st.booleans()):
        data["computed"] = draw(EXPR)
    else:
        data |= draw(record({}, opt(required=st.booleans(), default=ANY)))
    if ftype in {"enum", "multi_enum"}:
        key = draw(st.sampled_from(["values", "values_from"]))
        data[key] = draw(
            st.lists(PLAIN, min_size=1, max_size=4)
            if key == "values"
            else st.tuples(NAME, NAME).map(".".join)
        )
    if ftype == "ref" or (ftype == "list" and draw(st.booleans())):
        data["to"] = draw(NAME)
    if ftype == "list":
        data["of"] = draw(st.sampled_from(
            ["string", "integer", "decimal", "boolean", "date", "datetime", "enum", "ref"]
        ))  # fmt: skip
        data |= draw(record({}, opt(values=st.lists(PLAIN, max_size=3))))
    if ftype in _NUMERIC:
        data |= draw(record({}, opt(min=NUMBER, max=NUMBER)))
    if ftype in {"date", "datetime"}:
        data |= draw(record({}, opt(min=DATES | DATES.map(str), max=DATES | DATES.map(str))))
    if ftype in _TEXTUAL | {"list", "multi_enum"}:
        sizes = st.integers(0, 10**6)
        data |= draw(record({}, opt(min_length=sizes, max_length=sizes)))
    if ftype in _TEXTUAL:
        data |= draw(record({}, opt(pattern=PLAIN)))
    if ftype in _TEXTUAL | {"enum"}:
        data |= draw(record({}, opt(normalize=st.lists(NORMALIZER, max_size=3))))
    if ftype == "evidence":
        data |= draw(record({}, opt(accept=st.lists(MEDIA, max_size=3))))
    if ftype == "decimal":
        data |= draw(record({}, opt(precision=st.integers(0, 12))))
    return data


LAYOUT_TAB = record(
    {"tab": PLAIN},
    opt(
        roles=ROLES,
        fields=st.lists(NAME, max_size=3),
        sections=st.lists(record({"section": PLAIN, "fields": st.lists(NAME, max_size=3)}),
                          max_size=2),
    ),
)  # fmt: skip
# Named assignments: set by hand, or filled by a routing rule at a moment.
ASSIGNMENT = record({}, opt(title=PLAIN)) | record(
    {"routing": NAME},
    opt(title=PLAIN, not_same_as=st.lists(NAME, max_size=2),
        at=st.just("created") | record({"entering": NAME}) | record({"when": EXPR})),
)  # fmt: skip
FORMS = record(
    {"kind": "form", "version": 1, "entity": NAME,
     "fields": st.dictionaries(NAME, field_specs(), max_size=5)},
    opt(
        title=PLAIN, description=PLAIN, key=st.lists(NAME, max_size=2), title_field=NAME,
        schema_version=st.integers(1, 50),
        legacy=record({}, opt(policy=st.sampled_from(["read_only_if_invalid", "editable",
                                                      "reject"]), note=PLAIN)),
        layout=st.lists(LAYOUT_TAB, max_size=3),
        permissions=record({}, opt(
            create=ROLES, read=ROLES, write=ROLES, delete=ROLES,
            rows=st.dictionaries(USER_ID, st.sampled_from(["assigned", "team", "all"]),
                                 max_size=2),
        )),
        assignments=st.dictionaries(NAME, ASSIGNMENT, max_size=3),
        renamed_from=NAME,
        removed_fields=st.lists(NAME, max_size=2)
        | st.dictionaries(NAME, record({}, opt(note=PLAIN)), max_size=2),
    ),
)  # fmt: skip

EVIDENCE = record(
    {"kind": NAME},
    opt(title=PLAIN, types=st.lists(MEDIA, max_size=2), min=st.integers(1, 9),
        max=st.integers(1, 9), **{"from": st.sampled_from(["current_stay", "any_stay"])}),
)  # fmt: skip
GUARD = record({"refuse_if": EXPR, "message": WORDS})


def included(part: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A template's part, sometimes with `include_if` (an expression over params)."""
    return part.flatmap(lambda data: record(data, opt(include_if=EXPR)))


# Parallel branches and an approval step of a stage (docs/language.md "Branches and approvals").
BRANCH = record(
    {"id": NAME},
    opt(title=PLAIN, roles=ROLES, require=st.lists(NAME, max_size=2), when=EXPR),
)  # fmt: skip
NEED = st.just("all") | st.integers(1, 3)
BRANCHES = record({"items": st.lists(BRANCH, min_size=1, max_size=2)}, opt(need=NEED))
APPROVAL = record(
    {"by": record({"role": USER_ID}) | record({"users": st.lists(USER_ID, min_size=1,
                                                                  max_size=2)}),
     "on_reject": NAME},
    opt(title=PLAIN, need=NEED, send_back_to=st.lists(NAME, max_size=2),
        delegate=st.sampled_from(["manager", "none"]), on_approved=ACTIONS),
)  # fmt: skip
SLA = st.one_of(
    record({"within": durations()}), record({"within_expr": EXPR})
).flatmap(
    lambda limit: record(
        limit,
        opt(calendar=NAME, remind_before=durations() | st.lists(durations(), max_size=2),
            on_remind=ACTIONS, on_breach=ACTIONS),
    )
)  # fmt: skip


def _stage(template: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A stage; in a template its parts (and itself) may carry `include_if`."""
    part = included if template else (lambda s: s)
    stage: st.SearchStrategy[dict[str, Any]] = record(
        {"id": NAME},
        opt(
            title=PLAIN, guidance=PLAIN,
            knowledge=st.lists(record({"title": PLAIN}, opt(url=PLAIN, table=NAME, where=EXPR)),
                               max_size=2),
            insights=st.lists(record({"title": PLAIN, "value": EXPR}), max_size=2),
            require=st.lists(NAME, max_size=2), evidence=st.lists(part(EVIDENCE), max_size=2),
            guards=st.lists(part(GUARD), max_size=2), roles=ROLES, sla=SLA,
            forecast_weight=st.floats(0, 1), on_enter=ACTIONS, on_exit=ACTIONS,
            only_when=EXPR, renamed_from=NAME, branches=BRANCHES, approval=part(APPROVAL),
        ),
    )  # fmt: skip
    return stage.flatmap(lambda data: part(st.just(data)))


def _exit(template: bool) -> st.SearchStrategy[dict[str, Any]]:
    """An exit; in a template it may carry `include_if`."""
    part = included if template else (lambda s: s)
    return part(record(
        {"id": NAME, "outcome": st.sampled_from(["won", "lost", "closed"])},
        opt(title=PLAIN, **{"from": st.lists(NAME, max_size=2)},
            require=st.lists(NAME, max_size=2), evidence=st.lists(part(EVIDENCE), max_size=2),
            guards=st.lists(part(GUARD), max_size=2), roles=ROLES, on_enter=ACTIONS),
    ))  # fmt: skip


STAGE, EXIT = st.deferred(lambda: _stage(False)), st.deferred(lambda: _exit(False))
TEMPLATE_STAGE = st.deferred(lambda: _stage(True))
TEMPLATE_EXIT = st.deferred(lambda: _exit(True))
REMOVED_STAGES = st.dictionaries(NAME, record({"move_to": NAME}, opt(note=PLAIN)), max_size=2)
MOVE = st.tuples(NAME, st.sampled_from(["->", " -> ", "  ->\t"]), NAME).map("".join)
MOVES = record(
    {},
    opt(forward=st.sampled_from(["next", "any_later"]),
        back=st.sampled_from(["any", "none"]) | st.lists(MOVE, max_size=2),
        extra=st.lists(MOVE, max_size=2), roles=ROLES),
)  # fmt: skip
BODY = opt(
    title=PLAIN, description=PLAIN, applies_when=EXPR,
    exits=st.lists(EXIT, max_size=2), moves=MOVES,
)  # fmt: skip
TEMPLATE_BODY = {**BODY, "exits": st.lists(TEMPLATE_EXIT, max_size=2)}
WORKFLOWS = st.one_of(
    record(
        {"kind": "workflow", "version": 1, "name": NAME, "entity": NAME,
         "stages": st.lists(STAGE, min_size=1, max_size=3)},
        {**BODY, "removed_stages": REMOVED_STAGES},
    ),
    record(
        {"kind": "workflow", "version": 1, "name": NAME, "template": NAME},
        opt(params=st.dictionaries(NAME, ANY, max_size=3), entity=NAME, title=PLAIN,
            description=PLAIN, applies_when=EXPR, moves=MOVES, removed_stages=REMOVED_STAGES),
    ),
)  # fmt: skip
PARAM = record(
    {"type": st.sampled_from(["string", "integer", "decimal", "boolean", "list", "duration"])},
    opt(required=st.booleans(), default=ANY, description=PLAIN),
)
TEMPLATES = record(
    {"kind": "workflow_template", "version": 1, "name": NAME,
     "workflow": record({"entity": NAME,
                         "stages": st.lists(TEMPLATE_STAGE, min_size=1, max_size=3)},
                        TEMPLATE_BODY)},
    opt(params=st.dictionaries(NAME, PARAM, max_size=3)),
)  # fmt: skip
MISSING = st.sampled_from(["zero", "skip", "fail"]) | record({"value": NUMBER})
TRIGGERS = st.lists(
    st.sampled_from(["created", "updated", "stage_entered", "evidence_attached"]), max_size=3
)
FEATURE = record(
    {"value": EXPR, "weight": st.floats(0.001, 1e6) | st.integers(1, 100)},
    opt(title=PLAIN, missing=MISSING),
)


@st.composite
def scorings(draw: st.DrawFn) -> dict[str, Any]:
    """A valid scoring model: a scale low < high, weights adding up to more than zero."""
    low = draw(NUMBER)
    high = draw(NUMBER.filter(lambda h: h > low))
    data = draw(record(
        {"kind": "scoring", "version": 1, "name": NAME, "entity": NAME,
         "features": st.dictionaries(NAME, FEATURE, min_size=1, max_size=4)},
        opt(title=PLAIN, description=PLAIN, missing=MISSING, on=TRIGGERS,
            scale=st.just([low, high])),
    ))  # fmt: skip
    if draw(st.booleans()):
        data["against"] = "users"
    elif draw(st.booleans()):
        data["output"] = draw(NAME)
    return data


ALERTS = st.sampled_from(["entity", "metric"]).flatmap(
    lambda subject: record(
        {"kind": "alert", "version": 1, "name": NAME, subject: NAME, "when": EXPR},
        opt(title=PLAIN, description=PLAIN, resolve_when=EXPR,
            severity=st.sampled_from(["critical", "high", "warning", "info"]),
            dedup_key=WORDS, cooldown=durations(), labels=st.dictionaries(NAME, PLAIN, max_size=2),
            actions=ACTIONS, on_resolve=ACTIONS, **{"for": durations()}),
    )
)  # fmt: skip

COLUMN_TYPES = st.sampled_from(["string", "integer", "decimal", "boolean", "date", "datetime",
                                "list"])  # fmt: skip
TABLE_BODY = opt(
    title=PLAIN, description=PLAIN, key=st.lists(NAME, max_size=2),
    range=st.lists(NAME, min_size=2, max_size=2),
    rows=st.lists(st.dictionaries(PLAIN, ANY, max_size=3), max_size=3),
)  # fmt: skip
TABLES = record(
    {"kind": "table", "version": 1, "name": NAME,
     "columns": st.dictionaries(NAME, COLUMN_TYPES, max_size=4)},
    TABLE_BODY,
)  # fmt: skip


@st.composite
def hour_ranges(draw: st.DrawFn) -> str:
    """A working-hours range like '09:00-18:00' that ends after it starts."""
    start = draw(st.integers(0, 22))
    end = draw(st.integers(start + 1, 23))
    minutes = st.integers(0, 59).map(lambda m: f"{m:02d}")
    return f"{start:02d}:{draw(minutes)}-{end:02d}:{draw(minutes)}"


@st.composite
def leaves(draw: st.DrawFn) -> dict[str, dt.date]:
    """A leave period: from <= to."""
    first, second = sorted([draw(DATES), draw(DATES)])
    return {"from": first, "to": second}


USER_FIELDS = frozenset({"name", "email", "roles", "teams", "manager", "capacity", "calendar",
                         "leave", "active"})  # fmt: skip
USER = record(
    {},
    opt(name=PLAIN, email=PLAIN, roles=ROLES, teams=st.lists(USER_ID, max_size=2),
        manager=USER_ID, capacity=st.integers(0, 1000), calendar=NAME,
        leave=st.lists(leaves(), max_size=2), active=st.booleans()),
).flatmap(
    lambda user: st.dictionaries(NAME.filter(lambda n: n not in USER_FIELDS), ANY, max_size=2)
    .map(lambda extra: {**extra, **user})
)  # fmt: skip
TEAM = record({}, opt(
    title=PLAIN, members=st.lists(USER_ID, max_size=2), lead=USER_ID,
    attributes=st.dictionaries(NAME, ANY, max_size=2),
))  # fmt: skip
STAFF = record(
    {"kind": "staff", "version": 1},
    opt(title=PLAIN, description=PLAIN, users=st.dictionaries(USER_ID, USER, max_size=2),
        teams=st.dictionaries(USER_ID, TEAM, max_size=2)),
)  # fmt: skip
MANIFESTS = record(
    {"kind": "bundle", "version": 1, "name": USER_ID,
     "timezone": st.sampled_from(["Asia/Shanghai", "UTC", "Europe/Paris", "America/Sao_Paulo"]),
     "roles": st.lists(USER_ID, max_size=3)
     | st.dictionaries(USER_ID, record({}, opt(title=PLAIN, description=PLAIN)), max_size=3)},
    opt(
        title=PLAIN, description=PLAIN,
        calendars=st.dictionaries(NAME, record({}, opt(
            weekdays=st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                              min_size=1, max_size=3),
            hours=hour_ranges() | st.lists(hour_ranges(), min_size=1, max_size=2),
            holidays=st.lists(DATES, max_size=2), holidays_table=NAME,
        )), max_size=2),
        user_fields=st.dictionaries(NAME, record(
            {"type": st.sampled_from(["string", "integer", "decimal", "boolean", "list", "enum",
                                      "multi_enum"])},
            opt(values=st.lists(PLAIN, max_size=2), description=PLAIN),
        ), max_size=2),
        users=st.dictionaries(USER_ID, USER, max_size=2),
        teams=st.dictionaries(USER_ID, TEAM, max_size=2),
        queues=st.dictionaries(NAME, record({}, opt(title=PLAIN, description=PLAIN,
                                                    visible_to=ROLES)), max_size=2),
        tables=st.dictionaries(NAME, record({"columns": st.dictionaries(NAME, COLUMN_TYPES,
                                                                        max_size=3)},
                                            TABLE_BODY), max_size=2),
    ),
)  # fmt: skip
RULE = {"version": 1, "name": NAME, "entity": NAME}
RULE_TEXT = opt(title=PLAIN, description=PLAIN)


@st.composite
def routings(draw: st.DrawFn) -> dict[str, Any]:
    """A valid routing rule (threshold and load_weighted come with a match score)."""
    data = draw(record(
        {"kind": "routing", **RULE, "fallback_queue": NAME,
         "candidates": st.one_of(record({"role": USER_ID},
                                        opt(matching=st.dictionaries(NAME, NAME, max_size=2))),
                                 record({"teams": st.lists(USER_ID, min_size=1, max_size=2)}),
                                 record({"users": st.lists(USER_ID, min_size=1, max_size=2)}))},
        opt(**RULE_TEXT, on=TRIGGERS, when=EXPR, eligible=EXPR, on_assign=ACTIONS,
            skip_unavailable=st.booleans(), load_weight=st.floats(0, 1),
            strategy=st.sampled_from(["best_match", "round_robin", "least_loaded"])),
    ))  # fmt: skip
    if draw(st.booleans()):
        data |= draw(record({"match": NAME}, opt(threshold=NUMBER)))
        if "load_weight" in data and draw(st.booleans()):
            data["strategy"] = "load_weighted"
    return data


DECISION_TABLES = record(
    {"kind": "decision_table", **RULE, "inputs": st.lists(EXPR, min_size=1, max_size=3),
     "outputs": st.lists(NAME, min_size=1, max_size=2),
     "rows": st.lists(st.lists(ANY, max_size=4), min_size=1, max_size=3)},
    opt(**RULE_TEXT, hit=st.sampled_from(["first", "unique", "collect"]), on=TRIGGERS,
        default=st.lists(ANY, max_size=2)),
)  # fmt: skip
VALIDATIONS = record(
    {"kind": "validation", **RULE, "refuse_if": EXPR, "message": WORDS},
    opt(**RULE_TEXT, on=st.lists(st.sampled_from(["save", "leave_stage"]), max_size=2),
        stages=st.lists(NAME, max_size=2), severity=st.sampled_from(["error", "warning"]),
        effective_from=DATES),
)  # fmt: skip
MEASURES = ["count", "count_distinct", "sum", "avg", "min", "max", "median", "p90"]
METRICS = st.one_of(
    record({"source": "records", "entity": NAME}),
    record({"entity": NAME}),
    record({"source": "stage_history", "workflow": NAME}),
    record({"source": "alerts"}),
).flatmap(
    lambda subject: record(
        {"kind": "metric", "version": 1, "name": NAME, **subject, "measure": "count"},
        opt(**RULE_TEXT, where=st.dictionaries(NAME, ANY, max_size=2),
            group_by=st.lists(NAME, max_size=2), unit=PLAIN, kpi=st.booleans(),
            window=record({"last": durations()}, opt(on=NAME))),
    ) | record(
        {"kind": "metric", "version": 1, "name": NAME, **subject,
         "measure": st.sampled_from(MEASURES), "of": NAME},
    )
)  # fmt: skip
CRON_FIELDS = [
    st.sampled_from(["*", "0", "*/15", "0-30", "5,10"]),
    st.sampled_from(["*", "9", "9-17", "*/2"]),
    st.sampled_from(["*", "1", "1-15", "31"]),
    st.sampled_from(["*", "jan", "1-6", "12"]),
    st.sampled_from(["*", "mon-fri", "0", "7", "sun"]),
]
# A schedule's actions once per item: each group of a metric, row of a table, or user.
FOR_EACH = st.one_of(
    record({"metric": NAME}), record({"table": NAME}),
    record({"users": record({"role": NAME})}),
).flatmap(lambda source: record(source, opt(where=EXPR)))  # fmt: skip
SCHEDULES = st.one_of(
    record({"every": durations()}),
    st.tuples(*CRON_FIELDS).map(lambda parts: {"cron": " ".join(parts)}),
).flatmap(
    lambda when: record(
        {"kind": "schedule", "version": 1, "name": NAME, **when,
         "actions": st.lists(ACTION, min_size=1, max_size=2)},
        opt(**RULE_TEXT, missed=st.sampled_from(["run_late", "mark_late", "skip"]),
            for_each=FOR_EACH),
    )
)  # fmt: skip
FORECASTS = record(
    {"kind": "forecast", "version": 1, "name": NAME, "workflow": NAME, "amount": NAME,
     "close_date": NAME, "horizon": durations()},
    opt(**RULE_TEXT, bucket=st.sampled_from(["day", "week", "month"]), seasonality=NAME),
)  # fmt: skip
NOTIFICATIONS = record(
    {"kind": "notification", "version": 1, "name": NAME, "subject": WORDS, "body": WORDS},
    opt(channel=st.sampled_from(["log", "mailbox", "webhook"])),
)
# Every kind of document, so a round-trip test can name the kinds it covers.
DOCUMENTS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "bundle": MANIFESTS,
    "table": TABLES,
    "staff": STAFF,
    "form": FORMS,
    "workflow": WORKFLOWS,
    "workflow_template": TEMPLATES,
    "scoring": scorings(),
    "routing": routings(),
    "decision_table": DECISION_TABLES,
    "validation": VALIDATIONS,
    "alert": ALERTS,
    "metric": METRICS,
    "schedule": SCHEDULES,
    "forecast": FORECASTS,
    "notification": NOTIFICATIONS,
}
