"""Load definition YAML into plain data while keeping the line/column of every node.

ruamel.yaml composes the node graph (in C when `ruamel.yaml.clib` is installed);
this module walks the nodes itself so that it can report duplicate keys, expand
merge keys and aliases with a budget (no alias bombs), and remember where each
value stood. Every problem becomes a located `Diagnostic`, never an exception.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from engine.diagnostics import Diagnostic, Severity, shorten

# Why: a definition file is hand-written; anything bigger is a mistake or an attack.
MAX_FILE_BYTES = 1024 * 1024
# Why: caps what aliases may expand to (billion-laughs), per document.
MAX_NODES = 200_000
# Why: no business number needs more; huge ones only make messages and hashing slow.
MAX_INT_BITS = 256
# Why: deeper nesting than this is never a definition and risks recursion limits.
MAX_DEPTH = 64

Path = tuple[str | int, ...]
MERGE_TAG = "tag:yaml.org,2002:merge"
STR_TAG = "tag:yaml.org,2002:str"
INT_TAG = "tag:yaml.org,2002:int"


@dataclass
class Document:
    """One YAML document: its plain data and the position of every value and key."""

    path: str
    data: Any
    start: tuple[int, int]
    text: str = ""
    # ruamel marks (0-based line/column), turned 1-based by `locate`.
    values: dict[Path, Any] = field(default_factory=dict)
    keys: dict[Path, Any] = field(default_factory=dict)

    def locate(self, loc: Path, *, key: bool = False) -> tuple[int, int]:
        """Return the 1-based (line, col) of the value (or key) at `loc`, or its nearest parent."""
        if key and loc in self.keys:
            mark = self.keys[loc]
            return mark.line + 1, mark.column + 1
        probe = tuple(loc)
        while probe:
            if probe in self.values:
                mark = self.values[probe]
                return mark.line + 1, mark.column + 1
            probe = probe[:-1]
        return self.start

    def diagnostic(
        self,
        loc: Path,
        code: str,
        message: str,
        hint: str = "",
        *,
        key: bool = False,
        severity: Severity = Severity.ERROR,
    ) -> Diagnostic:
        """Build a diagnostic located at `loc` in this document."""
        line, col = self.locate(loc, key=key)
        return Diagnostic(self.path, line, col, severity, code, message, hint)


class _Budget(Exception):
    """The document expands past a limit; carries the diagnostic to report."""

    def __init__(
        self, node: Node, code: str, message: str, hint: str = "", at: Path | None = None
    ) -> None:
        super().__init__(message)
        self.node, self.code, self.message, self.hint, self.at = node, code, message, hint, at


_TAGS: dict[str, Tag] = {}
_UNREADABLE = {
    "int": ("number", "numbers have at most 4300 digits; quote it to keep it as text"),
    "float": ("number", "quote it to keep it as text"),
    "timestamp": ("date", "a date is written 2026-01-31; quote it to keep it as text"),
}


def _tag(node: Node) -> str:
    """Return a node's resolved tag without ruamel's per-call string building."""
    ctag = node.ctag
    if ctag is None:
        return ""
    return str(ctag.suffix) if ctag.handle is None else str(ctag)


class _Resolver12(VersionedResolver):
    """ruamel's YAML 1.2 resolver with its per-scalar version lookup done once."""

    _table: dict[Any, list[tuple[Any, Any]]] | None = None

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:
            table = self._table
            if table is None:
                table = self._table = self.versioned_resolver
            for tag, regexp in table.get(value[:1] or "", ()):
                if regexp.match(value):
                    return _TAGS.setdefault(tag, Tag(suffix=tag))
            return self.DEFAULT_SCALAR_TAG
        return super().resolve(kind, value, implicit)


def _make_yaml() -> YAML:
    try:
        yaml = YAML(typ="safe", pure=False)
    except Exception:  # pragma: no cover - only without ruamel.yaml.clib
        yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = _Resolver12
    return yaml


_YAML = _make_yaml()


