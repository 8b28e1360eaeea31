"""Property tests: mutated bundles never crash the compiler, specs round-trip, Bundles are frozen."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from strategies import (
    DEFINITIONS,
    DOCUMENTS,
    TEMPLATE_KEYS,
    Mutant,
    definition_data,
    definition_files,
    is_expression,
    mutated_bundles,
    nodes,
    text_for,
    yaml_text,
)

from engine.bundle import Bundle
from engine.compiler.parse import parse_document
from engine.compiler.pipeline import CompileResult, compile_bundle
from engine.diagnostics import Diagnostic, Severity
from engine.spec import KINDS, DocumentSpec
from engine.yamlsource import load_documents

KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# What the YAML reader counts as a line break (so what its line numbers count).
YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# Why: the example bundle compiles in ~40 ms; ten seconds means a hang, not a slow machine.
COMPILE_TIMEOUT_S = 10
# Why: an example costs ~0.4 s under `make test`'s coverage (write a folder, compile the
# default bundle: 80 files, 300 reps); these counts keep this file near 100 s of one
# worker. SOPFLOW_FUZZ_SCALE=20 fuzzes twenty times longer (nightly, or by hand).
SCALE = int(os.environ.get("SOPFLOW_FUZZ_SCALE", "1"))
FUZZ = settings(
    max_examples=120 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class CompileTimeout(BaseException):
    """Raised in the compiler by SIGALRM; a BaseException so `except Exception` cannot eat it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block runs longer than `seconds`."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise CompileTimeout(f"compile_bundle ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def write_folder(root: Path, files: Mapping[str, bytes]) -> None:
    """Write `files` (relative path -> bytes) under `root`."""
    for rel, raw in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw)


def compile_files(files: Mapping[str, bytes]) -> tuple[CompileResult, str]:
    """Compile `files` in a fresh folder; return the result and the folder's path."""
    with tempfile.TemporaryDirectory() as tmp:
        write_folder(Path(tmp), files)
        with time_limit(COMPILE_TIMEOUT_S), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = compile_bundle(tmp)
    # A SyntaxWarning from compiling user input (or generated code) goes to the server's
    # stderr, and under `python -W error` it is an exception: the outcome depends on flags.
    flagged = [str(w.message) for w in caught if issubclass(w.category, SyntaxWarning)]
    assert flagged == [], f"compiling raised Python SyntaxWarnings: {flagged}"
    return result, tmp


def check_well_formed(result: CompileResult, root: str, files: Mapping[str, bytes]) -> None:
    """Assert every diagnostic is located in the folder and the bundle/error rule holds."""
    allowed = {root} | {f"{root}/{rel}" for rel in files}
    for diag in result.diagnostics:
        shown = diag.render()
        assert isinstance(diag, Diagnostic), diag
        assert diag.path in allowed, f"path outside the folder: {shown}"
        assert isinstance(diag.line, int) and diag.line >= 1, f"bad line: {shown}"
        assert isinstance(diag.col, int) and diag.col >= 1, f"bad column: {shown}"
        if diag.path != root:  # it points at a character of the file (or just past its end)
            text = files[diag.path[len(root) + 1 :]].decode("utf-8", "replace")
            lines = YAML_LINE_BREAK.split(text)
            width = len(lines[diag.line - 1]) if diag.line <= len(lines) else 0
            assert diag.line <= len(lines) + 1, f"line past the end of the file: {shown}"
            assert diag.col <= width + 1, f"column past the end of line ({width}): {shown}"
        assert isinstance(diag.code, str) and KEBAB.match(diag.code), f"bad code: {shown}"
        assert isinstance(diag.message, str) and diag.message.strip(), f"no message: {shown}"
        assert diag.severity in (Severity.ERROR, Severity.WARNING), shown
    has_error = any(d.severity is Severity.ERROR for d in result.diagnostics)
    assert (result.bundle is None) == has_error, [d.render() for d in result.diagnostics]


def test_example_bundle_is_valid() -> None:
    result, root = compile_files(definition_files())
    check_well_formed(result, root, definition_files())
    assert result.bundle is not None, [d.render() for d in result.diagnostics]


# --- (1) mutated bundles never crash ------------------------------------------------------