def _pos(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Walker:
    """Turn composed nodes into plain data, recording positions and checking limits."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0
        self.active: set[int] = set()
        self.seen: set[int] = set()
        self.aliases: list[Path] = []  # paths reached through an alias, outermost first
        self.problems: list[Diagnostic] = []
        self.constructor = _YAML.constructor

    def walk(self, node: Node, path: Path, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Budget(
                node,
                "yaml-too-large",
                f"document expands to more than {MAX_NODES} values",
                "aliases (*name) that repeat large blocks multiply its size",
                at=self.aliases[0][:-1] if self.aliases else None,
            )
        if depth > MAX_DEPTH:
            raise _Budget(node, "yaml-too-deep", f"nesting deeper than {MAX_DEPTH} levels")
        self.doc.values.setdefault(path, node.start_mark)
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if id(node) in self.active:
            raise _Budget(
                node, "yaml-recursive-alias", "an alias refers to a node that contains it"
            )
        self.active.add(id(node))
        aliased = id(node) in self.seen
        self.seen.add(id(node))
        if aliased:
            self.aliases.append(path)
        try:
            if isinstance(node, SequenceNode):
                return [self.walk(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                return self.mapping(node, path, depth)
        finally:
            self.active.discard(id(node))
            if aliased:
                self.aliases.pop()
        raise _Budget(node, "yaml-syntax", "unsupported YAML node")  # pragma: no cover

    def scalar(self, node: ScalarNode) -> Any:
        tag = _tag(node)
        if tag == STR_TAG:
            return node.value
        if tag == INT_TAG and node.value.isdigit() and len(node.value) < 19:
            return int(node.value)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (ValueError, KeyError, TypeError, OverflowError):
            kind = tag.rpartition(":")[2]
            what, hint = _UNREADABLE.get(kind, (kind or "a value", "quote it to keep it as text"))
            raise _Budget(
                node, "yaml-value", f"'{shorten(node.value)}' is not a valid {what}", hint
            ) from None
        except YAMLError:
            raise _Budget(
                node,
                "yaml-tag",
                f"unsupported tag '{node.tag}'",
                "definitions use plain YAML values; remove the '!' tag",
            ) from None
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise _Budget(
                node,
                "yaml-value",
                "number is too large",
                f"numbers in definitions have at most {MAX_INT_BITS} bits",
            )
        return value

    def mapping(self, node: MappingNode, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if _tag(key_node) == MERGE_TAG:
                merged.update(self.merge(value_node, path, depth))
                continue
            if not isinstance(key_node, ScalarNode):
                raise _Budget(key_node, "yaml-complex-key", "a mapping key must be a plain value")
            key = str(self.scalar(key_node))
            if key in result:
                first = self.doc.locate((*path, key), key=True)
                self.problems.append(
                    Diagnostic(
                        self.doc.path,
                        *_pos(key_node),
                        Severity.ERROR,
                        "yaml-duplicate-key",
                        f"key '{shorten(key)}' appears twice in this mapping",
                        f"first at line {first[0]}; keep one",
                    )
                )
                continue
            self.doc.keys[(*path, key)] = key_node.start_mark
            result[key] = self.walk(value_node, (*path, key), depth + 1)
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def merge(self, node: Node, path: Path, depth: int) -> dict[str, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in sources:
            if not isinstance(source, MappingNode):
                raise _Budget(
                    source, "yaml-merge", "a merge key '<<' takes a mapping or a list of mappings"
                )
            for key, value in self.mapping(source, path, depth + 1).items():
                merged.setdefault(key, value)
        return merged


def _decode(path: str, raw: bytes) -> tuple[str | None, list[Diagnostic]]:
    if len(raw) > MAX_FILE_BYTES:
        return None, [
            Diagnostic(
                path,
                1,
                1,
                Severity.ERROR,
                "file-too-large",
                f"file is {len(raw)} bytes; the limit is {MAX_FILE_BYTES}",
                "split it into several files",
            )
        ]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # With a byte order mark, the decoder counts from the byte after it.
        bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
        start = exc.start + bom
        # YAML breaks lines at CR LF, LF and a lone CR alike; count them so.
        before = raw[bom:start].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        return None, [
            Diagnostic(
                path,
                line,
                col,
                Severity.ERROR,
                "not-utf8",
                f"byte 0x{raw[start]:02x} is not valid UTF-8",
                "save the file as UTF-8",
            )
        ]
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return None, [
            Diagnostic(
                path,
                line,
                1,
                Severity.ERROR,
                "not-text",
                "file contains a NUL character",
                "is this a binary file?",
            )
        ]
    return text, []


def _syntax_diagnostic(path: str, text: str, exc: MarkedYAMLError) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    lines = text.splitlines()
    at = lines[line - 1][col - 1 : col] if 0 < line <= len(lines) else ""
    if at == "\t" or "\t" in problem:
        return Diagnostic(
            path,
            line,
            col,
            Severity.ERROR,
            "yaml-tab",
            "tab character in indentation",
            "YAML indents with spaces only",
        )
    context = f" {exc.context.strip()}" if exc.context and exc.problem else ""
    hint = (
        "put text that contains ':' in quotes"
        if "':'" in problem
        else "check the indentation and quoting on this line or the one before"
    )
    return Diagnostic(
        path,
        line,
        col,
        Severity.ERROR,
        "yaml-syntax",
        f"{problem}{context}".replace("\n", " "),
        hint,
    )


def load_documents(path: str, raw: bytes) -> tuple[list[Document], list[Diagnostic]]:
    """Parse every YAML document of one file; return documents and located diagnostics."""
    text, problems = _decode(path, raw)
    if text is None:
        return [], problems
    documents: list[Document] = []
    try:
        nodes: Iterator[Node] = _YAML.compose_all(text)
        for node in nodes:
            if node is None:
                continue
            doc = Document(path, None, _pos(node), text)
            walker = _Walker(doc)
            try:
                doc.data = walker.walk(node, ())
            except _Budget as exc:
                where = doc.locate(exc.at) if exc.at is not None else _pos(exc.node)
                problems.append(
                    Diagnostic(path, *where, Severity.ERROR, exc.code, exc.message, exc.hint)
                )
                continue
            problems.extend(walker.problems)
            if doc.data is not None:  # an empty document between two '---'
                documents.append(doc)
    except MarkedYAMLError as exc:
        problems.append(_syntax_diagnostic(path, text, exc))
    except YAMLError as exc:
        problems.append(
            Diagnostic(
                path,
                1,
                1,
                Severity.ERROR,
                "yaml-syntax",
                str(exc).splitlines()[0] if str(exc) else "invalid YAML",
            )
        )
    except RecursionError:
        problems.append(
            Diagnostic(
                path,
                1,
                1,
                Severity.ERROR,
                "yaml-too-deep",
                f"nesting deeper than {MAX_DEPTH} levels",
            )
        )
    return documents, problems