@FUZZ
@given(mutated_bundles())
def test_mutated_bundle_compiles_to_diagnostics(mutant: Mutant) -> None:
    files = mutant.files
    result, root = compile_files(files)
    check_well_formed(result, root, files)


TEXTUAL = {"string", "text", "phone", "address", "email"}
Site = tuple[str, int, tuple[str | int, ...]]


def _text_sites() -> dict[str, list[Site]]:
    """Expression and template values, and the (new) `pattern` key of every text field."""
    sites: dict[str, list[Site]] = {"expression": [], "template": [], "pattern": []}
    for file, docs in sorted(definition_data().items()):
        for index, doc in enumerate(docs):
            for path, value in nodes(doc):
                if isinstance(value, str) and is_expression(path):
                    sites["expression"].append((file, index, path))
                elif isinstance(value, str) and path and path[-1] in TEMPLATE_KEYS:
                    sites["template"].append((file, index, path))
                elif (
                    doc.get("kind") == "form"
                    and len(path) == 2
                    and path[0] == "fields"
                    and value.get("type") in TEXTUAL
                ):
                    sites["pattern"].append((file, index, (*path, "pattern")))
    return sites


TEXT_SITES = _text_sites()


def check_text_at(site: Site, text: str) -> None:
    """Put `text` at one site of the example bundle, compile, check the diagnostics."""
    file, index, path = site
    corpus = definition_data()
    parent = corpus[file][index]
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = text
    files = {**definition_files(), file: yaml_text(corpus[file], many=True).encode()}
    result, root = compile_files(files)
    check_well_formed(result, root, files)


@settings(FUZZ, max_examples=60 * SCALE)
@given(st.sampled_from(TEXT_SITES["expression"]), text_for("when"))
def test_random_expression_compiles_to_diagnostics(site: Site, text: str) -> None:
    check_text_at(site, text)


@settings(FUZZ, max_examples=50 * SCALE)
@given(st.sampled_from(TEXT_SITES["template"]), text_for("message"))
def test_random_template_compiles_to_diagnostics(site: Site, text: str) -> None:
    check_text_at(site, text)


@settings(FUZZ, max_examples=25 * SCALE)
@given(st.sampled_from(TEXT_SITES["pattern"]), text_for("pattern"))
def test_random_pattern_compiles_to_diagnostics(site: Site, text: str) -> None:
    check_text_at(site, text)


# --- (2) round trips: load(dump(spec)) == spec --------------------------------------------


def dump_spec(spec: DocumentSpec, mode: str = "python") -> dict[str, Any]:
    """Dump a spec to the plain data an analyst would write (durations as text, aliases).

    mode="python" is the dump that works for every model: YAML has dates, so they stay
    dates; mode="json" turns a date held in an untyped (`Any`) value into text.
    """
    return spec.model_dump(mode=mode, by_alias=True, exclude_defaults=True)


def parse_text(text: str) -> tuple[DocumentSpec | None, list[str]]:
    """Load one YAML document and parse it; return the spec and every diagnostic, rendered."""
    docs, problems = load_documents("doc.yaml", text.encode("utf-8"))
    found = [p.render() for p in problems]
    if len(docs) != 1:
        return None, [*found, f"expected one document, got {len(docs)}"]
    spec, problems = parse_document(docs[0])
    return spec, found + [p.render() for p in problems]


def assert_round_trip(spec: DocumentSpec, mode: str = "python") -> None:
    """Dump `spec`, write it as YAML, load and parse it again: same spec, no diagnostics."""
    text = yaml_text(dump_spec(spec, mode), fold=False)
    again, problems = parse_text(text)
    assert problems == [], f"{problems}\n--- dumped YAML:\n{text}"
    assert again is not None
    if again != spec:
        before, after = dump_spec(spec), dump_spec(again)
        changed = {k: (before.get(k), after.get(k)) for k in before | after
                   if before.get(k) != after.get(k)}  # fmt: skip
        pytest.fail(f"{spec.kind} changed in the round trip: {changed}\n--- dumped YAML:\n{text}")


def _example_specs() -> list[Any]:
    params = []
    for rel, raw in sorted(definition_files().items()):
        docs, problems = load_documents(rel, raw)
        assert problems == []
        for i, doc in enumerate(docs):
            spec, problems = parse_document(doc)
            assert spec is not None, problems
            params.append(pytest.param(spec, id=f"{rel}#{i}:{spec.kind}"))
    return params


EXAMPLE_SPECS = _example_specs()


def test_examples_cover_every_kind() -> None:
    assert {p.values[0].kind for p in EXAMPLE_SPECS} == set(KINDS)


@pytest.mark.parametrize("spec", EXAMPLE_SPECS)
def test_example_spec_round_trips(spec: DocumentSpec) -> None:
    assert_round_trip(spec)


# Dates whose type the same document declares: their JSON text can be read back as dates.
TYPED_DATES = {
    "form-date-default": "kind: form\nversion: 1\nentity: a\nfields:\n"
    "  d: {type: date, default: 2026-01-31, min: 2026-01-01}\n",
    "form-datetime-default": "kind: form\nversion: 1\nentity: a\nfields:\n"
    "  t:\n    type: datetime\n    default: 2026-01-31T10:00:00+08:00\n",
    "form-date-list-default": "kind: form\nversion: 1\nentity: a\nfields:\n"
    "  d: {type: list, of: date, default: [2026-01-31]}\n",
    "table-date-rows": "kind: table\nversion: 1\nname: t\nkey: [a]\n"
    "columns: {a: datetime, b: date}\nrows:\n  - a: 2026-01-31T10:00:00+08:00\n    b: 2026-01-01\n",
    "validation-effective-from": "kind: validation\nversion: 1\nname: v\nentity: a\n"
    "refuse_if: x\nmessage: m\neffective_from: 2026-01-01\n",
    "manifest-holidays-leave": "kind: bundle\nversion: 1\nname: b\ntimezone: UTC\nroles: [a]\n"
    "calendars: {c: {holidays: [2026-01-01]}}\n"
    "users:\n  u: {leave: [{from: 2026-01-01, to: 2026-01-02}]}\n",
}


def _typed_date_specs() -> list[Any]:
    params = []
    for name, text in TYPED_DATES.items():
        spec, problems = parse_text(text)
        assert problems == [], problems
        params.append(pytest.param(spec, id=name))
    return params


@pytest.mark.parametrize("spec", [*EXAMPLE_SPECS, *_typed_date_specs()])
def test_spec_round_trips_through_json(spec: DocumentSpec) -> None:
    # The JSON form is what the API and the JSON Schema speak (ARCHITECTURE decision 1).
    assert_round_trip(spec, mode="json")


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_spec_round_trips(kind: str, data: st.DataObject) -> None:
    document = data.draw(DOCUMENTS[kind], label="document")
    text = yaml_text(document, fold=False)
    spec, problems = parse_text(text)
    assert problems == [], f"the strategy made an invalid {kind}: {problems}\n{text}"
    assert spec is not None and spec.kind == kind
    assert_round_trip(spec)


# --- (3) the Bundle is immutable and content-hashed --------------------------------------


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    result = compile_bundle(DEFINITIONS)
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return result.bundle


def _compiled_parts(bundle: Bundle) -> list[Any]:
    parts: list[Any] = [bundle]
    for field in dataclasses.fields(bundle):
        value = getattr(bundle, field.name)
        if isinstance(value, Mapping):
            parts.extend(v for v in value.values() if dataclasses.is_dataclass(v))
    return parts


def test_bundle_attributes_cannot_be_assigned(bundle: Bundle) -> None:
    parts = _compiled_parts(bundle)
    assert len(parts) > 10
    for part in parts:
        for field in dataclasses.fields(part):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(part, field.name, None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            part.extra_attribute = 1
    for spec in [
        bundle.manifest,
        *bundle.alerts.values(),
        *(f.spec for f in bundle.forms.values()),
    ]:
        with pytest.raises(ValidationError):
            spec.title = "changed"  # type: ignore[misc]


def test_bundle_mappings_are_read_only(bundle: Bundle) -> None:
    mappings = [
        (f"{type(part).__name__}.{field.name}", getattr(part, field.name))
        for part in _compiled_parts(bundle)
        for field in dataclasses.fields(part)
        if isinstance(getattr(part, field.name), Mapping)
    ]
    assert len(mappings) > 20
    for where, mapping in mappings:
        assert isinstance(mapping, MappingProxyType), f"{where} is a {type(mapping).__name__}"
        with pytest.raises(TypeError):
            mapping["new"] = 1  # type: ignore[index]
        for key in list(mapping)[:1]:
            with pytest.raises(TypeError):
                del mapping[key]  # type: ignore[attr-defined]


def _no_op_changes(value: Any) -> list[tuple[str, Callable[[], object]]]:
    """Changes that leave a list, dict, set or bytearray as it is (if they are allowed)."""
    if isinstance(value, list):
        return [
            ("extend", lambda: value.extend([])),
            ("slice assignment", lambda: value.__setitem__(slice(0, 0), [])),
            ("+=", lambda: value.__iadd__([])),
        ]
    if isinstance(value, dict):
        probes = [("update", lambda: value.update({})), ("|=", lambda: value.__ior__({}))]
        if value:
            key = next(iter(value))
            probes.append(("item assignment", lambda: value.__setitem__(key, value[key])))
        return probes
    if isinstance(value, set):
        return [("update", lambda: value.update(()))]
    if isinstance(value, bytearray):
        return [("extend", lambda: value.extend(b""))]
    return []


def _changes_allowed(value: Any) -> list[str]:
    """Return the no-op changes `value` accepts (a read-only container refuses them all)."""
    allowed = []
    for name, probe in _no_op_changes(value):
        try:
            probe()
        except Exception:  # refused, as it should be
            continue
        allowed.append(name)
    return allowed


def _mutable_parts(value: Any, where: str, seen: set[int]) -> Iterator[str]:
    """Yield where a list, dict or set reachable from `value` (a Bundle) accepts changes."""
    if id(value) in seen or (callable(value) and not isinstance(value, BaseModel | type)):
        return
    seen.add(id(value))
    if allowed := _changes_allowed(value):
        yield f"{where} ({type(value).__name__} allows {', '.join(allowed)})"
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _mutable_parts(item, f"{where}[{key!r}]", seen)
    elif isinstance(value, tuple | frozenset | list):
        for i, item in enumerate(value):
            yield from _mutable_parts(item, f"{where}[{i}]", seen)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _mutable_parts(getattr(value, name), f"{where}.{name}", seen)
        for name, item in (value.model_extra or {}).items():
            yield from _mutable_parts(item, f"{where}.{name}", seen)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _mutable_parts(getattr(value, field.name), f"{where}.{field.name}", seen)


def test_bundle_is_deeply_immutable(bundle: Bundle) -> None:
    # One Bundle serves every request (ARCHITECTURE.md): no list or dict inside it may change.
    found = list(_mutable_parts(bundle, "bundle", set()))
    assert found == [], f"{len(found)} mutable values inside the Bundle, e.g. {found[:8]}"


def _hash_of(files: Mapping[str, bytes]) -> str:
    result, _ = compile_files(files)
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return result.bundle.hash


def test_bundle_hash_is_stable(bundle: Bundle) -> None:
    again = compile_bundle(DEFINITIONS)
    assert again.bundle is not None and again.bundle.hash == bundle.hash
    assert _hash_of(definition_files()) == bundle.hash  # another folder, same content
    assert re.fullmatch(r"[0-9a-f]{64}", bundle.hash)


@pytest.mark.parametrize("rel", sorted(definition_files()))
def test_bundle_hash_changes_with_one_byte(bundle: Bundle, rel: str) -> None:
    files = definition_files()
    raw = files[rel]
    assert raw.endswith(b"\n")
    files[rel] = raw[:-1] + b" "  # same definitions, one byte different
    assert _hash_of(files) != bundle.hash


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(definition_files())), st.data())
def test_bundle_hash_changes_with_any_byte(bundle: Bundle, rel: str, data: st.DataObject) -> None:
    files = definition_files()
    raw = bytearray(files[rel])
    at = data.draw(st.integers(0, len(raw) - 1), label="offset")
    raw[at] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[at]), label="byte")
    files[rel] = bytes(raw)
    result, _ = compile_files(files)
    if result.bundle is not None:  # most flips break the file; the rest must change the hash
        assert result.bundle.hash != bundle.hash
